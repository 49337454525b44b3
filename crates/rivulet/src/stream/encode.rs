//! Writes packets in each wire format (see `docs/protocol.md`).
//!
//! Every function writes one complete frame; the body concatenates frames
//! without looking inside them. Encoding happens in [`Sender::send`](crate::Sender::send),
//! on the handler's task, so the connection's task only copies bytes.

use std::io;
use std::ops::Range;

use bytes::Bytes;
use serde::Serialize;

use crate::protocol::ErrorPacket;
use crate::protocol::Format;
use crate::protocol::{LegacyErrorEnvelope, PacketKind as Kind, StreamId};

/// The SSE `id` field a frame carries (other formats write no ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventId {
    /// No `id` field: an error that belongs to one connection of a resumable
    /// stream, which must not move the client's last event id.
    None,
    /// A plain stream's counter, from 1.
    Counter(u64),
    /// A resumable stream's packet: its resume point `<stream id>.<number>`.
    Resume(StreamId, u64),
}

/// Room kept in front of a legacy payload for `<hex length>\0<type>`:
/// 16 hex digits cover any `usize`.
const LEGACY_HEAD_ROOM: usize = 18;

/// Encodes one packet. `id` is the SSE event id (ignored by other formats).
pub(crate) fn packet<T: Serialize + ?Sized>(
    format: Format,
    kind: Kind,
    id: EventId,
    value: &T,
) -> Result<Bytes, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let frame = packet_into(&mut out, format, kind, id, value)?;
    Ok(Bytes::from(out).slice(frame))
}

/// [`packet`] into `out`, which must be empty: the frame is `out[range]`. A
/// [`Sender`](crate::Sender) encodes into a buffer it reuses, so that a packet
/// is serialized without allocating, and copies the frame into its stream's
/// buffer.
pub(crate) fn packet_into<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    format: Format,
    kind: Kind,
    id: EventId,
    value: &T,
) -> Result<Range<usize>, serde_json::Error> {
    debug_assert!(out.is_empty());
    match format {
        Format::Sse => {
            match id {
                EventId::None => {}
                EventId::Counter(n) => {
                    out.extend_from_slice(b"id: ");
                    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
                    out.push(b'\n');
                }
                EventId::Resume(stream, n) => {
                    use std::io::Write;
                    writeln!(out, "id: {stream}.{n}").expect("writing to a Vec");
                }
            }
            out.extend_from_slice(match kind {
                Kind::Progress => b"data: ".as_slice(),
                Kind::Done => b"event: done\ndata: ",
                Kind::Error => b"event: error\ndata: ",
            });
            serde_json::to_writer(&mut *out, value)?;
            out.extend_from_slice(b"\n\n");
        }
        Format::Ndjson => {
            out.extend_from_slice(match kind {
                Kind::Progress => b"{\"progress\":".as_slice(),
                Kind::Done => b"{\"done\":",
                Kind::Error => b"{\"error\":",
            });
            serde_json::to_writer(&mut *out, value)?;
            out.extend_from_slice(b"}\n");
        }
        Format::Legacy => return legacy(kind, value, out),
    }
    Ok(0..out.len())
}

/// Encodes the final error packet.
pub(crate) fn error(format: Format, id: EventId, error: &ErrorPacket) -> Bytes {
    let encoded = if format == Format::Legacy {
        packet(format, Kind::Error, id, &LegacyErrorEnvelope::new(error))
    } else {
        packet(format, Kind::Error, id, error)
    };
    encoded.expect("the error object always serializes")
}

/// The bytes written on an idle stream, if the format has any.
pub(crate) fn keep_alive(format: Format) -> Option<Bytes> {
    match format {
        Format::Sse => Some(Bytes::from_static(b": keep-alive\n\n")),
        Format::Ndjson => Some(Bytes::from_static(b"\n")),
        Format::Legacy => None,
    }
}

