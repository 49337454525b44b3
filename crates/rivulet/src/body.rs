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
    finished: bool,
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
            finished: false,
        }
    }

    /// Appends `item` to the write; true when it ends the stream.
    fn take(item: Item, out: &mut Option<BytesMut>, single: &mut Option<Bytes>) -> bool {
        let (frame, last) = match item {
            Item::Packet(frame) => (frame, false),
            Item::Done(frame) => (frame, true),
            Item::Failed { frame, .. } => (frame, true),
        };
        match (single.take(), out.as_mut()) {
            (None, None) => *single = Some(frame),
            (Some(previous), None) => {
                let mut joined = BytesMut::with_capacity((previous.len() + frame.len()) * 4);
                joined.extend_from_slice(&previous);
                joined.extend_from_slice(&frame);
                *out = Some(joined);
            }
            (_, Some(joined)) => joined.extend_from_slice(&frame),
        }
        last
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

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let mut single = None;
        let mut joined = None;
        let mut count = 0u64;
        let mut last = false;
        if let Some(item) = this.first.take() {
            count += 1;
            last = Self::take(item, &mut joined, &mut single);
        }
        while !last {
            let size =
                single.as_ref().map_or(0, Bytes::len) + joined.as_ref().map_or(0, BytesMut::len);
            if size >= COALESCE_BYTES {
                break;
            }
            let polled = if count == 0 {
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
                    count += 1;
                    last = Self::take(item, &mut joined, &mut single);
                }
                Poll::Ready(None) => {
                    // Every sender is gone without a final packet: the handler's
                    // task was stopped from outside (the runtime is shutting down).
                    let packet = Error::message("the stream ended unexpectedly").into_packet(false);
                    last = Self::take(ended(this.format, packet), &mut joined, &mut single);
                }
                Poll::Pending => {
                    return match this.poll_keep_alive(cx) {
                        Poll::Ready(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
        if last {
            this.finished = true;
        }
        this.packets.increment(count);
        if let Some(keep_alive) = this.keep_alive.as_mut() {
            keep_alive.last_write = Instant::now();
        }
        let data = match joined {
            Some(joined) => joined.freeze(),
            None => single.expect("at least one frame was taken"),
        };
        Poll::Ready(Some(Ok(Frame::data(data))))
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
    Item::Failed { packet, frame }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if !self.finished {
            metrics::cancelled();
        }
    }
}
