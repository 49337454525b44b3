//! Live feeds: one producer, any number of subscribers. A [`Feed`] is
//! published to from anywhere (a handler, a task, a webhook); every request
//! that follows it with [`Stream::follow`](crate::Stream::follow) gets each packet published after it
//! joined, in order, in its own wire format.
//!
//! ```
//! use axum::{Router, extract::State, response::Response, routing::get};
//! use rivulet::{Stream, feed::Feed};
//!
//! async fn watch(stream: Stream, State(feed): State<Feed>) -> Response {
//!     stream.follow(&feed).await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), rivulet::feed::FeedError> {
//! let feed = Feed::new();
//! let app: Router = Router::new().route("/ticker", get(watch)).with_state(feed.clone());
//! feed.publish(serde_json::json!({ "order": 42 })).await?;
//! # Ok(()) }
//! ```
//!
//! How it behaves:
//!
//! * **The publisher never waits.** A publish encodes the packet once per wire
//!   format its subscribers read and pushes it on a ring shared by every
//!   subscriber of the server; each subscriber is a cursor into the ring and
//!   its response takes the same bytes, without a copy. The ring is bounded
//!   ([`Feed::buffer_bytes`], 1 MiB by default, and [`Feed::buffer`]): a
//!   subscriber that has more than that waiting has fallen behind and is cut
//!   off with an error packet (status 410), leaving the subscriber count and
//!   its stream slot at once, or, with [`OnLag::SkipAhead`], carries on after
//!   a marker packet. A publish costs the same however many subscribers have
//!   stopped reading.
//! * **Resume.** A feed keeps its last packets ([`Feed::window_packets`],
//!   [`Feed::window_bytes`], [`Feed::window_duration`]). SSE events carry
//!   ids, so an `EventSource`
//!   that reconnects sends `Last-Event-ID` by itself and gets what it missed,
//!   then the live packets, each once. Every answer names the feed's epoch
//!   (`Rivulet-Stream-Id`) and the point it starts after
//!   (`Rivulet-Resume-Point`), so NDJSON and legacy clients resume too, and
//!   a resume point is answered as a resumable stream's is (one table,
//!   `docs/protocol.md`): `410 Gone` when the feed no longer keeps what the
//!   client missed, `204` for a point of another epoch.
//! * **End.** [`Feed::close`] sends every subscriber a final `done` packet.
//! * **Several servers.** `Feed::redis` (feature `redis`) shares a feed
//!   through Redis: a publish on any server reaches the subscribers of every
//!   server, each server reads Redis once per feed, and resume points are
//!   valid on all of them.
//! * **Who may follow.** [`Feed::authorize`] decides per request.
//!
//! Subscribers get keep-alives, cancellation, the stream limits of their
//! [`Config`](crate::Config) (`max_streams`, `max_duration`, shutdown) and
//! metrics like any stream. The wire side is in `docs/protocol.md` ("Live
//! feeds").

pub(crate) mod body;
mod follow;
mod frame;
mod lag;
#[cfg(feature = "redis")]
mod redis;
mod ring;
mod window;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::history::Packet;
use crate::metrics;
use crate::protocol::{PacketKind, StreamId};

pub use crate::protocol::{
    FEED_STORE_FAILED_MESSAGE, FELL_BEHIND_MESSAGE, HISTORY_LOST_MESSAGE, WINDOW_PASSED_MESSAGE,
};
pub use follow::FollowRequest;
pub use lag::OnLag;
pub use ring::{DEFAULT_FEED_BUFFER, DEFAULT_FEED_BUFFER_BYTES};
pub use window::{DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_PACKETS};

use frame::Encoded;
use lag::{Ending, Subscriber};
use ring::Ring;
use window::Window;

