//! Feeds shared through Redis (feature `redis`): a publish on any server
//! reaches the subscribers of every server.
//!
//! Each feed is a history in Redis as a resumable stream is, its name as hash
//! tag so that a Redis Cluster keeps its keys together:
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `<prefix>:feed:{<name>}:meta` | hash | `epoch`: the feed's epoch, drawn by the first server; `seq`: the number of its last packet; `finished`: `1` once the feed is closed. One key, so that Redis cannot lose one without the other |
//! | `<prefix>:feed:{<name>}:packets` | stream | the retained window: entry id `0-<seq>`, fields `k` (its kind, `progress` or `done`), `d` (its JSON) and `t` (published, ms since the Unix epoch), as a resumable stream's packets |
//!
//! A publish is the append script every Redis history uses
//! ([`append`](crate::history::append): here it checks the epoch, takes the
//! next number, `XADD … MAXLEN <window>`): a Redis that lost the feed's
//! history (restarted empty, evicted the key) refuses it
//! ([`FeedError::Lost`]) instead of numbering it again from 1 under the old
//! epoch. Every server checks the epoch each time
//! it reads; one that finds it gone or changed ends its subscribers with
//! [`HISTORY_LOST_MESSAGE`](crate::protocol::HISTORY_LOST_MESSAGE) and goes
//! on under the epoch Redis now holds (the first server to notice draws it,
//! with an empty history). Every server runs one reader per feed: it reads
//! after the last packet it has, handing each packet to the feed's local
//! fan-out, and waits for the next, as a resumable stream's readers do,
//! through the one read path of a Redis history
//! ([`history::redis`](crate::history::redis): `XRANGE` with the epoch in
//! the same round trip, then the notification every append publishes on the
//! feed's channel `<prefix>:feed:{<name>}:appended`), looking again at least
//! every 2 s. However many subscribers a server has,
//! it reads each packet from Redis once, and since every server's window
//! holds the same numbered packets, a resume point is good on any of them.

use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use http::StatusCode;
use redis::Script;
use serde_json::value::RawValue;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::window::DEFAULT_WINDOW_PACKETS;
use super::{Feed, FeedError, Shared, State};
use crate::error::Error;
use crate::history::Packet;
use crate::history::append::{self, Appended, Rule};
use crate::history::redis::{self as history, Keys, Reader};
use crate::protocol::{FEED_GAP_MESSAGE, FEED_STORE_FAILED_MESSAGE, PacketKind, StreamId};
use crate::redis_conn::RedisConnection;
use crate::resume::RedisStore;

/// How long a reader waits for a notification before it looks again.
const BLOCK: Duration = Duration::from_secs(2);
/// Packets read at once.
const BATCH: usize = 512;
/// Failed reads in a row before the subscribers are told.
const MAX_FAILURES: u32 = 3;

/// The feed's epoch, or, when Redis holds none (a new feed, or its history
/// lost), a new empty history under the epoch ARGV[1]. KEYS: meta,
/// packets. Returns the epoch.
const ESTABLISH: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if epoch then return epoch end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'seq', 0)
return ARGV[1]
";

static ESTABLISH_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(ESTABLISH));

/// Begins the history anew under the epoch ARGV[3] when Redis still holds
/// the epoch ARGV[1] but fewer than ARGV[2] packets of it (it lost some a
/// server delivered). KEYS: meta, packets. Returns 1 when it did.
const RENEW: &str = r"
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'seq') or '0') >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'seq', 0)
return 1
";

static RENEW_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW));

/// A feed's link to Redis.
pub(super) struct Backend {
    connection: RedisConnection,
    /// `PUBLISH`, or `SPUBLISH` on a cluster.
    publish: &'static str,
    keys: Arc<Keys>,
    reader: Mutex<Option<AbortHandle>>,
}

