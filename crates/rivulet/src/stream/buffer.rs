//! The stream's bounded buffer, between the handler's [`Sender`](crate::Sender)s
//! and the response body.
//!
//! Senders append each encoded packet to one byte buffer; the body takes
//! everything queued at once, split off the front of the buffer's allocation,
//! so that a batch of packets costs one lock and no allocation or copy of its
//! own. Packets that follow each other lie back to back in memory, and the body
//! joins batches without copying ([`BytesMut::unsplit`]).
//!
//! The bound is in packets ([`Config::buffer`](crate::Config::buffer)): a
//! sender waits while it is reached, so a slow client holds its handler back.
//! The final packet comes after every queued one, and nothing is accepted after
//! it.
//!
//! What is queued is a [`Queue`]: [`Frames`], the encoded bytes a response
//! body writes, or [`Records`](crate::stream::record::Records), the typed packets a
//! resumable stream's producer stores. Both have the same bound, waits and end.

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::sync::{Notify, OwnedSemaphorePermit};

use crate::protocol::ErrorPacket;
use crate::stream::sender::Sending;

/// The first allocation a stream's frames are written to: room for a few
/// small packets.
const FIRST_CHUNK: usize = 512;
/// A busy stream keeps at most this much room for its next frames when its
/// handler pauses; a larger allocation, grown by a burst, is let go.
const IDLE_ROOM: usize = 4 * 1024;
/// The largest allocation made for a stream's frames at once: about one
/// coalesced write of the body.
const MAX_CHUNK: usize = 64 * 1024;

/// How a stream ends: the last thing its buffer gives. `F` is how the final
/// packet is kept: its frame, or its record.
#[derive(Debug)]
pub(crate) enum End<F = Bytes> {
    /// The `done` packet.
    Done(F),
    /// The stream failed; kept whole so that a failure before the first packet
    /// can still become an HTTP error response. The packet is boxed: every
    /// stream's state has room for an end, and most end with `done`.
    Failed { packet: Box<ErrorPacket>, frame: F },
    /// Every writer is gone without a final packet: the handler's task was
    /// stopped from outside (the runtime is shutting down).
    Dropped,
}

/// What a buffer queues, and how the reader takes it.
pub(crate) trait Queue: Send + 'static {
    /// What the reader takes at once: every queued packet, in order.
    type Batch: Default;
    /// How the final packet is kept.
    type Final: Send + 'static;
    /// An empty queue.
    fn new() -> Self;
    /// Takes every queued packet; called only when there is one.
    fn take(&mut self) -> Self::Batch;
    /// No writer waits for room: the handler is doing something else, and
    /// room kept for a burst may go.
    fn settle(&mut self) {}
    /// The reader is gone: frees what is queued.
    fn clear(&mut self);
}

/// The queue of a response body: the encoded frames, back to back in one
/// allocation (see the module docs).
#[derive(Debug)]
pub(crate) struct Frames {
    /// Queued frames, written into the spare room of the allocation of size
    /// `chunk`.
    bytes: BytesMut,
    chunk: usize,
}

impl Queue for Frames {
    type Batch = BytesMut;
    type Final = Bytes;

    fn new() -> Self {
        Frames {
            bytes: BytesMut::new(),
            chunk: 0,
        }
    }

    fn take(&mut self) -> BytesMut {
        self.bytes.split()
    }

    fn settle(&mut self) {
        // Nothing is queued and no writer waits, so the frames just taken are
        // the allocation's last users. It goes with them when it is small (the
        // stream has never had to grow it: its packets come slowly enough that
        // one allocation per batch is nothing beside its pauses, and an idle
        // stream then keeps no room at all) or large (a burst's, let go once
        // the client has it all). A stream between the two is busy and keeps
        // its room.
        if self.bytes.is_empty() && (self.chunk <= FIRST_CHUNK || self.chunk > IDLE_ROOM) {
            self.bytes = BytesMut::new();
            self.chunk = 0;
        }
    }

    fn clear(&mut self) {
        self.bytes = BytesMut::new();
        self.chunk = 0;
    }
}

impl Frames {
    fn append(&mut self, frame: &[u8]) {
        if !self.bytes.try_reclaim(frame.len()) {
            self.grow(frame.len());
        }
        self.bytes.extend_from_slice(frame);
    }

