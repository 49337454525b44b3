//! The handler's end of a stream.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, ready};

use serde::Serialize;

use crate::error::SendError;
use crate::protocol::ErrorPacket;
use crate::protocol::Format;
use crate::protocol::PacketKind as Kind;
use crate::stream::buffer::{End, Refused, Writer};
use crate::stream::encode::{self, EventId};
use crate::stream::record::{Record, Records};

thread_local! {
    /// Where packets are encoded before they are copied into their stream's
    /// buffer: one per thread and reused, so that encoding allocates nothing,
    /// and the buffer's lock is not held while a value serializes.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// What a thread keeps of its scratch buffer after encoding a huge packet.
const SCRATCH_KEEP: usize = 64 * 1024;

/// A send waiting for room in the buffer.
type Waiting<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Sends packets to the client. Cheap to clone; clones can move into spawned
/// tasks or blocking work ([`Sender::blocking_send`]).
///
/// ```no_run
/// # async fn demo(tx: rivulet::Sender) -> Result<(), rivulet::SendError> {
/// tx.send("text").await?;
/// tx.send(42).await?;
/// tx.send(serde_json::json!({ "done": 3, "total": 10 })).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sender {
    tx: Tx,
}

/// Where a sender's packets go.
#[derive(Clone)]
pub(crate) enum Tx {
    /// A response body: packets are encoded in the client's format.
    Frames(Writer),
    /// A resumable stream's producer: packets are typed records for the
    /// store, which every connection encodes in its own format.
    Records(Writer<Records>),
}

impl From<Writer> for Tx {
    fn from(writer: Writer) -> Self {
        Tx::Frames(writer)
    }
}

impl From<Writer<Records>> for Tx {
    fn from(writer: Writer<Records>) -> Self {
        Tx::Records(writer)
    }
}

/// What every sender of one stream shares besides its buffer. Kept in the
/// buffer's shared state ([`Writer::sending`]), so that a stream makes one
/// allocation for both and a sender is one pointer.
#[derive(Debug, Default)]
pub(crate) struct Sending {
    /// What the client that started the stream asked for.
    format: Format,
    next_id: AtomicU64,
    max_packet_bytes: usize,
    /// Internal errors end the stream with their message (see
    /// [`Config::expose_internal_errors`](crate::Config::expose_internal_errors)).
    expose_internal: bool,
}

impl Sending {
    pub(crate) fn new(format: Format, max_packet_bytes: usize, expose_internal: bool) -> Self {
        Sending {
            format,
            next_id: AtomicU64::new(1),
            max_packet_bytes,
            expose_internal,
        }
    }
}

impl Sender {
    /// The sender writing to `tx`, whose buffer was made with the stream's
    /// [`Sending`].
    pub(crate) fn new(tx: impl Into<Tx>) -> Self {
        Sender { tx: tx.into() }
    }

    /// Whether an internal error ends this stream with its own message.
    pub(crate) fn expose_internal(&self) -> bool {
        self.shared().expose_internal
    }

    fn shared(&self) -> &Sending {
        match &self.tx {
            Tx::Frames(tx) => tx.sending(),
            Tx::Records(tx) => tx.sending(),
        }
    }

