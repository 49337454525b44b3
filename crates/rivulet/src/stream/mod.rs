//! The [`Stream`] extractor: turns a handler into a stream of packets.

pub(crate) mod body;
pub(crate) mod buffer;
pub(crate) mod encode;
pub(crate) mod handler_task;
pub(crate) mod hold;
pub(crate) mod limits;
pub(crate) mod record;
pub(crate) mod sender;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, VARY};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use tokio::task::AbortHandle;

use crate::config::Config;
use crate::error::refusal::refuse;
use crate::error::{Error, error_response};
use crate::metrics::ActiveStream;
use crate::protocol::Format;
use crate::protocol::{ENDED_UNEXPECTEDLY_MESSAGE, LAST_EVENT_ID};
use crate::request::resume::Requested;
use crate::request::tracked::BodyRead;
use crate::response::{self, IntoResponse, Response};
use crate::stream::buffer::{End, Frames, Queue, Reader, Writer};
use crate::stream::handler_task::HandlerTask;
use crate::stream::limits::Limits;
use crate::stream::sender::{Sender, Sending, Tx};
use body::{Leaving, StreamBody};
use hold::Held;

/// Extractor for a streaming handler. It reads the wire format the client asks
/// for and the app's [`Config`]; [`Stream::run`] then runs the handler and
/// answers with its packets. It never rejects a request and combines with any
/// other extractor (`State`, `Query`, `Json`, `Multipart`, …).
///
/// ```
/// use axum::{Router, routing::get};
/// use rivulet::Stream;
/// use serde_json::json;
///
/// async fn process(stream: Stream) -> axum::response::Response {
///     stream
///         .run(|tx| async move {
///             tx.send("Starting batch process").await?;
///             for i in 1..=100 {
///                 // … work on item i …
///                 if i % 10 == 0 {
///                     tx.send(format!("Processed {i} items")).await?;
///                 }
///             }
///             Ok(json!({ "success": true, "processed": 100 }))
///         })
///         .await
/// }
///
/// let app: Router = Router::new().route("/stream/process", get(process));
/// ```
#[derive(Debug, Clone)]
pub struct Stream {
    format: Format,
    content_length: Option<u64>,
    /// Tells when the request body is read, if the server tracks it.
    body_read: Option<BodyRead>,
    config: Config,
    /// The request's headers: the `Last-Event-ID` a reconnecting client sends,
    /// and what a feed's authorization hook looks at.
    pub(crate) headers: HeaderMap,
    /// The resume point the request carries, for a resumable stream or a
    /// feed.
    pub(crate) resume_from: Requested,
}

impl Stream {
    /// The stream a request asks for, from its head: the wire format it
    /// negotiates, and the [`Config`] in its extensions (the default without
    /// one). What every adapter's extractor does; a plain hyper or tower
    /// service calls it itself (see [`response`](crate::response)).
    pub fn from_parts(parts: &Parts) -> Self {
        Stream {
            format: Format::negotiate(&parts.headers),
            content_length: parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
            body_read: parts.extensions.get::<BodyRead>().cloned(),
            config: Config::of_request(parts),
            headers: parts.headers.clone(),
            resume_from: Requested::of(&parts.headers, &parts.uri),
        }
    }

    /// A stream in `format` with `config`, for use outside an extractor.
    pub fn new(format: Format, config: Config) -> Self {
        Stream {
            format,
            content_length: None,
            body_read: None,
            config,
            headers: HeaderMap::new(),
            resume_from: Requested::Start,
        }
    }

    /// The wire format the client asked for.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Changes this stream's buffer (see [`Config::buffer`]).
    pub fn buffer(mut self, packets: usize) -> Self {
        self.config = self.config.buffer(packets);
        self
    }

