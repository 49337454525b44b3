//! Following a feed: [`Stream::follow`], the request's way in.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use tokio::sync::OwnedSemaphorePermit;

use super::body::FeedBody;
use super::lag::{Ending, Hold, Subscriber};
use super::window::Beyond;
use super::{Feed, Shared, done_frame, frame};
use crate::error::Error;
use crate::error::refusal::retry_later;
use crate::protocol::Format;
use crate::protocol::{LAST_EVENT_ID, ResumePoint, WINDOW_PASSED_MESSAGE};
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
    /// Answered before any packet: `410 Gone` when the packets a resuming
    /// client missed are no longer kept (unless the feed skips ahead),
    /// `204 No Content` when it already has the final packet of a closed
    /// feed, `503` while the feed's Redis cannot be reached, and the
    /// [`Feed::authorize`] hook's error.
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
        let from = self
            .headers
            .get(LAST_EVENT_ID)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let permit = limits._permit.take();
        let joined = match subscribe(&feed.shared, from.as_deref(), format, &self.headers, permit) {
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
        stream::head(Response::new(response::Body::feed(body)), format)
    }
}

/// A new subscriber: the frames it gets first (what it missed, and for a
/// closed feed its end).
pub(super) struct Joined {
    /// `None` when the feed is closed: `first` ends with its final packet.
    pub(super) id: Option<u64>,
    pub(super) first: Vec<Bytes>,
}

/// Checks the request, takes what it missed and registers it, under the
/// feed's lock: no packet is published in between.
pub(super) fn subscribe(
    feed: &Shared,
    from: Option<&str>,
    format: Format,
    headers: &HeaderMap,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Joined, Box<Response>> {
    let point = from.map(str::parse::<ResumePoint>);
    let hook = feed.lock().authorize.clone();
    if let Some(hook) = hook {
        let request = FollowRequest {
            headers,
            resume: point.and_then(Result::ok),
        };
        hook(&request).map_err(|denied| Box::new(denied.into_response()))?;
    }
    let mut state = feed.lock();
    if let Some(message) = state.unavailable {
        return Err(Box::new(retry_later(message)));
    }
    let epoch = state.epoch;
    let last = state.window.last();
    let on_lag = state.on_lag;
    let after = match point {
        None => Some(last),
        Some(Ok(ResumePoint { stream, received })) if stream == epoch => Some(received),
        Some(_) => None,
    };
    if point.is_some() && state.done.is_some() && after == Some(last) {
        // The client has the final packet already.
        return Err(Box::new(StatusCode::NO_CONTENT.into_response()));
    }
    let mut first = Vec::new();
    let mut end = None;
    match after
        .ok_or(Beyond)
        .and_then(|after| state.window.after(after))
    {
        Ok(records) => {
            for record in records {
                let packet = frame::record(format, epoch, record);
                if record.kind().is_final() {
                    end = Some(packet);
                } else {
                    first.push(packet);
                }
            }
        }
        Err(Beyond) if on_lag == super::OnLag::SkipAhead => {
            let missed = after.map_or(0, |after| last.saturating_sub(after));
            first.push(frame::skipped(format, epoch, last, missed as usize));
        }
        Err(Beyond) => {
            let gone = Error::new(StatusCode::GONE, WINDOW_PASSED_MESSAGE);
            return Err(Box::new(gone.into_response()));
        }
    }
    if end.is_none() {
        end = done_frame(&state, format);
    }
    if let Some(done) = end {
        first.push(done);
        return Ok(Joined { id: None, first });
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
        id: Some(id),
        first,
    })
}
