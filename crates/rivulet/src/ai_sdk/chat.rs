//! [`ChatStream`]: a chat's answer as a resumable, cancellable stream keyed
//! by the chat's id; [`ChatSender`]: what the answering handler sends with.

use std::future::Future;

use http::request::Parts;

use super::encoding::UiMessageStream;
use super::part::Part;
use crate::error::{Error, SendError};
use crate::protocol::{ResumePoint, StreamId};
use crate::response::Response;
use crate::resume::Resumable;
use crate::stream::sender::Sender;

/// Extractor for the routes of a chat: answers a chat's message with a
/// stream in the AI SDK's UI message stream protocol ([`run`](Self::run)),
/// resumes the running answer of a chat and cancels it
/// ([`resume`](Self::resume)). The answer is a resumable job (see
/// [`resume`](crate::resume)) whose stream is named after the chat id, on
/// whichever store the app's [`Resume`](crate::resume::Resume) holds: it
/// runs on when its client leaves, any server sharing the store can resume
/// it, and a cancel stops it wherever it runs.
///
/// On actix-web: [`rivulet::actix::ChatStream`](crate::actix::ChatStream).
#[derive(Debug)]
pub struct ChatStream {
    resumable: Resumable,
}

impl ChatStream {
    /// The chat stream a request asks for, from its head (see
    /// [`Resumable::from_parts`]). What every adapter's extractor does.
    pub fn from_parts(parts: &Parts) -> Self {
        ChatStream {
            resumable: Resumable::from_parts(parts),
        }
    }

    /// Ties the chat's answer to `owner` (a user id, a session): resuming
    /// and cancelling it then need the same owner (see
    /// [`Resumable::owner`]). A chat id is chosen by the client and travels
    /// in URLs; without an owner, anyone who knows it may follow or stop
    /// the answer.
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.resumable = self.resumable.owner(owner);
        self
    }

    /// Answers chat `chat_id`: runs `handler` as a detached job whose parts
    /// stream to the client, starting with a `start` part; its `Ok` ends the
    /// answer with a `finish` part, its `Err` with an `error` part, each then
    /// `data: [DONE]`. While an answer of the same chat runs, the request is
    /// answered `409 Conflict`.
    ///
    /// The framework-neutral form of `run` (which the adapters give).
    pub async fn respond<F, Fut>(self, chat_id: &str, handler: F) -> Response
    where
        F: FnOnce(ChatSender) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), Error>> + Send + 'static,
    {
        self.resumable
            .id(StreamId::named(chat_id))
            .encoding(UiMessageStream)
            .respond(|tx| async move {
                let start = Part::Start {
                    message_id: Some(format!("msg-{}", StreamId::random())),
                    message_metadata: None,
                };
                tx.send(start).await?;
                handler(ChatSender { tx }).await?;
                Ok(Part::finish())
            })
            .await
    }

    /// `GET {api}/{chatId}/stream`: the running answer of chat `chat_id`
    /// from its first part, or `204 No Content` when none runs (never
    /// started, finished, or cancelled), as `useChat({ resume: true })`
    /// expects. A `DELETE` cancels the running answer instead: `202` with
    /// `{"cancelled":"<stream id>"}`, or `204` when none runs; its readers
    /// get an `abort` part, then `[DONE]`. Route both methods here:
    /// `get(handler).delete(handler)`.
    ///
    /// The framework-neutral form of `resume` (which the adapters give).
    pub async fn respond_resume(self, chat_id: &str) -> Response {
        let point = ResumePoint {
            stream: StreamId::named(chat_id),
            received: 0,
        };
        self.resumable
            .resume_from(point)
            .running_only()
            .encoding(UiMessageStream)
            // Not called: the request resumes or cancels.
            .respond(|_| async { Ok(()) })
            .await
    }
}

/// Sends the parts of a chat's answer: a [`Sender`] that takes [`Part`]s.
#[derive(Debug, Clone)]
pub struct ChatSender {
    tx: Sender,
}

impl ChatSender {
    /// Sends `part`, waiting while the stream's buffer is full. Fails when
    /// the answer was stopped (cancelled, or no client for the grace period).
    pub async fn send(&self, part: Part) -> Result<(), SendError> {
        self.tx.send(part).await
    }

    /// Sends `text` as one text part: `text-start`, `text-delta`, `text-end`.
    pub async fn text(&self, id: &str, text: &str) -> Result<(), SendError> {
        self.send(Part::text_start(id)).await?;
        self.send(Part::text_delta(id, text)).await?;
        self.send(Part::text_end(id)).await
    }

    /// The underlying [`Sender`], for its other methods.
    pub fn sender(&self) -> &Sender {
        &self.tx
    }
}