type Authorize = dyn Fn(&FollowRequest<'_>) -> Result<(), Error> + Send + Sync;

/// A live feed. Cheap to clone: clones are the same feed. See the
/// [module docs](self).
#[derive(Clone)]
pub struct Feed {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    #[cfg(feature = "redis")]
    redis: Option<redis::Backend>,
}

struct State {
    /// Written before the number in SSE ids: a resume point of another feed,
    /// or of this one before a restart, is not mistaken for one of its own.
    epoch: StreamId,
    window: Window,
    /// The latest packets, shared by the subscribers on this server.
    ring: Ring,
    subscribers: HashMap<u64, Subscriber>,
    /// The cursors of the subscribers that still follow, oldest first: a
    /// publish finds those that fell behind at the front, without looking at
    /// the others.
    cursors: BTreeSet<(u64, u64)>,
    /// The bodies waiting for the next packet, woken by a publish.
    waiting: HashMap<u64, Waker>,
    /// How many subscribers that still follow read each wire format.
    formats: [usize; 3],
    next_subscriber: u64,
    /// The final packet, once the feed is closed.
    done: Option<Packet>,
    /// Why the feed cannot be followed now (its Redis is gone).
    unavailable: Option<&'static str>,
    on_lag: OnLag,
    authorize: Option<Arc<Authorize>>,
}

/// Why a publish failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FeedError {
    /// The feed is closed: nothing more can be published.
    Closed,
    /// The value does not serialize to JSON.
    Serialize(serde_json::Error),
    /// The feed's backend (Redis) failed.
    Backend(Box<dyn std::error::Error + Send + Sync>),
    /// The feed's history in Redis was lost (Redis restarted empty, or
    /// evicted it): nothing was published. Every server notices, ends its
    /// subscribers with [`HISTORY_LOST_MESSAGE`] and goes on under a new
    /// epoch within a few seconds; publish again then.
    Lost,
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Closed => f.write_str("the feed is closed"),
            FeedError::Serialize(e) => write!(f, "the packet does not serialize to JSON: {e}"),
            FeedError::Backend(e) => write!(f, "the feed's store failed: {e}"),
            FeedError::Lost => f.write_str(
                "the feed's history in its store was lost: it starts again under a new epoch, publish again shortly",
            ),
        }
    }
}

impl std::error::Error for FeedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FeedError::Serialize(e) => Some(e),
            FeedError::Backend(e) => Some(&**e),
            FeedError::Closed | FeedError::Lost => None,
        }
    }
}

impl FeedError {
    /// The answer to a request whose publish failed: `409` for a closed
    /// feed, `500` for a value that is not JSON, and `503` with
    /// `Retry-After` while the store cannot take it (unreachable, or its
    /// history lost and not yet started again). The adapters answer a
    /// `FeedError` a handler returns with this.
    pub fn into_http_response(self) -> crate::response::Response {
        use crate::error::refusal::{refuse, retry_later};
        use http::StatusCode;
        match self {
            FeedError::Closed => refuse(StatusCode::CONFLICT, "the feed is closed"),
            FeedError::Serialize(_) => refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::protocol::INTERNAL_ERROR_MESSAGE,
            ),
            FeedError::Backend(_) => retry_later(FEED_STORE_FAILED_MESSAGE),
            FeedError::Lost => retry_later(HISTORY_LOST_MESSAGE),
        }
    }
}

impl Default for Feed {
    fn default() -> Self {
        Feed::new()
    }
}

impl Feed {
    /// A feed in this process's memory.
    pub fn new() -> Self {
        Feed::from_state(State::new(StreamId::random()))
    }

