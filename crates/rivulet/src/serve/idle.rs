//! Knowing when a connection holds no request, so that it can be closed.
//!
//! hyper's header-read timeout covers HTTP/1.1 only: over HTTP/2 a client
//! that sends the connection preface, or half a header block, and then
//! nothing, would hold its connection — and a slot of the connection cap — for
//! ever. Every connection, whichever protocol it speaks, counts its open
//! requests; one that has held none for the header-read timeout is told to go
//! away and then closed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::watch;

/// The open requests of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Requests {
    open: Arc<watch::Sender<usize>>,
}

impl Requests {
    pub(crate) fn new() -> Self {
        Requests {
            open: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Counts a request as open until the returned guard is dropped.
    pub(crate) fn open(&self) -> Open {
        self.open.send_modify(|open| *open += 1);
        Open {
            open: Arc::clone(&self.open),
        }
    }

    /// Completes once no request has been open for `timeout`.
    pub(crate) async fn idle_for(&self, timeout: Duration) {
        let mut open = self.open.subscribe();
        loop {
            if *open.borrow_and_update() == 0 {
                if tokio::time::timeout(timeout, open.changed()).await.is_err() {
                    return;
                }
            } else if open.changed().await.is_err() {
                unreachable!("the sender lives as long as `self`");
            }
        }
    }
}

/// One open request: dropped when its response has been sent or abandoned.
#[derive(Debug)]
pub(crate) struct Open {
    open: Arc<watch::Sender<usize>>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.open.send_modify(|open| *open -= 1);
    }
}

pin_project! {
    /// A response body that keeps its request counted as open.
    #[derive(Debug)]
    pub(crate) struct OpenBody<B> {
        #[pin]
        body: B,
        open: Open,
    }
}

impl<B> OpenBody<B> {
    pub(crate) fn new(body: B, open: Open) -> Self {
        OpenBody { body, open }
    }
}

impl<B: Body> Body for OpenBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_after_its_last_request_for_the_timeout() {
        let requests = Requests::new();
        let timeout = Duration::from_secs(10);
        let start = tokio::time::Instant::now();
        let open = requests.open();
        let idle = tokio::spawn({
            let requests = requests.clone();
            async move { requests.idle_for(timeout).await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(
            !idle.is_finished(),
            "a connection with a request is not idle"
        );
        drop(open);
        idle.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(70));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_comes_and_goes_restarts_the_timeout() {
        let requests = Requests::new();
        let timeout = Duration::from_secs(10);
        let start = tokio::time::Instant::now();
        let idle = tokio::spawn({
            let requests = requests.clone();
            async move { requests.idle_for(timeout).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(requests.open());
        idle.await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_secs(15));
    }
}
