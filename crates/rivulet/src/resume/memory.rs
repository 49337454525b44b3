//! [`MemoryStore`]: resumable streams kept in this process, within bounds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::store::{Status, Store, StoreError};
use crate::history::Packet;
use crate::history::kept::Kept;
use crate::protocol::StreamId;

/// The default [`MemoryStore::max_packets_per_stream`].
pub const DEFAULT_MAX_PACKETS_PER_STREAM: usize = 10_000;
/// The default [`MemoryStore::max_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
/// The default [`MemoryStore::max_streams`].
pub const DEFAULT_MAX_STREAMS: usize = 10_000;

/// Evicted stream ids remembered, so that a late resumer hears why its stream
/// is gone: 4 × [`MemoryStore::max_streams`], and at least this many.
const MIN_EVICTED_REMEMBERED: usize = 1024;

/// Running streams a new stream looks past, at most, for one it may evict:
/// bounds the work of a create when the store is full of running streams.
const IN_USE_LOOKED_AT: usize = 64;

/// Keeps resumable streams in memory: for a single server (every resume of a
/// stream must reach the process that runs it). Cheap to clone; clones share
/// the streams.
///
/// Bounded four ways, evicting the oldest first: packets per stream, bytes of
/// packets in total, age (when [`max_age`](Self::max_age) is set), and
/// streams. The stream bound never evicts a stream
/// whose producer runs (so none that a client reads live): when every stream
/// kept runs, a new one is refused with [`StoreError::Full`] (`503` and
/// `Retry-After`). A client that resumes behind what is still
/// kept gets an error saying so (`410 Gone`) rather than a stream with a hole;
/// so does one whose whole stream was evicted, as long as the store remembers
/// that (the last 4 × `max_streams` evicted ids, at least 1024).
///
/// ```
/// use rivulet::resume::{MemoryStore, Resume};
///
/// use std::time::Duration;
///
/// let store = MemoryStore::new()
///     .max_packets_per_stream(1_000)
///     .max_bytes(16 * 1024 * 1024)
///     .max_age(Duration::from_secs(15 * 60))
///     .max_streams(500);
/// let resume = Resume::new(store);
/// # let _ = resume;
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    bounds: Bounds,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
struct Bounds {
    per_stream: usize,
    bytes: usize,
    /// How long after it was sent a packet is kept; `None`: no time bound.
    age: Option<Duration>,
    streams: usize,
}

#[derive(Default)]
struct Inner {
    streams: HashMap<StreamId, Entry>,
    /// Streams in the order they were created; ids of removed streams are
    /// skipped when met.
    created: VecDeque<StreamId>,
    /// Every stored packet in the order it was appended, for evicting the
    /// oldest bytes first. Entries of packets already gone are skipped when met,
    /// and swept out when they outnumber the live ones.
    appended: VecDeque<(StreamId, u64)>,
    live_packets: usize,
    bytes: usize,
    /// Streams evicted to stay within bounds, so a late resumer hears why.
    evicted: HashSet<StreamId>,
    evicted_order: VecDeque<StreamId>,
    last_sweep: Option<Instant>,
}

struct Entry {
    owner: Option<String>,
    packets: Kept,
    finished: bool,
    lease_until: Instant,
    watched_until: Option<Instant>,
    /// How long a finished (or abandoned) stream is kept.
    ttl: Duration,
    finished_at: Option<Instant>,
    cancelled: bool,
    appended: Arc<Notify>,
}

impl Entry {
    /// When the stream may be removed: `ttl` after it finished, or after its
    /// producer's lease ran out.
    fn expires_at(&self) -> Instant {
        self.finished_at.unwrap_or(self.lease_until) + self.ttl
    }

    /// Lets the packets sent before `oldest` go: how many went, and their
    /// bytes.
    fn drop_sent_before(&mut self, oldest: SystemTime) -> (usize, usize) {
        let (packets, bytes) = (self.packets.len(), self.packets.bytes());
        self.packets.drop_sent_before(oldest);
        (packets - self.packets.len(), bytes - self.packets.bytes())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// A store with the default bounds.
    pub fn new() -> Self {
        MemoryStore {
            inner: Arc::default(),
            bounds: Bounds {
                per_stream: DEFAULT_MAX_PACKETS_PER_STREAM,
                bytes: DEFAULT_MAX_BYTES,
                age: None,
                streams: DEFAULT_MAX_STREAMS,
            },
        }
    }

    /// Keeps at most the last `packets` packets of each stream (at least 1).
    pub fn max_packets_per_stream(mut self, packets: usize) -> Self {
        self.bounds.per_stream = packets.max(1);
        self
    }

    /// Keeps at most about `bytes` of packets over all streams (each packet
    /// counts its JSON and a small overhead).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.bounds.bytes = bytes;
        self
    }

