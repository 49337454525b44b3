//! The handler's end of a stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::encode::{self, Kind};
use crate::error::{ErrorPacket, SendError};
use crate::format::Format;

/// What travels from the handler's task to the response body.
pub(crate) enum Item {
    /// An encoded progress packet.
    Packet(Bytes),
    /// The encoded `done` packet: the stream ends after it.
    Done(Bytes),
    /// The stream failed; kept whole so that a failure before the first packet
    /// can still become an HTTP error response. Boxed: every stream's buffer
    /// allocates room for 32 items up front, and this keeps an item at 48
    /// bytes instead of 88.
    Failed {
        packet: Box<ErrorPacket>,
        frame: Bytes,
    },
}

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
    tx: mpsc::Sender<Item>,
    shared: Arc<Shared>,
}

struct Shared {
    format: Format,
    next_id: AtomicU64,
    max_packet_bytes: usize,
    /// The buffer size for the next frame: the last frame's size and a little
    /// more. Packets of a stream tend to be alike.
    frame_capacity: AtomicUsize,
}

impl Sender {
    pub(crate) fn new(tx: mpsc::Sender<Item>, format: Format, max_packet_bytes: usize) -> Self {
        Sender {
            tx,
            shared: Arc::new(Shared {
                format,
                next_id: AtomicU64::new(1),
                max_packet_bytes,
                frame_capacity: AtomicUsize::new(128),
            }),
        }
    }

    /// Sends one packet: any value that serializes to JSON. Waits while the
    /// stream's buffer is full (the client reads slower than the handler sends);
    /// fails with [`SendError::Closed`] once the client has gone away.
    pub async fn send<T: Serialize>(&self, value: T) -> Result<(), SendError> {
        let frame = self.encode(Kind::Progress, &value)?;
        // Most sends find room: `try_send` then skips building the channel's
        // acquire future, a sixth of a saturated stream's server CPU. The
        // budget keeps a handler that never has to wait yielding to other
        // tasks, as `send().await` alone would.
        tokio::task::coop::consume_budget().await;
        match self.tx.try_send(Item::Packet(frame)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(item)) => {
                self.tx.send(item).await.map_err(|_| SendError::Closed)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// [`send`](Sender::send) for blocking code (`spawn_blocking`, threads). Do
    /// not call it from async code: it blocks the thread while the buffer is full.
    pub fn blocking_send<T: Serialize>(&self, value: T) -> Result<(), SendError> {
        let frame = self.encode(Kind::Progress, &value)?;
        self.tx
            .blocking_send(Item::Packet(frame))
            .map_err(|_| SendError::Closed)
    }

    /// Completes when the client has gone away. A handler busy with work that
    /// does not send can race its work against this signal.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// True once the client has gone away.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// The wire format of this stream.
    pub fn format(&self) -> Format {
        self.shared.format
    }

    pub(crate) fn encode<T: Serialize + ?Sized>(
        &self,
        kind: Kind,
        value: &T,
    ) -> Result<Bytes, SendError> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let capacity = self.shared.frame_capacity.load(Ordering::Relaxed);
        let out = Vec::with_capacity(capacity);
        let frame = encode::packet_into(out, self.shared.format, kind, id, value)
            .map_err(SendError::Serialize)?;
        // Capped: one huge packet must not make every later buffer huge.
        let next = (frame.len() + 16).min(64 * 1024);
        if next != capacity {
            self.shared.frame_capacity.store(next, Ordering::Relaxed);
        }
        let limit = self.shared.max_packet_bytes;
        if frame.len() > limit {
            return Err(SendError::TooLarge {
                size: frame.len(),
                limit,
            });
        }
        Ok(frame)
    }

    pub(crate) fn failed(&self, packet: ErrorPacket) -> Item {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode::error(self.shared.format, id, &packet);
        Item::Failed {
            packet: Box::new(packet),
            frame,
        }
    }

    /// Queues the final item, waiting for room like any packet.
    pub(crate) async fn finish(&self, item: Item) {
        // The client may be gone already; then there is nobody to tell.
        let _ = self.tx.send(item).await;
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("format", &self.shared.format)
            .field("closed", &self.is_closed())
            .finish()
    }
}
