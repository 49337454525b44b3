//! A client for Rivulet streams (crate feature `client`): send a request, read
//! its packets as a [`futures::Stream`] of [`Event`]s.
//!
//! ```
//! use axum::{Router, routing::get};
//! use rivulet::Stream;
//! use rivulet::client::Client;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server with one stream: three progress packets, then a final value.
//! async fn countdown(stream: Stream) -> axum::response::Response {
//!     stream
//!         .run(|tx| async move {
//!             for n in (1..=3).rev() {
//!                 tx.send(n).await?;
//!             }
//!             Ok("liftoff")
//!         })
//!         .await
//! }
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/countdown", listener.local_addr()?);
//! let app = Router::new().route("/countdown", get(countdown));
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! // The client: progress packets as they come, then the final packet.
//! let mut stream = Client::new().get(&url).send().await?;
//! let mut seen = Vec::new();
//! while let Some(n) = stream.progress::<u32>().await? {
//!     seen.push(n);
//! }
//! let word: String = stream.done().await?;
//! assert_eq!(seen, [3, 2, 1]);
//! assert_eq!(word, "liftoff");
//! # Ok(()) }
//! ```
//!
//! Or every packet as it is, an error packet included, as a [`futures::Stream`]:
//!
//! ```
//! # use axum::{Router, routing::get};
//! # use rivulet::Stream;
//! use futures::StreamExt;
//! use rivulet::Format;
//! use rivulet::client::Client;
//! use rivulet::decode::Event;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! async fn risky(stream: Stream) -> axum::response::Response {
//!     stream
//!         .run(|tx| async move {
//!             tx.send("Starting risky operation").await?;
//!             Err::<(), _>(rivulet::Error::from_message("Something went wrong!"))
//!         })
//!         .await
//! }
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let url = format!("http://{}/risky", listener.local_addr()?);
//! # let app = Router::new().route("/risky", get(risky));
//! # tokio::spawn(async move { axum::serve(listener, app).await });
//! let mut stream = Client::new().get(&url).format(Format::Ndjson).send().await?;
//! while let Some(event) = stream.next().await {
//!     match event? {
//!         Event::Progress(value) => println!("progress: {value}"),
//!         Event::Done(value) => println!("done: {value}"),
//!         Event::Error(error) => {
//!             assert_eq!(error.message, "Something went wrong!");
//!             assert_eq!(error.status, 500);
//!         }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The same decoder as [`crate::decode`] reads all three wire formats; the
//! response's `Content-Type` says which one it is. Dropping an [`EventStream`]
//! closes the connection, and the server cancels the handler.
//!
//! A resumable stream (see [`crate::resume`]) survives a dropped connection:
//! the request is sent again with `Last-Event-ID` and the stream goes on after
//! the last packet received, every packet once and in order
//! ([`RequestBuilder::reconnect`]). [`EventStream::resume_point`] says where it
//! would resume, and [`RequestBuilder::resume_from`] resumes from there later.
//! Dropping the [`EventStream`] only disconnects, and the job stays
//! resumable; [`EventStream::cancel`] disconnects and stops the job.

mod cancel;
mod error;
mod events;
mod reconnect;

use std::time::Duration;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use reqwest::IntoUrl;
use serde::Serialize;

use crate::config::DEFAULT_MAX_PACKET_BYTES;
use crate::protocol::{ErrorBody, Format, LAST_EVENT_ID, ResumePoint};

pub use cancel::Cancelled;
pub use error::Error;
pub use events::EventStream;
pub use reconnect::Reconnect;
/// The HTTP client underneath, re-exported for [`Client::from`] and
/// [`RequestBuilder::body`].
pub use reqwest;

#[cfg(doc)]
use crate::decode::Event;

/// How much of an HTTP error's body is read, to find its error object.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Sends requests for streams. Cheap to clone: clones share one connection
/// pool, so make one and reuse it.
///
/// TLS is rustls with the platform's certificate store. Proxies are taken from
/// the `ALL_PROXY`/`HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables (upper or
/// lower case), as reqwest does; build a [`reqwest::Client`] of your own for
/// anything else and convert it with `Client::from`.
#[derive(Clone, Debug, Default)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    /// A client with reqwest's defaults and no overall timeout (streams may
    /// run for a long time; see [`RequestBuilder::idle_timeout`]).
    ///
    /// # Panics
    ///
    /// When the TLS backend cannot be initialised, as [`reqwest::Client::new`].
    pub fn new() -> Self {
        Client::default()
    }

    /// A `GET` request for `url`.
    pub fn get(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request for `url`.
    pub fn post(&self, url: impl IntoUrl) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: impl IntoUrl) -> RequestBuilder {
        RequestBuilder {
            inner: self.http.request(method, url),
            format: Format::default(),
            idle_timeout: None,
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            reconnect: Some(Reconnect::default()),
            resume_from: None,
        }
    }
}

impl From<reqwest::Client> for Client {
    fn from(http: reqwest::Client) -> Self {
        Client { http }
    }
}

/// A request being built; [`send`](Self::send) it to get the stream.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    inner: reqwest::RequestBuilder,
    format: Format,
    idle_timeout: Option<Duration>,
    max_packet_bytes: usize,
    reconnect: Option<Reconnect>,
    resume_from: Option<ResumePoint>,
}

