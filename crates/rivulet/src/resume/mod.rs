//! Resumable streams: the job outlives its connection, and a client that comes
//! back with `Last-Event-ID` gets every packet it missed, then the live ones,
//! each exactly once and in order, then the final packet.
//!
//! A handler opts in by taking [`Resumable`] instead of [`Stream`]:
//!
//! ```
//! use axum::{Extension, Router, response::Response, routing::get};
//! use rivulet::resume::{MemoryStore, Resumable, Resume};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! async fn durable(stream: Resumable) -> Response {
//!     stream
//!         .run(|tx| async move {
//!             for i in 1..=100 {
//!                 tokio::time::sleep(Duration::from_millis(100)).await;
//!                 tx.send(format!("item {i}")).await?;
//!             }
//!             Ok(json!({ "processed": 100 }))
//!         })
//!         .await
//! }
//!
//! let resume = Resume::new(MemoryStore::new()).grace(Duration::from_secs(30));
//! let app: Router = Router::new()
//!     .route("/stream/durable", get(durable))
//!     .layer(Extension(resume));
//! ```
//!
//! How it works:
//!
//! * The handler runs on a task of its own, detached from the connection. Its
//!   packets go to a [`Store`], numbered 1, 2, 3, … and kept as JSON, so that
//!   a connection in any wire format can replay them.
//! * Every connection reads the stream from the store. SSE events carry the id
//!   `<stream id>.<number>`; every response carries the header
//!   `Rivulet-Stream-Id`, from which NDJSON and legacy clients build the same
//!   resume point (`<stream id>.<packets received>`). A browser `EventSource`
//!   resumes on its own.
//! * When no client has been connected for the grace period, the job is stopped
//!   (its future dropped, as for a plain stream whose client left) and the
//!   stream ends with an error packet saying so.
//! * A finished stream stays in the store for a TTL: a client that missed the
//!   end still gets it. After that, and for a client that already has the final
//!   packet, a resume is answered `204 No Content`.
//! * With a store shared by several servers (`RedisStore`, feature `redis`),
//!   any of them can serve a resume. The server running the job holds a lease;
//!   if it dies, readers end the stream with an error once the lease runs out.
//! * Resuming checks that the client may: the owner given with
//!   [`Resumable::owner`] must match, or the hook set with
//!   [`Resume::authorize`] decides.
//!
//! The wire side is specified in `docs/protocol.md` ("Resumable streams").

mod id;
mod memory;
mod producer;
#[cfg(feature = "redis")]
mod redis;
mod replay;
mod store;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::Error;
use crate::format::Format;
use crate::sender::Sender;
use crate::stream::{LAST_EVENT_ID, Stream};

pub use id::{InvalidId, ResumePoint, StreamId};
pub use memory::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_PACKETS_PER_STREAM, DEFAULT_MAX_STREAMS, MemoryStore,
};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use store::{Packet, Status, Store, StoreError};

use store::DynStore;

pub(crate) use replay::with_stream_id;

/// The response header that names a resumable stream.
pub const STREAM_ID_HEADER: &str = "rivulet-stream-id";

/// The query parameter that may carry a resume point instead of the
/// `Last-Event-ID` header, for clients that cannot set headers (a browser
/// `EventSource` opened anew after a page reload).
pub const LAST_EVENT_ID_PARAM: &str = "lastEventId";

/// The default [`Resume::grace`]: 30 s.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);
/// The default [`Resume::ttl`]: 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The default [`Resume::lease`]: 10 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

