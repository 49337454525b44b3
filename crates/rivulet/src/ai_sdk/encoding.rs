//! [`UiMessageStream`]: a resumable stream's packets written as the AI SDK's
//! UI message stream.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};

use super::part::Part;
use crate::history::Packet;
use crate::protocol::{CANCELLED_MESSAGE, ErrorPacket, PacketKind};
use crate::resume::Encoding;

/// The response header that tells the AI SDK's client the body is a UI
/// message stream.
pub const UI_MESSAGE_STREAM_HEADER: &str = "x-vercel-ai-ui-message-stream";

/// The protocol version in [`UI_MESSAGE_STREAM_HEADER`].
pub const UI_MESSAGE_STREAM_VERSION: &str = "v1";

/// The AI SDK's UI message stream protocol v1 as an [`Encoding`]: each part
/// (a packet holding a [`Part`]'s JSON) as `data: <json>`, the final part
/// then `data: [DONE]`. A stream that ends in an error ends with an `error`
/// part, and a cancelled one with an `abort` part, each then `[DONE]`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UiMessageStream;

impl Encoding for UiMessageStream {
    fn frame(&self, packet: &Packet) -> Bytes {
        let mut out = BytesMut::with_capacity(packet.data.get().len() + 32);
        match packet.kind {
            PacketKind::Progress => event(&mut out, packet.data.get()),
            PacketKind::Done => {
                if packet.data.get() != "null" {
                    event(&mut out, packet.data.get());
                }
                event(&mut out, "[DONE]");
            }
            PacketKind::Error => {
                let part = match serde_json::from_str::<ErrorPacket>(packet.data.get()) {
                    Ok(error) if is_cancel(&error) => Part::Abort {
                        reason: Some(error.message),
                    },
                    Ok(error) => Part::Error {
                        error_text: error.message,
                    },
                    Err(_) => Part::Error {
                        error_text: packet.data.get().to_owned(),
                    },
                };
                let json = serde_json::to_string(&part).expect("a part always serializes");
                event(&mut out, &json);
                event(&mut out, "[DONE]");
            }
        }
        out.freeze()
    }

    fn headers(&self, headers: &mut HeaderMap) {
        headers.insert(
            UI_MESSAGE_STREAM_HEADER,
            HeaderValue::from_static(UI_MESSAGE_STREAM_VERSION),
        );
    }
}

/// The error packet a cancel ends the stream with.
fn is_cancel(error: &ErrorPacket) -> bool {
    error.status == StatusCode::CONFLICT.as_u16() && error.message == CANCELLED_MESSAGE
}

/// One SSE event. A part's JSON, as `Part` serializes it, is one line; JSON
/// sent another way (pretty-printed raw JSON) gets a `data:` field per line,
/// which the client joins with line breaks, whitespace to JSON.
fn event(out: &mut BytesMut, data: &str) {
    // CR, LF and CRLF all end SSE lines; in JSON they are whitespace.
    for line in data.split(['\r', '\n']).filter(|line| !line.is_empty()) {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_slice(b"\n");
    }
    out.put_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn frame(kind: PacketKind, json: &str) -> String {
        let packet = Packet::new(1, kind, RawValue::from_string(json.to_owned()).unwrap());
        String::from_utf8(UiMessageStream.frame(&packet).to_vec()).unwrap()
    }

    #[test]
    fn parts_are_data_events_and_done_comes_last() {
        assert_eq!(
            frame(
                PacketKind::Progress,
                r#"{"type":"text-delta","id":"t","delta":"a"}"#
            ),
            "data: {\"type\":\"text-delta\",\"id\":\"t\",\"delta\":\"a\"}\n\n"
        );
        assert_eq!(
            frame(PacketKind::Done, r#"{"type":"finish"}"#),
            "data: {\"type\":\"finish\"}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(frame(PacketKind::Done, "null"), "data: [DONE]\n\n");
        assert_eq!(
            frame(PacketKind::Progress, "{\"type\":\r\n \"start\"}"),
            "data: {\"type\":\ndata:  \"start\"}\n\n"
        );
    }

    #[test]
    fn a_cancel_is_an_abort_and_other_errors_are_errors() {
        let cancel = format!(r#"{{"message":"{CANCELLED_MESSAGE}","status":409}}"#);
        assert_eq!(
            frame(PacketKind::Error, &cancel),
            format!(
                "data: {{\"type\":\"abort\",\"reason\":\"{CANCELLED_MESSAGE}\"}}\n\ndata: [DONE]\n\n"
            )
        );
        assert_eq!(
            frame(PacketKind::Error, r#"{"message":"boom","status":500}"#),
            "data: {\"type\":\"error\",\"errorText\":\"boom\"}\n\ndata: [DONE]\n\n"
        );
    }
}