    /// Keeps each packet at most `age` after it was sent (default: no time
    /// bound, only [`max_packets_per_stream`](Self::max_packets_per_stream)
    /// and [`max_bytes`](Self::max_bytes)), as
    /// [`Feed::window_duration`](crate::feed::Feed::window_duration) does for
    /// a feed's window. A client resuming from before the oldest packet kept
    /// gets the same answer as for the other bounds: `410 Gone`
    /// ([`StoreError::Evicted`] from [`Store::read`]).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.bounds.age = Some(age);
        self
    }

    /// Keeps at most `streams` streams, running or finished (at least 1).
    pub fn max_streams(mut self, streams: usize) -> Self {
        self.bounds.streams = streams.max(1);
        self
    }

    /// How many streams are kept now.
    pub fn len(&self) -> usize {
        self.lock().streams.len()
    }

    /// True when no stream is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of packets kept now, as counted against [`max_bytes`](Self::max_bytes).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Appends `packet` if `allowed` says so of its stream, checked under the
    /// same lock; true when it was appended now.
    fn push(
        &self,
        stream: StreamId,
        packet: Packet,
        allowed: impl FnOnce(&Entry) -> bool,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let oldest = self.oldest_kept();
        let mut inner = self.lock();
        let entry = inner.entry(stream)?;
        if packet.seq <= entry.packets.last() {
            return Ok(false);
        }
        if packet.seq != entry.packets.last() + 1 || entry.finished {
            return Err(StoreError::OutOfOrder { seq: packet.seq });
        }
        if !allowed(entry) {
            return Ok(false);
        }
        let bytes = Kept::size(&packet);
        if packet.is_final() {
            entry.finished = true;
            entry.finished_at = Some(now);
        }
        let seq = packet.seq;
        entry.packets.push(packet);
        let overflow = entry.packets.len() > self.bounds.per_stream;
        let appended = entry.appended.clone();
        inner.live_packets += 1;
        inner.bytes += bytes;
        inner.appended.push_back((stream, seq));
        if overflow {
            inner.drop_oldest(stream);
        }
        if let Some(oldest) = oldest {
            inner.drop_sent_before(Some(stream), oldest);
        }
        inner.evict_bytes(self.bounds.bytes);
        drop(inner);
        appended.notify_waiters();
        Ok(true)
    }

    /// The time before which packets are let go, when there is an age bound.
    fn oldest_kept(&self) -> Option<SystemTime> {
        let age = self.bounds.age?;
        Some(
            SystemTime::now()
                .checked_sub(age)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves counters at worst slightly off;
        // the streams themselves stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn entry(&mut self, stream: StreamId) -> Result<&mut Entry, StoreError> {
        match self.streams.get_mut(&stream) {
            Some(entry) => Ok(entry),
            None if self.evicted.contains(&stream) => Err(StoreError::Evicted { first_kept: 0 }),
            None => Err(StoreError::Unknown),
        }
    }

    /// Removes expired streams and lets the packets older than `oldest` go,
    /// at most once a second.
    fn sweep(&mut self, now: Instant, oldest: Option<SystemTime>) {
        if self
            .last_sweep
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        let expired: Vec<StreamId> = self
            .streams
            .iter()
            .filter(|(_, entry)| entry.expires_at() <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove(id);
        }
        self.created.retain(|id| self.streams.contains_key(id));
        if let Some(oldest) = oldest {
            self.drop_sent_before(None, oldest);
        }
    }

    /// Lets the packets sent before `oldest` go, of `stream` or of every
    /// stream.
    fn drop_sent_before(&mut self, stream: Option<StreamId>, oldest: SystemTime) {
        let (mut packets, mut bytes) = (0, 0);
        let mut let_go = |entry: &mut Entry| {
            let (p, b) = entry.drop_sent_before(oldest);
            packets += p;
            bytes += b;
        };
        match stream {
            Some(stream) => self
                .streams
                .get_mut(&stream)
                .into_iter()
                .for_each(&mut let_go),
            None => self.streams.values_mut().for_each(&mut let_go),
        }
        if packets > 0 {
            self.live_packets -= packets;
            self.bytes -= bytes;
            self.compact();
        }
    }

    fn remove(&mut self, stream: StreamId) -> Option<Entry> {
        let entry = self.streams.remove(&stream)?;
        self.live_packets -= entry.packets.len();
        self.bytes -= entry.packets.bytes();
        // Wake readers: they will find the stream gone.
        entry.appended.notify_waiters();
        self.compact();
        Some(entry)
    }

    fn tombstone(&mut self, stream: StreamId, bound: usize) {
        if self.evicted.insert(stream) {
            self.evicted_order.push_back(stream);
        }
        while self.evicted_order.len() > bound {
            if let Some(old) = self.evicted_order.pop_front() {
                self.evicted.remove(&old);
            }
        }
    }

    /// Drops the oldest packet of `stream`.
    fn drop_oldest(&mut self, stream: StreamId) {
        let Some(entry) = self.streams.get_mut(&stream) else {
            return;
        };
        if let Some(packet) = entry.packets.pop_oldest() {
            self.live_packets -= 1;
            self.bytes -= Kept::size(&packet);
        }
    }

    /// Drops the globally oldest packets until the bytes fit `limit`.
    fn evict_bytes(&mut self, limit: usize) {
        while self.bytes > limit {
            let Some((stream, seq)) = self.appended.pop_front() else {
                break;
            };
            // The oldest live packet overall is the oldest one of its stream.
            let live = self
                .streams
                .get(&stream)
                .is_some_and(|entry| entry.packets.first_kept() == seq);
            if live {
                self.drop_oldest(stream);
            }
        }
        self.compact();
    }

    /// Forgets the order entries of packets that are gone once they are most.
    fn compact(&mut self) {
        if self.appended.len() <= 2 * self.live_packets + 64 {
            return;
        }
        let streams = &self.streams;
        self.appended.retain(|(stream, seq)| {
            streams.get(stream).is_some_and(|entry| {
                *seq >= entry.packets.first_kept() && *seq <= entry.packets.last()
            })
        });
    }
}

