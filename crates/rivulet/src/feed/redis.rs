//! Feeds shared through Redis (feature `redis`): a publish on any server
//! reaches the subscribers of every server.
//!
//! Each feed has three keys, its name as hash tag so that a Redis Cluster
//! keeps them together:
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `<prefix>:feed:{<name>}:epoch` | string | the feed's epoch, drawn once by the first server |
//! | `<prefix>:feed:{<name>}:packets` | stream | the retained window: entry id `0-<seq>`, fields `k` (its kind, `progress` or `done`) and `d` (its JSON) as a resumable stream's packets, and `t` (published, ms since the Unix epoch) |
//! | `<prefix>:feed:{<name>}:closed` | string | exists once the feed is closed |
//!
//! A publish is one script (next number, `XADD … MAXLEN <window>`). Every
//! server runs one reader per feed, on a connection of its own: `XREAD BLOCK`
//! after the last packet it has, handing each packet to the feed's local
//! fan-out. However many subscribers a server has, it reads each packet from
//! Redis once, and since every server's window holds the same numbered
//! packets, a resume point is good on any of them.

use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use http::StatusCode;
use redis::Script;
use serde_json::value::RawValue;
use tokio::task::AbortHandle;

use super::record::Record;
use super::window::{DEFAULT_WINDOW_PACKETS, now_millis};
use super::{Feed, FeedError, Shared, State};
use crate::error::Error;
use crate::protocol::{FEED_GAP_MESSAGE, FEED_STORE_FAILED_MESSAGE, PacketKind, StreamId};
use crate::redis_conn::{RedisConnection, RedisLink};
use crate::resume::RedisStore;

/// How long one `XREAD` waits for packets.
const BLOCK: Duration = Duration::from_secs(2);
/// Packets read at once.
const BATCH: usize = 512;
/// Failed reads in a row before the subscribers are told.
const MAX_FAILURES: u32 = 3;

/// Publishes one packet. KEYS: packets, closed, seq (the last number). ARGV: kind (`progress` or `done`), JSON,
/// window (packets), time (ms). Returns the packet's number, or -1 when the
/// feed is closed.
const APPEND: &str = r"
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local seq = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '0-' .. seq, 'k', ARGV[1], 'd', ARGV[2], 't', ARGV[4])
if ARGV[1] ~= 'progress' then redis.call('SET', KEYS[2], '1') end
return seq
";

static APPEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND));

/// A feed's link to Redis.
pub(super) struct Backend {
    connection: RedisConnection,
    keys: Arc<Keys>,
    reader: Mutex<Option<AbortHandle>>,
}

struct Keys {
    epoch: String,
    packets: String,
    closed: String,
    seq: String,
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
        let base = format!("{}:feed:{{{name}}}", store.prefix());
        let keys = Arc::new(Keys {
            epoch: format!("{base}:epoch"),
            packets: format!("{base}:packets"),
            closed: format!("{base}:closed"),
            seq: format!("{base}:seq"),
        });
        let mut connection = store.connection();
        let (epoch, loaded): (String, Vec<Entry>) = redis::pipe()
            .cmd("SET")
            .arg(&keys.epoch)
            .arg(StreamId::random().to_string())
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&keys.epoch)
            .cmd("XREVRANGE")
            .arg(&keys.packets)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(DEFAULT_WINDOW_PACKETS)
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        let epoch: StreamId = epoch
            .parse()
            .map_err(|_| backend(format!("the feed's epoch {epoch:?} is not an id")))?;
        let mut state = State::new(epoch);
        let mut records = loaded
            .into_iter()
            .rev()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        let last = match records.first() {
            Some(first) => first.seq() - 1,
            None => {
                let mut connection = store.connection();
                redis::cmd("GET")
                    .arg(&keys.seq)
                    .query_async::<Option<u64>>(&mut connection)
                    .await
                    .map_err(backend)?
                    .unwrap_or(0)
            }
        };
        state.window.restart_at(last);
        for record in records.drain(..) {
            if record.kind().is_final() {
                state.done = Some(record.clone());
            }
            state.window.push(record);
        }
        let from = state.window.last();
        let closed = state.done.is_some();
        let shared = Arc::new(Shared {
            state: std::sync::Mutex::new(state),
            redis: Some(Backend {
                connection: store.connection(),
                keys: keys.clone(),
                reader: Mutex::new(None),
            }),
        });
        if !closed {
            let reader = tokio::spawn(read(
                store.link().clone(),
                keys,
                Arc::downgrade(&shared),
                from,
            ));
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
        kind: PacketKind,
        json: Box<RawValue>,
        window: usize,
    ) -> Result<u64, FeedError> {
        let mut connection = self.connection.clone();
        let seq: i64 = APPEND_SCRIPT
            .key(&self.keys.packets)
            .key(&self.keys.closed)
            .key(&self.keys.seq)
            .arg(kind.name())
            .arg(json.get())
            .arg(window)
            .arg(now_millis())
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        u64::try_from(seq).map_err(|_| FeedError::Closed)
    }
}

