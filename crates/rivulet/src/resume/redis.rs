//! [`RedisStore`]: resumable streams in Redis, shared by several servers.
//!
//! Each stream has four keys, with the stream id as hash tag so that a Redis
//! Cluster keeps them together:
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `<prefix>:{<id>}:meta` | hash | `owner`, `seq` (packets appended), `finished`, `cancelled` (set by a client's cancel), `ttl` and `lease` (ms) |
//! | `<prefix>:{<id>}:packets` | stream | one entry per packet, entry id `0-<seq>`, fields `k` = its kind (`progress`, `done`, `error`), `d` = its JSON, `t` = when it was sent (ms since the Unix epoch) |
//! | `<prefix>:{<id>}:lease` | string | exists while the producer renews it |
//! | `<prefix>:{<id>}:seen` | string | exists while a client is connected (grace period) |
//!
//! Appends run as the one Lua script every Redis history uses
//! ([`append`](crate::history::append): check the number, `XADD`, update `meta`,
//! refresh expiries, `PUBLISH`, or `SPUBLISH` on a cluster), so a packet is
//! stored exactly once even when an append is retried. Readers read through
//! the one read path of every Redis history, a feed's too
//! ([`history::redis`](crate::history::redis)): `XRANGE` after the packet
//! they have, then the notification every append publishes on its stream's
//! channel, `<prefix>:{<id>}:appended` ([`wakeup`](crate::history::wakeup)):
//! a server subscribes to the channels of the streams it reads, only those;
//! on a Redis Cluster the notification is
//! sharded (`SPUBLISH`, `SSUBSCRIBE`), so the hash tag keeps each channel on
//! its stream's node. A lost notification only delays a reader until its next
//! look.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::{AsyncCommands, Script};
use tokio::time::Instant;

use super::store::{Status, Store, StoreError};
use crate::history::Packet;
use crate::history::append::{self, Appended, Rule};
use crate::history::redis::{Keys, Reader};
use crate::history::wakeup::Wakeup;

use crate::protocol::StreamId;
use crate::redis_conn::{RedisConfig, RedisConnection, RedisLink};

/// The default [`RedisStore::max_packets_per_stream`].
pub(crate) const DEFAULT_REDIS_MAX_PACKETS_PER_STREAM: usize = 10_000;
/// The default key prefix.
pub(crate) const DEFAULT_REDIS_PREFIX: &str = "rivulet";

/// Creates a stream, replacing one whose job has ended. KEYS: meta, packets,
/// lease, seen. ARGV: ttl (ms), lease (ms), has an owner (0|1), owner.
/// Returns 1 when created, 0 when a stream under that id still runs.
const CREATE: &str = r"
if redis.call('HGET', KEYS[1], 'finished') == '0' and redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4])
redis.call('HSET', KEYS[1], 'seq', '0', 'finished', '0', 'ttl', ARGV[1], 'lease', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'owner', ARGV[4]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]))
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
return 1
";

static CREATE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE));

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

/// Marks a running stream cancelled. KEYS: meta, lease.
/// Returns 1 when marked, 0 when nothing runs (unknown, finished, or the
/// lease ran out).
const CANCEL: &str = r"
if redis.call('HGET', KEYS[1], 'finished') ~= '0' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'cancelled', '1')
return 1
";