/// The epoch Redis holds for the feed at `keys`, drawn now if it holds none.
async fn establish(connection: &mut RedisConnection, keys: &Keys) -> Result<StreamId, FeedError> {
    let epoch: String = ESTABLISH_SCRIPT
        .key(&keys.meta)
        .key(&keys.packets)
        .arg(StreamId::random().to_string())
        .invoke_async(connection)
        .await
        .map_err(backend)?;
    epoch
        .parse()
        .map_err(|_| backend(format!("the feed's epoch {epoch:?} is not an id")))
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            reader.abort();
        }
    }
}

fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> FeedError {
    FeedError::Backend(e.into())
}

impl Feed {
    /// The feed `name`, shared by every server on the Redis of `store` (with
    /// its key prefix). Loads the packets Redis keeps, then follows it. Each
    /// call starts one reader; call it once per feed and clone the `Feed`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use rivulet::{feed::Feed, resume::RedisStore};
    ///
    /// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let feed = Feed::redis(&store, "orders").await?;
    /// feed.publish(serde_json::json!({ "order": 42 })).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The window kept in Redis is [`Feed::window_packets`] long; it is
    /// loaded with the default length.
    pub async fn redis(store: &RedisStore, name: &str) -> Result<Feed, FeedError> {
        let keys = Arc::new(Keys::feed(store.prefix(), name));
        let mut connection = store.connection();
        let epoch = establish(&mut connection, &keys).await?;
        let (seq, loaded) = history::tail(&mut connection, &keys, DEFAULT_WINDOW_PACKETS)
            .await
            .map_err(backend)?;
        let mut state = State::new(epoch);
        let packets = loaded
            .into_iter()
            .map(|packet| packet.map_err(backend))
            .collect::<Result<Vec<_>, _>>()?;
        let last = match packets.first() {
            Some(first) => first.seq - 1,
            None => seq.unwrap_or(0),
        };
        state.window.restart_at(last);
        for packet in packets {
            if packet.is_final() {
                state.done = Some(packet.clone());
            }
            state.window.push(packet);
        }
        let from = state.window.last();
        let closed = state.done.is_some();
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new(state),
            redis: Some(Backend {
                connection: store.connection(),
                publish: store.link().publish_command(),
                keys: keys.clone(),
                reader: Mutex::new(None),
            }),
        });
        if !closed {
            let reader = tokio::spawn(read(store.clone(), keys, Arc::downgrade(&shared), from));
            if let Some(redis) = &shared.redis {
                *redis.reader.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(reader.abort_handle());
            }
        }
        Ok(Feed { shared })
    }
}

impl Backend {
    /// Appends a packet in Redis; the reader of every server, this one's
    /// too, delivers it.
    pub(super) async fn append(
        &self,
        epoch: StreamId,
        kind: PacketKind,
        json: Box<RawValue>,
        window: usize,
    ) -> Result<u64, FeedError> {
        let mut connection = self.connection.clone();
        let packet = Packet::new(0, kind, json);
        let rule = Rule::Next(epoch);
        let appended = append::append(
            &mut connection,
            &self.keys,
            &packet,
            rule,
            window,
            self.publish,
        )
        .await
        .map_err(backend)?;
        match appended {
            Appended::Stored(seq) => Ok(seq),
            Appended::Refused => Err(FeedError::Closed),
            Appended::OtherEpoch | Appended::Unknown => Err(FeedError::Lost),
            other => Err(backend(format!("unexpected answer {other:?}"))),
        }
    }
}

