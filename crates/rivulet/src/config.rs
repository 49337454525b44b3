//! Settings shared by every stream of an application.

use std::time::Duration;

/// How streams behave: buffer size, keep-alive, packet limit, error exposure.
///
/// Install one for the whole app with axum's `Extension` layer; the
/// [`Stream`](crate::Stream) extractor picks it up, and falls back to
/// [`Config::default`] without it. Single handlers can still adjust their own
/// stream with [`Stream::buffer`](crate::Stream::buffer) and
/// [`Stream::keep_alive`](crate::Stream::keep_alive).
///
/// ```
/// use std::time::Duration;
/// use axum::{Extension, Router};
///
/// let app: Router = Router::new()
///     .layer(Extension(rivulet::Config::default().buffer(64).keep_alive(Some(Duration::from_secs(20)))));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) buffer: usize,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) max_packet_bytes: usize,
    pub(crate) expose_internal_errors: bool,
}

/// The default number of packets a stream buffers before `send` waits.
pub const DEFAULT_BUFFER: usize = 32;
/// The default interval of keep-alive comments on an idle stream.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The default largest encoded packet, for senders and decoders alike.
pub const DEFAULT_MAX_PACKET_BYTES: usize = 16 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            buffer: DEFAULT_BUFFER,
            keep_alive: Some(DEFAULT_KEEP_ALIVE),
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            expose_internal_errors: false,
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
    /// packet restarts the timer. It is also the longest the response head waits
    /// for the handler's first packet (see `docs/protocol.md`).
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
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
}