/// A stream entry: its id and its fields.
type Entry = (String, Vec<(String, String)>);

fn parse((id, fields): Entry) -> Result<Record, FeedError> {
    let seq = id
        .strip_prefix("0-")
        .and_then(|seq| seq.parse::<u64>().ok())
        .ok_or_else(|| backend(format!("unexpected feed entry id {id}")))?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
            .ok_or_else(|| backend(format!("feed entry {id} has no field {name}")))
    };
    let kind = PacketKind::from_name(field("k")?)
        .ok_or_else(|| backend(format!("feed entry {id} has no known kind")))?;
    let at = field("t")?.parse().unwrap_or(0);
    let json = RawValue::from_string(field("d")?.to_owned()).map_err(backend)?;
    Ok(Record::new(seq, at, kind, json))
}

/// Follows the feed's stream in Redis from packet `last` on, delivering
/// every packet to this server's subscribers, until the feed is dropped or
/// closed. Reconnects after a failure; after [`MAX_FAILURES`] in a row the
/// subscribers are ended with an error and new ones refused until Redis is
/// back.
async fn read(link: RedisLink, keys: Arc<Keys>, feed: Weak<Shared>, mut last: u64) {
    let mut failures = 0u32;
    loop {
        let outcome = match link.dedicated(BLOCK + Duration::from_secs(2)).await {
            Ok(mut connection) => {
                follow(&mut connection, &keys, &feed, &mut last, &mut failures).await
            }
            Err(e) => Err(e),
        };
        let error = match outcome {
            Ok(()) => return,
            Err(e) => e,
        };
        let Some(shared) = feed.upgrade() else {
            return;
        };
        failures += 1;
        tracing::warn!(redis = %link, feed = %keys.packets, error = %error, "reading a feed from Redis failed");
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
    connection: &mut RedisConnection,
    keys: &Keys,
    feed: &Weak<Shared>,
    last: &mut u64,
    failures: &mut u32,
) -> redis::RedisResult<()> {
    type Reply = Option<Vec<(String, Vec<Entry>)>>;
    // A Redis that lost packets this server delivered (a failover before
    // they reached the replica, a restart without persistence) numbers the
    // next ones from where it is: its subscribers could not tell.
    let kept: Option<u64> = redis::cmd("GET")
        .arg(&keys.seq)
        .query_async(connection)
        .await?;
    let kept = kept.unwrap_or(0);
    if kept < *last {
        let Some(shared) = feed.upgrade() else {
            return Ok(());
        };
        tracing::warn!(feed = %keys.packets, delivered = *last, kept, "Redis lost packets of the feed");
        let mut state = shared.lock();
        state.fail_all(|| Error::new(StatusCode::SERVICE_UNAVAILABLE, FEED_GAP_MESSAGE));
        state.window.restart_at(kept);
        *last = kept;
    }
    loop {
        let reply: Reply = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&keys.packets)
            .arg(format!("0-{last}"))
            .query_async(connection)
            .await?;
        *failures = 0;
        let Some(shared) = feed.upgrade() else {
            return Ok(());
        };
        let mut state = shared.lock();
        state.unavailable = None;
        for entry in reply.into_iter().flatten().flat_map(|(_, entries)| entries) {
            let record = match parse(entry) {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!(feed = %keys.packets, error = %e, "a feed entry is not valid");
                    continue;
                }
            };
            if record.seq() <= *last {
                continue;
            }
            if record.seq() > *last + 1 {
                // Trimmed while this server could not read: its subscribers
                // would miss packets without knowing.
                state.fail_all(|| Error::new(StatusCode::SERVICE_UNAVAILABLE, FEED_GAP_MESSAGE));
                state.window.restart_at(record.seq() - 1);
            }
            *last = record.seq();
            let done = record.kind().is_final();
            state.deliver(record);
            if done {
                return Ok(());
            }
        }
    }
}