/// Follows the feed's stream in Redis from packet `last` on, delivering
/// every packet to this server's subscribers, until the feed is dropped or
/// closed. Reconnects after a failure; after [`MAX_FAILURES`] in a row the
/// subscribers are ended with an error and new ones refused until Redis is
/// back.
async fn read(store: RedisStore, keys: Arc<Keys>, feed: Weak<Shared>, mut last: u64) {
    let mut failures = 0u32;
    loop {
        let outcome = follow(&store, &keys, &feed, &mut last, &mut failures).await;
        let error = match outcome {
            Ok(()) => return,
            Err(e) => e,
        };
        let Some(shared) = feed.upgrade() else {
            return;
        };
        failures += 1;
        tracing::warn!(redis = %store.link(), feed = %keys.packets, error = %error, "reading a feed from Redis failed");
        if failures >= MAX_FAILURES {
            let mut state = shared.lock();
            if state.unavailable.is_none() {
                state.unavailable = Some(FEED_STORE_FAILED_MESSAGE);
                state.fail_all(|| {
                    Error::new(StatusCode::SERVICE_UNAVAILABLE, FEED_STORE_FAILED_MESSAGE)
                });
            }
        }
        drop(shared);
        let delay = Duration::from_millis(100) * 2u32.pow(failures.min(5));
        tokio::time::sleep(delay.min(Duration::from_secs(2))).await;
    }
}

/// Reads packets until the feed is gone or closed (`Ok`) or Redis fails.
async fn follow(
    store: &RedisStore,
    keys: &Keys,
    feed: &Weak<Shared>,
    last: &mut u64,
    failures: &mut u32,
) -> Result<(), FeedError> {
    let connection = &mut store.connection();
    // A Redis that lost packets this server delivered (a failover before
    // they reached the replica) numbers the next ones from where it is, under
    // the same epoch: one number would name two packets. The history is
    // begun anew under a new epoch instead, which every server (this one in
    // the loop below) takes as the loss it is.
    if *last > 0 {
        let following = match feed.upgrade() {
            Some(shared) => shared.lock().epoch,
            None => return Ok(()),
        };
        let renewed: i64 = RENEW_SCRIPT
            .key(&keys.meta)
            .key(&keys.packets)
            .arg(following.to_string())
            .arg(*last)
            .arg(StreamId::random().to_string())
            .invoke_async(connection)
            .await
            .map_err(backend)?;
        if renewed == 1 {
            tracing::warn!(feed = %keys.packets, delivered = *last, "Redis lost packets of the feed this server delivered");
        }
    }
    let mut reader = Reader::start(store.wakeup(), keys, Instant::now() + BLOCK).await;
    loop {
        let following = match feed.upgrade() {
            Some(shared) => shared.lock().epoch,
            None => return Ok(()),
        };
        let look = reader.look_under(connection, following, *last, BATCH).await;
        let entries = look.map_err(backend)?;
        *failures = 0;
        let Some(shared) = feed.upgrade() else {
            return Ok(());
        };
        let Some(entries) = entries else {
            // Redis lost the history this server follows: say so to every
            // subscriber, and go on with the one Redis holds now.
            let epoch = establish(connection, keys).await?;
            tracing::error!(feed = %keys.packets, lost = %following, epoch = %epoch, "the feed's history in Redis was lost: going on under a new epoch");
            let mut state = shared.lock();
            state.unavailable = None;
            state.lose(epoch);
            *last = 0;
            continue;
        };
        // The lock is held while packets are delivered, not while waiting.
        let more = {
            let more = entries.len() >= BATCH;
            let mut state = shared.lock();
            state.unavailable = None;
            for packet in entries {
                let packet = match packet {
                    Ok(packet) => packet,
                    Err(e) => {
                        tracing::error!(feed = %keys.packets, error = %e, "a feed entry is not valid");
                        continue;
                    }
                };
                if packet.seq <= *last {
                    continue;
                }
                if packet.seq > *last + 1 {
                    // Trimmed while this server could not read: its subscribers
                    // would miss packets without knowing.
                    state
                        .fail_all(|| Error::new(StatusCode::SERVICE_UNAVAILABLE, FEED_GAP_MESSAGE));
                    state.window.restart_at(packet.seq - 1);
                }
                *last = packet.seq;
                let done = packet.is_final();
                state.deliver(packet);
                if done {
                    return Ok(());
                }
            }
            more
        };
        drop(shared);
        if !more {
            // Bounded: a lost notification delays the next look, never stops it.
            reader.appended(Instant::now() + BLOCK).await;
        }
    }
}
