//! A subscriber's response body: takes the packets after its cursor from the
//! feed's ring, as [`Bytes`] handles to the frames every subscriber of its
//! wire format shares, and hands them to hyper. hyper asks for more only
//! when it has written what it has, so a connection that stops reading holds
//! no more than hyper's own buffer of those handles; the feed ends it when
//! the ring passes its cursor.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::lag::Ending;
use super::{OnLag, Shared, frame};
use crate::metrics;
use crate::protocol::Format;
use crate::stream::encode;

/// The most frames taken from the ring at once, under one lock.
const BATCH: usize = 32;

/// The body of a feed subscriber's response.
pub(crate) struct FeedBody {
    feed: Arc<Shared>,
    /// The subscriber's id; `None` for a closed feed's answer, all in `ready`.
    id: Option<u64>,
    format: Format,
    /// Frames taken, not yet handed to hyper.
    ready: VecDeque<Bytes>,
    /// The last of `ready` ends the response.
    ending: bool,
    finished: bool,
    keep_alive: Option<KeepAlive>,
    packets: ::metrics::Counter,
}

struct KeepAlive {
    interval: Duration,
    frame: Bytes,
    sleep: Pin<Box<Sleep>>,
    last_write: Instant,
}

impl FeedBody {
    /// The body of subscriber `id` (or of a closed feed's answer, `None`),
    /// starting with the frames in `first`.
    pub(super) fn new(
        feed: Arc<Shared>,
        id: Option<u64>,
        format: Format,
        keep_alive: Option<Duration>,
        first: Vec<Bytes>,
    ) -> Self {
        let keep_alive = keep_alive
            .zip(encode::keep_alive(format))
            .map(|(interval, frame)| {
                let now = Instant::now();
                KeepAlive {
                    interval,
                    frame,
                    sleep: Box::pin(tokio::time::sleep_until(now + interval)),
                    last_write: now,
                }
            });
        FeedBody {
            feed,
            id,
            format,
            ready: first.into(),
            ending: id.is_none(),
            finished: false,
            keep_alive,
            packets: metrics::packets(),
        }
    }

    /// Takes the next frames of subscriber `id` from the ring into `ready`,
    /// or registers the body to be woken by the next publish.
    fn take(&mut self, id: u64, cx: &Context<'_>) {
        let mut state = self.feed.lock();
        let state = &mut *state;
        let on_lag = state.on_lag;
        let epoch = state.epoch;
        let Some(subscriber) = state.subscribers.get_mut(&id) else {
            self.ending = true;
            return;
        };
        let from = subscriber.next;
        while self.ready.len() < BATCH {
            if let Some(Ending { at, frame }) = &subscriber.end
                && subscriber.next >= *at
            {
                self.ready.push_back(frame.clone());
                self.ending = true;
                break;
            }
            let first = state.ring.first();
            if subscriber.next < first {
                match (&mut subscriber.end, on_lag) {
                    (Some(ending), _) => subscriber.next = ending.at,
                    (None, OnLag::SkipAhead) => {
                        let missed = (first - subscriber.next) as usize;
                        let marker = frame::skipped(self.format, epoch, first - 1, missed);
                        self.ready.push_back(marker);
                        subscriber.next = first;
                    }
                    (None, OnLag::CutOff) => {
                        // Passed between two publishes' checks: the next one
                        // would find it.
                        subscriber.next = first;
                        subscriber.end = Some(Ending {
                            at: first,
                            frame: fell_behind(self.format),
                        });
                    }
                }
                continue;
            }
            let Some(packet) = state.ring.get(subscriber.next) else {
                break;
            };
            self.ready.push_back(packet.frame(self.format).clone());
            subscriber.next += 1;
            if packet.is_final() {
                self.ending = true;
                break;
            }
        }
        let (next, following) = (subscriber.next, subscriber.end.is_none());
        if self.ending {
            state.release(id);
        } else if following && next != from {
            state.cursors.remove(&(from, id));
            state.cursors.insert((next, id));
        } else if following && !state.cursors.contains(&(next, id)) {
            // Put back after a skip ahead.
            state.cursors.insert((next, id));
        }
        if self.ready.is_empty() && !self.ending {
            match state.waiting.get(&id) {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => {
                    state.waiting.insert(id, cx.waker().clone());
                }
            }
        }
    }

    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let Some(keep_alive) = self.keep_alive.as_mut() else {
            return Poll::Pending;
        };
        loop {
            ready!(keep_alive.sleep.as_mut().poll(cx));
            let due = keep_alive.last_write + keep_alive.interval;
            let now = Instant::now();
            if now >= due {
                keep_alive.last_write = now;
                keep_alive.sleep.as_mut().reset(now + keep_alive.interval);
                return Poll::Ready(keep_alive.frame.clone());
            }
            keep_alive.sleep.as_mut().reset(due);
        }
    }
}

/// The error packet of a subscriber that fell behind.
fn fell_behind(format: Format) -> Bytes {
    let error = crate::error::Error::new(http::StatusCode::GONE, super::FELL_BEHIND_MESSAGE);
    frame::error(format, &error.into_packet(false))
}