    /// Changes this stream's keep-alive (see [`Config::keep_alive`]).
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.config = self.config.keep_alive(interval);
        self
    }

    /// Runs `handler` on its own task and answers with its packets.
    ///
    /// The handler gets a [`Sender`] for progress packets; its `Ok` value is the
    /// final `done` packet, its `Err` (or a panic) the final `error` packet. If it
    /// fails before sending anything, the answer is an HTTP error with the error's
    /// status and a JSON body instead. When the client goes away the handler's
    /// future is dropped, and its `Sender` clones start failing.
    ///
    /// A request that is an `EventSource` reconnecting (it carries
    /// `Last-Event-ID`) is answered `204 No Content` without running the handler.
    ///
    /// The framework-neutral form of `run` (which the axum and actix-web
    /// adapters give): the answer is an [`http::Response`] with the core's
    /// [`Body`](crate::response::Body).
    pub async fn respond<F, Fut, T>(self, handler: F) -> Response
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        if self.headers.contains_key(LAST_EVENT_ID) {
            return StatusCode::NO_CONTENT.into_response();
        }
        let format = self.format;
        let timing = Timing::of(&self.config);
        let body_read = match self.config.full_duplex {
            true => None,
            false => self.body_read.clone(),
        };
        match self.spawn(handler) {
            Ok(job) => {
                let task = HandlerTask(job.task);
                respond(job.rx, format, timing, task, Leaving::Cancels, body_read).await
            }
            Err(refused) => *refused,
        }
    }

    /// The settings this stream runs with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Checks the limits, then runs `handler` on its own task, its packets
    /// queued as `Q` holds them: frames in the client's format, or records for
    /// a resumable stream's store. A request over a limit gets its answer
    /// instead.
    pub(crate) fn spawn<Q, F, Fut, T>(self, handler: F) -> Result<Job<Q>, Box<Response>>
    where
        Q: Queue,
        Writer<Q>: Into<Tx>,
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let limits = self.admit()?;
        let Stream { config, format, .. } = self;
        let sending = Sending::new(
            format,
            config.max_packet_bytes,
            config.expose_internal_errors,
        );
        let (tx, rx) = buffer::queue::<Q>(config.buffer, sending);
        let work = handler(Sender::new(tx.clone()));
        let task = tokio::spawn(drive(work, tx, limits)).abort_handle();
        Ok(Job { rx, task })
    }

    /// Checks the limits a new stream must pass, and takes its slot under
    /// `max_streams`. A request over a limit gets its answer instead.
    pub(crate) fn admit(&self) -> Result<Limits, Box<Response>> {
        let config = &self.config;
        if let (Some(length), Some(limit)) = (self.content_length, config.max_request_bytes)
            && length > limit
        {
            let message =
                format!("the request body of {length} bytes is over the limit of {limit} bytes");
            return Err(Box::new(refuse(StatusCode::PAYLOAD_TOO_LARGE, message)));
        }
        let permit = config.slot()?;
        Ok(Limits {
            _permit: permit,
            max_duration: config.max_duration,
            shutdown: config.shutdown.clone(),
        })
    }
}

/// A running handler: its packets, and the handle that stops it.
pub(crate) struct Job<Q: Queue = Frames> {
    pub(crate) rx: Reader<Q>,
    pub(crate) task: AbortHandle,
}

/// The two waits of a response: see [`Config::keep_alive`] and
/// [`Config::first_packet_wait`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    keep_alive: Option<Duration>,
    first_packet_wait: Option<Duration>,
}

impl Timing {
    pub(crate) fn of(config: &Config) -> Self {
        Timing {
            keep_alive: config.keep_alive,
            first_packet_wait: config.first_packet_wait,
        }
    }
}

/// Answers with the packets of `rx`, encoded in `format`. `task` is stopped
/// when the response (or its body) is dropped. While `body_read` is not
/// given, the head and packets are held (see [`body_read`](crate::request::tracked)).
pub(crate) async fn respond(
    mut rx: Reader,
    format: Format,
    timing: Timing,
    task: HandlerTask,
    leaving: Leaving,
    body_read: Option<BodyRead>,
) -> Response {
    // Hold the response head until the first packet, so that a failure before
    // any packet can still be answered with its own status.
    match timing.first_packet_wait {
        Some(wait) => {
            let _ = tokio::time::timeout(wait, rx.ready()).await;
        }
        None => rx.ready().await,
    }
    match rx.failed_early() {
        Some(End::Failed { packet, .. }) => return error_response(*packet),
        Some(_) => {
            return error_response(
                Error::from_message(ENDED_UNEXPECTEDLY_MESSAGE).into_packet(false),
            );
        }
        None => {}
    }
    let mut held = Held::default();
    if let Some(read) = body_read.filter(|read| !read.is_read()) {
        held = hold::hold(&mut rx, &read).await;
        // Failed before its first packet: still an HTTP error.
        if held.packets == 0 {
            match held.end.take() {
                Some(End::Failed { packet, .. }) => return error_response(*packet),
                Some(End::Dropped) => {
                    return error_response(
                        Error::from_message(ENDED_UNEXPECTEDLY_MESSAGE).into_packet(false),
                    );
                }
                end => held.end = end,
            }
        }
    }
    response(rx, format, timing.keep_alive, task, leaving, held)
}

/// The streaming response for the packets of `rx`, sent at once: a live feed
/// has no first packet to wait for. `leaving` says whether a client that
/// leaves early cancels the job. `held` is what
/// the stream sent while its head waited for the request body.
pub(crate) fn response(
    rx: Reader,
    format: Format,
    keep_alive: Option<Duration>,
    task: HandlerTask,
    leaving: Leaving,
    held: Held,
) -> Response {
    let body = StreamBody::new(rx, format, keep_alive, task)
        .with_held(held)
        .on_leave(leaving);
    head(Response::new(response::Body::streaming(body)), format)
}

/// Gives a stream's `response` the headers every stream answer has.
pub(crate) fn head(mut response: Response, format: Format) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    // Compression middleware leaves a body alone once it has an encoding;
    // a compressor would hold packets back until its buffer filled.
    headers.insert(CONTENT_ENCODING, HeaderValue::from_static("identity"));
    headers.insert(VARY, HeaderValue::from_static("accept, x-request-type"));
    response
}

