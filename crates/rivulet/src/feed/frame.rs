//! The bytes a feed writes: its packets, the skip marker and the error that
//! cuts a subscriber off, in each wire format.
//!
//! SSE events carry the id `<feed epoch>.<number>`, the same text as a
//! resumable stream's resume point, so that an `EventSource` coming back
//! sends it as `Last-Event-ID`.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::history::Packet;
use crate::protocol::Format;
use crate::protocol::{ErrorPacket, SkipMarker};
use crate::protocol::{PacketKind, StreamId};
use crate::replay;
use crate::stream::encode::{self, EventId};

/// `packet` in `format`, as a resumable stream's stored packet is replayed.
pub(super) fn packet(format: Format, epoch: StreamId, packet: &Packet) -> Bytes {
    replay::encode_packet(packet, format, epoch)
        .expect("JSON that was parsed once serializes")
        .frame()
        .clone()
}

/// The progress packet a subscriber that fell behind gets in place of the
/// `missed` packets it lost, numbered as the last of them: an `EventSource`
/// that reconnects after it resumes from there.
pub(super) fn skipped(format: Format, epoch: StreamId, seq: u64, missed: usize) -> Bytes {
    let value = SkipMarker::new(missed as u64);
    encode::packet(
        format,
        PacketKind::Progress,
        EventId::Resume(epoch, seq),
        &value,
    )
    .expect("the marker serializes")
}

/// The error packet that ends one subscriber. It has no SSE id: the error
/// belongs to this connection, not to the feed, and an event without an id
/// leaves the client's last event id as it was.
pub(super) fn error(format: Format, packet: &ErrorPacket) -> Bytes {
    encode::error(format, EventId::None, packet)
}

/// A published packet with its frame in each wire format, encoded once, on
/// first need, and shared by every subscriber that reads that format: each
/// takes a [`Bytes`] handle to the same memory.
pub(super) struct Encoded {
    epoch: StreamId,
    packet: Packet,
    frames: [OnceLock<Bytes>; 3],
}

impl Encoded {
    pub(super) fn new(epoch: StreamId, packet: Packet) -> Self {
        Encoded {
            epoch,
            packet,
            frames: [OnceLock::new(), OnceLock::new(), OnceLock::new()],
        }
    }

    /// The packet's frame in `format`, encoded the first time it is asked for.
    pub(super) fn frame(&self, format: Format) -> &Bytes {
        self.frames[slot(format)].get_or_init(|| packet(format, self.epoch, &self.packet))
    }

    pub(super) fn seq(&self) -> u64 {
        self.packet.seq
    }

    /// The final packet of the feed: nothing follows it.
    pub(super) fn is_final(&self) -> bool {
        self.packet.is_final()
    }

    /// The memory it holds: its JSON and the frames encoded so far.
    pub(super) fn bytes(&self) -> usize {
        let frames: usize = self
            .frames
            .iter()
            .filter_map(OnceLock::get)
            .map(Bytes::len)
            .sum();
        self.packet.data.get().len() + frames
    }
}

/// The index of `format` in per-format tables.
pub(super) fn slot(format: Format) -> usize {
    match format {
        Format::Sse => 0,
        Format::Ndjson => 1,
        Format::Legacy => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_carry_the_feed_epoch_and_number() {
        let epoch: StreamId = "000000000000000000000000000000ff".parse().unwrap();
        let json = serde_json::value::to_raw_value(&serde_json::json!({"n": 1})).unwrap();
        let packet = Packet::new(7, PacketKind::Progress, json);
        let frames = Encoded::new(epoch, packet);
        assert_eq!(
            &frames.frame(Format::Sse)[..],
            b"id: 000000000000000000000000000000ff.7\ndata: {\"n\":1}\n\n"
        );
        assert_eq!(
            &frames.frame(Format::Ndjson)[..],
            b"{\"progress\":{\"n\":1}}\n"
        );
        assert_eq!(
            &skipped(Format::Sse, epoch, 6, 3)[..],
            b"id: 000000000000000000000000000000ff.6\ndata: {\"rivulet\":\"skipped\",\"missed\":3}\n\n"
        );
        let packet = ErrorPacket {
            message: "behind".into(),
            status: 410,
            error_id: None,
        };
        assert_eq!(
            &error(Format::Sse, &packet)[..],
            b"event: error\ndata: {\"message\":\"behind\",\"status\":410}\n\n"
        );
    }
}