/// `<hex length>\0<type><payload>` for progress, `\0<type><payload>` for the final
/// packet. The payload is ASCII-only JSON, or for progress a raw string when the
/// value is a string that JSON writes without any escape.
fn legacy<T: Serialize + ?Sized>(
    kind: Kind,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<Range<usize>, serde_json::Error> {
    out.resize(LEGACY_HEAD_ROOM, 0);
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, AsciiFormatter);
    value.serialize(&mut ser)?;
    let payload = &out[LEGACY_HEAD_ROOM..];
    // Only progress packets, which carry their length, send strings raw: a final
    // packet runs to the end of the response, and as JSON a cut one fails to parse.
    let plain_string = kind == Kind::Progress
        && payload.len() >= 2
        && payload[0] == b'"'
        && !payload.contains(&b'\\');
    let (start, end, kind_byte) = if plain_string {
        (LEGACY_HEAD_ROOM + 1, out.len() - 1, b's')
    } else {
        let byte = if kind == Kind::Error { b'e' } else { b'a' };
        (LEGACY_HEAD_ROOM, out.len(), byte)
    };
    // Write the head right-aligned in the room left in front of the payload.
    let mut head = [0u8; LEGACY_HEAD_ROOM];
    let mut len = 0;
    if kind == Kind::Progress {
        let hex = format!("{:x}", end - start);
        head[..hex.len()].copy_from_slice(hex.as_bytes());
        len = hex.len();
    }
    head[len] = 0;
    head[len + 1] = kind_byte;
    len += 2;
    let head_start = start - len;
    out[head_start..start].copy_from_slice(&head[..len]);
    Ok(head_start..end)
}

/// A JSON formatter that escapes every non-ASCII character as `\uXXXX`, so the
/// legacy client, which reads bytes as Latin-1, gets the text intact.
struct AsciiFormatter;

impl serde_json::ser::Formatter for AsciiFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some(pos) = rest.bytes().position(|b| !b.is_ascii()) {
            writer.write_all(&rest.as_bytes()[..pos])?;
            let ch = rest[pos..].chars().next().expect("a char starts here");
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[pos + ch.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    /// Already-encoded JSON (a `RawValue`, as resumable streams store their
    /// packets) gets the same escapes: outside strings, JSON is ASCII anyway.
    fn write_raw_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        self.write_string_fragment(writer, fragment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(bytes: Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn sse_frames() {
        let b = packet(Format::Sse, Kind::Progress, EventId::Counter(7), "hi").unwrap();
        assert_eq!(text(b), "id: 7\ndata: \"hi\"\n\n");
        let b = packet(
            Format::Sse,
            Kind::Done,
            EventId::Counter(8),
            &json!({"a":1}),
        )
        .unwrap();
        assert_eq!(text(b), "id: 8\nevent: done\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn ndjson_frames() {
        let b = packet(
            Format::Ndjson,
            Kind::Progress,
            EventId::Counter(1),
            &json!([1, 2]),
        )
        .unwrap();
        assert_eq!(text(b), "{\"progress\":[1,2]}\n");
    }

    #[test]
    fn legacy_frames() {
        let b = packet(
            Format::Legacy,
            Kind::Progress,
            EventId::Counter(1),
            "Starting stream test",
        )
        .unwrap();
        assert_eq!(&b[..], b"14\0sStarting stream test");
        let b = packet(
            Format::Legacy,
            Kind::Progress,
            EventId::Counter(1),
            &json!({"k": "caf\u{e9} \u{1f30a}"}),
        )
        .unwrap();
        assert_eq!(
            &b[..],
            b"1e\0a{\"k\":\"caf\\u00e9 \\ud83c\\udf0a\"}".as_slice()
        );
        let b = packet(
            Format::Legacy,
            Kind::Progress,
            EventId::Counter(1),
            "say \"hi\"",
        )
        .unwrap();
        assert_eq!(&b[..], b"c\0a\"say \\\"hi\\\"\"".as_slice());
        let b = packet(Format::Legacy, Kind::Done, EventId::Counter(1), &()).unwrap();
        assert_eq!(&b[..], b"\0anull");
        let b = packet(Format::Legacy, Kind::Done, EventId::Counter(1), "").unwrap();
        assert_eq!(&b[..], b"\0a\"\"");
        let e = ErrorPacket {
            message: "Boom".into(),
            status: 500,
            error_id: None,
        };
        assert_eq!(
            &error(Format::Legacy, EventId::Counter(1), &e)[..],
            b"\0e{\"ok\":false,\"error\":{\"type\":500,\"status\":\"Stream Error\",\"str\":\"Boom\"}}"
                .as_slice()
        );
    }
}
