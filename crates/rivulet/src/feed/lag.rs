//! A subscriber's end of a feed: its bounded buffer, and what happens when it
//! falls behind.

use bytes::Bytes;
use http::StatusCode;

use super::frame;
use crate::error::Error;
use crate::protocol::ErrorPacket;
use crate::protocol::Format;
use crate::protocol::{FELL_BEHIND_MESSAGE, StreamId};
use crate::stream::buffer::{End, Refused, Writer};

/// The default [`Feed::buffer`](super::Feed::buffer): packets a subscriber may
/// have waiting before it counts as fallen behind.
pub const DEFAULT_FEED_BUFFER: usize = 256;

/// What a feed does with a subscriber whose buffer is full when a packet is
/// published: the publisher never waits for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnLag {
    /// Drop its waiting packets and end it with an error packet (status 410)
    /// that says so. A client that reconnects with `Last-Event-ID` gets what it
    /// missed, if the feed still keeps it. The default.
    #[default]
    CutOff,
    /// Drop its waiting packets and carry on with the new ones, after a
    /// progress packet `{"rivulet":"skipped","missed":<n>}` in place of the `n`
    /// it lost.
    SkipAhead,
}

/// One subscriber, as the feed holds it.
pub(super) struct Subscriber {
    pub(super) writer: Writer,
    pub(super) format: Format,
}

/// Whether a subscriber stays after an offer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kept {
    Yes,
    /// It left, or was cut off: the feed lets it go.
    No,
}

impl Subscriber {
    /// Queues `packet`, number `seq`, without waiting; a full buffer is
    /// handled as `on_lag` says.
    pub(super) fn offer(&self, packet: &Bytes, seq: u64, epoch: StreamId, on_lag: OnLag) -> Kept {
        match self.writer.try_push(packet) {
            Ok(()) => Kept::Yes,
            Err(Refused::Closed) => Kept::No,
            Err(Refused::Full) => {
                ::metrics::counter!(crate::metrics::FEED_LAGGED_TOTAL).increment(1);
                let missed = self.writer.discard();
                match on_lag {
                    OnLag::CutOff => {
                        let error = Error::new(StatusCode::GONE, FELL_BEHIND_MESSAGE);
                        self.cut_off(error.into_packet(false));
                        Kept::No
                    }
                    OnLag::SkipAhead => {
                        let marker = frame::skipped(self.format, epoch, seq - 1, missed);
                        if self.writer.try_push(&marker).is_err()
                            || self.writer.try_push(packet).is_err()
                        {
                            return Kept::No;
                        }
                        Kept::Yes
                    }
                }
            }
        }
    }

    /// Ends this subscriber with the final packet of a closed feed.
    pub(super) fn finish(&self, done: Bytes) {
        self.writer.finish(End::Done(done));
    }

    /// Ends this subscriber with the error `packet`, after what it has waiting.
    pub(super) fn cut_off(&self, packet: ErrorPacket) {
        let frame = frame::error(self.format, &packet);
        self.writer.finish(End::Failed { packet, frame });
    }
}
