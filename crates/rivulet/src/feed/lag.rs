//! A subscriber as the feed holds it: its cursor into the ring, what it is
//! owed, and what happens when it falls behind.

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::AbortHandle;

use crate::metrics::ActiveStream;
use crate::protocol::Format;

/// What a feed does with a subscriber that has more than the feed's bound
/// ([`Feed::buffer_bytes`](super::Feed::buffer_bytes),
/// [`Feed::buffer`](super::Feed::buffer)) of packets waiting: the publisher
/// never waits for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnLag {
    /// End it with an error packet (status 410) that says so, in place of
    /// its waiting packets. It leaves the feed (its count and its stream
    /// slot) at once. A client that reconnects with `Last-Event-ID` gets what
    /// it missed, if the feed still keeps it. The default.
    #[default]
    CutOff,
    /// Carry on with the packets still kept, after a progress packet
    /// `{"rivulet":"skipped","missed":<n>}` in place of the `n` it lost.
    SkipAhead,
}

/// One subscriber, as the feed holds it until its response body goes.
pub(super) struct Subscriber {
    pub(super) format: Format,
    /// The number of the next packet it takes.
    pub(super) next: u64,
    /// How it ends, once it is told to.
    pub(super) end: Option<Ending>,
    /// What keeps it counted: taken (and dropped) when it ends.
    pub(super) hold: Option<Hold>,
}

/// The last thing a subscriber writes, after the packets before `at`.
pub(super) struct Ending {
    pub(super) at: u64,
    pub(super) frame: Bytes,
}

/// What a following subscriber holds: its place in the subscriber gauge and
/// among running streams, its slot under `max_streams`, and the task that
/// watches its limits. Dropping it lets all of them go.
pub(super) struct Hold {
    pub(super) _permit: Option<OwnedSemaphorePermit>,
    pub(super) _active: ActiveStream,
    pub(super) watcher: Option<AbortHandle>,
}

impl Hold {
    pub(super) fn new(permit: Option<OwnedSemaphorePermit>) -> Self {
        ::metrics::gauge!(crate::metrics::FEED_SUBSCRIBERS).increment(1.0);
        Hold {
            _permit: permit,
            _active: ActiveStream::start(),
            watcher: None,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        ::metrics::gauge!(crate::metrics::FEED_SUBSCRIBERS).decrement(1.0);
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
    }
}
