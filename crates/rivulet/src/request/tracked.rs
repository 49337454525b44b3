//! Whether a request's body has been read ([`BodyRead`]); the stream's
//! response waits for it (`stream/hold.rs`).
//!
//! An HTTP/1.1 proxy such as nginx stops sending a request's body once the
//! response has begun, so an upload whose handler streams progress while it
//! reads would stall for ever behind it (browsers, for their part, read no
//! response before they have sent the body). A stream whose request body is
//! still unread therefore holds its head and packets until the body has been
//! read to its end or dropped; [`Config::full_duplex`](crate::Config::full_duplex)
//! turns this off for clients that read while they send.
//!
//! [`serve`](crate::serve()) tracks every request's body, and on actix-web
//! [`RequestBody`](crate::actix::RequestBody) the body it reads; under
//! another server streams are not held.
// Read by `serve`, which tracks every request body, and the actix adapter.
#![cfg_attr(not(any(feature = "serve", feature = "actix")), allow(dead_code))]

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio_util::sync::CancellationToken;

/// Given once a request's body has been read to its end, has failed, or was
/// dropped; found in the request's extensions.
#[derive(Clone, Debug)]
pub(crate) struct BodyRead(CancellationToken);

impl BodyRead {
    pub(crate) fn is_read(&self) -> bool {
        self.0.is_cancelled()
    }

    pub(crate) async fn read(&self) {
        self.0.cancelled().await
    }
}

pin_project! {
    /// A request body that gives its [`BodyRead`] when it is done.
    pub(crate) struct TrackedBody<B> {
        #[pin]
        inner: B,
        read: BodyRead,
    }

    impl<B> PinnedDrop for TrackedBody<B> {
        fn drop(this: Pin<&mut Self>) {
            this.read.0.cancel();
        }
    }
}

/// Tracks `body`: the [`BodyRead`] is given when it is done.
pub(crate) fn track<B: Body>(body: B) -> (TrackedBody<B>, BodyRead) {
    let read = BodyRead(CancellationToken::new());
    if body.is_end_stream() {
        read.0.cancel();
    }
    let tracked = TrackedBody {
        inner: body,
        read: read.clone(),
    };
    (tracked, read)
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => this.read.0.cancel(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.read.0.cancel(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