/// Runs the handler to its end, or until a limit ends it, and queues the final
/// packet.
///
/// Built from combinators, not as an async fn: an async fn keeps its argument
/// and the future it awaits apart, so the handler's future would take its room
/// twice in every handler's task.
fn drive<Fut, T, Q>(work: Fut, writer: Writer<Q>, limits: Limits) -> impl Future<Output = ()>
where
    Fut: Future<Output = Result<T, Error>>,
    T: Serialize,
    Q: Queue,
    Writer<Q>: Into<Tx>,
{
    let active = ActiveStream::start();
    let bounded = limits.bound(AssertUnwindSafe(work).catch_unwind());
    // The task keeps beside the handler's future only a pointer to the
    // buffer: a handler's task is allocated in 128-byte steps, and every
    // byte kept here is kept by every running stream. The slot waits in the
    // buffer; the limits' timer and shutdown signal are in `bounded`.
    let Limits { _permit: slot, .. } = limits;
    writer.hold_slot(slot);
    let ending = Ending(writer);
    bounded.map(move |outcome| {
        // Held until the handler has ended: its slot and its count.
        let _held = active;
        let sender = Sender::new(ending.0.clone());
        let error = match outcome {
            Ok(Ok(Ok(value))) => match sender.done(&value) {
                Ok(()) => return,
                Err(e) => Error::from(e),
            },
            Ok(Ok(Err(error))) => error,
            Ok(Err(panic)) => Error::panic(panic_message(&*panic)),
            Err(limit) => limit,
        };
        if !error.is_client_gone() {
            sender.fail(error.into_packet(sender.expose_internal()));
        }
    })
}

/// The end of a handler's task, run or dropped: frees its slot.
struct Ending<Q: Queue>(Writer<Q>);

impl<Q: Queue> Drop for Ending<Q> {
    fn drop(&mut self) {
        self.0.release_slot();
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::routing::get;
    use axum::{Extension, Router};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Notify;

    use super::*;

    /// A handler's task keeps beside the handler's own future only what
    /// its end needs: a pointer to the buffer and the limits' watch. Tasks
    /// are allocated in 128-byte steps, and every byte here is kept by
    /// every running stream (it was 88 bytes: a sender, the limits, the
    /// error setting).
    #[tokio::test]
    async fn a_handlers_task_adds_little_to_its_future() {
        let sending = Sending::new(Format::Sse, 1024, false);
        let (tx, _rx) = buffer::queue::<Frames>(4, sending);
        let sender = Sender::new(tx.clone());
        let handler = async move {
            sender.send(1).await?;
            std::future::pending::<()>().await;
            Ok::<_, Error>(())
        };
        let own = std::mem::size_of_val(&handler);
        let limits = Limits {
            _permit: None,
            max_duration: None,
            shutdown: None,
        };
        let driven = drive(handler, tx, limits);
        let task = std::mem::size_of_val(&driven);
        eprintln!("{task} bytes driving a {own}-byte handler");
        assert!(
            task <= own + 24,
            "{task} bytes driving a {own}-byte handler"
        );
    }

    /// Reads from `socket` until `needle` has arrived, for up to 10 s.
    async fn read_until(socket: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
        let wait = tokio::time::timeout(Duration::from_secs(10), async {
            while !seen.windows(needle.len()).any(|w| w == needle) {
                let mut chunk = [0u8; 1024];
                let n = socket.read(&mut chunk).await.unwrap();
                assert!(
                    n > 0,
                    "the server closed: {:?}",
                    String::from_utf8_lossy(seen)
                );
                seen.extend_from_slice(&chunk[..n]);
            }
        });
        wait.await
            .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(seen)));
    }

    /// The response head goes out after `first_packet_wait` even with no
    /// keep-alive: the two settings are independent.
    #[tokio::test]
    async fn the_head_goes_out_after_the_first_packet_wait_without_keep_alive() {
        let gate = Arc::new(Notify::new());
        let released = gate.clone();
        let app = Router::new()
            .route(
                "/",
                get(move |stream: Stream| async move {
                    stream
                        .run(move |tx| async move {
                            released.notified().await;
                            tx.send("first").await?;
                            Ok(())
                        })
                        .await
                }),
            )
            .layer(Extension(
                Config::default()
                    .keep_alive(None)
                    .first_packet_wait(Some(Duration::from_millis(50))),
            ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mut socket = TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        // The handler is held until the head has arrived.
        read_until(&mut socket, &mut seen, b"\r\n\r\n").await;
        assert!(seen.starts_with(b"HTTP/1.1 200 OK\r\n"), "{seen:?}");
        gate.notify_one();
        read_until(&mut socket, &mut seen, b"data: \"first\"\n\n").await;
    }
}