type Authorize = dyn Fn(&ResumeRequest<'_>) -> Result<(), Error> + Send + Sync;

/// How resumable streams are kept: the store, and how long things last.
/// Install it with axum's `Extension` layer; without one, [`Resumable`] uses a
/// [`MemoryStore`] shared by the whole process, with the default settings.
#[derive(Clone)]
pub struct Resume {
    inner: Arc<Settings>,
}

#[derive(Clone)]
struct Settings {
    store: Arc<dyn DynStore>,
    grace: Duration,
    ttl: Duration,
    lease: Duration,
    authorize: Option<Arc<Authorize>>,
}

impl Resume {
    /// Resumable streams kept in `store`, with the default durations.
    pub fn new(store: impl Store) -> Self {
        Resume {
            inner: Arc::new(Settings {
                store: Arc::new(store),
                grace: DEFAULT_GRACE,
                ttl: DEFAULT_TTL,
                lease: DEFAULT_LEASE,
                authorize: None,
            }),
        }
    }

    fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// How long a job keeps running with no client connected (at least 10 ms).
    pub fn grace(self, grace: Duration) -> Self {
        self.settings(|s| s.grace = grace.max(Duration::from_millis(10)))
    }

    /// How long a finished stream can still be fetched.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.settings(|s| s.ttl = ttl)
    }

    /// How long a producer's lease lasts without renewal (at least 10 ms): the
    /// longest a reader on another server waits before it calls a producer that
    /// stopped renewing dead. The producer renews it three times per lease.
    pub fn lease(self, lease: Duration) -> Self {
        self.settings(|s| s.lease = lease.max(Duration::from_millis(10)))
    }

    /// Decides whether a request may resume a stream. Without a hook, the owner
    /// the handler gives with [`Resumable::owner`] must equal the one the
    /// stream was created with (streams created without an owner can be
    /// resumed by anyone who has their id). An `Err` is the answer to the
    /// request (`403` is usual).
    ///
    /// ```
    /// use rivulet::{Error, resume::{MemoryStore, Resume}};
    /// use http::StatusCode;
    ///
    /// let resume = Resume::new(MemoryStore::new()).authorize(|request| {
    ///     let user = request.headers().get("x-user").and_then(|v| v.to_str().ok());
    ///     if user.is_some() && user == request.owner() {
    ///         Ok(())
    ///     } else {
    ///         Err(Error::new(StatusCode::FORBIDDEN, "not your stream"))
    ///     }
    /// });
    /// # let _ = resume;
    /// ```
    pub fn authorize<F>(self, hook: F) -> Self
    where
        F: Fn(&ResumeRequest<'_>) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.settings(|s| s.authorize = Some(Arc::new(hook)))
    }
}

/// A process-wide [`MemoryStore`] with the default settings.
impl Default for Resume {
    fn default() -> Self {
        static DEFAULT: OnceLock<Resume> = OnceLock::new();
        DEFAULT
            .get_or_init(|| Resume::new(MemoryStore::new()))
            .clone()
    }
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resume")
            .field("grace", &self.inner.grace)
            .field("ttl", &self.inner.ttl)
            .field("lease", &self.inner.lease)
            .field("authorize", &self.inner.authorize.is_some())
            .finish_non_exhaustive()
    }
}

/// A request to resume a stream, as the [`Resume::authorize`] hook sees it.
#[derive(Debug)]
pub struct ResumeRequest<'a> {
    stream: StreamId,
    owner: Option<&'a str>,
    presented: Option<&'a str>,
    headers: &'a HeaderMap,
}

impl ResumeRequest<'_> {
    /// The stream to resume.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The owner the stream was created with.
    pub fn owner(&self) -> Option<&str> {
        self.owner
    }

    /// The owner the handler gave for this request ([`Resumable::owner`]).
    pub fn presented_owner(&self) -> Option<&str> {
        self.presented
    }

    /// The request's headers (cookies, `Authorization`, …).
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

/// Extractor for a resumable streaming handler: like [`Stream`], but the
/// handler's job survives its connection, and a request carrying a resume point
/// (`Last-Event-ID`, or the `lastEventId` query parameter) continues the stream
/// it names instead of starting a new job. See the [module docs](self).
#[derive(Debug)]
pub struct Resumable {
    stream: Stream,
    resume: Resume,
    /// The resume point the request carries, unparsed.
    from: Option<String>,
    /// Kept for the authorization hook when the request resumes.
    headers: HeaderMap,
    owner: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Resumable {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let stream = Stream::from_request_parts(parts, state).await?;
        let header = parts
            .headers
            .get(LAST_EVENT_ID)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let from = header.or_else(|| {
            form_urlencoded_value(parts.uri.query().unwrap_or(""), LAST_EVENT_ID_PARAM)
        });
        Ok(Resumable {
            stream,
            resume: parts
                .extensions
                .get::<Resume>()
                .cloned()
                .unwrap_or_default(),
            headers: if from.is_some() {
                parts.headers.clone()
            } else {
                HeaderMap::new()
            },
            from,
            owner: None,
        })
    }
}

