//! Knowing when a connection holds no request, so that it can be closed.
//!
//! hyper's header-read timeout covers HTTP/1.1 only: over HTTP/2 a client
//! that sends the connection preface, or half a header block, and then
//! nothing, would hold its connection — and a slot of the connection cap — for
//! ever. Every HTTP/2 connection counts its open requests; one that has held
//! none for the header-read timeout is told to go away and then closed. An
//! HTTP/1.1 connection is left to hyper's timeout: it costs each idle stream's
//! connection nothing more.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::Notify;

/// The open requests of one connection: a count and a wake-up when it
/// changes (a few dozen bytes; every open stream's connection keeps one).
#[derive(Clone, Debug, Default)]
pub(crate) struct Requests {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    open: AtomicUsize,
    changed: Notify,
}

impl Requests {
    pub(crate) fn new() -> Self {
        Requests::default()
    }

    /// Counts a request as open until the returned guard is dropped.
    pub(crate) fn open(&self) -> Open {
        self.shared.open.fetch_add(1, Ordering::AcqRel);
        self.shared.changed.notify_waiters();
        Open {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Completes once no request has been open for `timeout`.
    pub(crate) async fn idle_for(&self, timeout: Duration) {
        loop {
            // Registered before the count is read: a change in between wakes it.
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.shared.open.load(Ordering::Acquire) == 0 {
                if tokio::time::timeout(timeout, changed).await.is_err() {
                    return;
                }
            } else {
                changed.await;
            }
        }
    }
}

/// One open request: dropped when its response has been sent or abandoned.
#[derive(Debug)]
pub(crate) struct Open {
    shared: Arc<Shared>,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::AcqRel);
        self.shared.changed.notify_waiters();
    }
}

pin_project! {
    /// A response body that keeps its request counted as open, if its
/// connection counts them.
    #[derive(Debug)]
    pub(crate) struct OpenBody<B> {
        #[pin]
        body: B,
        open: Option<Open>,
    }
}

impl<B> OpenBody<B> {
    pub(crate) fn new(body: B, open: Option<Open>) -> Self {
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