    fn from_state(state: State) -> Self {
        Feed {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                #[cfg(feature = "redis")]
                redis: None,
            }),
        }
    }

    fn configure(self, change: impl FnOnce(&mut State)) -> Self {
        change(&mut self.shared.lock());
        self
    }

    /// Keeps at most the last `packets` packets for subscribers that resume
    /// (at least 1; default [`DEFAULT_WINDOW_PACKETS`]).
    pub fn window_packets(self, packets: usize) -> Self {
        self.configure(|state| {
            state.window.max_packets = packets.max(1);
            state.window.prune();
        })
    }

    /// Keeps at most about `bytes` of packets for subscribers that resume
    /// (default [`DEFAULT_WINDOW_BYTES`], 64 MiB), each counting its JSON and
    /// a small overhead; the last packet is kept whatever its size. On
    /// Redis, each server's window holds to it (Redis keeps
    /// [`Feed::window_packets`] packets).
    pub fn window_bytes(self, bytes: usize) -> Self {
        self.configure(|state| {
            state.window.max_bytes = bytes;
            state.window.prune();
        })
    }

    /// Keeps packets for resuming no longer than `duration` after they were
    /// published (default: no time bound, only [`Feed::window_packets`] and
    /// [`Feed::window_bytes`]).
    pub fn window_duration(self, duration: Duration) -> Self {
        self.configure(|state| state.window.max_age = Some(duration))
    }

    /// How many packets a subscriber may have waiting (published, not yet
    /// taken by its connection) before it counts as fallen behind (at least
    /// 2; default [`DEFAULT_FEED_BUFFER`]). A resuming subscriber gets the
    /// packets it missed on top.
    pub fn buffer(self, packets: usize) -> Self {
        self.configure(|state| state.ring.max_packets = packets.max(2))
    }

    /// How many bytes of packets a subscriber may have waiting before it
    /// counts as fallen behind (default [`DEFAULT_FEED_BUFFER_BYTES`], 1 MiB).
    /// A packet counts its JSON and its frames in the wire formats the
    /// subscribers read; the latest packet is always kept, whatever its size.
    /// This is also all the memory the server keeps for subscribers that
    /// stopped reading, however many there are: they share one ring.
    pub fn buffer_bytes(self, bytes: usize) -> Self {
        self.configure(|state| state.ring.max_bytes = bytes)
    }

    /// What happens to a subscriber that falls behind (default
    /// [`OnLag::CutOff`]).
    pub fn on_lag(self, on_lag: OnLag) -> Self {
        self.configure(|state| state.on_lag = on_lag)
    }

    /// Decides whether a request may follow the feed; an `Err` is the answer
    /// to the request (`401` or `403` are usual). Without a hook anyone may.
    ///
    /// ```
    /// use rivulet::{Error, feed::Feed};
    /// use http::StatusCode;
    ///
    /// let feed = Feed::new().authorize(|request| {
    ///     match request.headers().get("authorization") {
    ///         Some(token) if token == "Bearer let-me-in" => Ok(()),
    ///         _ => Err(Error::new(StatusCode::FORBIDDEN, "not allowed to follow this feed")),
    ///     }
    /// });
    /// # let _ = feed;
    /// ```
    pub fn authorize<F>(self, hook: F) -> Self
    where
        F: Fn(&FollowRequest<'_>) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.configure(|state| state.authorize = Some(Arc::new(hook)))
    }

    /// Publishes `value` to every subscriber, and returns its number. The
    /// value is serialized at once; the returned future does the rest and never
    /// waits for a subscriber (a Redis feed waits for Redis).
    pub fn publish(
        &self,
        value: impl Serialize,
    ) -> impl Future<Output = Result<u64, FeedError>> + Send + 'static {
        self.append(
            PacketKind::Progress,
            serde_json::value::to_raw_value(&value),
        )
    }

    /// Closes the feed: every subscriber, and every one that joins later, gets
    /// the final `done` packet carrying `value`. Nothing can be published
    /// after it.
    pub fn close(
        &self,
        value: impl Serialize,
    ) -> impl Future<Output = Result<u64, FeedError>> + Send + 'static {
        self.append(PacketKind::Done, serde_json::value::to_raw_value(&value))
    }

    fn append(
        &self,
        kind: PacketKind,
        json: Result<Box<RawValue>, serde_json::Error>,
    ) -> impl Future<Output = Result<u64, FeedError>> + Send + 'static {
        let shared = self.shared.clone();
        async move {
            let json = json.map_err(FeedError::Serialize)?;
            #[cfg(feature = "redis")]
            if let Some(backend) = &shared.redis {
                let (window, epoch) = {
                    let state = shared.lock();
                    (state.window.max_packets, state.epoch)
                };
                return backend.append(epoch, kind, json, window).await;
            }
            let mut state = shared.lock();
            if state.done.is_some() {
                return Err(FeedError::Closed);
            }
            let seq = state.window.last() + 1;
            state.deliver(Packet::new(seq, kind, json));
            Ok(seq)
        }
    }

    /// How many requests follow the feed on this server now. A subscriber
    /// that was cut off no longer counts, even while its connection is open.
    pub fn subscribers(&self) -> usize {
        self.shared.lock().following()
    }

    /// The feed's epoch: the first half of its resume points, drawn when
    /// it was created (for a Redis feed, shared by every server, and drawn
    /// anew when Redis lost its history).
    pub fn epoch(&self) -> StreamId {
        self.shared.lock().epoch
    }

    /// The bytes of packets this server keeps for its subscribers (the
    /// ring's, see [`Feed::buffer_bytes`]).
    pub fn buffered_bytes(&self) -> usize {
        self.shared.lock().ring.bytes()
    }
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("Feed")
            .field("epoch", &state.epoch)
            .field("last", &state.window.last())
            .field("subscribers", &state.following())
            .field("closed", &state.done.is_some())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; if something did, the state
        // is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets subscriber `id`: its response body is gone.
    fn remove(&self, id: u64) {
        let mut state = self.lock();
        state.release(id);
        state.waiting.remove(&id);
        state.subscribers.remove(&id);
    }
}

impl State {
    fn new(epoch: StreamId) -> Self {
        State {
            epoch,
            window: Window::new(),
            ring: Ring::new(),
            subscribers: HashMap::new(),
            cursors: BTreeSet::new(),
            waiting: HashMap::new(),
            formats: [0; 3],
            next_subscriber: 0,
            done: None,
            unavailable: None,
            on_lag: OnLag::default(),
            authorize: None,
        }
    }

    /// How many subscribers still follow.
    fn following(&self) -> usize {
        self.formats.iter().sum()
    }

