//! [`ChatRequest`]: the body the AI SDK's chat transport posts, as an
//! extractor (read by [`ChatRequest::from_body`], which every adapter
//! calls).

use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
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

    /// The chat request of a request with `headers` whose body is `body`:
    /// `415` without a JSON `Content-Type`, `400` for a body that is not
    /// JSON, `422` for JSON that is not a chat request or whose `id` is
    /// empty or longer than [`MAX_CHAT_ID_BYTES`], each with its reason.
    /// What every adapter's extractor does (checking the `Content-Type`
    /// with [`ChatRequest::check_content_type`] before it reads the body).
    ///
    /// ```
    /// use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
    /// use rivulet::ai_sdk::ChatRequest;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    /// let chat = ChatRequest::from_body(&headers, br#"{"id":"c1","messages":[]}"#).unwrap();
    /// assert_eq!(chat.id, "c1");
    /// let error = ChatRequest::from_body(&headers, b"{not json").unwrap_err();
    /// assert_eq!(error.status(), 400);
    /// ```
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<ChatRequest, Error> {
        Self::check_content_type(headers)?;
        let chat: ChatRequest = serde_json::from_slice(body).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => Error::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("Failed to deserialize the JSON body into the target type: {e}"),
                ),
                Category::Syntax | Category::Eof | Category::Io => Error::new(
                    StatusCode::BAD_REQUEST,
                    format!("Failed to parse the request body as JSON: {e}"),
                ),
            }
        })?;
        if chat.id.is_empty() || chat.id.len() > MAX_CHAT_ID_BYTES {
            let message = format!("the chat id must be 1 to {MAX_CHAT_ID_BYTES} bytes long");
            return Err(Error::new(StatusCode::UNPROCESSABLE_ENTITY, message));
        }
        Ok(chat)
    }

    /// `415 Unsupported Media Type` unless the request's `Content-Type` is
    /// JSON (`application/json`, or `application/…+json`).
    pub fn check_content_type(headers: &HeaderMap) -> Result<(), Error> {
        let essence = headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|essence| essence.trim().to_ascii_lowercase());
        let json = essence.as_deref().is_some_and(|essence| {
            essence
                .strip_prefix("application/")
                .is_some_and(|subtype| subtype == "json" || subtype.ends_with("+json"))
        });
        match json {
            true => Ok(()),
            false => Err(Error::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Expected request with `Content-Type: application/json`",
            )),
        }
    }
}
