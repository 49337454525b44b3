//! The one codec of a stored packet in a Redis stream, used by resumable
//! streams and feeds alike: entry id `0-<seq>`, fields `k` (the packet's kind),
//! `d` (its JSON) and `t` (when it was sent, ms since the Unix epoch; an
//! entry without it counts as sent at the Unix epoch). An entry that is not one is a typed
//! [`CorruptEntry`], never a string.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;

use super::Packet;
use crate::protocol::PacketKind;

/// A stream entry as Redis answers `XRANGE` and `XREVRANGE`: its id
/// and its fields.
pub(crate) type Entry = (String, Vec<(String, String)>);

/// A packet entry of a stream in Redis that Rivulet did not write (or that
/// was damaged): reading it fails with a backend error holding this
/// ([`StoreError::Backend`](crate::resume::StoreError::Backend) for a
/// resumable stream, [`FeedError::Backend`](crate::feed::FeedError::Backend)
/// for a feed).
///
/// ```
/// use rivulet::history::CorruptEntry;
///
/// let e = CorruptEntry::NotAPacket { id: "0-3".into() };
/// assert_eq!(e.to_string(), "stream entry 0-3 is not a packet");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptEntry {
    /// The entry's id is not `0-<packet number>`.
    Id {
        /// The entry's id.
        id: String,
    },
    /// The entry lacks a known kind (field `k`) or valid JSON (field `d`).
    NotAPacket {
        /// The entry's id.
        id: String,
    },
}

impl fmt::Display for CorruptEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptEntry::Id { id } => write!(f, "unexpected stream entry id {id}"),
            CorruptEntry::NotAPacket { id } => write!(f, "stream entry {id} is not a packet"),
        }
    }
}

impl std::error::Error for CorruptEntry {}

/// The value of field `t`: `at` in milliseconds since the Unix epoch.
pub(crate) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A stored packet.
pub(crate) fn decode((id, fields): Entry) -> Result<Packet, CorruptEntry> {
    let Some(seq) = id
        .strip_prefix("0-")
        .and_then(|seq| seq.parse::<u64>().ok())
    else {
        return Err(CorruptEntry::Id { id });
    };
    let (mut kind, mut data, mut at) = (None, None, None);
    for (field, value) in fields {
        match field.as_str() {
            "k" => kind = PacketKind::from_name(&value),
            "d" => data = RawValue::from_string(value).ok(),
            "t" => at = value.parse().ok(),
            _ => {}
        }
    }
    match (kind, data) {
        (Some(kind), Some(data)) => Ok(Packet {
            at: UNIX_EPOCH + Duration::from_millis(at.unwrap_or(0)),
            ..Packet::new(seq, kind, data)
        }),
        _ => Err(CorruptEntry::NotAPacket { id }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, fields: &[(&str, &str)]) -> Entry {
        let fields = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        (id.to_owned(), fields)
    }

    #[test]
    fn entries_decode_to_packets_or_a_typed_error() {
        let packet = decode(entry("0-7", &[("k", "done"), ("d", "[1]"), ("t", "12")])).unwrap();
        assert_eq!(
            (packet.seq, packet.kind, packet.data.get()),
            (7, PacketKind::Done, "[1]")
        );
        assert_eq!(millis(packet.at), 12);
        let packet = decode(entry("0-1", &[("k", "progress"), ("d", "1")])).unwrap();
        assert_eq!(packet.at, UNIX_EPOCH);
        assert_eq!(
            decode(entry("5-1", &[("k", "progress"), ("d", "1")])).unwrap_err(),
            CorruptEntry::Id { id: "5-1".into() }
        );
        for fields in [
            &[("k", "progress")][..],
            &[("k", "nonsense"), ("d", "1")],
            &[("k", "progress"), ("d", "{not json")],
        ] {
            assert_eq!(
                decode(entry("0-2", fields)).unwrap_err(),
                CorruptEntry::NotAPacket { id: "0-2".into() }
            );
        }
    }
}
