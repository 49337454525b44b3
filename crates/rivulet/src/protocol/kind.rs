//! The three kinds of packet: progress, then one final `done` or `error`.

use serde::{Deserialize, Serialize};

/// What a packet is: a progress packet, or one of the two final packets.
///
/// Its [`name`](PacketKind::name) is the NDJSON key and the SSE event name of
/// the final packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacketKind {
    /// A progress packet: any number of them, before the final packet.
    Progress,
    /// The final packet of a stream that succeeded.
    Done,
    /// The final packet of a stream that failed: it holds the error object.
    Error,
}

impl PacketKind {
    /// `"progress"`, `"done"` or `"error"`.
    pub fn name(self) -> &'static str {
        match self {
            PacketKind::Progress => "progress",
            PacketKind::Done => "done",
            PacketKind::Error => "error",
        }
    }

    /// The kind [`name`](PacketKind::name) names.
    pub fn from_name(name: &str) -> Option<PacketKind> {
        match name {
            "progress" => Some(PacketKind::Progress),
            "done" => Some(PacketKind::Done),
            "error" => Some(PacketKind::Error),
            _ => None,
        }
    }

    /// True for `Done` and `Error`: nothing follows them.
    pub fn is_final(self) -> bool {
        self != PacketKind::Progress
    }
}
