//! The axum adapter: [`Stream`] and [`Resumable`] as extractors, the core's
//! answers as axum responses, an [`Error`] as a response of its own. Nothing
//! here decides anything: each item turns axum's types into the core's and
//! back (rejections: [`rejection`](crate::rejection); `Config` as a layer:
//! `config/layer.rs`).

mod ai_sdk;

use std::convert::Infallible;
use std::future::Future;

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::Serialize;

use crate::error::Error;
use crate::feed::{Feed, FeedError};
use crate::resume::Resumable;
use crate::stream::Stream;
use crate::stream::sender::Sender;

/// The core's answer as axum's response.
pub(crate) fn response(response: crate::response::Response) -> Response {
    response.map(axum::body::Body::new)
}

impl<S: Send + Sync> FromRequestParts<S> for Stream {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Stream::from_parts(parts))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Resumable {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Resumable::from_parts(parts))
    }
}

impl Stream {
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
    /// (See [`Stream::respond`] for the same without axum.)
    pub async fn run<F, Fut, T>(self, handler: F) -> Response
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        response(self.respond(handler).await)
    }

    /// Answers with the packets of `feed`: see [`Stream::respond_feed`].
    pub async fn follow(self, feed: &Feed) -> Response {
        response(self.respond_feed(feed).await)
    }
}

impl Resumable {
    /// Starts `handler` as a detached job, or continues the stream the
    /// request's resume point names, or cancels it (a `DELETE`): see
    /// [`Resumable::respond`].
    pub async fn run<F, Fut, T>(self, handler: F) -> Response
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        response(self.respond(handler).await)
    }
}

/// A failed publish's answer: see [`FeedError::into_http_response`].
impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        response(self.into_http_response())
    }
}

/// An error answered as a response of its own: its status and a JSON body
/// `{"error": <error object>}`. Lets a handler reject a request before it starts
/// streaming, in the same shape as an error inside the stream.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        response(self.into_http_response())
    }
}
