//! Where resumable streams keep their packets: the [`Store`] trait, what it
//! knows of a stream ([`Status`]) and how it fails ([`StoreError`]). What it
//! keeps is the one stored packet of every history, [`Packet`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::history::Packet;
use crate::protocol::{FULL_MESSAGE, StreamId};

/// What a store knows about a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The owner tag given when the stream was created, for the authorization
    /// check on resume.
    pub owner: Option<String>,
    /// The number of the last packet appended (0 before the first).
    pub last: u64,
    /// The final packet has been appended.
    pub finished: bool,
    /// The producer renewed its lease recently enough: its job is still running.
    pub producer_alive: bool,
    /// A client was connected within the grace period (see [`Store::touch`]).
    pub watched: bool,
    /// A client asked for the job to stop (see [`Store::cancel`]): the
    /// producer stops it and ends the stream with the cancelled packet.
    pub cancelled: bool,
}

/// Why a store could not do what was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The packets a reader asked for are no longer kept: the store's bounds
    /// evicted them. `first_kept` is the oldest packet still there (0 if none).
    Evicted {
        /// The number of the oldest packet still kept.
        first_kept: u64,
    },
    /// The stream is not in the store (never created, expired, or evicted).
    Unknown,
    /// [`Store::create`] with the id of a stream whose job still runs.
    Exists,
    /// [`Store::append`] of a packet that is not the next one: a gap after
    /// the last packet stored, or a packet after the final one.
    OutOfOrder {
        /// The number of the packet appended.
        seq: u64,
    },
    /// The store is full of streams whose producers run: a new stream is
    /// refused rather than one of those evicted. Answered `503` with
    /// `Retry-After`.
    Full,
    /// The backend failed (a lost Redis connection, say).
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Evicted { first_kept: 0 } => {
                f.write_str("the packets of this stream are no longer kept")
            }
            StoreError::Evicted { first_kept } => write!(
                f,
                "packets before {first_kept} of this stream are no longer kept"
            ),
            StoreError::Unknown => f.write_str("no such stream"),
            StoreError::Exists => f.write_str("a stream with this id exists"),
            StoreError::OutOfOrder { seq } => {
                write!(f, "packet {seq} is not the next one of its stream")
            }
            StoreError::Full => f.write_str(FULL_MESSAGE),
            StoreError::Backend(e) => write!(f, "the stream store failed: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Keeps the packets of resumable streams so that any connection (on this
/// server, or on another one sharing the store) can replay and follow them.
///
/// Two implementations come with Rivulet: [`MemoryStore`](super::MemoryStore)
/// for one server, and `RedisStore` (feature `redis`) for
/// several. A stream goes through these calls:
///
/// * the producer (the server running the job) calls [`create`](Store::create),
///   then [`append`](Store::append) for every packet in order, and
///   [`renew`](Store::renew) its lease while the job runs;
/// * every connection serving the stream calls [`touch`](Store::touch) while it
///   is open and [`read`](Store::read) to get packets;
/// * a client that cancels the stream, on any server, calls
///   [`cancel`](Store::cancel); the producer sees it in the status it checks
///   and stops the job;
/// * a reader that finds the producer's lease run out before the final
///   packet calls [`end_lost`](Store::end_lost), so that every reader, now
///   and later, gets the same final packet;
/// * [`status`](Store::status) tells whether a stream exists, has finished, still
///   has a live producer and a client.
///
/// Times are durations from now; a store keeps each deadline in its own clock.
pub trait Store: Send + Sync + 'static {
    /// Registers a new stream whose producer holds a lease for `lease`. Once
    /// finished, or once its producer's lease has run out, the stream is kept
    /// for `ttl`, then removed.
    ///
    /// A stream under the same id whose job has ended (finished, or its
    /// producer's lease run out) is replaced: its packets are dropped, so that
    /// a [named](StreamId::named) stream can carry one job after another.
    /// Fails with [`StoreError::Exists`] while that stream's producer runs.
    fn create(
        &self,
        stream: StreamId,
        owner: Option<&str>,
        lease: Duration,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends `packet`, whose `seq` is one more than the last appended; a
    /// final packet finishes the stream. Appending a `seq` that is already
    /// there does nothing (a retried append). Fails with
    /// [`StoreError::Unknown`] or [`StoreError::Evicted`] when the stream is
    /// gone: its job should stop.
    fn append(
        &self,
        stream: StreamId,
        packet: Packet,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The producer is alive for `lease` more.
    fn renew(
        &self,
        stream: StreamId,
        lease: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A client is connected: the stream counts as watched for `grace` more.
    fn touch(
        &self,
        stream: StreamId,
        grace: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The stream's state, or `None` if the store does not have it.
    fn status(
        &self,
        stream: StreamId,
    ) -> impl Future<Output = Result<Option<Status>, StoreError>> + Send;

    /// Marks the stream cancelled ([`Status::cancelled`]) when its job still
    /// runs: not finished, and its producer's lease not run out. True when
    /// it was marked; false when nothing runs under that id (finished,
    /// abandoned, expired or unknown).
    fn cancel(&self, stream: StreamId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Appends `packet`, a final packet, for a producer that is gone: only
    /// when the stream is not finished, its producer's lease has run out and
    /// `packet.seq` is the next number, all checked at once with the append.
    /// True when appended; false when the producer is alive after all or the
    /// stream has ended meanwhile (its reader reads again).
    fn end_lost(
        &self,
        stream: StreamId,
        packet: Packet,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The packets after number `after`, in order, at most `limit` of them.
    /// When there are none yet, waits up to `wait` for some to be appended and
    /// returns an empty list if none came. Fails with
    /// [`StoreError::Evicted`] when packet `after + 1` is no longer kept.
    fn read(
        &self,
        stream: StreamId,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Packet>, StoreError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`Store`] made object-safe, so that [`Resume`](super::Resume) can hold any
/// store behind one type.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn create<'a>(
        &'a self,
        stream: StreamId,
        owner: Option<&'a str>,
        lease: Duration,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// [`Store::append`] of each of `packets` in turn, in one future: a
    /// producer stores a batch of packets for one allocation, not one per
    /// packet.
    fn append_all<'a>(
        &'a self,
        stream: StreamId,
        packets: &'a [Packet],
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn renew(&self, stream: StreamId, lease: Duration) -> BoxFuture<'_, Result<(), StoreError>>;
    fn touch(&self, stream: StreamId, grace: Duration) -> BoxFuture<'_, Result<(), StoreError>>;
    fn status(&self, stream: StreamId) -> BoxFuture<'_, Result<Option<Status>, StoreError>>;
    fn cancel(&self, stream: StreamId) -> BoxFuture<'_, Result<bool, StoreError>>;
    fn end_lost(&self, stream: StreamId, packet: Packet)
    -> BoxFuture<'_, Result<bool, StoreError>>;
    fn read(
        &self,
        stream: StreamId,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Packet>, StoreError>>;
}

impl<S: Store> DynStore for S {
    fn create<'a>(
        &'a self,
        stream: StreamId,
        owner: Option<&'a str>,
        lease: Duration,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::create(self, stream, owner, lease, ttl))
    }
    fn append_all<'a>(
        &'a self,
        stream: StreamId,
        packets: &'a [Packet],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            for packet in packets {
                Store::append(self, stream, packet.clone()).await?;
            }
            Ok(())
        })
    }
    fn renew(&self, stream: StreamId, lease: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(Store::renew(self, stream, lease))
    }
    fn touch(&self, stream: StreamId, grace: Duration) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(Store::touch(self, stream, grace))
    }
    fn status(&self, stream: StreamId) -> BoxFuture<'_, Result<Option<Status>, StoreError>> {
        Box::pin(Store::status(self, stream))
    }
    fn cancel(&self, stream: StreamId) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(Store::cancel(self, stream))
    }
    fn end_lost(
        &self,
        stream: StreamId,
        packet: Packet,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(Store::end_lost(self, stream, packet))
    }
    fn read(
        &self,
        stream: StreamId,
        after: u64,
        limit: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Packet>, StoreError>> {
        Box::pin(Store::read(self, stream, after, limit, wait))
    }
}
