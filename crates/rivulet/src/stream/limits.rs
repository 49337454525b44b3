//! What bounds a running handler besides its client: its slot under
//! [`Config::max_streams`](crate::Config::max_streams), its
//! [`max_duration`](crate::Config::max_duration), and the server's
//! [`Shutdown`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::StatusCode;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::Error;
use crate::protocol::SHUTDOWN_MESSAGE;
use crate::shutdown::Shutdown;

/// The limits of one handler.
pub(crate) struct Limits {
    /// The handler's slot under `max_streams`: held, and freed when it ends.
    pub(crate) _permit: Option<OwnedSemaphorePermit>,
    pub(crate) max_duration: Option<Duration>,
    pub(crate) shutdown: Option<Shutdown>,
}

type Reached = Pin<Box<dyn Future<Output = Error> + Send>>;

impl Limits {
    /// Runs `work` until it completes or a limit is reached first.
    ///
    /// The limits are watched by a boxed future, and only when one is set:
    /// most streams have none, and its timer and shutdown signal would
    /// otherwise take room in every handler's task.
    pub(crate) fn bound<F: Future>(&self, work: F) -> Bounded<F> {
        let reached = (self.max_duration.is_some() || self.shutdown.is_some())
            .then(|| Box::pin(reached(self.max_duration, self.shutdown.clone())) as Reached);
        Bounded { work, reached }
    }
}

/// Completes with the error that ends the stream early: its time is up, or
/// the server is shutting down.
async fn reached(max_duration: Option<Duration>, shutdown: Option<Shutdown>) -> Error {
    let expired = async {
        match max_duration {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
    };
    let shutdown = async {
        match &shutdown {
            Some(shutdown) => shutdown.ended().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = expired => Error::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the stream reached its maximum duration of {:?}",
                max_duration.unwrap_or_default()
            ),
        ),
        () = shutdown => Error::new(StatusCode::SERVICE_UNAVAILABLE, SHUTDOWN_MESSAGE),
    }
}

pin_project_lite::pin_project! {
    /// A handler's future raced against its limits: its output, or the error
    /// of the limit reached first.
    pub(crate) struct Bounded<F> {
        #[pin]
        work: F,
        reached: Option<Reached>,
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = Result<F::Output, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The handler first: one that finishes as a limit is reached keeps its
        // outcome.
        if let Poll::Ready(output) = this.work.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match this.reached {
            Some(reached) => reached.as_mut().poll(cx).map(Err),
            None => Poll::Pending,
        }
    }
}
