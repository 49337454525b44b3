//! The response body: takes encoded frames from the stream's buffer and hands
//! them to hyper, coalescing the frames that are ready into one write.

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::hold::Held;
use crate::error::Error;
use crate::metrics;
use crate::protocol::ENDED_UNEXPECTEDLY_MESSAGE;
use crate::protocol::Format;
use crate::stream::buffer::{End, Reader, Taken};
use crate::stream::encode::{self, EventId};
use crate::stream::handler_task::HandlerTask;

/// Frames ready at the same time are joined until the write reaches this size.
const COALESCE_BYTES: usize = 64 * 1024;

/// How many polls in a row may hold frames back without new ones arriving.
const MAX_IDLE_TURNS: u8 = 2;

/// What a client that leaves before the final packet does to the job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leaving {
    /// The job is cancelled (a plain stream, a feed's subscription).
    Cancels,
    /// The job runs on for clients that come back (a resumable stream).
    KeepsJob,
}

/// Writes shorter than this get an allocation of their own; see
/// [`own_allocation`].
const SMALL_WRITE: usize = 16 * 1024;

/// A write as hyper will queue it. Frames are split off the stream buffer's
/// allocation (up to 64 KiB); a write handed on as a slice of it keeps the
/// whole allocation alive until the client has read it, and an HTTP/2 peer
/// that advertises a huge window and does not read would have every stream's
/// queued writes pin 64 KiB each. A small write is copied to an allocation of
/// its size instead (and the buffer reuses its own at once); a large one keeps
/// its slice, which pins at most four times its size.
fn own_allocation(frames: BytesMut) -> Bytes {
    if frames.len() < SMALL_WRITE {
        Bytes::copy_from_slice(&frames)
    } else {
        frames.freeze()
    }
}

/// The body of a stream response. Dropping it (hyper does when the client goes
/// away) cancels the handler.
pub(crate) struct StreamBody {
    rx: Reader,
    format: Format,
    keep_alive: Option<KeepAlive>,
    /// Held for its `Drop`: aborts the handler when the body goes.
    _handler: HandlerTask,
    packets: ::metrics::Counter,
    /// Frames taken but not yet written, and how many packets they hold: see
    /// [`StreamBody::poll_frame`].
    held: BytesMut,
    held_packets: usize,
    /// The end, taken while the head was held: written after `held`.
    held_end: Option<End>,
    /// Polls in a row that held frames without taking new ones.
    idle_turns: u8,
    finished: bool,
    /// Dropped before its final packet, the body counts a cancelled stream,
    /// unless it is a connection of a resumable stream (its job runs on).
    counts_cancel: bool,
}

/// The keep-alive timer of a format that has a keep-alive frame. The frame
/// itself is not kept: it is static, and looked up on each tick
/// ([`encode::keep_alive`]), so that an idle stream's body is smaller.
struct KeepAlive {
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    last_write: Instant,
}

impl StreamBody {
    pub(crate) fn new(
        rx: Reader,
        format: Format,
        keep_alive: Option<Duration>,
        handler: HandlerTask,
    ) -> Self {
        let keep_alive = keep_alive
            .filter(|_| encode::keep_alive(format).is_some())
            .map(|interval| {
                let now = Instant::now();
                KeepAlive {
                    interval,
                    sleep: Box::pin(tokio::time::sleep_until(now + interval)),
                    last_write: now,
                }
            });
        StreamBody {
            rx,
            format,
            keep_alive,
            _handler: handler,
            packets: metrics::packets(),
            held: BytesMut::new(),
            held_packets: 0,
            held_end: None,
            idle_turns: 0,
            finished: false,
            counts_cancel: true,
        }
    }

    /// What the client's leaving early means for the job.
    pub(crate) fn on_leave(mut self, leaving: Leaving) -> Self {
        self.counts_cancel = matches!(leaving, Leaving::Cancels);
        self
    }

