//! Following a feed: [`Stream::follow`], the request's way in.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::body::FeedBody;
use super::lag::{Ending, Hold, Subscriber};
use super::{Feed, Shared, done_frame, frame};
use crate::error::Error;
use crate::error::refusal::retry_later;
use crate::protocol::Format;
use crate::protocol::{ResumePoint, StreamId, WINDOW_PASSED_MESSAGE};
use crate::request::resume::{self, Kept, Requested, Verdict};
use crate::response::{self, IntoResponse, Response};
use crate::stream::{self, Stream};

/// A request to follow a feed, as the [`Feed::authorize`] hook sees it.
#[derive(Debug)]
pub struct FollowRequest<'a> {
    headers: &'a HeaderMap,
    resume: Option<ResumePoint>,
}

impl FollowRequest<'_> {
    /// The request's headers (cookies, `Authorization`, …).
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }

    /// Where the client resumes, when it comes back with a resume point of
    /// this feed's form.
    pub fn resume_point(&self) -> Option<ResumePoint> {
        self.resume
    }
}

impl Stream {
    /// Answers with the packets of `feed`: every one published from now on,
    /// or, for a client that comes back with `Last-Event-ID`, every one after
    /// the point it names and then the live ones. See [`crate::feed`].
    ///
    /// The resume point comes from `Last-Event-ID` or `?lastEventId=` and
    /// is answered as a resumable stream's is, before any packet: `410 Gone`
    /// when the packets a resuming client missed are no longer kept (unless
    /// the feed skips ahead), `204 No Content` when it already has the final
    /// packet of a closed feed or the point is not one of this feed's epoch,
    /// `400` when it is not a resume point, `503` while the feed's Redis
    /// cannot be reached, and the [`Feed::authorize`] hook's error. A `200`
    /// carries `Rivulet-Stream-Id` (the epoch) and `Rivulet-Resume-Point`.
    ///
    /// The framework-neutral form of `follow` (which the adapters give).
    pub async fn respond_feed(self, feed: &Feed) -> Response {
        let mut limits = match self.admit() {
            Ok(limits) => limits,
            Err(refused) => return *refused,
        };
        let format = self.format();
        let keep_alive = self.config().keep_alive;
        let expose_internal = self.config().expose_internal_errors;
        let permit = limits._permit.take();
        let from = self.resume_from;
        let joined = match subscribe(&feed.shared, from, format, &self.headers, permit) {
            Ok(joined) => joined,
            Err(answer) => return *answer,
        };
        if let Some(id) = joined.id
            && (limits.max_duration.is_some() || limits.shutdown.is_some())
        {
            // Ends the subscriber at its limits; aborted when it ends
            // otherwise (its hold goes).
            let shared = Arc::downgrade(&feed.shared);
            let watcher = tokio::spawn(async move {
                let never = std::future::pending::<std::convert::Infallible>();
                let Err(limit) = limits.bound(never).await;
                if let Some(shared) = shared.upgrade() {
                    let packet = limit.into_packet(expose_internal);
                    let mut state = shared.lock();
                    let at = state.ring.next();
                    state.end(
                        id,
                        Ending {
                            at,
                            frame: frame::error(format, &packet),
                        },
                    );
                }
            });
            let mut state = feed.shared.lock();
            match state.subscribers.get_mut(&id).and_then(|s| s.hold.as_mut()) {
                Some(hold) => hold.watcher = Some(watcher.abort_handle()),
                None => watcher.abort(),
            }
        }
        let body = FeedBody::new(
            feed.shared.clone(),
            joined.id,
            format,
            keep_alive,
            joined.first,
        );
        let mut answer = stream::head(Response::new(response::Body::streaming(body)), format);
        resume::name_history(answer.headers_mut(), joined.epoch, joined.after);
        answer
    }
}

/// A new subscriber: the frames it gets first (what it missed, and for a
/// closed feed its end), and the point they start after.
pub(super) struct Joined {
    pub(super) epoch: StreamId,
    /// The number of the packet its first frame follows; a skip marker
    /// counts as the packets it stands for.
    pub(super) after: u64,
    /// `None` when the feed is closed: `first` ends with its final packet.
    pub(super) id: Option<u64>,
    pub(super) first: Vec<Bytes>,
}

/// Checks the request, takes what it missed and registers it, under the
/// feed's lock: no packet is published in between.
pub(super) fn subscribe(
    feed: &Shared,
    from: Requested,
    format: Format,
    headers: &HeaderMap,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Joined, Box<Response>> {
    let point = match from {
        Requested::Malformed(e) => return Err(Box::new(resume::malformed(e))),
        from => from.point(),
    };
    let hook = feed.lock().authorize.clone();
    if let Some(hook) = hook {
        let request = FollowRequest {
            headers,
            resume: point,
        };
        hook(&request).map_err(|denied| Box::new(denied.into_response()))?;
    }
    let mut state = feed.lock();
    if let Some(message) = state.unavailable {
        return Err(Box::new(retry_later(message)));
    }
    let epoch = state.epoch;
    let last = state.window.last();
    let kept = Kept {
        id: epoch,
        last,
        ended: state.done.is_some(),
        first_kept: state.window.first_kept(),
    };
    let verdict = match point {
        None => Verdict::From(last),
        Some(point) => kept.classify(point),
    };
    let mut first = Vec::new();
    let mut end = None;
    let after = match verdict {
        Verdict::From(after) => {
            // Pruned by age between the two looks: gone after all.
            let Ok(packets) = state.window.after(after) else {
                let gone = Error::new(StatusCode::GONE, WINDOW_PASSED_MESSAGE);
                return Err(Box::new(gone.into_response()));
            };
            for packet in packets {
                let frame = frame::packet(format, epoch, packet);
                if packet.is_final() {
                    end = Some(frame);
                } else {
                    first.push(frame);
                }
            }
            after
        }
        Verdict::HasFinal => return Err(Box::new(resume::no_content())),
        Verdict::Unknown | Verdict::Gone if state.on_lag == super::OnLag::SkipAhead => {
            // The marker stands for the packets between the client's point
            // (when it is one of this feed's) and the last.
            let after = point
                .filter(|point| verdict == Verdict::Gone && point.stream == epoch)
                .map_or(last, |point| point.received);
            first.push(frame::skipped(format, epoch, last, (last - after) as usize));
            after
        }
        Verdict::Unknown => return Err(Box::new(resume::no_content())),
        Verdict::Gone => {
            let gone = Error::new(StatusCode::GONE, WINDOW_PASSED_MESSAGE);
            return Err(Box::new(gone.into_response()));
        }
    };
    if end.is_none() {
        end = done_frame(&state, format);
    }
    if let Some(done) = end {
        first.push(done);
        return Ok(Joined {
            epoch,
            after,
            id: None,
            first,
        });
    }
    let id = state.next_subscriber;
    state.next_subscriber += 1;
    let next = last + 1;
    state.subscribers.insert(
        id,
        Subscriber {
            format,
            next,
            end: None,
            hold: Some(Hold::new(permit)),
        },
    );
    state.cursors.insert((next, id));
    state.formats[frame::slot(format)] += 1;
    Ok(Joined {
        epoch,
        after,
        id: Some(id),
        first,
    })
}
