//! The packets a feed keeps for subscribers that come back: the last N, no
//! older than T.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::Record;

/// The default [`Feed::window_packets`](super::Feed::window_packets).
pub const DEFAULT_WINDOW_PACKETS: usize = 1000;

/// A feed's retained packets, oldest first, numbered without gaps.
#[derive(Debug)]
pub(super) struct Window {
    records: VecDeque<Record>,
    /// The number of the last packet published (0 before the first); it
    /// survives the packets' removal.
    last: u64,
    pub(super) max_packets: usize,
    pub(super) max_age: Option<Duration>,
}

/// The packets a subscriber asked for are no longer kept (or never were).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Beyond;

impl Window {
    pub(super) fn new() -> Self {
        Window {
            records: VecDeque::new(),
            last: 0,
            max_packets: DEFAULT_WINDOW_PACKETS,
            max_age: None,
        }
    }

    /// The number of the last packet published.
    pub(super) fn last(&self) -> u64 {
        self.last
    }

    /// The number of the oldest packet kept (`last + 1` when none is).
    pub(super) fn first_kept(&mut self) -> u64 {
        self.prune();
        self.records.front().map_or(self.last + 1, Record::seq)
    }

    /// Keeps `record`, the packet after the last one, and lets the oldest go.
    pub(super) fn push(&mut self, record: Record) {
        debug_assert_eq!(record.seq(), self.last + 1);
        self.last = record.seq();
        self.records.push_back(record);
        self.prune();
    }

    /// Starts again after a gap: packets up to `last` were missed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn restart_at(&mut self, last: u64) {
        self.records.clear();
        self.last = last;
    }

    /// Drops what is over the bounds.
    pub(super) fn prune(&mut self) {
        while self.records.len() > self.max_packets {
            self.records.pop_front();
        }
        if let Some(max_age) = self.max_age {
            let oldest = now_millis().saturating_sub(millis(max_age));
            while self.records.front().is_some_and(|r| r.at < oldest) {
                self.records.pop_front();
            }
        }
    }

    /// The packets after number `seq`, oldest first; [`Beyond`] when some of
    /// them are no longer kept, or `seq` is not a packet of this feed yet.
    pub(super) fn after(&mut self, seq: u64) -> Result<impl Iterator<Item = &Record>, Beyond> {
        self.prune();
        if seq > self.last {
            return Err(Beyond);
        }
        let first_kept = self.records.front().map_or(self.last + 1, Record::seq);
        if seq + 1 < first_kept {
            return Err(Beyond);
        }
        let skip = (seq + 1 - first_kept) as usize;
        Ok(self.records.iter().skip(skip))
    }
}

/// Milliseconds since the Unix epoch: the time a packet was published, in a
/// clock several servers share well enough for a window of seconds.
pub(super) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PacketKind;

    fn record(seq: u64, at: u64) -> Record {
        Record::new(
            seq,
            at,
            PacketKind::Progress,
            serde_json::value::to_raw_value(&seq).unwrap(),
        )
    }

    fn seqs(window: &mut Window, after: u64) -> Result<Vec<u64>, Beyond> {
        window
            .after(after)
            .map(|records| records.map(Record::seq).collect())
    }

    #[test]
    fn keeps_the_last_packets_and_refuses_what_it_lost() {
        let mut window = Window::new();
        window.max_packets = 3;
        assert_eq!(seqs(&mut window, 0), Ok(vec![]));
        assert_eq!(seqs(&mut window, 1), Err(Beyond));
        let now = now_millis();
        for seq in 1..=5 {
            window.push(record(seq, now));
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
        let now = now_millis();
        window.push(record(1, now - 120_000));
        window.push(record(2, now));
        assert_eq!(seqs(&mut window, 0), Err(Beyond));
        assert_eq!(seqs(&mut window, 1), Ok(vec![2]));
    }
}
