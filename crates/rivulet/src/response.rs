//! What the core answers with, whatever the framework: an
//! [`http::Response`] whose body is a [`Body`], an [`http_body::Body`] of
//! [`Bytes`] that never fails. The adapters hand it to their framework as it
//! is (axum wraps it in its own body; actix-web reads it as a
//! `MessageBody`); a plain hyper or tower service returns it directly:
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::Request;
//! use rivulet::response::Response;
//! use rivulet::{Config, Stream};
//!
//! // A tower service: every request is answered with a stream.
//! let service = tower::service_fn(|request: Request<()>| async move {
//!     let (parts, _body) = request.into_parts();
//!     let stream = Stream::from_parts(&parts);
//!     let response: Response = stream
//!         .respond(|tx| async move {
//!             tx.send("Starting stream test").await?;
//!             Ok("finished")
//!         })
//!         .await;
//!     Ok::<_, Infallible>(response)
//! });
//! # use http_body_util::BodyExt;
//! # use tower::ServiceExt;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let request = Request::get("/stream").header("accept", "application/x-ndjson").body(()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.headers()["content-type"], "application/x-ndjson");
//! let text = response.into_body().collect().await.unwrap().to_bytes();
//! assert!(text.ends_with(b"\"finished\"}\n"), "{text:?}");
//! # });
//! # let _ = Config::default();
//! ```
//!
//! Serving it with hyper is `hyper::service::service_fn` around the same
//! closure: the [`Body`] is what hyper writes, and dropping it (hyper does when
//! the client leaves) cancels the handler.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};

/// The core's answer: a stream's packets, or an HTTP error with a JSON body.
pub type Response = http::Response<Body>;

/// The body of every answer the core gives: a stream's packets as they come,
/// or a whole body (an error object, nothing at all).
pub struct Body {
    kind: Kind,
}

/// A body that sends as packets come: a stream's or a feed's. Boxed, so that
/// this module, which every wing answers through, depends on none of them.
type Streaming = Pin<Box<dyn http_body::Body<Data = Bytes, Error = Infallible> + Send>>;

enum Kind {
    Full(Option<Bytes>),
    Streaming(Streaming),
}

impl Body {
    /// A body with nothing in it.
    pub fn empty() -> Self {
        Body::full(Bytes::new())
    }

    /// A body of `bytes`, all at once.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Body {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body that sends what `body` yields as it yields it.
    pub(crate) fn streaming(
        body: impl http_body::Body<Data = Bytes, Error = Infallible> + Send + 'static,
    ) -> Self {
        Body {
            kind: Kind::Streaming(Box::pin(body)),
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Full(_) => "full",
            Kind::Streaming(_) => "streaming",
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Streaming(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Streaming(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Streaming(body) => body.size_hint(),
        }
    }
}

/// The core's answers that are not a stream: a status with nothing else, an
/// error, a JSON value.
pub(crate) trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = self;
        response
    }
}

/// A JSON answer with its status (`202 {"cancelled": …}`).
pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("a JSON value always serializes");
    let mut response = Response::new(Body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
