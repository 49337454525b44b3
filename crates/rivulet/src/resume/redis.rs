//! [`RedisStore`]: resumable streams in Redis, shared by several servers.
//!
//! Each stream has four keys, with the stream id as hash tag so that a Redis
//! Cluster keeps them together:
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `<prefix>:{<id>}:meta` | hash | `owner`, `last` (packets appended), `finished`, `ttl` and `lease` (ms) |
//! | `<prefix>:{<id>}:packets` | stream | one entry per packet, entry id `0-<seq>`, fields `k` = its kind (`progress`, `done`, `error`), `d` = its JSON |
//! | `<prefix>:{<id>}:lease` | string | exists while the producer renews it |
//! | `<prefix>:{<id>}:seen` | string | exists while a client is connected (grace period) |
//!
//! Appends run as one Lua script (check the number, `XADD`, update `meta`,
//! refresh expiries, `PUBLISH`), so a packet is stored exactly once even when
//! an append is retried. Readers use `XRANGE` and wait for the notification
//! published on `<prefix>:appended` (payload: the stream id) by every append;
//! a lost notification only delays a reader until its next look.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, Script};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::store::{Packet, Status, Store, StoreError};
use serde_json::value::RawValue;

use crate::protocol::{PacketKind, StreamId};

/// The default [`RedisStore::max_packets_per_stream`].
pub(crate) const DEFAULT_REDIS_MAX_PACKETS_PER_STREAM: usize = 10_000;
/// The default key prefix.
pub(crate) const DEFAULT_REDIS_PREFIX: &str = "rivulet";

/// Appends one packet. KEYS: meta, packets. ARGV: seq, kind, data, last (0|1),
/// max packets, notification channel, stream id.
/// Returns 1 when appended, 0 when it was already there, -1 for an unknown
/// stream, -2 for a packet out of order.
const APPEND: &str = r"
local last = redis.call('HGET', KEYS[1], 'last')
if not last then return -1 end
last = tonumber(last)
local seq = tonumber(ARGV[1])
if seq <= last then return 0 end
if seq ~= last + 1 or redis.call('HGET', KEYS[1], 'finished') == '1' then return -2 end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], '0-' .. seq, 'k', ARGV[2], 'd', ARGV[3])
redis.call('HSET', KEYS[1], 'last', seq)
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl'))
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'finished', '1')
else
  ttl = ttl + tonumber(redis.call('HGET', KEYS[1], 'lease'))
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 1
";

static APPEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND));

/// Renews the lease. KEYS: meta, packets, lease. ARGV: lease (ms).
/// Returns 0 for an unknown or finished stream.
const RENEW: &str = r"
if redis.call('HGET', KEYS[1], 'finished') ~= '0' then return 0 end
local keep = tonumber(redis.call('HGET', KEYS[1], 'ttl')) + tonumber(ARGV[1])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])
redis.call('PEXPIRE', KEYS[1], keep)
redis.call('PEXPIRE', KEYS[2], keep)
return 1
";

static RENEW_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW));

/// Keeps resumable streams in Redis, so that every server sharing it can
/// serve any stream: a client whose connection moved to another server
/// resumes there while the first one still runs the job. Uses Redis Streams
/// and pub/sub; every key expires (see the module source for the layout).
///
/// ```no_run
/// # async fn demo() -> Result<(), rivulet::resume::StoreError> {
/// use rivulet::resume::{RedisStore, Resume};
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let resume = Resume::new(store);
/// # let _ = resume;
/// # Ok(()) }
/// ```
///
/// Cheap to clone; clones share one connection (reconnecting on failure) and
/// one subscription.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    keys: Arc<Keys>,
    max_packets: usize,
    listener: Arc<Listener>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("max_packets", &self.max_packets)
            .finish_non_exhaustive()
    }
}

struct Keys {
    prefix: String,
    channel: String,
}

impl Keys {
    fn of(&self, stream: StreamId, what: &str) -> String {
        format!("{}:{{{stream}}}:{what}", self.prefix)
    }
}

