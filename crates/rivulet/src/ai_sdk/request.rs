//! [`ChatRequest`]: the body the AI SDK's chat transport posts, as an
//! extractor.

use axum::Json;
use axum::extract::{FromRequest, Request};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// The longest chat id accepted, in bytes: the id names the chat's stream
/// and goes into its URL.
pub const MAX_CHAT_ID_BYTES: usize = 256;

/// The body `useChat`'s transport posts: `{ id, messages, trigger,
/// messageId }`, and whatever the app added to it (`body` of the transport
/// or of `sendMessage`) in [`extra`](Self::extra).
///
/// As an extractor it answers a body that is not such JSON, or whose `id`
/// is empty or longer than [`MAX_CHAT_ID_BYTES`], with a 4xx and the reason
/// in Rivulet's JSON error shape (`{"error":{"message":…,"status":…}}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ChatRequest {
    /// The chat's id: its answer is the stream of that name.
    pub id: String,
    /// The conversation so far.
    pub messages: Vec<UiMessage>,
    /// Why the request was sent.
    #[serde(default)]
    pub trigger: Trigger,
    /// For a regeneration, the id of the message to answer anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The other fields of the body.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What made the client send a [`ChatRequest`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Trigger {
    /// A new user message.
    #[default]
    SubmitMessage,
    /// The user asked for the last answer again.
    RegenerateMessage,
}

/// A message of the conversation as the client keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UiMessage {
    /// The message's id.
    pub id: String,
    /// Who wrote it.
    pub role: Role,
    /// Its parts (`{"type":"text","text":…}`, tool calls, files, …), as sent.
    #[serde(default)]
    pub parts: Vec<Value>,
    /// The message's metadata, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The author of a [`UiMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person chatting.
    User,
    /// The model.
    Assistant,
}

impl UiMessage {
    /// The message's text: its text parts, joined.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()
    }
}

impl ChatRequest {
    /// The text of the last user message, empty if there is none.
    pub fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|message| message.role == Role::User)
            .map(UiMessage::text)
            .unwrap_or_default()
    }

    fn check(&self) -> Result<(), Error> {
        if self.id.is_empty() || self.id.len() > MAX_CHAT_ID_BYTES {
            let message = format!("the chat id must be 1 to {MAX_CHAT_ID_BYTES} bytes long");
            return Err(Error::new(StatusCode::UNPROCESSABLE_ENTITY, message));
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequest<S> for ChatRequest {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let Json(chat) = Json::<ChatRequest>::from_request(request, state).await?;
        chat.check()?;
        Ok(chat)
    }
}
