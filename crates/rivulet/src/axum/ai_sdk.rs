//! The AI SDK's chat on axum: [`ChatRequest`] and [`ChatStream`] as
//! extractors, their answers as axum responses.

use std::convert::Infallible;
use std::future::Future;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::Response;
use http::request::Parts;

use super::response;
use crate::ai_sdk::{ChatRequest, ChatSender, ChatStream};
use crate::error::Error;

impl<S: Send + Sync> FromRequest<S> for ChatRequest {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        ChatRequest::check_content_type(request.headers())?;
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await?;
        ChatRequest::from_body(&headers, &body)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ChatStream {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(ChatStream::from_parts(parts))
    }
}

impl ChatStream {
    /// Answers chat `chat_id` with the parts `handler` sends: see
    /// [`ChatStream::respond`].
    pub async fn run<F, Fut>(self, chat_id: &str, handler: F) -> Response
    where
        F: FnOnce(ChatSender) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        response(self.respond(chat_id, handler).await)
    }

    /// Resumes, or (a `DELETE`) cancels, the running answer of chat
    /// `chat_id`: see [`ChatStream::respond_resume`].
    pub async fn resume(self, chat_id: &str) -> Response {
        response(self.respond_resume(chat_id).await)
    }
}
