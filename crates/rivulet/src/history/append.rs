//! The one append of a stored packet in Redis, for resumable streams and
//! feeds alike: one Lua script checks where the packet goes, adds its entry
//! (written as [`entry`](super::entry) reads it), moves the history's
//! counter and, for a history kept for a time, its expiries, all at once, so
//! that a packet is stored exactly once even when an append is retried.
//!
//! A history is two keys under one hash tag (so that a Redis Cluster keeps
//! them together), and a third that only a resumable stream sets
//! ([`Keys`]):
//!
//! | key | type | fields the append reads and writes |
//! |-----|------|------------------------------------|
//! | `meta` | hash | `seq`: the number of the last packet; `finished`: `1` once the final packet is stored; `epoch`: a feed's epoch; `ttl` and `lease` (ms): how long a resumable stream is kept |
//! | `packets` | stream | one entry per packet: id `0-<seq>`, fields `k`, `d`, `t` |
//! | `lease` | string | exists while a resumable stream's producer renews it |
//!
//! The two kinds of history differ only in what they ask of the append: a
//! resumable stream's producer numbers its packets itself (a retry of a
//! number already stored does nothing), a feed's publish takes the next
//! number and names the epoch it follows (a Redis that lost the history
//! refuses it).

use std::sync::LazyLock;

use redis::Script;

use super::redis::Keys;
use super::{Packet, entry};
use crate::protocol::StreamId;
use crate::redis_conn::RedisConnection;

/// Appends one packet, reading the history's `meta` in one `HMGET`. KEYS:
/// meta, packets, lease. ARGV: seq (0 for the next one), kind, data, time
/// (ms), max packets kept, expected epoch (empty: not checked), only when
/// the lease has run out (0|1), notification command (`PUBLISH`, `SPUBLISH`
/// on a cluster, or empty for none) and its channel, whose name is the
/// payload.
///
/// Returns the packet's number when appended, 0 when it was already there,
/// -1 for an unknown history, -2 for a packet out of order or after the
/// final one, -3 when the lease runs while it should not, -4 when Redis
/// holds another epoch (or none).
const APPEND: &str = r"
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'finished', 'ttl', 'lease')
if ARGV[6] ~= '' and meta[1] ~= ARGV[6] then return -4 end
if not meta[2] then return -1 end
local last = tonumber(meta[2])
local seq = tonumber(ARGV[1])
if seq == 0 then seq = last + 1 end
if seq <= last then return 0 end
if seq ~= last + 1 or meta[3] == '1' then return -2 end
if ARGV[7] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return -3 end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[5], '0-' .. seq, 'k', ARGV[2], 'd', ARGV[3], 't', ARGV[4])
local final = ARGV[2] ~= 'progress'
if final then
  redis.call('HSET', KEYS[1], 'seq', seq, 'finished', '1')
else
  redis.call('HSET', KEYS[1], 'seq', seq)
end
if meta[4] then
  local ttl = tonumber(meta[4])
  if not final then ttl = ttl + tonumber(meta[5]) end
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if ARGV[8] ~= '' then redis.call(ARGV[8], ARGV[9], ARGV[9]) end
return seq
";

static APPEND_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(APPEND));

/// Where the packet may go.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rule {
    /// Packet `packet.seq`, the one after the last (a resumable stream's
    /// producer).
    Numbered,
    /// Packet `packet.seq` of a stream whose producer is gone: only once its
    /// lease has run out.
    Lost,
    /// The next packet, whatever `packet.seq` says, of the history under
    /// this epoch (a feed's publish).
    Next(StreamId),
}

/// What the append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored under this number.
    Stored(u64),
    /// A packet under that number was there already (a retried append).
    AlreadyThere,
    /// Redis holds no such history.
    Unknown,
    /// Not the next packet, or the history has its final packet.
    Refused,
    /// [`Rule::Lost`] while the lease runs.
    LeaseRuns,
    /// [`Rule::Next`] of an epoch Redis does not hold: the history was lost,
    /// or begun anew.
    OtherEpoch,
}

/// Appends `packet` to the history at `keys`, keeping at most `max_packets`,
/// and when it was stored notifies the readers that wait on it
/// ([`wakeup`](super::wakeup)) with `publish` (`PUBLISH`, or `SPUBLISH` on a
/// cluster) on the history's channel.
pub(crate) async fn append(
    connection: &mut RedisConnection,
    keys: &Keys,
    packet: &Packet,
    rule: Rule,
    max_packets: usize,
    publish: &str,
) -> redis::RedisResult<Appended> {
    let (seq, epoch) = match rule {
        Rule::Numbered | Rule::Lost => (packet.seq, String::new()),
        Rule::Next(epoch) => (0, epoch.to_string()),
    };
    let answer: i64 = APPEND_SCRIPT
        .key(&keys.meta)
        .key(&keys.packets)
        .key(&keys.lease)
        .arg(seq)
        .arg(packet.kind.name())
        .arg(packet.data.get())
        .arg(entry::millis(packet.at))
        .arg(max_packets.max(1))
        .arg(epoch)
        .arg(u8::from(matches!(rule, Rule::Lost)))
        .arg(publish)
        .arg(&keys.appended)
        .invoke_async(connection)
        .await?;
    Ok(match answer {
        0 => Appended::AlreadyThere,
        -1 => Appended::Unknown,
        -3 => Appended::LeaseRuns,
        -4 => Appended::OtherEpoch,
        seq if seq > 0 => Appended::Stored(seq as u64),
        _ => Appended::Refused,
    })
}