    /// Publishes `packet`, the one after the last: encodes it once per
    /// wire format its subscribers read, pushes it on the ring, wakes the
    /// bodies that wait for it and ends those that fell behind. Subscribers
    /// that stopped reading cost nothing here unless they are ended now.
    fn deliver(&mut self, packet: Packet) -> Delivered {
        let encoded = Encoded::new(self.epoch, packet.clone());
        for format in crate::Format::ALL {
            if self.formats[frame::slot(format)] > 0 {
                encoded.frame(format);
            }
        }
        self.ring.push(Arc::new(encoded));
        if packet.is_final() {
            self.done = Some(packet.clone());
        }
        let woken = self.waiting.len();
        for (_, waker) in self.waiting.drain() {
            waker.wake();
        }
        let lagged = self.catch_laggards();
        ::metrics::counter!(metrics::FEED_PUBLISHED_TOTAL).increment(1);
        self.window.push(packet);
        Delivered { woken, lagged }
    }

    /// Handles the subscribers whose cursor the ring has passed: they have
    /// more than its bound waiting.
    fn catch_laggards(&mut self) -> usize {
        let first = self.ring.first();
        let mut lagged = 0;
        while let Some(&(next, id)) = self.cursors.first()
            && next < first
        {
            self.cursors.pop_first();
            lagged += 1;
            ::metrics::counter!(metrics::FEED_LAGGED_TOTAL).increment(1);
            match self.on_lag {
                OnLag::CutOff => self.cut_off(id),
                // Its body marks the gap when it next takes packets, and
                // puts its cursor back then.
                OnLag::SkipAhead => {}
            }
        }
        lagged
    }

    /// Ends subscriber `id`, which fell behind, with the error that says so.
    fn cut_off(&mut self, id: u64) {
        let error = Error::new(http::StatusCode::GONE, FELL_BEHIND_MESSAGE).into_packet(false);
        let Some(subscriber) = self.subscribers.get(&id) else {
            return;
        };
        let frame = frame::error(subscriber.format, &error);
        let at = subscriber.next;
        self.end(id, Ending { at, frame });
    }

    /// Ends subscriber `id` with `ending`, and lets it go at once: it leaves
    /// the subscriber gauge and frees its stream slot, while its connection
    /// writes what it still gets.
    fn end(&mut self, id: u64, ending: Ending) {
        let Some(subscriber) = self.subscribers.get_mut(&id) else {
            return;
        };
        if subscriber.end.is_none() {
            subscriber.end = Some(ending);
        }
        self.release(id);
        if let Some(waker) = self.waiting.remove(&id) {
            waker.wake();
        }
    }

    /// Stops counting subscriber `id` as following.
    fn release(&mut self, id: u64) {
        let Some(subscriber) = self.subscribers.get_mut(&id) else {
            return;
        };
        if subscriber.hold.take().is_some() {
            self.formats[frame::slot(subscriber.format)] -= 1;
        }
        self.cursors.remove(&(subscriber.next, id));
        if subscriber.end.is_some() {
            return;
        }
        self.waiting.remove(&id);
    }

    /// Ends every subscriber with an error, after the packets published so
    /// far: the feed cannot go on for now.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn fail_all(&mut self, error: impl Fn() -> Error) {
        let at = self.ring.next();
        let ids: Vec<u64> = self
            .subscribers
            .iter()
            .filter(|(_, s)| s.end.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let format = self.subscribers[&id].format;
            let frame = frame::error(format, &error().into_packet(false));
            self.end(id, Ending { at, frame });
        }
    }
}

impl State {
    /// The feed's history in its store was lost: ends every subscriber with
    /// an error saying so (their unread packets go with the ring), and
    /// starts again, empty, under `epoch`: no number names two packets.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn lose(&mut self, epoch: StreamId) {
        self.fail_all(|| {
            Error::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                HISTORY_LOST_MESSAGE,
            )
        });
        for subscriber in self.subscribers.values_mut() {
            if let Some(ending) = &subscriber.end {
                subscriber.next = subscriber.next.max(ending.at);
            }
        }
        self.ring.restart();
        self.window.restart_at(0);
        self.done = None;
        self.epoch = epoch;
    }
}

/// What a publish did, for the tests that check its cost.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
struct Delivered {
    /// Bodies woken: those that waited for the packet.
    woken: usize,
    /// Subscribers found to have fallen behind.
    lagged: usize,
}

/// The frame of the final packet of a closed feed, for a subscriber in
/// `format`.
fn done_frame(state: &State, format: crate::Format) -> Option<Bytes> {
    let done = state.done.as_ref()?;
    Some(frame::packet(format, state.epoch, done))
}
