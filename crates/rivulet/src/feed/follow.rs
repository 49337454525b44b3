//! Following a feed: [`Stream::follow`], the request's way in.

use std::sync::{Arc, Weak};

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};

use super::lag::Subscriber;
use super::window::Beyond;
use super::{Feed, Shared, done_frame, frame};
use crate::error::Error;
use crate::error::refusal::retry_later;
use crate::metrics::ActiveStream;
use crate::protocol::Format;
use crate::protocol::{LAST_EVENT_ID, ResumePoint, WINDOW_PASSED_MESSAGE};
use crate::stream::buffer::{self, End, Reader, Writer};
use crate::stream::handler_task::HandlerTask;
use crate::stream::hold::Held;
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
    pub async fn follow(self, feed: &Feed) -> Response {
        let limits = match self.admit() {
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
        let joined = match subscribe(&feed.shared, from.as_deref(), format, &self.headers) {
            Ok(joined) => joined,
            Err(answer) => return *answer,
        };
        let Some(id) = joined.id else {
            // A closed feed: everything is queued already.
            let task = tokio::spawn(async {}).abort_handle();
            return stream::response(
                joined.rx,
                format,
                keep_alive,
                HandlerTask(task),
                false,
                Held::default(),
            );
        };
        let leave = Leave {
            feed: Arc::downgrade(&feed.shared),
            id,
            _active: ActiveStream::start(),
        };
        let subscriber = Subscriber {
            writer: joined.writer,
            format,
        };
        // Watches the connection: lets the feed forget the subscriber when it
        // leaves (the body aborts this task), and ends it at its limits.
        let task = tokio::spawn(async move {
            let _leave = leave;
            if let Err(limit) = limits.bound(subscriber.writer.closed()).await {
                subscriber.cut_off(limit.into_packet(expose_internal));
            }
        });
        stream::response(
            joined.rx,
            format,
            keep_alive,
            HandlerTask(task.abort_handle()),
            false,
            Held::default(),
        )
    }
}

/// Removes a subscriber from its feed when its connection's watcher ends.
/// Until then the subscriber counts as a running stream, as every other
/// stream does (`rivulet_streams_active`, `rivulet_streams_total`).
struct Leave {
    feed: Weak<Shared>,
    id: u64,
    _active: ActiveStream,
}

impl Drop for Leave {
    fn drop(&mut self) {
        ::metrics::gauge!(crate::metrics::FEED_SUBSCRIBERS).decrement(1.0);
        if let Some(feed) = self.feed.upgrade() {
            feed.remove(self.id);
        }
    }
}

/// A new subscriber's end of its buffer, with what it missed queued.
struct Joined {
    /// `None` when the feed is closed: the buffer holds its end.
    id: Option<u64>,
    writer: Writer,
    rx: Reader,
}

/// Checks the request, queues what it missed and registers it, under the
/// feed's lock: no packet is published in between.
fn subscribe(
    feed: &Shared,
    from: Option<&str>,
    format: Format,
    headers: &HeaderMap,
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
    let mut frames = Vec::new();
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
                    frames.push(packet);
                }
            }
        }
        Err(Beyond) if on_lag == super::OnLag::SkipAhead => {
            let missed = after.map_or(0, |after| last.saturating_sub(after));
            frames.push(frame::skipped(format, epoch, last, missed as usize));
        }
        Err(Beyond) => {
            let gone = Error::new(StatusCode::GONE, WINDOW_PASSED_MESSAGE);
            return Err(Box::new(gone.into_response()));
        }
    }
    if end.is_none() {
        end = done_frame(&state, format);
    }
    let (writer, rx) = buffer::channel(state.buffer + frames.len());
    for packet in &frames {
        writer
            .try_push(packet)
            .expect("the buffer has room for what the client missed");
    }
    if let Some(done) = end {
        writer.finish(End::Done(done));
        return Ok(Joined {
            id: None,
            writer,
            rx,
        });
    }
    let id = state.next_subscriber;
    state.next_subscriber += 1;
    let subscriber = Subscriber {
        writer: writer.clone(),
        format,
    };
    state.subscribers.insert(id, subscriber);
    ::metrics::gauge!(crate::metrics::FEED_SUBSCRIBERS).increment(1.0);
    Ok(Joined {
        id: Some(id),
        writer,
        rx,
    })
}