    /// Moves the queued frames to a new allocation with room for `needed`
    /// more bytes. Called when the current one cannot be reused because frames
    /// taken from it are still on their way to the client: the stream is busy,
    /// so the new allocation is twice as large, up to [`MAX_CHUNK`].
    #[cold]
    fn grow(&mut self, needed: usize) {
        let queued = self.bytes.len();
        self.chunk = (self.chunk * 2)
            .clamp(FIRST_CHUNK, MAX_CHUNK)
            .max(queued + needed);
        let mut bytes = BytesMut::with_capacity(self.chunk);
        bytes.extend_from_slice(&self.bytes);
        self.bytes = bytes;
    }
}

/// What the reader takes at once.
pub(crate) struct Taken<Q: Queue = Frames> {
    /// The queued packets, in order.
    pub(crate) frames: Q::Batch,
    pub(crate) packets: usize,
    /// The end of the stream, after `frames`.
    pub(crate) end: Option<End<Q::Final>>,
    /// A writer that waited for room has been let go and not sent yet: more
    /// packets are about to come.
    pub(crate) refilling: bool,
}

/// Why a packet was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The buffer holds as many packets as it may.
    Full,
    /// The reader is gone (the client left), or the stream has ended.
    Closed,
}

/// A buffer of frames for `capacity` packets (at least 1), written to
/// without a [`Sender`](crate::Sender).
pub(crate) fn channel(capacity: usize) -> (Writer, Reader) {
    queue(capacity, Sending::default())
}

/// A buffer of any [`Queue`] for `capacity` packets (at least 1), written to
/// by the senders that share `sending`.
pub(crate) fn queue<Q: Queue>(capacity: usize, sending: Sending) -> (Writer<Q>, Reader<Q>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: Q::new(),
            packets: 0,
            end: None,
            reader: None,
            writers: 1,
            waiting: false,
            refilling: false,
            closed: false,
            ended: false,
            slot: None,
        }),
        capacity: capacity.max(1),
        sending,
        room: Notify::new(),
        closed: Notify::new(),
    });
    (
        Writer {
            shared: shared.clone(),
        },
        Reader { shared },
    )
}

struct Shared<Q: Queue> {
    state: Mutex<State<Q>>,
    capacity: usize,
    /// What the stream's senders share.
    sending: Sending,
    /// Writers waiting for room.
    room: Notify,
    /// Waiters for the reader to go.
    closed: Notify,
}

struct State<Q: Queue> {
    queue: Q,
    packets: usize,
    end: Option<End<Q::Final>>,
    /// The reader, when it waits for packets.
    reader: Option<Waker>,
    writers: usize,
    /// A writer found the buffer full and waits for room.
    waiting: bool,
    /// Writers were let go after waiting, and none has sent since.
    refilling: bool,
    /// The reader is gone or has closed the buffer, or the end was taken.
    closed: bool,
    /// The end was taken.
    ended: bool,
    /// The stream's slot under `max_streams`, held here for its handler
    /// (see [`Writer::hold_slot`]).
    slot: Option<OwnedSemaphorePermit>,
}

impl<Q: Queue> Shared<Q> {
    fn lock(&self) -> MutexGuard<'_, State<Q>> {
        // Nothing panics while the lock is held; if something did, the state
        // is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<Q: Queue> State<Q> {
    fn is_ready(&self) -> bool {
        self.packets > 0 || self.end.is_some() || self.dropped()
    }

    /// Every writer is gone without a final packet.
    fn dropped(&self) -> bool {
        self.writers == 0 && !self.ended
    }

    /// Takes everything queued; the writers that wait for room may go on.
    fn take(&mut self) -> (Taken<Q>, bool) {
        let packets = std::mem::take(&mut self.packets);
        let frames = if packets > 0 {
            self.queue.take()
        } else {
            Q::Batch::default()
        };
        let end = match self.end.take() {
            None if self.dropped() => Some(End::Dropped),
            end => end,
        };
        if end.is_some() {
            // Nothing is accepted after the end.
            self.ended = true;
            self.closed = true;
        }
        let wake_writers = std::mem::take(&mut self.waiting);
        if wake_writers {
            self.refilling = true;
        } else {
            self.queue.settle();
        }
        let taken = Taken {
            frames,
            packets,
            end,
            refilling: self.refilling,
        };
        (taken, wake_writers)
    }
}

/// The writing end: [`Sender`](crate::Sender)s hold one each.
pub(crate) struct Writer<Q: Queue = Frames> {
    shared: Arc<Shared<Q>>,
}

impl<Q: Queue> Clone for Writer<Q> {
    fn clone(&self) -> Self {
        self.shared.lock().writers += 1;
        Writer {
            shared: self.shared.clone(),
        }
    }
}

impl<Q: Queue> Drop for Writer<Q> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.writers -= 1;
        let reader = if state.writers == 0 {
            state.reader.take()
        } else {
            None
        };
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

