//! A published packet as a feed keeps it: the typed record every stored
//! packet is ([`Packet`]: number, kind, JSON), and when it was published. It
//! is encoded once per wire format when it is sent.

use serde_json::value::RawValue;

use crate::protocol::PacketKind;
use crate::resume::Packet;

/// One packet of a feed.
#[derive(Clone, Debug)]
pub(super) struct Record {
    /// When it was published, in milliseconds since the Unix epoch.
    pub(super) at: u64,
    /// Numbered 1, 2, 3, … without gaps; `Progress`, or `Done` for the final
    /// packet of a closed feed.
    pub(super) packet: Packet,
}

impl Record {
    pub(super) fn new(seq: u64, at: u64, kind: PacketKind, data: Box<RawValue>) -> Self {
        Record {
            at,
            packet: Packet::new(seq, kind, data),
        }
    }

    pub(super) fn seq(&self) -> u64 {
        self.packet.seq
    }

    pub(super) fn kind(&self) -> PacketKind {
        self.packet.kind
    }
}
