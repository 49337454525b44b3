//! [`Part`]: one chunk of the AI SDK's UI message stream, typed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One part (a "UI message chunk") of an answer in the AI SDK's UI message
/// stream protocol v1: serialized as the JSON object the AI SDK's client
/// reads, tagged by `type`, with its fields in camelCase.
///
/// ```
/// use rivulet::ai_sdk::Part;
///
/// let part = Part::text_delta("t1", "Hello");
/// assert_eq!(
///     serde_json::to_string(&part).unwrap(),
///     r#"{"type":"text-delta","id":"t1","delta":"Hello"}"#
/// );
/// let data = Part::data("weather", serde_json::json!({ "city": "Oslo" }));
/// assert_eq!(
///     serde_json::to_string(&data).unwrap(),
///     r#"{"type":"data-weather","data":{"city":"Oslo"}}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
#[non_exhaustive]
pub enum Part {
    /// The answer's message begins.
    Start {
        /// The assistant message's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// Metadata of the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
    /// A text part `id` begins.
    TextStart {
        /// The text part's id, the same on its deltas and its end.
        id: String,
    },
    /// More of text part `id`.
    TextDelta {
        /// The text part's id.
        id: String,
        /// The text added.
        delta: String,
    },
    /// Text part `id` is complete.
    TextEnd {
        /// The text part's id.
        id: String,
    },
    /// A reasoning part `id` begins.
    ReasoningStart {
        /// The reasoning part's id.
        id: String,
    },
    /// More of reasoning part `id`.
    ReasoningDelta {
        /// The reasoning part's id.
        id: String,
        /// The text added.
        delta: String,
    },
    /// Reasoning part `id` is complete.
    ReasoningEnd {
        /// The reasoning part's id.
        id: String,
    },
    /// A tool call begins; its input streams next.
    ToolInputStart {
        /// The tool call's id.
        tool_call_id: String,
        /// The tool's name.
        tool_name: String,
    },
    /// More of a tool call's input, as JSON text.
    ToolInputDelta {
        /// The tool call's id.
        tool_call_id: String,
        /// The input text added.
        input_text_delta: String,
    },
    /// A tool call's whole input.
    ToolInputAvailable {
        /// The tool call's id.
        tool_call_id: String,
        /// The tool's name.
        tool_name: String,
        /// The input.
        input: Value,
    },
    /// A tool call's output.
    ToolOutputAvailable {
        /// The tool call's id.
        tool_call_id: String,
        /// The output.
        output: Value,
    },
    /// A step of the answer begins (a model call).
    StartStep,
    /// A step of the answer ends.
    FinishStep,
    /// Metadata of the message, sent on its own.
    MessageMetadata {
        /// The metadata.
        message_metadata: Value,
    },
    /// The answer failed: the client shows `error_text`.
    Error {
        /// What went wrong.
        error_text: String,
    },
    /// The answer is complete.
    Finish {
        /// Why the model stopped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        finish_reason: Option<FinishReason>,
        /// Metadata of the message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Value>,
    },
    /// The answer was stopped before its end.
    Abort {
        /// Why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An app's own data part, `type` `data-<name>`: see [`Part::data`].
    #[serde(untagged)]
    Data(DataPart),
}

/// A data part: `{"type": "data-<name>", "id"?, "data", "transient"?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataPart {
    /// `data-` and the part's name.
    #[serde(rename = "type")]
    pub kind: String,
    /// A part sent again with the same id replaces the earlier one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The data.
    pub data: Value,
    /// Sent to the client's `onData` only, not kept in the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transient: Option<bool>,
}

/// Why the model stopped, in a [`Part::Finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum FinishReason {
    /// The model finished its answer.
    Stop,
    /// The answer reached its length limit.
    Length,
    /// A content filter stopped the answer.
    ContentFilter,
    /// The model called tools.
    ToolCalls,
    /// An error stopped the answer.
    Error,
    /// Another reason.
    Other,
}

impl Part {
    /// [`Part::TextStart`].
    pub fn text_start(id: impl Into<String>) -> Self {
        Part::TextStart { id: id.into() }
    }

    /// [`Part::TextDelta`].
    pub fn text_delta(id: impl Into<String>, delta: impl Into<String>) -> Self {
        Part::TextDelta {
            id: id.into(),
            delta: delta.into(),
        }
    }

    /// [`Part::TextEnd`].
    pub fn text_end(id: impl Into<String>) -> Self {
        Part::TextEnd { id: id.into() }
    }

    /// A data part of type `data-<name>`.
    pub fn data(name: &str, data: impl Into<Value>) -> Self {
        Part::Data(DataPart {
            kind: format!("data-{name}"),
            id: None,
            data: data.into(),
            transient: None,
        })
    }

    /// [`Part::Finish`] with reason `stop`.
    pub fn finish() -> Self {
        Part::Finish {
            finish_reason: Some(FinishReason::Stop),
            message_metadata: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parts_have_the_ai_sdk_field_names() {
        let cases = [
            (
                Part::Start {
                    message_id: Some("m1".into()),
                    message_metadata: None,
                },
                json!({"type":"start","messageId":"m1"}),
            ),
            (
                Part::ToolInputStart {
                    tool_call_id: "c1".into(),
                    tool_name: "weather".into(),
                },
                json!({"type":"tool-input-start","toolCallId":"c1","toolName":"weather"}),
            ),
            (
                Part::ToolInputDelta {
                    tool_call_id: "c1".into(),
                    input_text_delta: "{\"ci".into(),
                },
                json!({"type":"tool-input-delta","toolCallId":"c1","inputTextDelta":"{\"ci"}),
            ),
            (
                Part::ToolOutputAvailable {
                    tool_call_id: "c1".into(),
                    output: json!(12),
                },
                json!({"type":"tool-output-available","toolCallId":"c1","output":12}),
            ),
            (Part::StartStep, json!({"type":"start-step"})),
            (
                Part::Error {
                    error_text: "no".into(),
                },
                json!({"type":"error","errorText":"no"}),
            ),
            (
                Part::finish(),
                json!({"type":"finish","finishReason":"stop"}),
            ),
            (Part::Abort { reason: None }, json!({"type":"abort"})),
            (
                Part::data("x", json!([1])),
                json!({"type":"data-x","data":[1]}),
            ),
        ];
        for (part, expected) in cases {
            assert_eq!(serde_json::to_value(&part).unwrap(), expected);
            let back: Part = serde_json::from_value(expected).unwrap();
            assert_eq!(back, part);
        }
    }
}