    /// Starts with what the stream sent while its head was held.
    pub(crate) fn with_held(mut self, held: Held) -> Self {
        self.held = held.frames;
        self.held_packets = held.packets;
        self.held_end = held.end;
        self
    }

    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let format = self.format;
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
                return Poll::Ready(encode::keep_alive(format).unwrap_or_default());
            }
            keep_alive.sleep.as_mut().reset(due);
        }
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = Infallible;

    /// Takes every frame that is ready as one write.
    ///
    /// When the buffer was full the handler is waiting for room, and taking
    /// the frames lets it send more at once. The frames are then held (the
    /// body yields to the scheduler and returns `Pending`, and the server
    /// writes nothing) until
    /// the handler has refilled the buffer, and the next poll writes both
    /// batches in one system call, up to 64 KiB (`COALESCE_BYTES`). A handler that
    /// sends faster than the client reads thus makes a few large writes instead
    /// of one per buffer's worth of packets; one that is not waiting for room
    /// never waits here, and no frame waits more than two polls (`MAX_IDLE_TURNS`)
    /// without new ones.
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        let taken = if let Some(end) = this.held_end.take() {
            Taken {
                frames: BytesMut::new(),
                packets: 0,
                end: Some(end),
                refilling: false,
            }
        } else if this.held.is_empty() {
            match this.rx.poll_take(cx) {
                Poll::Ready(taken) => taken,
                Poll::Pending => {
                    return match this.poll_keep_alive(cx) {
                        Poll::Ready(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        } else {
            this.rx.try_take()
        };
        // Frames that follow the held ones in memory are joined without a copy.
        this.held.unsplit(taken.frames);
        this.held_packets += taken.packets;
        let last = match taken.end {
            None => false,
            Some(End::Done(frame) | End::Failed { frame, .. }) => {
                this.held.extend_from_slice(&frame);
                this.held_packets += 1;
                true
            }
            Some(End::Dropped) => {
                // The handler's task was stopped from outside (the runtime is
                // shutting down).
                let packet = Error::from_message(ENDED_UNEXPECTEDLY_MESSAGE).into_packet(false);
                let frame = encode::error(this.format, EventId::Counter(0), &packet);
                this.held.extend_from_slice(&frame);
                true
            }
        };
        if taken.packets > 0 {
            this.idle_turns = 0;
        } else {
            this.idle_turns += 1;
        }
        if !last
            && taken.refilling
            && this.held.len() < COALESCE_BYTES
            && this.idle_turns <= MAX_IDLE_TURNS
        {
            if this.idle_turns == 0 {
                cx.waker().wake_by_ref();
            } else {
                // A turn passed without the handler refilling anything: the
                // scheduler polls this body before the handler (actix-web's
                // workers run connections on a `LocalSet`, whose tasks come
                // before the runtime's). Polled again only once the
                // scheduler has run the other tasks that are ready.
                let _ = pin!(tokio::task::yield_now()).poll(cx);
            }
            return Poll::Pending;
        }
        this.idle_turns = 0;
        if last {
            this.finished = true;
        }
        this.packets
            .increment(std::mem::take(&mut this.held_packets) as u64);
        if let Some(keep_alive) = this.keep_alive.as_mut() {
            keep_alive.last_write = Instant::now();
        }
        let frame = own_allocation(std::mem::take(&mut this.held));
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        if !self.finished && self.counts_cancel {
            metrics::cancelled();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::buffer::{self, Writer};
    use futures::FutureExt;
    use http_body_util::BodyExt;
    use tokio::task::AbortHandle;

    const PACKET: &[u8] = b"data: 1\n\n";
    const DONE: &[u8] = b"event: done\ndata: null\n\n";

    fn body(rx: Reader, handler: AbortHandle) -> StreamBody {
        StreamBody::new(rx, Format::Sse, None, HandlerTask(handler))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_handler_that_outruns_the_client_gets_writes_larger_than_its_buffer() {
        let (tx, rx) = buffer::channel(4);
        let handler = tokio::spawn(async move {
            for _ in 0..400 {
                tx.push(PACKET).await.unwrap();
            }
            tx.finish(End::Done(Bytes::from_static(DONE)));
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
        let (tx, rx): (Writer, Reader) = buffer::channel(2);
        tx.push(PACKET).await.unwrap();
        tx.push(PACKET).await.unwrap();
        let handler = tokio::spawn(std::future::pending::<()>());
        let mut body = body(rx, handler.abort_handle());
        // The buffer is full, but nobody is waiting to send: written at once.
        let frame = body.frame().now_or_never().expect("ready");
        let data = frame.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&data[..], PACKET.repeat(2).as_slice());
        drop(tx);
    }

    /// Keep-alives are timed by the body's clock alone: under paused time,
    /// none before the interval, one at each interval while the handler is
    /// silent, and the packet in between resets nothing it should not.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_silent_stream_gets_a_keep_alive_at_each_interval_and_none_before() {
        const EVERY: Duration = Duration::from_secs(15);
        let (tx, rx): (Writer, Reader) = buffer::channel(4);
        let handler = tokio::spawn(std::future::pending::<()>());
        let mut body = StreamBody::new(
            rx,
            Format::Sse,
            Some(EVERY),
            HandlerTask(handler.abort_handle()),
        );
        let keep_alive = crate::stream::encode::keep_alive(Format::Sse).unwrap();

        tokio::time::advance(EVERY - Duration::from_secs(1)).await;
        assert!(
            body.frame().now_or_never().is_none(),
            "nothing before the interval"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(frame, keep_alive);

        tx.push(PACKET).await.unwrap();
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&frame[..], PACKET);
        assert!(body.frame().now_or_never().is_none());

        tokio::time::advance(EVERY).await;
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(frame, keep_alive);
        drop(tx);
    }
}