impl RequestBuilder {
    /// Adds a header. An invalid name or value fails [`send`](Self::send) with
    /// [`Error::Transport`].
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.inner = self.inner.header(name, value);
        self
    }

    /// Adds every header of `headers`.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.inner = self.inner.headers(headers);
        self
    }

    /// The request body.
    pub fn body(mut self, body: impl Into<reqwest::Body>) -> Self {
        self.inner = self.inner.body(body);
        self
    }

    /// `value` as a JSON body, with `Content-Type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.inner = self.inner.json(value);
        self
    }

    /// The wire format to ask for ([`Format::Sse`] unless set). Its request
    /// headers ([`Format::request_headers`]) are added unless the request
    /// already has a header of that name. Whatever the server answers with,
    /// the response's `Content-Type` decides how it is decoded.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Fails with [`Error::IdleTimeout`] when nothing arrives for `after`:
    /// neither the response head nor any byte of the body (keep-alives count).
    /// None by default. Set it above the server's keep-alive interval (15 s
    /// by default); the legacy format sends no keep-alives.
    pub fn idle_timeout(mut self, after: Duration) -> Self {
        self.idle_timeout = Some(after);
        self
    }

    /// Refuses packets larger than `limit` bytes ([`Error::Decode`]); 16 MiB
    /// by default.
    pub fn max_packet_bytes(mut self, limit: usize) -> Self {
        self.max_packet_bytes = limit;
        self
    }

    /// How a resumable stream reconnects after its connection dropped or its
    /// body ended before the final packet ([`Reconnect::default`] unless set).
    /// Only streams whose response carried `Rivulet-Stream-Id` reconnect, and
    /// only when the request can be sent again (not with a streaming body).
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Never reconnects: a dropped connection ends the stream with an error.
    /// [`EventStream::resume_point`] still says where a resumable stream
    /// would resume, so that it can be resumed later with
    /// [`resume_from`](Self::resume_from).
    pub fn no_reconnect(mut self) -> Self {
        self.reconnect = Some(Reconnect::default().retries(0));
        self
    }

    /// Resumes a stream instead of starting one: `point` is what
    /// [`EventStream::resume_point`] gave earlier, sent as `Last-Event-ID`
    /// (`<stream id>.<packets received>`). A stream that can no longer be
    /// resumed fails with [`Error::NotAStream`] (status 204).
    pub fn resume_from(mut self, point: ResumePoint) -> Self {
        self.inner = self.inner.header(LAST_EVENT_ID, point.to_string());
        self.resume_from = Some(point);
        self
    }

    /// Sends the request and waits for the response head.
    ///
    /// A non-2xx status is [`Error::Status`] (with the server's error object
    /// when the body holds one); a 2xx that is not a stream is
    /// [`Error::NotAStream`].
    pub async fn send(self) -> Result<EventStream, Error> {
        let (http, request) = self.inner.build_split();
        let mut request = request.map_err(Error::Transport)?;
        for &(name, value) in self.format.request_headers() {
            if !request.headers().contains_key(name) {
                request
                    .headers_mut()
                    .insert(name, HeaderValue::from_static(value));
            }
        }
        let resume = self.reconnect.and_then(|policy| {
            let from = self.resume_from;
            reconnect::Resumer::new(
                http.clone(),
                &request,
                self.format,
                policy,
                self.idle_timeout,
                from,
            )
        });
        let canceller = cancel::Canceller::new(http.clone(), &request, self.idle_timeout);
        let response = within(self.idle_timeout, http.execute(request))
            .await?
            .map_err(Error::Transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(response, self.idle_timeout).await);
        }
        let Some(format) = response_format(&response, self.format) else {
            return Err(Error::NotAStream {
                status,
                content_type: response
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            });
        };
        Ok(EventStream::new(
            response,
            format,
            self.idle_timeout,
            self.max_packet_bytes,
            resume,
            canceller,
        ))
    }
}

/// The format of a successful response: the one its `Content-Type` names, or
/// the one asked for when it has no `Content-Type` (`docs/protocol.md`,
/// "Choosing a format"). `None` for `204 No Content`, which holds no stream,
/// and for a `Content-Type` that is none of the formats.
fn response_format(response: &reqwest::Response, asked: Format) -> Option<Format> {
    if response.status() == StatusCode::NO_CONTENT {
        return None;
    }
    match response.headers().get(http::header::CONTENT_TYPE) {
        None => Some(asked),
        Some(_) => Format::from_response_headers(response.headers()),
    }
}

async fn within<F: Future>(limit: Option<Duration>, future: F) -> Result<F::Output, Error> {
    match limit {
        Some(after) => tokio::time::timeout(after, future)
            .await
            .map_err(|_| Error::IdleTimeout(after)),
        None => Ok(future.await),
    }
}

/// Reads an HTTP error's body (its first 64 KiB) for the protocol's
/// `{"error": <error object>}`.
async fn status_error(mut response: reqwest::Response, idle: Option<Duration>) -> Error {
    let status: StatusCode = response.status();
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_LIMIT {
        match within(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => bytes.extend_from_slice(&chunk),
            // The status says enough; a body that fails to arrive adds nothing.
            _ => break,
        }
    }
    bytes.truncate(ERROR_BODY_LIMIT);
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Error::Status {
            status,
            error: Some(body.error),
            body: String::new(),
        },
        Err(_) => Error::Status {
            status,
            error: None,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        },
    }
}