/// The subscription to append notifications, and the readers waiting on them.
struct Listener {
    waiting: Mutex<HashMap<StreamId, Weak<Notify>>>,
    task: Mutex<Option<AbortHandle>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Listener {
    /// The notification readers of `stream` wait on.
    fn waiter(&self, stream: StreamId) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(notify) = waiting.get(&stream).and_then(Weak::upgrade) {
            return notify;
        }
        if waiting.len() >= 64 && waiting.len().is_power_of_two() {
            waiting.retain(|_, notify| notify.strong_count() > 0);
        }
        let notify = Arc::new(Notify::new());
        waiting.insert(stream, Arc::downgrade(&notify));
        notify
    }

    fn wake(&self, stream: Option<StreamId>) {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let notifies: Vec<Arc<Notify>> = match stream {
            Some(stream) => waiting
                .get(&stream)
                .and_then(Weak::upgrade)
                .into_iter()
                .collect(),
            None => waiting.values().filter_map(Weak::upgrade).collect(),
        };
        drop(waiting);
        for notify in notifies {
            notify.notify_waiters();
        }
    }
}

/// Subscribes to the append notifications, and subscribes again after a lost
/// connection, until the store is dropped.
async fn listen(client: Client, channel: String, listener: Weak<Listener>) {
    let mut delay = Duration::from_millis(50);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    delay = Duration::from_millis(50);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        let Some(listener) = listener.upgrade() else {
                            return;
                        };
                        let stream = std::str::from_utf8(message.get_payload_bytes())
                            .ok()
                            .and_then(|id| id.parse().ok());
                        if stream.is_some() {
                            listener.wake(stream);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not subscribe to Redis"),
            },
            Err(e) => tracing::warn!(error = %e, "could not connect to Redis for pub/sub"),
        }
        let Some(listener) = listener.upgrade() else {
            return;
        };
        // Notifications may have been missed: every reader looks again.
        listener.wake(None);
        drop(listener);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (`redis://host:port/db`), with keys
    /// under the prefix `rivulet`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        RedisStore::connect_with_prefix(url, DEFAULT_REDIS_PREFIX).await
    }

    /// Connects to the Redis at `url`, with keys under `prefix`: servers that
    /// share streams use the same prefix.
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(backend)?;
        // Few, quick reconnection attempts: a command waits for them, and
        // the callers have their own retries and deadlines (leases, reads).
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(backend)?;
        let keys = Arc::new(Keys {
            prefix: prefix.to_owned(),
            channel: format!("{prefix}:appended"),
        });
        let listener = Arc::new(Listener {
            waiting: Mutex::default(),
            task: Mutex::default(),
        });
        let task = tokio::spawn(listen(
            client,
            keys.channel.clone(),
            Arc::downgrade(&listener),
        ));
        *listener.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        Ok(RedisStore {
            connection,
            keys,
            max_packets: DEFAULT_REDIS_MAX_PACKETS_PER_STREAM,
            listener,
        })
    }

    /// Keeps at most the last `packets` packets of each stream (at least 1).
    pub fn max_packets_per_stream(mut self, packets: usize) -> Self {
        self.max_packets = packets.max(1);
        self
    }

    async fn range(
        &self,
        stream: StreamId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Packet>, StoreError> {
        type Entry = (String, Vec<(String, String)>);
        let mut connection = self.connection.clone();
        let entries: Vec<Entry> = redis::cmd("XRANGE")
            .arg(self.keys.of(stream, "packets"))
            .arg(format!("0-{}", after + 1))
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1))
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        let mut packets = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let seq = id
                .strip_prefix("0-")
                .and_then(|seq| seq.parse::<u64>().ok())
                .ok_or_else(|| backend(format!("unexpected stream entry id {id}")))?;
            let (mut kind, mut data) = (None, None);
            for (field, value) in fields {
                match field.as_str() {
                    "k" => kind = PacketKind::from_name(&value),
                    "d" => data = RawValue::from_string(value).ok(),
                    _ => {}
                }
            }
            let (Some(kind), Some(data)) = (kind, data) else {
                return Err(backend(format!("stream entry {id} is not a packet")));
            };
            packets.push(Packet::new(seq, kind, data));
        }
        if let Some(first) = packets.first()
            && first.seq > after + 1
        {
            return Err(StoreError::Evicted {
                first_kept: first.seq,
            });
        }
        Ok(packets)
    }
}