impl Writer {
    /// Queues one frame if there is room.
    pub(crate) fn try_push(&self, frame: &[u8]) -> Result<(), Refused> {
        self.offer(frame, Frames::append)
            .map_err(|(refused, _)| refused)
    }

    /// Queues one frame, waiting for room. Fails only once closed.
    pub(crate) async fn push(&self, frame: &[u8]) -> Result<(), Refused> {
        loop {
            match self.try_push(frame) {
                Err(Refused::Full) => self.room().await,
                result => return result,
            }
        }
    }

    /// [`push`](Writer::push) for blocking code: blocks the thread while the
    /// buffer is full.
    pub(crate) fn blocking_push(&self, frame: &[u8]) -> Result<(), Refused> {
        futures::executor::block_on(self.push(frame))
    }
}

impl<Q: Queue> Writer<Q> {
    /// Appends `item` to the queue with `append` if there is room; gives it
    /// back if not.
    pub(crate) fn offer<I>(
        &self,
        item: I,
        append: impl FnOnce(&mut Q, I),
    ) -> Result<(), (Refused, I)> {
        let mut state = self.shared.lock();
        if state.closed || state.end.is_some() {
            return Err((Refused::Closed, item));
        }
        if state.packets >= self.shared.capacity {
            return Err((Refused::Full, item));
        }
        append(&mut state.queue, item);
        state.packets += 1;
        state.refilling = false;
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
        Ok(())
    }

    /// Completes when the buffer may have room, or is closed.
    pub(crate) async fn room(&self) {
        let mut notified = pin!(self.shared.room.notified());
        // Registered before looking, so that a reader taking packets in
        // between still wakes this writer.
        notified.as_mut().enable();
        {
            let mut state = self.shared.lock();
            if state.closed || state.end.is_some() || state.packets < self.shared.capacity {
                return;
            }
            state.waiting = true;
        }
        notified.await;
    }

    /// Queues the end of the stream after every queued packet. Nothing is
    /// accepted after it; once the reader is gone, nobody is told.
    pub(crate) fn finish(&self, end: End<Q::Final>) {
        let mut state = self.shared.lock();
        if state.closed || state.end.is_some() {
            return;
        }
        state.end = Some(end);
        let reader = state.reader.take();
        drop(state);
        if let Some(reader) = reader {
            reader.wake();
        }
    }

    /// Completes when the reader is gone.
    pub(crate) async fn closed(&self) {
        let mut notified = pin!(self.shared.closed.notified());
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    /// True once the reader is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// What the stream's senders share.
    pub(crate) fn sending(&self) -> &Sending {
        &self.shared.sending
    }

    /// Keeps the handler's slot under `max_streams` with the buffer, until
    /// [`Writer::release_slot`]: the handler's task then keeps no room for
    /// it.
    pub(crate) fn hold_slot(&self, slot: Option<OwnedSemaphorePermit>) {
        self.shared.lock().slot = slot;
    }

    /// Frees the slot [`Writer::hold_slot`] kept: the handler has ended.
    pub(crate) fn release_slot(&self) {
        let slot = self.shared.lock().slot.take();
        drop(slot);
    }
}

/// The reading end: the response body, or a resumable stream's producer.
/// Dropping it closes the buffer: writers fail from then on.
pub(crate) struct Reader<Q: Queue = Frames> {
    shared: Arc<Shared<Q>>,
}

impl<Q: Queue> Reader<Q> {
    /// Takes everything queued, or waits until there is something: packets,
    /// or the end of the stream (which comes once and ends the buffer).
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Taken<Q>> {
        let mut state = self.shared.lock();
        if !state.is_ready() {
            register(&mut state.reader, cx);
            return Poll::Pending;
        }
        let (taken, wake_writers) = state.take();
        drop(state);
        if wake_writers {
            self.shared.room.notify_waiters();
        }
        Poll::Ready(taken)
    }

    /// Takes everything queued, which may be nothing.
    pub(crate) fn try_take(&mut self) -> Taken<Q> {
        let mut state = self.shared.lock();
        let (taken, wake_writers) = state.take();
        drop(state);
        if wake_writers {
            self.shared.room.notify_waiters();
        }
        taken
    }

    /// [`poll_take`](Reader::poll_take) as a future.
    pub(crate) async fn take(&mut self) -> Taken<Q> {
        std::future::poll_fn(|cx| self.poll_take(cx)).await
    }

    /// Completes when there is something to take, without taking it.
    pub(crate) async fn ready(&mut self) {
        std::future::poll_fn(|cx| {
            let mut state = self.shared.lock();
            if state.is_ready() {
                Poll::Ready(())
            } else {
                register(&mut state.reader, cx);
                Poll::Pending
            }
        })
        .await
    }

