//! What the library reports through the `metrics` facade. Install any exporter
//! (the demo uses Prometheus) to see these.

use metrics::{Counter, counter, gauge};

/// Gauge: streams running now: stream handlers, and connections reading a
/// resumable stream whose job they did not start.
pub const STREAMS_ACTIVE: &str = "rivulet_streams_active";
/// Counter: streams started (handlers, and resumed connections).
pub const STREAMS_TOTAL: &str = "rivulet_streams_total";
/// Counter: packets written to connections (progress and final).
pub const PACKETS_TOTAL: &str = "rivulet_packets_total";
/// Counter: streams whose client went away before the final packet; for a
/// resumable stream, when its job is stopped because no client came back.
pub const STREAMS_CANCELLED_TOTAL: &str = "rivulet_streams_cancelled_total";
/// Gauge: requests following a live feed now.
pub const FEED_SUBSCRIBERS: &str = "rivulet_feed_subscribers";
/// Counter: packets published to live feeds (counted once per feed and server).
pub const FEED_PUBLISHED_TOTAL: &str = "rivulet_feed_published_total";
/// Counter: feed subscribers that fell behind (cut off, or skipped ahead).
pub const FEED_LAGGED_TOTAL: &str = "rivulet_feed_lagged_total";

/// Counts a running handler from its start until its future is dropped,
/// whether it finished or was cancelled.
pub(crate) struct ActiveStream(());

impl ActiveStream {
    pub(crate) fn start() -> Self {
        counter!(STREAMS_TOTAL).increment(1);
        gauge!(STREAMS_ACTIVE).increment(1.0);
        ActiveStream(())
    }
}

impl Drop for ActiveStream {
    fn drop(&mut self) {
        gauge!(STREAMS_ACTIVE).decrement(1.0);
    }
}

/// The packet counter, looked up once per stream rather than once per packet.
pub(crate) fn packets() -> Counter {
    counter!(PACKETS_TOTAL)
}

pub(crate) fn cancelled() {
    counter!(STREAMS_CANCELLED_TOTAL).increment(1);
}
