//! The response body: takes encoded frames from the stream's buffer and hands
//! them to hyper, coalescing the frames that are ready into one write.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::{Instant, Sleep};

use crate::encode;
use crate::error::{Error, ErrorPacket};
use crate::format::Format;
use crate::metrics;
use crate::sender::Item;

/// Frames ready at the same time are joined until the write reaches this size.
const COALESCE_BYTES: usize = 64 * 1024;

/// How many polls in a row may hold frames back without new ones arriving.
const MAX_IDLE_TURNS: u8 = 2;

/// True when a sender has been granted room in the buffer and not used it yet:
/// a handler that was waiting for room is about to send. The buffer's bound
/// is split between free room, queued items and such granted permits.
fn room_granted(rx: &mpsc::Receiver<Item>) -> bool {
    rx.capacity() + rx.len() < rx.max_capacity()
}

/// The body of a stream response. Dropping it (hyper does when the client goes
/// away) cancels the handler.
pub struct StreamBody {
    rx: mpsc::Receiver<Item>,
    /// The item that was taken while deciding the response status.
    first: Option<Item>,
    format: Format,
    keep_alive: Option<KeepAlive>,
    /// Held for its `Drop`: aborts the handler when the body goes.
    _handler: HandlerTask,
    packets: ::metrics::Counter,
    /// Frames taken but not yet written: see [`StreamBody::poll_frame`].
    held: Option<Batch>,
    /// Polls in a row that held frames without taking new ones.
    idle_turns: u8,
    finished: bool,
}

/// The frames of one write. A lone frame is passed on as it is; more are
/// copied into one buffer.
#[derive(Default)]
struct Batch {
    single: Option<Bytes>,
    joined: Option<BytesMut>,
    /// Packets from the handler in this batch (for the metric).
    packets: u64,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.single.is_none() && self.joined.is_none()
    }

    fn len(&self) -> usize {
        self.single.as_ref().map_or(0, Bytes::len) + self.joined.as_ref().map_or(0, BytesMut::len)
    }

    /// Appends `item`'s frame; true when it ends the stream. `queued` tells how
    /// many items wait behind it, to size the joined buffer once.
    fn push(&mut self, item: Item, queued: impl FnOnce() -> usize) -> bool {
        let (frame, last) = match item {
            Item::Packet(frame) => (frame, false),
            Item::Done(frame) => (frame, true),
            Item::Failed { frame, .. } => (frame, true),
        };
        match (self.single.take(), self.joined.as_mut()) {
            (None, None) => self.single = Some(frame),
            (Some(previous), None) => {
                let expected = previous.len() + frame.len() * (queued() + 1);
                let mut joined = BytesMut::with_capacity(expected.min(COALESCE_BYTES * 2));
                joined.extend_from_slice(&previous);
                joined.extend_from_slice(&frame);
                self.joined = Some(joined);
            }
            (_, Some(joined)) => joined.extend_from_slice(&frame),
        }
        last
    }

    fn into_bytes(self) -> Bytes {
        match self.joined {
            Some(joined) => joined.freeze(),
            None => self.single.unwrap_or_default(),
        }
    }
}

struct KeepAlive {
    interval: Duration,
    frame: Bytes,
    sleep: Pin<Box<Sleep>>,
    last_write: Instant,
}

/// Aborts the handler's task when dropped: the response future and then the body
/// own it, so a client that leaves at any point cancels the handler.
pub(crate) struct HandlerTask(pub(crate) AbortHandle);

