//! [`Packet`]: the one stored packet of every history.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::value::RawValue;

use crate::protocol::PacketKind;

/// One stored packet, of a resumable stream or of a feed: its number, its
/// kind, its JSON and when it was stored. Every store keeps this record as it
/// is (the kind and the JSON text side by side), so that reading it back
/// needs no sniffing of text, and a stream is independent of the format it
/// was first read in: each connection encodes it in its own.
///
/// The JSON is shared, not copied: cloning a packet (for each reader of a
/// stream, for a retried append) costs a reference count.
///
/// ```
/// use rivulet::history::Packet;
/// use rivulet::protocol::PacketKind;
/// use serde_json::value::RawValue;
///
/// let packet = Packet::new(1, PacketKind::Progress, RawValue::from_string("[1,2]".into()).unwrap());
/// assert!(!packet.is_final());
/// assert_eq!(packet.data.get(), "[1,2]");
/// ```
#[derive(Clone, Debug)]
pub struct Packet {
    /// The packet's number in its stream: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// Progress, done or error.
    pub kind: PacketKind,
    /// The packet's JSON: the value sent, or for an error the error object.
    pub data: Arc<RawValue>,
    /// When it was sent. A feed lets packets older than its window go by
    /// this time; stores keep it to the millisecond.
    pub at: SystemTime,
}

impl Packet {
    /// Packet number `seq` of a stream, sent now.
    pub fn new(seq: u64, kind: PacketKind, data: impl Into<Arc<RawValue>>) -> Self {
        Packet {
            seq,
            kind,
            data: data.into(),
            at: SystemTime::now(),
        }
    }

    /// True for the final packet (`done` or `error`).
    pub fn is_final(&self) -> bool {
        self.kind.is_final()
    }
}

/// Packets are equal when their number, kind and JSON are: the time is
/// when it was stored, which a store keeps only to the millisecond.
impl PartialEq for Packet {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq && self.kind == other.kind && self.data.get() == other.data.get()
    }
}

impl Eq for Packet {}
