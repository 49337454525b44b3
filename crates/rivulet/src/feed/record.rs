//! A published packet as a feed keeps it: its number, when it was published,
//! its kind and its JSON, encoded once per wire format when it is sent.

use std::sync::Arc;

use serde_json::value::RawValue;

/// Which packet a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RecordKind {
    /// A published value.
    Progress,
    /// The final packet of a closed feed.
    Done,
}

/// One packet of a feed.
#[derive(Clone, Debug)]
pub(super) struct Record {
    /// 1, 2, 3, … without gaps.
    pub(super) seq: u64,
    /// When it was published, in milliseconds since the Unix epoch.
    pub(super) at: u64,
    pub(super) kind: RecordKind,
    /// Shared by the window and every encoding of the packet.
    pub(super) json: Arc<RawValue>,
}

impl Record {
    pub(super) fn new(seq: u64, at: u64, kind: RecordKind, json: Box<RawValue>) -> Self {
        Record {
            seq,
            at,
            kind,
            json: Arc::from(json),
        }
    }
}