impl Store for MemoryStore {
    async fn create(
        &self,
        stream: StreamId,
        owner: Option<&str>,
        lease: Duration,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let oldest = self.oldest_kept();
        let mut inner = self.lock();
        inner.sweep(now, oldest);
        if let Some(entry) = inner.streams.get(&stream) {
            if !entry.finished && entry.lease_until > now {
                return Err(StoreError::Exists);
            }
            // A named stream's next job: the one that ended gives way.
            inner.remove(stream);
            inner.appended.retain(|(id, _)| *id != stream);
            inner.created.retain(|id| *id != stream);
        }
        // Only a stream whose producer has ended (finished, or its lease ran
        // out) makes room: one that runs may have a client reading it live.
        // Running ones go to the back of the line; past a few of them in a row
        // the new stream is refused instead.
        let mut looked = 0;
        while inner.streams.len() >= self.bounds.streams {
            let Some(oldest) = inner.created.pop_front() else {
                break;
            };
            let Some(entry) = inner.streams.get(&oldest) else {
                continue;
            };
            if !entry.finished && entry.lease_until > now {
                inner.created.push_back(oldest);
                looked += 1;
                if looked >= IN_USE_LOOKED_AT.min(inner.streams.len()) {
                    return Err(StoreError::Full);
                }
                continue;
            }
            if inner.remove(oldest).is_some() {
                let remembered = (4 * self.bounds.streams).max(MIN_EVICTED_REMEMBERED);
                inner.tombstone(oldest, remembered);
            }
        }
        inner.streams.insert(
            stream,
            Entry {
                owner: owner.map(str::to_owned),
                packets: Kept::default(),
                finished: false,
                lease_until: now + lease,
                watched_until: None,
                ttl,
                finished_at: None,
                cancelled: false,
                appended: Arc::new(Notify::new()),
            },
        );
        inner.created.push_back(stream);
        Ok(())
    }

    async fn append(&self, stream: StreamId, packet: Packet) -> Result<(), StoreError> {
        self.push(stream, packet, |_| true).map(drop)
    }