fn backend(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::Backend(e.into())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

impl Store for RedisStore {
    async fn create(
        &self,
        stream: StreamId,
        owner: Option<&str>,
        lease: Duration,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let meta = self.keys.of(stream, "meta");
        let mut fields = vec![
            ("last", "0".to_owned()),
            ("finished", "0".to_owned()),
            ("ttl", millis(ttl).to_string()),
            ("lease", millis(lease).to_string()),
        ];
        if let Some(owner) = owner {
            fields.push(("owner", owner.to_owned()));
        }
        let mut connection = self.connection.clone();
        let () = redis::pipe()
            .atomic()
            .hset_multiple(&meta, &fields)
            .ignore()
            .pexpire(&meta, (millis(ttl) + millis(lease)) as i64)
            .ignore()
            .set_options(
                self.keys.of(stream, "lease"),
                "1",
                redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(lease))),
            )
            .ignore()
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn append(&self, stream: StreamId, packet: Packet) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let outcome: i64 = APPEND_SCRIPT
            .key(self.keys.of(stream, "meta"))
            .key(self.keys.of(stream, "packets"))
            .arg(packet.seq)
            .arg(packet.kind.name())
            .arg(packet.data.get())
            .arg(if packet.is_final() { "1" } else { "0" })
            .arg(self.max_packets)
            .arg(&self.keys.channel)
            .arg(stream.to_string())
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        match outcome {
            0 | 1 => Ok(()),
            -1 => Err(StoreError::Unknown),
            _ => Err(StoreError::OutOfOrder { seq: packet.seq }),
        }
    }

    async fn renew(&self, stream: StreamId, lease: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let _: i64 = RENEW_SCRIPT
            .key(self.keys.of(stream, "meta"))
            .key(self.keys.of(stream, "packets"))
            .key(self.keys.of(stream, "lease"))
            .arg(millis(lease))
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn touch(&self, stream: StreamId, grace: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let options =
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(grace)));
        let () = connection
            .set_options(self.keys.of(stream, "seen"), "1", options)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn status(&self, stream: StreamId) -> Result<Option<Status>, StoreError> {
        let mut connection = self.connection.clone();
        type Meta = (Option<String>, Option<u64>, Option<String>);
        let ((owner, last, finished), producer_alive, watched): (Meta, bool, bool) = redis::pipe()
            .cmd("HMGET")
            .arg(self.keys.of(stream, "meta"))
            .arg("owner")
            .arg("last")
            .arg("finished")
            .exists(self.keys.of(stream, "lease"))
            .exists(self.keys.of(stream, "seen"))
            .query_async(&mut connection)
            .await
            .map_err(backend)?;
        let Some(last) = last else {
            return Ok(None);
        };
        Ok(Some(Status {
            owner,
            last,
            finished: finished.as_deref() == Some("1"),
            producer_alive,
            watched,
        }))
    }

    async fn read(
        &self,
        stream: StreamId,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Packet>, StoreError> {
        let deadline = Instant::now() + wait;
        let notify = self.listener.waiter(stream);
        loop {
            // Registered before looking, so an append between the look and the
            // wait still wakes this reader.
            let mut appended = std::pin::pin!(notify.notified());
            appended.as_mut().enable();
            let packets = self.range(stream, after, limit).await?;
            if !packets.is_empty() || Instant::now() >= deadline {
                return Ok(packets);
            }
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                return self.range(stream, after, limit).await;
            }
        }
    }
}
