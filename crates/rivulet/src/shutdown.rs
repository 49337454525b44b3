//! Ending streams when the server stops.

use tokio_util::sync::CancellationToken;

/// A signal that ends every running stream of a [`Config`](crate::Config) with
/// an error packet saying the server is shutting down (status 503), and answers
/// new streams with `503 Service Unavailable`.
///
/// A server stops accepting, gives running streams a grace period to finish on
/// their own, then calls [`Shutdown::end_streams`] for the rest:
///
/// ```
/// let shutdown = rivulet::Shutdown::new();
/// let config = rivulet::Config::default().shutdown(&shutdown);
/// // … serve with `Extension(config)`; on SIGTERM, after the grace period:
/// shutdown.end_streams();
/// assert!(shutdown.is_ended());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

/// The message of the error packet that ends a stream at shutdown.
pub const SHUTDOWN_MESSAGE: &str = "the server is shutting down";

impl Shutdown {
    /// A signal not yet given.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Ends every running stream, and refuses new ones.
    pub fn end_streams(&self) {
        self.token.cancel();
    }

    /// True once [`end_streams`](Shutdown::end_streams) was called.
    pub fn is_ended(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the streams are to end.
    pub async fn ended(&self) {
        self.token.cancelled().await
    }
}