    async fn renew(&self, stream: StreamId, lease: Duration) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.entry(stream)?.lease_until = Instant::now() + lease;
        Ok(())
    }

    async fn touch(&self, stream: StreamId, grace: Duration) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.entry(stream)?.watched_until = Some(Instant::now() + grace);
        Ok(())
    }

    async fn status(&self, stream: StreamId) -> Result<Option<Status>, StoreError> {
        let now = Instant::now();
        let oldest = self.oldest_kept();
        let mut inner = self.lock();
        inner.sweep(now, oldest);
        let entry = match inner.entry(stream) {
            Ok(entry) => entry,
            Err(StoreError::Unknown) => return Ok(None),
            Err(e) => return Err(e),
        };
        if entry.expires_at() <= now {
            return Ok(None);
        }
        Ok(Some(Status {
            owner: entry.owner.clone(),
            last: entry.packets.last(),
            finished: entry.finished,
            producer_alive: entry.lease_until > now,
            watched: entry.watched_until.is_some_and(|until| until > now),
            cancelled: entry.cancelled,
        }))
    }

    async fn cancel(&self, stream: StreamId) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let entry = match inner.entry(stream) {
            Ok(entry) => entry,
            Err(StoreError::Unknown | StoreError::Evicted { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        if entry.finished || entry.lease_until <= now {
            return Ok(false);
        }
        entry.cancelled = true;
        Ok(true)
    }

    async fn end_lost(&self, stream: StreamId, packet: Packet) -> Result<bool, StoreError> {
        if !packet.is_final() {
            return Err(StoreError::OutOfOrder { seq: packet.seq });
        }
        let now = Instant::now();
        match self.push(stream, packet, |entry| entry.lease_until <= now) {
            // The stream ended meanwhile, or another reader ended it.
            Err(StoreError::OutOfOrder { .. }) => Ok(false),
            result => result,
        }
    }

    async fn read(
        &self,
        stream: StreamId,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Packet>, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            let appended = {
                let oldest = self.oldest_kept();
                let mut inner = self.lock();
                if let Some(oldest) = oldest {
                    inner.drop_sent_before(Some(stream), oldest);
                }
                let entry = inner.entry(stream)?;
                let packets: Vec<Packet> = match entry.packets.after(after) {
                    Ok(kept) => kept.take(limit.max(1)).cloned().collect(),
                    Err(_) => {
                        let first_kept = entry.packets.iter().next().map_or(0, |p| p.seq);
                        return Err(StoreError::Evicted { first_kept });
                    }
                };
                if !packets.is_empty() || entry.finished || Instant::now() >= deadline {
                    return Ok(packets);
                }
                // Registered before the lock is released, so an append that
                // comes between this read and the wait below still wakes it.
                let mut notified = Box::pin(entry.appended.clone().notified_owned());
                notified.as_mut().enable();
                notified
            };
            let _ = tokio::time::timeout_at(deadline, appended).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PacketKind;
    use serde_json::value::RawValue;

    fn packet(seq: u64, last: bool) -> Packet {
        let kind = if last {
            PacketKind::Done
        } else {
            PacketKind::Progress
        };
        Packet::new(seq, kind, RawValue::from_string(seq.to_string()).unwrap())
    }

    const LEASE: Duration = Duration::from_secs(60);
    const TTL: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn logic_errors_are_typed() {
        let store = MemoryStore::new();
        let id = StreamId::random();
        store.create(id, None, LEASE, TTL).await.unwrap();
        assert!(matches!(
            store.create(id, None, LEASE, TTL).await,
            Err(StoreError::Exists)
        ));
        assert!(matches!(
            store.append(id, packet(2, false)).await,
            Err(StoreError::OutOfOrder { seq: 2 })
        ));
        store.append(id, packet(1, true)).await.unwrap();
        assert!(matches!(
            store.append(id, packet(2, false)).await,
            Err(StoreError::OutOfOrder { seq: 2 })
        ));
    }

    /// A named stream carries one job after another: a new create replaces
    /// a stream whose job ended, with none of its packets or its owner.
    #[tokio::test]
    async fn a_create_replaces_an_ended_stream() {
        let store = MemoryStore::new().max_bytes(10_000);
        let id = StreamId::named("chat");
        store.create(id, Some("me"), LEASE, TTL).await.unwrap();
        store.append(id, packet(1, false)).await.unwrap();
        store.append(id, packet(2, true)).await.unwrap();
        store.create(id, None, LEASE, TTL).await.unwrap();
        let status = store.status(id).await.unwrap().unwrap();
        assert_eq!(
            (status.last, status.finished, status.owner),
            (0, false, None)
        );
        assert_eq!(store.bytes(), 0);
        store.append(id, packet(1, false)).await.unwrap();
        let packets = store.read(id, 0, 10, Duration::ZERO).await.unwrap();
        assert_eq!(packets, [packet(1, false)]);
    }

    #[tokio::test]
    async fn reads_follow_appends_in_order() {
        let store = MemoryStore::new();
        let id = StreamId::random();
        store.create(id, Some("me"), LEASE, TTL).await.unwrap();
        let reader = {
            let store = store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut after = 0;
                loop {
                    let packets = store
                        .read(id, after, 2, Duration::from_secs(20))
                        .await
                        .unwrap();
                    for p in packets {
                        after = p.seq;
                        got.push(p.seq);
                        if p.is_final() {
                            return got;
                        }
                    }
                }
            })
        };
        for seq in 1..=5 {
            store.append(id, packet(seq, seq == 5)).await.unwrap();
        }
        assert_eq!(reader.await.unwrap(), [1, 2, 3, 4, 5]);
        let status = store.status(id).await.unwrap().unwrap();
        assert!(status.finished);
        assert_eq!(status.last, 5);
        assert_eq!(status.owner.as_deref(), Some("me"));
        // Appending again is a no-op; appending past the end is refused.
        store.append(id, packet(3, false)).await.unwrap();
        assert!(store.append(id, packet(6, false)).await.is_err());
    }

    #[tokio::test]
    async fn per_stream_bound_evicts_the_oldest() {
        let store = MemoryStore::new().max_packets_per_stream(3);
        let id = StreamId::random();
        store.create(id, None, LEASE, TTL).await.unwrap();
        for seq in 1..=5 {
            store.append(id, packet(seq, false)).await.unwrap();
        }
        let kept = store.read(id, 2, 10, Duration::ZERO).await.unwrap();
        assert_eq!(kept.iter().map(|p| p.seq).collect::<Vec<_>>(), [3, 4, 5]);
        match store.read(id, 1, 10, Duration::ZERO).await {
            Err(StoreError::Evicted { first_kept: 3 }) => {}
            other => panic!("expected eviction, got {other:?}"),
        }
    }

    /// Packets older than the age bound go, and a reader that asks for one
    /// hears so as for the other bounds. Times are given, not waited for.
    #[tokio::test]
    async fn the_age_bound_lets_old_packets_go() {
        let store = MemoryStore::new().max_age(Duration::from_secs(60));
        let id = StreamId::random();
        store.create(id, None, LEASE, TTL).await.unwrap();
        let now = SystemTime::now();
        let sent = |seq: u64, ago: u64, last: bool| Packet {
            at: now - Duration::from_secs(ago),
            ..packet(seq, last)
        };
        store.append(id, sent(1, 600, false)).await.unwrap();
        store.append(id, sent(2, 120, false)).await.unwrap();
        store.append(id, sent(3, 30, false)).await.unwrap();
        store.append(id, sent(4, 0, true)).await.unwrap();
        let kept = store.read(id, 2, 10, Duration::ZERO).await.unwrap();
        assert_eq!(kept.iter().map(|p| p.seq).collect::<Vec<_>>(), [3, 4]);
        for after in [0, 1] {
            match store.read(id, after, 10, Duration::ZERO).await {
                Err(StoreError::Evicted { first_kept: 3 }) => {}
                other => panic!("expected eviction, got {other:?}"),
            }
        }
        // What went is no longer counted against the bytes bound.
        let one = Kept::size(&packet(3, false));
        assert_eq!(store.bytes(), 2 * one);
        // The stream itself stays: it finished, and its end is known.
        let status = store.status(id).await.unwrap().unwrap();
        assert_eq!((status.last, status.finished), (4, true));
    }

    /// Without an age bound, old packets stay.
    #[tokio::test]
    async fn without_an_age_bound_old_packets_stay() {
        let store = MemoryStore::new();
        let id = StreamId::random();
        store.create(id, None, LEASE, TTL).await.unwrap();
        let old = Packet {
            at: SystemTime::UNIX_EPOCH,
            ..packet(1, false)
        };
        store.append(id, old).await.unwrap();
        let kept = store.read(id, 0, 10, Duration::ZERO).await.unwrap();
        assert_eq!(kept, [packet(1, false)]);
    }

    #[tokio::test]
    async fn expired_streams_are_gone() {
        let store = MemoryStore::new();
        let id = StreamId::random();
        store.create(id, None, LEASE, Duration::ZERO).await.unwrap();
        store.append(id, packet(1, true)).await.unwrap();
        assert_eq!(store.status(id).await.unwrap(), None);
    }
}
