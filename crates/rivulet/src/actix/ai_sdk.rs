//! The AI SDK's chat on actix-web: [`ChatRequest`] as an extractor, and
//! [`ChatStream`], the core's [`ChatStream`](crate::ai_sdk::ChatStream)
//! answering in actix-web's response.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures::future::LocalBoxFuture;

use super::rejection::{refusal, rejected};
use super::request::parts;
use super::response::response;
use crate::ai_sdk::{ChatRequest, ChatSender};
use crate::error::Error;

/// The body the AI SDK's chat transport posts, read whole (within
/// actix-web's `PayloadConfig` limit, 256 KiB by default): a request that is
/// not a chat request is answered `415`, `400` or `422` with the JSON
/// reason, as on axum (see [`ChatRequest::from_body`]).
impl FromRequest for ChatRequest {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = parts(request).headers;
        if let Err(error) = ChatRequest::check_content_type(&headers) {
            return Box::pin(ready(Err(refusal(error))));
        }
        let body = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            let body = body.await.map_err(|e| refusal(rejected(e)))?;
            ChatRequest::from_body(&headers, &body).map_err(refusal)
        })
    }
}

/// Extractor for the routes of a chat on actix-web: see
/// [`ai_sdk::ChatStream`](crate::ai_sdk::ChatStream), whose `respond` and
/// `respond_resume` this runs. The app's
/// [`Resume`](crate::resume::Resume) comes from its data
/// (`App::app_data(resume)`).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use rivulet::actix::ChatStream;
/// use rivulet::ai_sdk::{ChatRequest, Part};
/// use rivulet::resume::{MemoryStore, Resume};
///
/// async fn chat(stream: ChatStream, chat: ChatRequest) -> HttpResponse {
///     let question = chat.last_user_text();
///     stream
///         .run(&chat.id, move |tx| async move {
///             tx.text("t1", &question).await?;
///             Ok(())
///         })
///         .await
/// }
///
/// async fn chat_stream(stream: ChatStream, id: web::Path<String>) -> HttpResponse {
///     stream.resume(&id).await
/// }
///
/// let app = App::new()
///     .app_data(Resume::new(MemoryStore::new()))
///     .route("/api/chat", web::post().to(chat))
///     .route("/api/chat/{id}/stream", web::get().to(chat_stream))
///     .route("/api/chat/{id}/stream", web::delete().to(chat_stream));
/// ```
#[derive(Debug)]
pub struct ChatStream(crate::ai_sdk::ChatStream);

impl FromRequest for ChatStream {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let stream = crate::ai_sdk::ChatStream::from_parts(&parts(request));
        ready(Ok(ChatStream(stream)))
    }
}

impl ChatStream {
    /// Ties the chat's answer to `owner`: see
    /// [`ChatStream::owner`](crate::ai_sdk::ChatStream::owner).
    pub fn owner(self, owner: impl Into<String>) -> Self {
        ChatStream(self.0.owner(owner))
    }

    /// Answers chat `chat_id` with the parts `handler` sends: see
    /// [`ChatStream::respond`](crate::ai_sdk::ChatStream::respond).
    pub async fn run<F, Fut>(self, chat_id: &str, handler: F) -> HttpResponse
    where
        F: FnOnce(ChatSender) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        response(self.0.respond(chat_id, handler).await)
    }

    /// Resumes, or (a `DELETE`) cancels, the running answer of chat
    /// `chat_id`: see
    /// [`ChatStream::respond_resume`](crate::ai_sdk::ChatStream::respond_resume).
    pub async fn resume(self, chat_id: &str) -> HttpResponse {
        response(self.0.respond_resume(chat_id).await)
    }

    /// The core's chat stream.
    pub fn into_inner(self) -> crate::ai_sdk::ChatStream {
        self.0
    }
}
