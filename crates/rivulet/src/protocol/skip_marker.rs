//! The skip marker: the progress packet a feed subscriber that skipped ahead
//! gets in place of the packets it lost, `{"rivulet":"skipped","missed":<n>}`.
//! Numbered as the last of them, it counts as `n` packets for a client that
//! counts its way to a resume point.

use serde::{Deserialize, Serialize};

/// The value of a skip marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkipMarker {
    rivulet: Skipped,
    /// How many packets it stands for.
    pub(crate) missed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Skipped {
    Skipped,
}

impl SkipMarker {
    /// The marker standing for `missed` packets.
    pub(crate) fn new(missed: u64) -> Self {
        SkipMarker {
            rivulet: Skipped::Skipped,
            missed,
        }
    }

    /// How many packets a progress packet holding `value` counts as: the
    /// marker's `missed`, 1 for any other value.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn packets_in(value: &serde_json::Value) -> u64 {
        serde_json::from_value::<SkipMarker>(value.clone()).map_or(1, |marker| marker.missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_marker_counts_as_the_packets_it_stands_for() {
        assert_eq!(
            serde_json::to_string(&SkipMarker::new(3)).unwrap(),
            r#"{"rivulet":"skipped","missed":3}"#
        );
        assert_eq!(
            SkipMarker::packets_in(&json!({"rivulet":"skipped","missed":4})),
            4
        );
        assert_eq!(
            SkipMarker::packets_in(&json!({"rivulet":"skipped","missed":0})),
            0
        );
        assert_eq!(
            SkipMarker::packets_in(&json!({"rivulet":"other","missed":4})),
            1
        );
        assert_eq!(SkipMarker::packets_in(&json!({"rivulet":"skipped"})), 1);
        assert_eq!(SkipMarker::packets_in(&json!("skipped")), 1);
    }
}
