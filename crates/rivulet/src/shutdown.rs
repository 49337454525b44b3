//! Ending streams when the server stops.

use tokio_util::sync::CancellationToken;

/// A signal that ends every running stream of a [`Config`](crate::Config) with
/// an error packet saying the server is shutting down (status 503), and answers
/// new streams with `503 Service Unavailable`.
///
/// A server stops accepting and calls [`Shutdown::stop`], so that requests on
/// connections it had already accepted get no new stream, gives running
/// streams a grace period to finish on their own, then calls
/// [`Shutdown::end_streams`] for the rest ([`serve`](crate::serve()) does all
/// this):
///
/// ```
/// let shutdown = rivulet::Shutdown::new();
/// // Under `rivulet::serve(…).with_graceful_shutdown(&shutdown, …)` every
/// // request gets it; under another server, name it in the Config layer:
/// let config = rivulet::Config::default().shutdown(&shutdown);
/// // … `.layer(config)`; on SIGTERM:
/// shutdown.stop();
/// assert!(shutdown.is_stopping() && !shutdown.is_ended());
/// // … after the grace period:
/// shutdown.end_streams();
/// assert!(shutdown.is_ended());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    /// Given by [`Shutdown::stop`]: new streams are refused.
    stopping: CancellationToken,
    /// Given by [`Shutdown::end_streams`]: running streams end too.
    token: CancellationToken,
}

impl Shutdown {
    /// A signal not yet given.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Refuses new streams (`503` with `Retry-After`); running ones go on.
    pub fn stop(&self) {
        self.stopping.cancel();
    }

    /// True once [`stop`](Shutdown::stop) or
    /// [`end_streams`](Shutdown::end_streams) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Ends every running stream, and refuses new ones.
    pub fn end_streams(&self) {
        self.stopping.cancel();
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