    /// Sends one packet: any value that serializes to JSON. Waits while the
    /// stream's buffer is full (the client reads slower than the handler sends);
    /// fails with [`SendError::Closed`] once the client has gone away.
    // A poll function rather than an async fn: the async fn's state machine
    // cost a saturated stream 7% more server CPU per packet (165 ns against
    // 154, `rivulet-bench throughput --profile rivulet`).
    pub fn send<'a, T: Serialize + 'a>(
        &'a self,
        value: T,
    ) -> impl Future<Output = Result<(), SendError>> + 'a {
        let mut value = Some(value);
        let mut waiting: Option<Waiting<'a>> = None;
        std::future::poll_fn(move |cx| {
            if let Some(waiting) = &mut waiting {
                return waiting.as_mut().poll(cx);
            }
            // The budget keeps a handler that never has to wait yielding to
            // other tasks, as waiting for room would.
            let coop = ready!(tokio::task::coop::poll_proceed(cx));
            // Polled again after it completed: there is nothing left to send.
            // (Panicking instead measured as slow as the async fn.)
            let Some(value) = value.take() else {
                return Poll::Ready(Ok(()));
            };
            // Most sends find room. A full buffer gets an owned copy of the
            // frame, since the scratch buffer cannot be held while this waits.
            let full: Result<Option<Waiting<'a>>, SendError> = match &self.tx {
                Tx::Frames(tx) => self
                    .encode(Kind::Progress, &value, |frame| match tx.try_push(frame) {
                        Ok(()) => Ok(None),
                        Err(Refused::Full) => Ok(Some(frame.to_vec())),
                        Err(Refused::Closed) => Err(SendError::Closed),
                    })
                    .map(|full| full.map(|frame| Box::pin(push_frame(tx, frame)) as Waiting<'a>)),
                Tx::Records(tx) => self
                    .record(Kind::Progress, &value)
                    .and_then(|record| match tx.try_push(record) {
                        Ok(()) => Ok(None),
                        Err((Refused::Full, record)) => {
                            Ok(Some(Box::pin(push_record(tx, record)) as Waiting<'a>))
                        }
                        Err((Refused::Closed, _)) => Err(SendError::Closed),
                    }),
            };
            coop.made_progress();
            match full {
                Ok(None) => Poll::Ready(Ok(())),
                Ok(Some(wait)) => waiting.insert(wait).as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(e)),
            }
        })
    }

    /// [`send`](Sender::send) for blocking code (`spawn_blocking`, threads). Do
    /// not call it from async code: it blocks the thread while the buffer is full.
    pub fn blocking_send<T: Serialize>(&self, value: T) -> Result<(), SendError> {
        let pushed = match &self.tx {
            Tx::Frames(tx) => {
                return self.encode(Kind::Progress, &value, |frame| {
                    tx.blocking_push(frame).map_err(|_| SendError::Closed)
                });
            }
            Tx::Records(tx) => tx.blocking_push(self.record(Kind::Progress, &value)?),
        };
        pushed.map_err(|_| SendError::Closed)
    }

    /// Completes when the client has gone away. A handler busy with work that
    /// does not send can race its work against this signal.
    pub async fn closed(&self) {
        match &self.tx {
            Tx::Frames(tx) => tx.closed().await,
            Tx::Records(tx) => tx.closed().await,
        }
    }

    /// True once the client has gone away.
    pub fn is_closed(&self) -> bool {
        match &self.tx {
            Tx::Frames(tx) => tx.is_closed(),
            Tx::Records(tx) => tx.is_closed(),
        }
    }

    /// The wire format the client that started this stream asked for. (A
    /// resumable stream's packets are kept independently of it, and every
    /// connection that resumes the stream gets them in the format it asks for.)
    pub fn format(&self) -> Format {
        self.shared().format
    }

    /// Serializes `value` as a record of `kind`, within the size limit, which
    /// for a record is the length of its JSON.
    fn record<T: Serialize + ?Sized>(&self, kind: Kind, value: &T) -> Result<Record, SendError> {
        let record = Record::new(kind, value).map_err(SendError::Serialize)?;
        let size = record.data.get().len();
        let limit = self.shared().max_packet_bytes;
        if size > limit {
            return Err(SendError::TooLarge { size, limit });
        }
        Ok(record)
    }

    /// Encodes `value` as the stream's next packet and hands the frame to
    /// `then`.
    pub(crate) fn encode<T: Serialize + ?Sized, R>(
        &self,
        kind: Kind,
        value: &T,
        then: impl FnOnce(&[u8]) -> Result<R, SendError>,
    ) -> Result<R, SendError> {
        let id = self.shared().next_id.fetch_add(1, Ordering::Relaxed);
        let format = self.shared().format;
        let encode = |out: &mut Vec<u8>| {
            out.clear();
            let frame = encode::packet_into(out, format, kind, EventId::Counter(id), value)
                .map_err(SendError::Serialize)?;
            let limit = self.shared().max_packet_bytes;
            if frame.len() > limit {
                return Err(SendError::TooLarge {
                    size: frame.len(),
                    limit,
                });
            }
            then(&out[frame])
        };
        let encode = |out: &mut Vec<u8>| {
            let result = encode(out);
            if out.capacity() > SCRATCH_KEEP {
                *out = Vec::new();
            }
            result
        };
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut out) => encode(&mut out),
            // A `Serialize` impl that sends on its own: it gets a fresh buffer.
            Err(_) => encode(&mut Vec::new()),
        })
    }

    /// Ends the stream with `packet`, after every packet sent before.
    pub(crate) fn fail(&self, packet: ErrorPacket) {
        match &self.tx {
            Tx::Frames(tx) => {
                let id = self.shared().next_id.fetch_add(1, Ordering::Relaxed);
                let frame = encode::error(self.shared().format, EventId::Counter(id), &packet);
                tx.finish(End::Failed {
                    packet: Box::new(packet),
                    frame,
                });
            }
            Tx::Records(tx) => {
                let frame = Record::error(&packet);
                tx.finish(End::Failed {
                    packet: Box::new(packet),
                    frame,
                });
            }
        }
    }

    /// Ends the stream with the `done` packet carrying `value`.
    pub(crate) fn done<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        match &self.tx {
            Tx::Frames(tx) => self.encode(Kind::Done, value, |frame| {
                tx.finish(End::Done(frame.to_vec().into()));
                Ok(())
            }),
            Tx::Records(tx) => {
                tx.finish(End::Done(self.record(Kind::Done, value)?));
                Ok(())
            }
        }
    }
}

/// Queues `frame` once the buffer has room.
async fn push_frame(tx: &Writer, frame: Vec<u8>) -> Result<(), SendError> {
    tx.push(&frame).await.map_err(|_| SendError::Closed)
}

/// Queues `record` once the buffer has room.
async fn push_record(tx: &Writer<Records>, record: Record) -> Result<(), SendError> {
    tx.push(record).await.map_err(|_| SendError::Closed)
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("format", &self.shared().format)
            .field("closed", &self.is_closed())
            .finish()
    }
}
