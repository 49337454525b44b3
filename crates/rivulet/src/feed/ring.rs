//! The ring of a feed's latest packets, shared by every subscriber on this
//! server, as tokio's `broadcast` channel shares its values: a publish pushes
//! one [`Encoded`] packet, and each subscriber is a cursor (the number of the
//! next packet it takes) into the ring. Nothing is copied per subscriber.
//!
//! The ring is bounded in bytes and in packets
//! ([`Feed::buffer_bytes`](super::Feed::buffer_bytes),
//! [`Feed::buffer`](super::Feed::buffer)); the newest packet is always kept.
//! A subscriber whose cursor is older than the ring's first packet has more
//! than the bound waiting: it has fallen behind.

use std::collections::VecDeque;
use std::sync::Arc;

use super::frame::Encoded;

/// The default [`Feed::buffer_bytes`](super::Feed::buffer_bytes): how many
/// bytes of packets a subscriber may have waiting before it counts as fallen
/// behind.
pub const DEFAULT_FEED_BUFFER_BYTES: usize = 1024 * 1024;

/// The default [`Feed::buffer`](super::Feed::buffer): how many packets a
/// subscriber may have waiting before it counts as fallen behind.
pub const DEFAULT_FEED_BUFFER: usize = 4096;

/// A feed's latest packets, numbered without gaps, oldest first.
pub(super) struct Ring {
    /// Each packet with the bytes it was counted for when it was pushed.
    slots: VecDeque<(Arc<Encoded>, usize)>,
    /// The number of `slots[0]`; when empty, of the next packet expected.
    first: u64,
    bytes: usize,
    pub(super) max_bytes: usize,
    pub(super) max_packets: usize,
}

impl Ring {
    pub(super) fn new() -> Self {
        Ring {
            slots: VecDeque::new(),
            first: 1,
            bytes: 0,
            max_bytes: DEFAULT_FEED_BUFFER_BYTES,
            max_packets: DEFAULT_FEED_BUFFER,
        }
    }

    /// The number of the oldest packet kept: a cursor before it has fallen
    /// behind.
    pub(super) fn first(&self) -> u64 {
        self.first
    }

    /// The number the next packet pushed will have.
    pub(super) fn next(&self) -> u64 {
        self.first + self.slots.len() as u64
    }

    /// The bytes the ring holds.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Pushes `packet` and lets the oldest go past the bounds. A packet that
    /// does not follow the last one (a feed that lost packets starts again)
    /// empties the ring first.
    pub(super) fn push(&mut self, packet: Arc<Encoded>) {
        if packet.seq() != self.next() {
            self.slots.clear();
            self.bytes = 0;
            self.first = packet.seq();
        }
        let bytes = packet.bytes();
        self.bytes += bytes;
        self.slots.push_back((packet, bytes));
        self.prune();
    }

    /// Lets the oldest packets go while over a bound, keeping the newest.
    pub(super) fn prune(&mut self) {
        while self.slots.len() > 1
            && (self.bytes > self.max_bytes || self.slots.len() > self.max_packets)
        {
            if let Some((_, bytes)) = self.slots.pop_front() {
                self.bytes -= bytes;
                self.first += 1;
            }
        }
    }

    /// Forgets every packet: the next one pushed is number 1.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn restart(&mut self) {
        self.slots.clear();
        self.bytes = 0;
        self.first = 1;
    }

    /// Packet number `seq`, while the ring has it.
    pub(super) fn get(&self, seq: u64) -> Option<&Arc<Encoded>> {
        let index = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.slots.get(index).map(|(packet, _)| packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Packet;
    use crate::protocol::{PacketKind, StreamId};

    fn packet(seq: u64, text: &str) -> Arc<Encoded> {
        let json = serde_json::value::to_raw_value(text).unwrap();
        let packet = Packet::new(seq, PacketKind::Progress, json);
        Arc::new(Encoded::new(StreamId::random(), packet))
    }

    #[test]
    fn is_bounded_in_bytes_and_keeps_the_newest_packet() {
        let mut ring = Ring::new();
        ring.max_bytes = 100;
        for seq in 1..=10 {
            ring.push(packet(seq, &"x".repeat(28))); // 30 bytes of JSON
        }
        assert_eq!((ring.first(), ring.next(), ring.bytes()), (8, 11, 90));
        assert!(ring.get(7).is_none());
        assert_eq!(ring.get(8).map(|p| p.seq()), Some(8));
        ring.push(packet(11, &"y".repeat(500)));
        assert_eq!((ring.first(), ring.bytes()), (11, 502));
    }

    #[test]
    fn is_bounded_in_packets() {
        let mut ring = Ring::new();
        ring.max_packets = 3;
        for seq in 1..=5 {
            ring.push(packet(seq, "a"));
        }
        assert_eq!((ring.first(), ring.next()), (3, 6));
    }

    #[test]
    fn starts_again_after_a_gap() {
        let mut ring = Ring::new();
        ring.push(packet(1, "a"));
        ring.push(packet(7, "b"));
        assert_eq!((ring.first(), ring.next(), ring.bytes()), (7, 8, 3));
    }
}
