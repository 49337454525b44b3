//! Settings shared by every stream of an application.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::request::guard::Allowance;
use crate::shutdown::Shutdown;

mod layer;
mod slots;

#[cfg(feature = "actix")]
pub(crate) use layer::Layered;
#[cfg(feature = "axum")]
pub use layer::RequestGuard;

/// How streams behave: buffer size, keep-alive, packet limit, error exposure,
/// and the limits that protect the server.
///
/// On actix-web, give it as app data, `App::app_data(config)` (see
/// `rivulet::actix`). On axum,
/// install one for the whole app as a layer, `Router::layer(config)`: the
/// [`Stream`](crate::Stream) extractor picks it up (as it would from axum's
/// `Extension` layer), and request bodies are guarded (a timeout when they
/// make no progress, bounded multipart heads, 400 for broken framing; see
/// [`Config::request_body_timeout`]). Without it, streams use
/// [`Config::default`] and bodies are not guarded. Single handlers can still adjust their own
/// stream with [`Stream::buffer`](crate::Stream::buffer) and
/// [`Stream::keep_alive`](crate::Stream::keep_alive).
///
/// ```
/// use std::time::Duration;
/// use axum::Router;
///
/// let app: Router = Router::new()
///     .layer(rivulet::Config::default().buffer(64).keep_alive(Some(Duration::from_secs(20))));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) buffer: usize,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) first_packet_wait: Option<Duration>,
    pub(crate) max_packet_bytes: usize,
    pub(crate) expose_internal_errors: bool,
    pub(crate) max_streams: Option<Arc<Semaphore>>,
    pub(crate) max_duration: Option<Duration>,
    pub(crate) max_request_bytes: Option<u64>,
    pub(crate) request_body_timeout: Option<Duration>,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) full_duplex: bool,
}

/// The default number of packets a stream buffers before `send` waits.
pub const DEFAULT_BUFFER: usize = 32;
/// The default interval of keep-alive comments on an idle stream.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The default [`Config::first_packet_wait`]: 15 s.
pub const DEFAULT_FIRST_PACKET_WAIT: Duration = Duration::from_secs(15);
/// How long a request body may make no progress, by default.
pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The default largest encoded packet, for senders and decoders alike.
pub const DEFAULT_MAX_PACKET_BYTES: usize = 16 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            buffer: DEFAULT_BUFFER,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            first_packet_wait: Some(DEFAULT_FIRST_PACKET_WAIT),
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            expose_internal_errors: false,
            max_streams: None,
            max_duration: None,
            max_request_bytes: None,
            request_body_timeout: Some(DEFAULT_REQUEST_BODY_TIMEOUT),
            shutdown: None,
            full_duplex: false,
        }
    }
}

impl Config {
    /// How many packets wait between the handler and the connection before
    /// [`Sender::send`](crate::Sender::send) waits for the client (backpressure).
    /// At least 1.
    pub fn buffer(mut self, packets: usize) -> Self {
        self.buffer = packets.max(1);
        self
    }

    /// The keep-alive interval on an idle stream, `None` for no keep-alive. Every
    /// packet restarts the timer.
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// How long the response head is held for the handler's first packet (15 s
    /// by default; `None` holds it until that packet, however long it takes).
    /// While the head is held, a handler that fails is answered with its
    /// error's own HTTP status; once it is out, the status is `200` and a later
    /// error travels as an error packet (see `docs/protocol.md`, "Before the
    /// stream begins"). A client with an idle timeout shorter than this wait
    /// sees nothing until the head goes out.
    pub fn first_packet_wait(mut self, wait: Option<Duration>) -> Self {
        self.first_packet_wait = wait;
        self
    }

    /// The largest encoded packet a handler may send; a larger one fails with
    /// [`SendError::TooLarge`](crate::SendError::TooLarge).
    pub fn max_packet_bytes(mut self, bytes: usize) -> Self {
        self.max_packet_bytes = bytes;
        self
    }

    /// Send internal error details and panic messages to clients. Off by default:
    /// clients get a generic message and an error id found in the log.
    pub fn expose_internal_errors(mut self, expose: bool) -> Self {
        self.expose_internal_errors = expose;
        self
    }

    /// At most `streams` handlers run at once for this configuration (and every
    /// clone of it); a request over the limit is answered
    /// `503 Service Unavailable` with `Retry-After` before its handler runs.
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.max_streams = Some(Arc::new(Semaphore::new(streams)));
        self
    }

    /// Ends a stream that runs longer than `duration` with an error packet that
    /// says so (status 504); its handler's future is dropped.
    pub fn max_duration(mut self, duration: Duration) -> Self {
        self.max_duration = Some(duration);
        self
    }

    /// Answers `413 Payload Too Large`, before the handler runs, a request whose
    /// `Content-Length` is over `bytes`. A body without a length fails with
    /// status 413 once it goes over, where bodies are guarded (the layer,
    /// `Router::layer(config)`, or actix-web's
    /// [`RequestBody`](crate::actix::RequestBody)); the handler reading it
    /// gets the error, as for [`Config::request_body_timeout`].
    pub fn max_request_bytes(mut self, bytes: u64) -> Self {
        self.max_request_bytes = Some(bytes);
        self
    }

    /// How long a request body may send nothing before it fails with status
    /// 408 (`None`: no limit). Applies where the config is installed as a
    /// layer, `Router::layer(config)`, which also bounds multipart heads (see
    /// [`MAX_MULTIPART_HEAD`](crate::MAX_MULTIPART_HEAD)), and to the bodies
    /// actix-web's [`RequestBody`](crate::actix::RequestBody) reads. The handler reading
    /// the body gets the error: returned before its first packet, the answer
    /// is a 408 with a JSON reason; after it, an error packet with status 408.
    pub fn request_body_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_body_timeout = timeout;
        self
    }

    /// Sends a stream's head and packets while its request body is still
    /// being read. Off by default: under [`serve`](crate::serve()), and on
    /// actix-web for a body read through
    /// [`RequestBody`](crate::actix::RequestBody), a stream
    /// whose request body is unread holds its head and packets (up to 1 MiB)
    /// until the body has been read to its end or dropped, because HTTP/1.1
    /// proxies such as nginx stop sending a body once the response has begun.
    /// Turn it on for clients that read the response while they send.
    pub fn full_duplex(mut self, full_duplex: bool) -> Self {
        self.full_duplex = full_duplex;
        self
    }

    /// What the request body guard allows a body.
    pub(crate) fn allowance(&self) -> Allowance {
        Allowance {
            idle: self.request_body_timeout,
            max_bytes: self.max_request_bytes,
        }
    }

    /// Ends running streams, and refuses new ones, once `shutdown` is given.
    pub fn shutdown(mut self, shutdown: &Shutdown) -> Self {
        self.shutdown = Some(shutdown.clone());
        self
    }
}