impl Body for FeedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if this.ready.is_empty()
            && !this.ending
            && let Some(id) = this.id
        {
            this.take(id, cx);
        }
        if let Some(frame) = this.ready.pop_front() {
            if this.ready.is_empty() && this.ending {
                this.finished = true;
            }
            this.packets.increment(1);
            if let Some(keep_alive) = this.keep_alive.as_mut() {
                keep_alive.last_write = Instant::now();
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        if this.ending {
            this.finished = true;
            return Poll::Ready(None);
        }
        this.poll_keep_alive(cx)
            .map(|frame| Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for FeedBody {
    fn drop(&mut self) {
        if !self.finished {
            metrics::cancelled();
        }
        if let Some(id) = self.id {
            self.feed.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Feed;
    use crate::feed::follow::subscribe;
    use crate::history::Packet;
    use crate::protocol::PacketKind;
    use crate::request::resume::Requested;
    use futures::FutureExt;
    use http_body_util::BodyExt;

    fn join(feed: &Feed, format: Format) -> FeedBody {
        let headers = http::HeaderMap::new();
        let joined = subscribe(&feed.shared, Requested::Start, format, &headers, None).unwrap();
        FeedBody::new(feed.shared.clone(), joined.id, format, None, joined.first)
    }

    /// The next frame the body writes, if it has one now.
    fn next(body: &mut FeedBody) -> Option<Option<Bytes>> {
        let frame = body.frame().now_or_never()?;
        Some(frame.map(|frame| frame.unwrap().into_data().unwrap()))
    }

    /// Publishes `bytes` of JSON and says what the publish did.
    fn publish(feed: &Feed, bytes: usize) -> super::super::Delivered {
        let json = serde_json::value::to_raw_value(&"x".repeat(bytes - 2)).unwrap();
        let mut state = feed.shared.lock();
        let seq = state.window.last() + 1;
        state.deliver(Packet::new(seq, PacketKind::Progress, json))
    }

    #[test]
    fn subscribers_of_a_format_write_the_same_bytes_not_copies() {
        let feed = Feed::new();
        let (mut a, mut b) = (join(&feed, Format::Sse), join(&feed, Format::Sse));
        let mut c = join(&feed, Format::Ndjson);
        feed.publish(1).now_or_never().unwrap().unwrap();
        let (a, b, c) = (next(&mut a), next(&mut b), next(&mut c));
        let (a, b, c) = (
            a.flatten().unwrap(),
            b.flatten().unwrap(),
            c.flatten().unwrap(),
        );
        assert_eq!(a.as_ptr(), b.as_ptr(), "one frame shared by both");
        assert_eq!(&c[..], b"{\"progress\":1}\n");
    }

    #[test]
    fn a_publish_touches_only_waiting_bodies_and_those_it_cuts_off() {
        const STALLED: usize = 1000;
        let feed = Feed::new().buffer_bytes(10_000);
        let mut live = join(&feed, Format::Sse);
        let mut stalled: Vec<FeedBody> = (0..STALLED).map(|_| join(&feed, Format::Sse)).collect();
        assert_eq!(feed.subscribers(), STALLED + 1);
        assert_eq!(next(&mut live), None, "waits for a packet");
        let mut cut_at = None;
        for n in 1..=20 {
            // 1,000 bytes of JSON and about 1,050 of SSE frame: the ring holds 4.
            let delivered = publish(&feed, 1000);
            assert_eq!(delivered.woken, 1, "publish {n} wakes the live body only");
            match delivered.lagged {
                0 => {}
                STALLED if cut_at.is_none() => cut_at = Some(n),
                lagged => panic!("publish {n} found {lagged} behind"),
            }
            assert!(feed.buffered_bytes() <= 10_000);
            assert!(next(&mut live).flatten().is_some());
            assert_eq!(next(&mut live), None);
        }
        assert_eq!(cut_at, Some(5), "cut off when the ring passed them");
        assert_eq!(feed.subscribers(), 1, "the cut off ones left at once");
        // A stalled body that comes back writes the error that ended it.
        let frame = next(&mut stalled[0]).flatten().unwrap();
        assert!(frame.starts_with(b"event: error\ndata: {\"message\":\"this client fell"));
        assert_eq!(next(&mut stalled[0]), Some(None));
    }

    #[test]
    fn a_subscriber_that_skips_ahead_gets_a_marker_then_what_is_kept() {
        let feed = Feed::new().buffer_bytes(2_500).on_lag(OnLag::SkipAhead);
        let mut behind = join(&feed, Format::Ndjson);
        // About 2,000 bytes a packet (JSON and NDJSON frame): the ring keeps 1.
        for _ in 0..5 {
            publish(&feed, 1000);
        }
        let mut frames = Vec::new();
        while let Some(Some(frame)) = next(&mut behind) {
            frames.push(String::from_utf8(frame.to_vec()).unwrap());
        }
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!(
            frames[0],
            "{\"progress\":{\"rivulet\":\"skipped\",\"missed\":4}}\n"
        );
        assert_eq!(feed.subscribers(), 1, "it still follows");
    }
}