static CANCEL_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CANCEL));

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
    link: RedisLink,
    connection: RedisConnection,
    prefix: Arc<str>,
    max_packets: usize,
    wakeup: Arc<Wakeup>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("redis", &format_args!("{}", self.link))
            .field("max_packets", &self.max_packets)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` (a single node, a cluster, over TLS:
    /// see [`crate::redis_conn`] for the forms), with keys under the prefix
    /// `rivulet`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        RedisStore::connect_with_prefix(url, DEFAULT_REDIS_PREFIX).await
    }

    /// Connects to the Redis at `url`, with keys under `prefix`: servers that
    /// share streams use the same prefix.
    pub async fn connect_with_prefix(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let config = RedisConfig::parse(url).map_err(backend)?;
        RedisStore::connect_with(&config, prefix).await
    }

    /// Connects to the Redis `config` names (a CA file for TLS, a client
    /// certificate), with keys under `prefix`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use rivulet::redis_conn::RedisConfig;
    /// use rivulet::resume::RedisStore;
    ///
    /// let config = RedisConfig::parse("rediss://:pw@cache.internal:6380")?.ca_file("ca.pem");
    /// let store = RedisStore::connect_with(&config, "rivulet").await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    pub async fn connect_with(config: &RedisConfig, prefix: &str) -> Result<Self, StoreError> {
        let link = config.connect().await.map_err(backend)?;
        let connection = link
            .commands()
            .await
            .map_err(|e| backend(config.error(&e)))?;
        let wakeup = Wakeup::start(link.clone());
        Ok(RedisStore {
            link,
            connection,
            prefix: prefix.into(),
            max_packets: DEFAULT_REDIS_MAX_PACKETS_PER_STREAM,
            wakeup,
        })
    }

    /// How many append notifications this store's subscription has received:
    /// the share of the appends of every server sharing the Redis that this
    /// server has to look at.
    pub fn notifications_received(&self) -> u64 {
        self.wakeup.received()
    }

    /// The Redis this store connects to.
    pub(crate) fn link(&self) -> &RedisLink {
        &self.link
    }

    /// How the readers of this store's histories, a feed's too, learn of
    /// appends.
    pub(crate) fn wakeup(&self) -> &Wakeup {
        &self.wakeup
    }

    /// The shared connection, for commands that do not block.
    pub(crate) fn connection(&self) -> RedisConnection {
        self.connection.clone()
    }

    /// The prefix of every key.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Keeps at most the last `packets` packets of each stream (at least 1).
    pub fn max_packets_per_stream(mut self, packets: usize) -> Self {
        self.max_packets = packets.max(1);
        self
    }

    /// The keys of `stream`.
    fn keys(&self, stream: StreamId) -> Keys {
        Keys::stream(&self.prefix, stream)
    }

    /// Runs the append script, which notifies the stream's readers.
    async fn push(
        &self,
        stream: StreamId,
        packet: &Packet,
        rule: Rule,
    ) -> Result<Appended, StoreError> {
        let mut connection = self.connection.clone();
        let keys = self.keys(stream);
        let publish = self.link.publish_command();
        append::append(
            &mut connection,
            &keys,
            packet,
            rule,
            self.max_packets,
            publish,
        )
        .await
        .map_err(backend)
    }

    /// A look at the packets of `stream` after `after`.
    async fn range(
        &self,
        reader: &mut Reader<'_>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Packet>, StoreError> {
        let mut connection = self.connection.clone();
        let packets = reader
            .look(&mut connection, after, limit)
            .await
            .map_err(backend)?
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
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
        let mut connection = self.connection.clone();
        let keys = self.keys(stream);
        let created: i64 = CREATE_SCRIPT
            .key(&keys.meta)
            .key(&keys.packets)
            .key(&keys.lease)
            .key(keys.other("seen"))
            .arg(millis(ttl))
            .arg(millis(lease))
            .arg(u8::from(owner.is_some()))
            .arg(owner.unwrap_or(""))
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        match created {
            1 => Ok(()),
            _ => Err(StoreError::Exists),
        }
    }

    async fn append(&self, stream: StreamId, packet: Packet) -> Result<(), StoreError> {
        match self.push(stream, &packet, Rule::Numbered).await? {
            Appended::Stored(_) | Appended::AlreadyThere => Ok(()),
            Appended::Unknown => Err(StoreError::Unknown),
            _ => Err(StoreError::OutOfOrder { seq: packet.seq }),
        }
    }

    async fn renew(&self, stream: StreamId, lease: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let keys = self.keys(stream);
        let _: i64 = RENEW_SCRIPT
            .key(&keys.meta)
            .key(&keys.packets)
            .key(&keys.lease)
            .arg(millis(lease))
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn cancel(&self, stream: StreamId) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let keys = self.keys(stream);
        let marked: i64 = CANCEL_SCRIPT
            .key(&keys.meta)
            .key(&keys.lease)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(marked == 1)
    }

    async fn end_lost(&self, stream: StreamId, packet: Packet) -> Result<bool, StoreError> {
        if !packet.is_final() {
            return Err(StoreError::OutOfOrder { seq: packet.seq });
        }
        match self.push(stream, &packet, Rule::Lost).await? {
            Appended::Stored(_) => Ok(true),
            Appended::Unknown => Err(StoreError::Unknown),
            // Already there, the stream ended meanwhile, or the lease runs.
            _ => Ok(false),
        }
    }

    async fn touch(&self, stream: StreamId, grace: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        let options =
            redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(millis(grace)));
        let () = connection
            .set_options(self.keys(stream).other("seen"), "1", options)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn status(&self, stream: StreamId) -> Result<Option<Status>, StoreError> {
        let mut connection = self.connection.clone();
        let keys = self.keys(stream);
        type Meta = (Option<String>, Option<u64>, Option<String>, Option<String>);
        let ((owner, last, finished, cancelled), producer_alive, watched): (Meta, bool, bool) =
            redis::pipe()
                .cmd("HMGET")
                .arg(&keys.meta)
                .arg("owner")
                .arg("seq")
                .arg("finished")
                .arg("cancelled")
                .exists(&keys.lease)
                .exists(keys.other("seen"))
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
            cancelled: cancelled.as_deref() == Some("1"),
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
        let keys = self.keys(stream);
        let mut reader = Reader::start(&self.wakeup, &keys, deadline).await;
        loop {
            let packets = self.range(&mut reader, after, limit).await?;
            if !packets.is_empty() || Instant::now() >= deadline {
                return Ok(packets);
            }
            if !reader.appended(deadline).await {
                return self.range(&mut reader, after, limit).await;
            }
        }
    }
}
