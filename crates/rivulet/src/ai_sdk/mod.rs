//! The AI SDK's chat stream: answers `useChat` from `@ai-sdk/react` (or any
//! client of the AI SDK's "UI message stream protocol v1") from a Rivulet
//! handler, with resume and stop that both work.
//!
//! ```
//! use axum::extract::Path;
//! use axum::response::Response;
//! use axum::routing::{get, post};
//! use axum::{Extension, Router};
//! use rivulet::ai_sdk::{ChatRequest, ChatStream, Part};
//! use rivulet::resume::{MemoryStore, Resume};
//!
//! // POST /api/chat: the body `useChat` sends; the answer streams as parts.
//! async fn chat(stream: ChatStream, chat: ChatRequest) -> Response {
//!     let question = chat.last_user_text();
//!     stream
//!         .run(&chat.id, move |tx| async move {
//!             tx.send(Part::text_start("t1")).await?;
//!             for word in question.split_whitespace() {
//!                 tx.send(Part::text_delta("t1", format!("{word} "))).await?;
//!             }
//!             tx.send(Part::text_end("t1")).await?;
//!             Ok(())
//!         })
//!         .await
//! }
//!
//! // GET resumes the running answer (204 when none runs); DELETE stops it.
//! async fn chat_stream(stream: ChatStream, Path(id): Path<String>) -> Response {
//!     stream.resume(&id).await
//! }
//!
//! let app: Router = Router::new()
//!     .route("/api/chat", post(chat))
//!     .route("/api/chat/{id}/stream", get(chat_stream).delete(chat_stream))
//!     .layer(Extension(Resume::new(MemoryStore::new())));
//! ```
//!
//! On the wire, an answer is what the AI SDK's own servers write: the header
//! `x-vercel-ai-ui-message-stream: v1`, then one `data: <json>` SSE event
//! per [`Part`] (`start`, `text-start`, `text-delta`, …, `finish`), then
//! `data: [DONE]`.
//!
//! The answer is a [resumable](crate::resume) job named after the chat id
//! ([`StreamId::named`](crate::resume::StreamId::named)), kept in the
//! app's store (memory, or Redis for several servers):
//!
//! * a client that leaves (a reload, a dropped network, or the stock
//!   `DefaultChatTransport`'s stop, which only aborts its fetch) does not stop
//!   the job; `useChat({ resume: true })` gets the answer from its first
//!   part on its next mount through `GET {api}/{chatId}/stream`;
//! * `DELETE {api}/{chatId}/stream` cancels the job, on whichever server runs
//!   it: its readers get an `abort` part, and later `GET`s `204`. The
//!   `RivuletChatTransport` of the npm package (`rivulet-client/ai-sdk`)
//!   sends it when `useChat` stops.
//!
//! The protocol: `docs/ai-sdk.md`.

mod chat;
mod encoding;
mod part;
mod request;

pub use chat::{ChatSender, ChatStream};
pub use encoding::{UI_MESSAGE_STREAM_HEADER, UI_MESSAGE_STREAM_VERSION, UiMessageStream};
pub use part::{DataPart, FinishReason, Part};
pub use request::{ChatRequest, MAX_CHAT_ID_BYTES, Role, Trigger, UiMessage};

/// The examples of `docs/ai-sdk.md`, compiled as doctests.
#[doc = include_str!("../../../../docs/ai-sdk.md")]
#[cfg(doctest)]
pub struct AiSdkDoctests;