    /// When nothing was queued and the stream has already ended without its
    /// `done` packet: that end, taken. The stream can then still be answered
    /// with an HTTP error.
    pub(crate) fn failed_early(&mut self) -> Option<End<Q::Final>> {
        let mut state = self.shared.lock();
        if state.packets > 0 {
            return None;
        }
        let end = match state.end.take() {
            Some(End::Done(frame)) => {
                state.end = Some(End::Done(frame));
                return None;
            }
            None if state.dropped() => End::Dropped,
            end => end?,
        };
        state.ended = true;
        state.closed = true;
        Some(end)
    }

    /// Refuses further packets; what is queued can still be taken.
    pub(crate) fn close(&mut self) {
        self.shared.lock().closed = true;
        self.shared.room.notify_waiters();
        self.shared.closed.notify_waiters();
    }
}

impl<Q: Queue> Drop for Reader<Q> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        // The senders may live on (spawned work): free the frames now.
        state.queue.clear();
        state.packets = 0;
        state.end = None;
        drop(state);
        self.shared.room.notify_waiters();
        self.shared.closed.notify_waiters();
    }
}

/// Stores `cx`'s waker in `slot`, unless it is there already.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[tokio::test]
    async fn batches_of_a_busy_stream_lie_back_to_back_and_join_without_copying() {
        let (tx, mut rx) = channel(2);
        tx.try_push(b"one ").unwrap();
        tx.try_push(b"two ").unwrap();
        // The buffer is full and a writer waits for room: the stream is busy.
        let mut third = Box::pin(tx.push(b"three"));
        assert!((&mut third).now_or_never().is_none());
        let taken = rx.try_take();
        assert!(taken.refilling);
        let mut first = taken.frames;
        third.await.unwrap();
        let second = rx.try_take().frames;
        let end_of_first = first.as_ptr().wrapping_add(first.len());
        assert_eq!(end_of_first, second.as_ptr());
        first.unsplit(second);
        assert_eq!(&first[..], b"one two three");
    }

    #[test]
    fn a_calm_stream_keeps_no_room_for_frames_between_packets() {
        let (tx, mut rx) = channel(4);
        tx.try_push(b"one").unwrap();
        let taken = rx.try_take();
        assert_eq!(&taken.frames[..], b"one");
        // Once the client has the frames, their allocation is gone with them.
        assert_eq!(rx.shared.lock().queue.bytes.capacity(), 0);
        tx.try_push(b"two").unwrap();
        assert_eq!(&rx.try_take().frames[..], b"two");
    }

    #[tokio::test]
    async fn a_full_buffer_holds_the_writer_until_the_reader_takes() {
        let (tx, mut rx) = channel(2);
        tx.push(b"a").await.unwrap();
        tx.push(b"b").await.unwrap();
        assert_eq!(tx.try_push(b"c"), Err(Refused::Full));
        let mut third = Box::pin(tx.push(b"c"));
        assert!((&mut third).now_or_never().is_none());
        let taken = rx.try_take();
        assert_eq!((&taken.frames[..], taken.packets), (&b"ab"[..], 2));
        assert!(taken.refilling, "the waiting writer was let go");
        third.await.unwrap();
        assert_eq!(&rx.try_take().frames[..], b"c");
    }

    #[tokio::test]
    async fn the_end_comes_after_the_packets_and_closes_the_buffer() {
        let (tx, mut rx) = channel(8);
        tx.try_push(b"a").unwrap();
        tx.finish(End::Done(Bytes::from_static(b"done")));
        assert_eq!(tx.try_push(b"late"), Err(Refused::Closed));
        let taken = rx.take().await;
        assert_eq!(&taken.frames[..], b"a");
        assert!(matches!(taken.end, Some(End::Done(_))));
    }

    #[tokio::test]
    async fn writers_that_vanish_end_the_stream() {
        let (tx, mut rx) = channel(8);
        let clone = tx.clone();
        drop(tx);
        assert!(rx.take().now_or_never().is_none());
        drop(clone);
        assert!(matches!(rx.take().await.end, Some(End::Dropped)));
    }

    #[tokio::test]
    async fn a_reader_that_goes_fails_the_writers() {
        let (tx, rx) = channel(1);
        tx.try_push(b"a").unwrap();
        let mut waiting = Box::pin(tx.push(b"b"));
        assert!((&mut waiting).now_or_never().is_none());
        drop(rx);
        assert_eq!(waiting.await, Err(Refused::Closed));
        assert!(tx.is_closed());
        tx.closed().await;
    }
}