/// The value of `name` in a query string, percent-decoded.
fn form_urlencoded_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

impl Resumable {
    /// The wire format the client asked for.
    pub fn format(&self) -> Format {
        self.stream.format()
    }

    /// True when the request resumes a stream rather than starting one.
    pub fn is_resume(&self) -> bool {
        self.from.is_some()
    }

    /// Ties the stream to `owner` (a user id, a session): a new stream is
    /// created with it, and a resume is allowed only with the same owner
    /// (unless a [`Resume::authorize`] hook decides otherwise).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Starts `handler` as a detached job, or, for a request carrying a resume
    /// point, continues the stream it names without running `handler` at all.
    ///
    /// The handler gets a [`Sender`] as with [`Stream::run`]; its `Ok` value is
    /// the final `done` packet, its `Err` (or a panic) the final `error` packet.
    /// Its future is dropped, and its `Sender` starts failing, when no client
    /// has been connected for the grace period.
    ///
    /// A resume is answered `204 No Content` when the stream is unknown, has
    /// expired, or the client already has its final packet; `410 Gone` when
    /// the packets it missed are no longer kept; the hook's error when it is
    /// not allowed.
    pub async fn run<F, Fut, T>(self, handler: F) -> Response
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let Resumable {
            stream,
            resume,
            from,
            headers,
            owner,
        } = self;
        let settings = resume.inner;
        let format = stream.format();
        let keep_alive = stream.config().keep_alive;
        let Some(from) = from else {
            // Packets are stored as their NDJSON line: JSON, whatever the format
            // of the connections that read them.
            let job = match stream.spawn(handler, Format::Ndjson) {
                Ok(job) => job,
                Err(refused) => return *refused,
            };
            let id = StreamId::random();
            if let Err(e) = producer::start(&settings, id, owner.as_deref(), job).await {
                tracing::error!(stream = %id, error = %e, "could not start a resumable stream");
                return store_unavailable();
            }
            return replay::respond(&settings, id, 0, format, keep_alive).await;
        };
        let Ok(point) = from.parse::<ResumePoint>() else {
            // Not ours (an id of a stream that was not resumable): nothing to resume.
            return StatusCode::NO_CONTENT.into_response();
        };
        let status = match settings.store.status(point.stream).await {
            Ok(Some(status)) => status,
            Ok(None) | Err(StoreError::Unknown) => return StatusCode::NO_CONTENT.into_response(),
            Err(StoreError::Evicted { .. }) => {
                return Error::new(StatusCode::GONE, replay::EVICTED_MESSAGE).into_response();
            }
            Err(e) => {
                tracing::error!(stream = %point.stream, error = %e, "could not look up a stream to resume");
                return store_unavailable();
            }
        };
        let request = ResumeRequest {
            stream: point.stream,
            owner: status.owner.as_deref(),
            presented: owner.as_deref(),
            headers: &headers,
        };
        let allowed = match &settings.authorize {
            Some(hook) => hook(&request),
            None if request.owner == request.presented => Ok(()),
            None => Err(Error::new(
                StatusCode::FORBIDDEN,
                "not allowed to resume this stream",
            )),
        };
        if let Err(denied) = allowed {
            return denied.into_response();
        }
        if point.received >= status.last && (status.finished || point.received > status.last) {
            // The client has the final packet already, or claims packets that
            // do not exist: there is nothing to send.
            return StatusCode::NO_CONTENT.into_response();
        }
        replay::respond(&settings, point.stream, point.received, format, keep_alive).await
    }
}

/// The answer when the store cannot be reached.
fn store_unavailable() -> Response {
    let mut response = Error::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "resumable streams are unavailable: their store cannot be reached",
    )
    .into_response();
    response
        .headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(
            form_urlencoded_value("a=1&lastEventId=ab%2Ecd.3&b", "lastEventId").as_deref(),
            Some("ab.cd.3")
        );
        assert_eq!(form_urlencoded_value("a=1", "lastEventId"), None);
    }
}
