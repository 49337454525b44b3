//! [`Kept`]: the packets one history keeps in memory, for resumable streams
//! and feeds alike: a [`MemoryStore`](crate::resume::MemoryStore)'s stream, a feed's
//! window. Each bounds it in its own terms (packets, bytes, age) by letting
//! the oldest go; what is kept is always a run of numbers without gaps,
//! ending at the last packet stored, and its size in bytes is counted as it
//! goes.

use std::collections::VecDeque;
use std::time::SystemTime;

use super::Packet;

/// What one kept packet costs besides its JSON: the bookkeeping around it.
const PACKET_OVERHEAD: usize = 64;

/// A history's packets in memory, oldest first, numbered without gaps.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    packets: VecDeque<Packet>,
    /// The number of the last packet stored (0 before the first); it
    /// survives the packets' removal.
    last: u64,
    /// [`Kept::size`] of the packets kept, summed.
    bytes: usize,
}

/// Packets asked for are no longer kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Gone {
    /// The number of the oldest packet still kept (`last + 1` when none is).
    pub(crate) first_kept: u64,
}

impl Kept {
    /// The number of the last packet stored.
    pub(crate) fn last(&self) -> u64 {
        self.last
    }

    /// The number of the oldest packet kept (`last + 1` when none is).
    pub(crate) fn first_kept(&self) -> u64 {
        self.packets.front().map_or(self.last + 1, |p| p.seq)
    }

    /// What `packet` counts against a bound in bytes: its JSON and a small
    /// overhead.
    pub(crate) fn size(packet: &Packet) -> usize {
        packet.data.get().len() + PACKET_OVERHEAD
    }

    /// The bytes of the packets kept, as [`Kept::size`] counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many packets are kept.
    pub(crate) fn len(&self) -> usize {
        self.packets.len()
    }

    /// The packets kept, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Packet> {
        self.packets.iter()
    }

    /// Keeps `packet`, the one after the last.
    pub(crate) fn push(&mut self, packet: Packet) {
        debug_assert_eq!(packet.seq, self.last + 1);
        self.last = packet.seq;
        self.bytes += Kept::size(&packet);
        self.packets.push_back(packet);
    }

    /// Lets the oldest packet go.
    pub(crate) fn pop_oldest(&mut self) -> Option<Packet> {
        let packet = self.packets.pop_front()?;
        self.bytes -= Kept::size(&packet);
        Some(packet)
    }

    /// Lets the packets sent before `oldest` go.
    pub(crate) fn drop_sent_before(&mut self, oldest: SystemTime) {
        while self.packets.front().is_some_and(|p| p.at < oldest) {
            self.pop_oldest();
        }
    }

    /// Starts again after a gap: packets up to `last` were missed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn restart_at(&mut self, last: u64) {
        self.packets.clear();
        self.bytes = 0;
        self.last = last;
    }

    /// The packets after number `seq` that are kept, oldest first (none when
    /// `seq` is the last or beyond it); [`Gone`] when packet `seq + 1` is no
    /// longer kept.
    pub(crate) fn after(&self, seq: u64) -> Result<impl Iterator<Item = &Packet>, Gone> {
        let first_kept = self.first_kept();
        if seq + 1 < first_kept {
            return Err(Gone { first_kept });
        }
        let skip = usize::try_from(seq + 1 - first_kept).unwrap_or(usize::MAX);
        Ok(self.packets.iter().skip(skip))
    }
}

/// A progress packet numbered `seq`, sent at `at`, whose JSON is its number:
/// for the tests of every history kept in memory.
#[cfg(test)]
pub(crate) fn packet_at(seq: u64, at: SystemTime) -> Packet {
    let data = serde_json::value::to_raw_value(&seq).unwrap();
    Packet {
        at,
        ..Packet::new(seq, crate::protocol::PacketKind::Progress, data)
    }
}

#[cfg(test)]
mod tests {
    use super::packet_at as packet;
    use super::*;
    use std::time::Duration;

    fn seqs(kept: &Kept, after: u64) -> Result<Vec<u64>, Gone> {
        kept.after(after).map(|p| p.map(|p| p.seq).collect())
    }

    #[test]
    fn keeps_a_run_without_gaps_and_says_what_is_gone() {
        let mut kept = Kept::default();
        let now = SystemTime::now();
        assert_eq!((kept.last(), kept.first_kept()), (0, 1));
        for seq in 1..=5 {
            kept.push(packet(seq, now - Duration::from_secs(10 - seq)));
        }
        assert_eq!(kept.bytes(), 5 * (1 + PACKET_OVERHEAD));
        kept.pop_oldest();
        assert_eq!(kept.bytes(), 4 * (1 + PACKET_OVERHEAD));
        assert_eq!(seqs(&kept, 1), Ok(vec![2, 3, 4, 5]));
        assert_eq!(seqs(&kept, 4), Ok(vec![5]));
        assert_eq!(seqs(&kept, 5), Ok(vec![]));
        assert_eq!(seqs(&kept, 9), Ok(vec![]));
        assert_eq!(seqs(&kept, 0), Err(Gone { first_kept: 2 }));
        kept.drop_sent_before(now - Duration::from_secs(6));
        assert_eq!(kept.first_kept(), 4);
        assert_eq!(kept.bytes(), 2 * (1 + PACKET_OVERHEAD));
        kept.restart_at(9);
        assert_eq!((kept.len(), kept.first_kept(), kept.bytes()), (0, 10, 0));
        assert_eq!(seqs(&kept, 3), Err(Gone { first_kept: 10 }));
    }
}
