//! The packets a feed keeps for subscribers that come back: the last N, no
//! more than B bytes, no older than T.

use std::time::{Duration, SystemTime};

use crate::history::Packet;
use crate::history::kept::Kept;

/// The default [`Feed::window_packets`](super::Feed::window_packets).
pub const DEFAULT_WINDOW_PACKETS: usize = 1000;
/// The default [`Feed::window_bytes`](super::Feed::window_bytes): 64 MiB.
pub const DEFAULT_WINDOW_BYTES: usize = 64 * 1024 * 1024;

/// A feed's retained packets: its history in memory, bounded by count,
/// bytes and age.
#[derive(Debug)]
pub(super) struct Window {
    kept: Kept,
    pub(super) max_packets: usize,
    pub(super) max_bytes: usize,
    pub(super) max_age: Option<Duration>,
}

/// The packets a subscriber asked for are no longer kept (or never were).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Beyond;

impl Window {
    pub(super) fn new() -> Self {
        Window {
            kept: Kept::default(),
            max_packets: DEFAULT_WINDOW_PACKETS,
            max_bytes: DEFAULT_WINDOW_BYTES,
            max_age: None,
        }
    }

    /// The number of the last packet published.
    pub(super) fn last(&self) -> u64 {
        self.kept.last()
    }

    /// The number of the oldest packet kept (`last + 1` when none is).
    pub(super) fn first_kept(&mut self) -> u64 {
        self.prune();
        self.kept.first_kept()
    }

    /// Keeps `packet`, the one after the last, and lets the oldest go.
    pub(super) fn push(&mut self, packet: Packet) {
        self.kept.push(packet);
        self.prune();
    }

    /// Starts again after a gap: packets up to `last` were missed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn restart_at(&mut self, last: u64) {
        self.kept.restart_at(last);
    }

    /// Drops what is over the bounds; the last packet stays, whatever its
    /// size.
    pub(super) fn prune(&mut self) {
        while self.kept.len() > self.max_packets
            || (self.kept.len() > 1 && self.kept.bytes() > self.max_bytes)
        {
            self.kept.pop_oldest();
        }
        if let Some(max_age) = self.max_age {
            let oldest = SystemTime::now()
                .checked_sub(max_age)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            self.kept.drop_sent_before(oldest);
        }
    }

    /// The packets after number `seq`, oldest first; [`Beyond`] when some of
    /// them are no longer kept, or `seq` is not a packet of this feed yet.
    pub(super) fn after(&mut self, seq: u64) -> Result<impl Iterator<Item = &Packet>, Beyond> {
        self.prune();
        if seq > self.kept.last() {
            return Err(Beyond);
        }
        self.kept.after(seq).map_err(|_| Beyond)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::kept::packet_at as packet;

    fn seqs(window: &mut Window, after: u64) -> Result<Vec<u64>, Beyond> {
        window
            .after(after)
            .map(|packets| packets.map(|p| p.seq).collect())
    }

    #[test]
    fn keeps_the_last_packets_and_refuses_what_it_lost() {
        let mut window = Window::new();
        window.max_packets = 3;
        assert_eq!(seqs(&mut window, 0), Ok(vec![]));
        assert_eq!(seqs(&mut window, 1), Err(Beyond));
        let now = SystemTime::now();
        for seq in 1..=5 {
            window.push(packet(seq, now));
        }
        assert_eq!(seqs(&mut window, 2), Ok(vec![3, 4, 5]));
        assert_eq!(seqs(&mut window, 4), Ok(vec![5]));
        assert_eq!(seqs(&mut window, 5), Ok(vec![]));
        assert_eq!(seqs(&mut window, 1), Err(Beyond));
        assert_eq!(seqs(&mut window, 6), Err(Beyond));
    }

    #[test]
    fn lets_old_packets_go() {
        let mut window = Window::new();
        window.max_age = Some(Duration::from_secs(60));
        let now = SystemTime::now();
        window.push(packet(1, now - Duration::from_secs(120)));
        window.push(packet(2, now));
        assert_eq!(seqs(&mut window, 0), Err(Beyond));
        assert_eq!(seqs(&mut window, 1), Ok(vec![2]));
    }

    #[test]
    fn keeps_packets_within_its_bytes_and_always_the_last() {
        let mut window = Window::new();
        let one = Kept::size(&packet(1, SystemTime::now()));
        window.max_bytes = 2 * one;
        let now = SystemTime::now();
        for seq in 1..=4 {
            window.push(packet(seq, now));
        }
        assert_eq!(seqs(&mut window, 2), Ok(vec![3, 4]));
        assert_eq!(seqs(&mut window, 1), Err(Beyond));
        window.max_bytes = 0;
        window.prune();
        assert_eq!(seqs(&mut window, 3), Ok(vec![4]));
    }
}