impl Drop for HandlerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl StreamBody {
    pub(crate) fn new(
        rx: mpsc::Receiver<Item>,
        first: Option<Item>,
        format: Format,
        keep_alive: Option<Duration>,
        handler: HandlerTask,
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
        StreamBody {
            rx,
            first,
            format,
            keep_alive,
            _handler: handler,
            packets: metrics::packets(),
            held: None,
            idle_turns: 0,
            finished: false,
        }
    }

    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let Some(keep_alive) = self.keep_alive.as_mut() else {
            return Poll::Pending;
        };
        loop {
            ready!(keep_alive.sleep.as_mut().poll(cx));
            // The timer is restarted lazily: packets only record when they were
            // written, and an early wake-up moves the deadline on.
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

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    /// Takes every frame that is ready, up to [`COALESCE_BYTES`], as one write.
    ///
    /// When the buffer was full the handler is waiting for room, and the room
    /// just made lets it send more at once. The frames are then held (the body
    /// wakes itself and returns `Pending`, and hyper writes nothing) until the
    /// handler has refilled the buffer, and the next poll writes both batches
    /// in one system call. A handler that sends faster than the client reads
    /// thus makes a few large writes instead of one per buffer's worth of
    /// packets; one that is not waiting for room never waits here, and no
    /// frame waits more than [`MAX_IDLE_TURNS`] polls without new ones.
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let mut batch = this.held.take().unwrap_or_default();
        let held_packets = batch.packets;
        let mut last = false;
        if let Some(item) = this.first.take() {
            batch.packets += 1;
            last = batch.push(item, || this.rx.len());
        }
        while !last && batch.len() < COALESCE_BYTES {
            let polled = if batch.is_empty() {
                this.rx.poll_recv(cx)
            } else {
                match this.rx.try_recv() {
                    Ok(item) => Poll::Ready(Some(item)),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => Poll::Ready(None),
                }
            };
            match polled {
                Poll::Ready(Some(item)) => {
                    batch.packets += 1;
                    last = batch.push(item, || this.rx.len());
                }
                Poll::Ready(None) => {
                    // Every sender is gone without a final packet: the handler's
                    // task was stopped from outside (the runtime is shutting down).
                    let packet = Error::message("the stream ended unexpectedly").into_packet(false);
                    last = batch.push(ended(this.format, packet), || 0);
                }
                Poll::Pending => {
                    return match this.poll_keep_alive(cx) {
                        Poll::Ready(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
        if batch.packets > held_packets {
            this.idle_turns = 0;
        } else {
            this.idle_turns += 1;
        }
        if !last
            && batch.len() < COALESCE_BYTES
            && this.idle_turns <= MAX_IDLE_TURNS
            && room_granted(&this.rx)
        {
            this.held = Some(batch);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.idle_turns = 0;
        if last {
            this.finished = true;
        }
        this.packets.increment(batch.packets);
        if let Some(keep_alive) = this.keep_alive.as_mut() {
            keep_alive.last_write = Instant::now();
        }
        Poll::Ready(Some(Ok(Frame::data(batch.into_bytes()))))
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn ended(format: Format, packet: ErrorPacket) -> Item {
    let frame = encode::error(format, 0, &packet);
    Item::Failed {
        packet: Box::new(packet),
        frame,
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if !self.finished {
            metrics::cancelled();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use http_body_util::BodyExt;

    const PACKET: &[u8] = b"data: 1\n\n";
    const DONE: &[u8] = b"event: done\ndata: null\n\n";

    fn body(rx: mpsc::Receiver<Item>, handler: AbortHandle) -> StreamBody {
        StreamBody::new(rx, None, Format::Sse, None, HandlerTask(handler))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_handler_that_outruns_the_client_gets_writes_larger_than_its_buffer() {
        let (tx, rx) = mpsc::channel(4);
        let handler = tokio::spawn(async move {
            for _ in 0..400 {
                tx.send(Item::Packet(Bytes::from_static(PACKET)))
                    .await
                    .unwrap();
            }
            tx.send(Item::Done(Bytes::from_static(DONE))).await.unwrap();
        });
        let mut body = body(rx, handler.abort_handle());
        let mut writes = Vec::new();
        while let Some(frame) = body.frame().await {
            writes.push(frame.unwrap().into_data().unwrap());
        }
        let expected: Vec<u8> = PACKET
            .repeat(400)
            .into_iter()
            .chain(DONE.iter().copied())
            .collect();
        assert_eq!(writes.concat(), expected);
        // Without holding frames back: one write per 4 packets, 100 in all.
        assert!(writes.len() <= 10, "{} writes", writes.len());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn frames_are_not_held_when_no_handler_waits_for_room() {
        let (tx, rx) = mpsc::channel(2);
        tx.send(Item::Packet(Bytes::from_static(PACKET)))
            .await
            .unwrap();
        tx.send(Item::Packet(Bytes::from_static(PACKET)))
            .await
            .unwrap();
        let handler = tokio::spawn(std::future::pending::<()>());
        let mut body = body(rx, handler.abort_handle());
        // The buffer is full, but nobody is waiting to send: written at once.
        let frame = body.frame().now_or_never().expect("ready");
        let data = frame.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&data[..], PACKET.repeat(2).as_slice());
        drop(tx);
    }
}
