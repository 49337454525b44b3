//! Stored packets → frames: the one path from a packet of a history (a
//! resumable stream, or a feed's epoch) to its bytes in a connection's wire
//! format, for every reader of every history.
//!
//! It sits between the history, which keeps packets as typed records and
//! knows nothing of wire formats, and the two kinds of reader (a resumable
//! stream's connections, a feed's fan-out), which both encode through it.

use bytes::Bytes;

use crate::history::Packet;
use crate::protocol::{ErrorPacket, Format, PacketKind as Kind, StreamId};
use crate::stream::buffer::End;
use crate::stream::encode::{self, EventId};

/// A stored packet encoded for a connection.
pub(crate) enum Item {
    Packet(Bytes),
    End(End),
}

impl Item {
    /// The frame, whatever the packet's kind.
    pub(crate) fn frame(&self) -> &Bytes {
        match self {
            Item::Packet(frame) | Item::End(End::Done(frame) | End::Failed { frame, .. }) => frame,
            Item::End(End::Dropped) => unreachable!("stored packets are never dropped ends"),
        }
    }
}

/// Encodes a stored packet of history `id` (a resumable stream, or a feed's
/// epoch) for a connection in `format`: the one path from a stored packet to
/// its frame, for resumable streams and feeds alike.
pub(crate) fn encode_packet(
    packet: &Packet,
    format: Format,
    id: StreamId,
) -> Result<Item, serde_json::Error> {
    // The SSE id is the packet's resume point, which an `EventSource` sends
    // back as `Last-Event-ID`.
    let event_id = EventId::Resume(id, packet.seq);
    let data = &*packet.data;
    Ok(match packet.kind {
        Kind::Progress => Item::Packet(encode::packet(format, Kind::Progress, event_id, data)?),
        Kind::Done => Item::End(End::Done(encode::packet(
            format,
            Kind::Done,
            event_id,
            data,
        )?)),
        Kind::Error => {
            // The error object is read for the legacy envelope and for the
            // stream's end.
            let error: ErrorPacket = serde_json::from_str(data.get())?;
            let frame = encode::error(format, event_id, &error);
            Item::End(End::Failed {
                packet: Box::new(error),
                frame,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::NdjsonLine;
    use serde_json::value::RawValue;

    fn text(item: Item) -> String {
        String::from_utf8(item.frame().to_vec()).unwrap()
    }

    #[test]
    fn stored_packets_encode_in_every_format() {
        let id: StreamId = "000000000000000000000000000000ff".parse().unwrap();
        let packet = |record: &str, seq| {
            let line: NdjsonLine<Box<RawValue>, Box<RawValue>> =
                serde_json::from_str(record).unwrap();
            let (kind, data) = line.into_parts();
            Packet::new(seq, kind, data)
        };
        let progress = packet(
            r#"{"progress":{"k":"café 🌊","n":18446744073709551616}}"#,
            7,
        );
        assert_eq!(
            text(encode_packet(&progress, Format::Sse, id).unwrap()),
            "id: 000000000000000000000000000000ff.7\ndata: {\"k\":\"café 🌊\",\"n\":18446744073709551616}\n\n"
        );
        assert_eq!(
            text(encode_packet(&progress, Format::Ndjson, id).unwrap()),
            "{\"progress\":{\"k\":\"café 🌊\",\"n\":18446744073709551616}}\n"
        );
        assert_eq!(
            text(encode_packet(&progress, Format::Legacy, id).unwrap()),
            "37\0a{\"k\":\"caf\\u00e9 \\ud83c\\udf0a\",\"n\":18446744073709551616}"
        );
        let plain = packet(r#"{"progress":"plain text"}"#, 1);
        assert_eq!(
            text(encode_packet(&plain, Format::Legacy, id).unwrap()),
            "a\0splain text"
        );
        let done = packet(r#"{"done":null}"#, 8);
        assert_eq!(
            text(encode_packet(&done, Format::Sse, id).unwrap()),
            "id: 000000000000000000000000000000ff.8\nevent: done\ndata: null\n\n"
        );
        let error = packet(r#"{"error":{"message":"no","status":410}}"#, 9);
        assert_eq!(
            text(encode_packet(&error, Format::Legacy, id).unwrap()),
            "\0e{\"ok\":false,\"error\":{\"type\":410,\"status\":\"Stream Error\",\"str\":\"no\"}}"
        );
    }
}
