//! Reading a history in Redis, for resumable streams and feeds alike: the
//! keys of one history, a look at its packets after a number (with the
//! epoch check a feed asks for, in the same round trip), and the wait for
//! the next append on the one wake-up scheme ([`wakeup`](super::wakeup)).
//!
//! A history is a few keys under one hash tag, so that a Redis Cluster keeps
//! them together (the fields are in [`append`](super::append)):
//!
//! | key | type | holds |
//! |-----|------|-------|
//! | `<base>:meta` | hash | `seq`, `finished`, and a feed's `epoch` or a resumable stream's `owner`, `cancelled`, `ttl`, `lease` |
//! | `<base>:packets` | stream | one entry per packet ([`entry`](super::entry)) |
//! | `<base>:lease` | string | a resumable stream's lease; a feed never sets it |
//! | `<base>:appended` | channel | each append's notification; the payload is the channel's name |
//!
//! `<base>` is `<prefix>:{<id>}` for a resumable stream and
//! `<prefix>:feed:{<name>}` for a feed.

use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tokio::time::Instant;

use super::Packet;
use super::entry::{self, CorruptEntry, Entry};
use super::wakeup::Wakeup;
use crate::protocol::StreamId;
use crate::redis_conn::RedisConnection;

/// The keys of one history in Redis.
#[derive(Debug)]
pub(crate) struct Keys {
    /// What every key of the history begins with, its hash tag included.
    base: String,
    pub(crate) meta: String,
    pub(crate) packets: String,
    /// A resumable stream's lease; for a feed, a key under the same hash tag
    /// that is never set (the append script names it).
    pub(crate) lease: String,
    /// The channel of the history's append notifications.
    pub(crate) appended: String,
}

impl Keys {
    /// The keys of resumable stream `id`.
    pub(crate) fn stream(prefix: &str, id: StreamId) -> Keys {
        Keys::under(format!("{prefix}:{{{id}}}"))
    }

    /// The keys of feed `name`.
    pub(crate) fn feed(prefix: &str, name: &str) -> Keys {
        Keys::under(format!("{prefix}:feed:{{{name}}}"))
    }

    fn under(base: String) -> Keys {
        Keys {
            meta: format!("{base}:meta"),
            packets: format!("{base}:packets"),
            lease: format!("{base}:lease"),
            appended: format!("{base}:appended"),
            base,
        }
    }

    /// Another key of the history, under its hash tag.
    pub(crate) fn other(&self, what: &str) -> String {
        format!("{}:{what}", self.base)
    }
}

/// The entries of a history read at once, oldest first: each a packet, or
/// what it is instead.
pub(crate) type Entries = Vec<Result<Packet, CorruptEntry>>;

fn decode(entries: Vec<Entry>) -> Entries {
    entries.into_iter().map(entry::decode).collect()
}

/// The last `count` packets of a history, oldest first, and the number of
/// its last packet (`None` when Redis holds no such history).
pub(crate) async fn tail(
    connection: &mut RedisConnection,
    keys: &Keys,
    count: usize,
) -> redis::RedisResult<(Option<u64>, Entries)> {
    let (seq, entries): (Option<u64>, Vec<Entry>) = redis::pipe()
        .cmd("HGET")
        .arg(&keys.meta)
        .arg("seq")
        .cmd("XREVRANGE")
        .arg(&keys.packets)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(count)
        .query_async(connection)
        .await?;
    let entries = entries.into_iter().rev().collect();
    Ok((seq, decode(entries)))
}

/// One reader of a history: it looks at the packets after a number, and
/// between looks waits for the notification of the next append.
pub(crate) struct Reader<'a> {
    keys: &'a Keys,
    notify: Arc<Notify>,
    /// Registered before each look, so that an append between the look and
    /// the wait that follows still wakes the reader.
    appended: Pin<Box<OwnedNotified>>,
}

impl<'a> Reader<'a> {
    /// Begins reading the history at `keys`, woken by `wakeup`. The first
    /// reader of a history on this server waits (until `until` at most) for
    /// its channel to be subscribed, so that no append after its first look
    /// goes unnoticed.
    pub(crate) async fn start(wakeup: &Wakeup, keys: &'a Keys, until: Instant) -> Reader<'a> {
        let (notify, subscribed) = wakeup.waiter(&keys.appended);
        if let Some(subscribed) = subscribed {
            let _ = tokio::time::timeout_at(until, subscribed).await;
        }
        let appended = Box::pin(notify.clone().notified_owned());
        Reader {
            keys,
            notify,
            appended,
        }
    }

    /// The entries after packet `after`, at most `limit` (at least 1). The
    /// first is not always packet `after + 1`: those before it may have been
    /// trimmed.
    pub(crate) async fn look(
        &mut self,
        connection: &mut RedisConnection,
        after: u64,
        limit: usize,
    ) -> redis::RedisResult<Entries> {
        self.arm();
        let entries: Vec<Entry> = self.range(after, limit).query_async(connection).await?;
        Ok(decode(entries))
    }

    /// [`look`](Self::look) at the history under `epoch`: `None` when Redis
    /// holds another epoch, or none (the history read is lost). The epoch is
    /// read in the same round trip, before the packets, so that packets of a
    /// history begun anew are never taken for the old one's.
    pub(crate) async fn look_under(
        &mut self,
        connection: &mut RedisConnection,
        epoch: StreamId,
        after: u64,
        limit: usize,
    ) -> redis::RedisResult<Option<Entries>> {
        self.arm();
        let (held, entries): (Option<String>, Vec<Entry>) = redis::pipe()
            .cmd("HGET")
            .arg(&self.keys.meta)
            .arg("epoch")
            .add_command(self.range(after, limit))
            .query_async(connection)
            .await?;
        if held.as_deref().and_then(|e| e.parse().ok()) != Some(epoch) {
            return Ok(None);
        }
        Ok(Some(decode(entries)))
    }

    /// Registers for the next append before a look.
    fn arm(&mut self) {
        self.appended.set(self.notify.clone().notified_owned());
        self.appended.as_mut().enable();
    }

    /// `XRANGE` of the entries after packet `after`, at most `limit`.
    fn range(&self, after: u64, limit: usize) -> redis::Cmd {
        let mut range = redis::cmd("XRANGE");
        range
            .arg(&self.keys.packets)
            .arg(format!("0-{}", after + 1))
            .arg("+")
            .arg("COUNT")
            .arg(limit.max(1));
        range
    }

    /// Waits until `deadline` at most for an append after the last look;
    /// true when one came. A lost notification only delays the reader until
    /// its deadline.
    pub(crate) async fn appended(&mut self, deadline: Instant) -> bool {
        tokio::time::timeout_at(deadline, self.appended.as_mut())
            .await
            .is_ok()
    }
}
