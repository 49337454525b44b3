//! A packet as a typed record: its kind and its JSON, serialized once.
//!
//! A resumable stream's [`Sender`](crate::Sender) queues these instead of
//! encoded frames, and its producer appends them to the store as they are: no
//! frame is built for the store, and none is read back to find where a packet
//! ends. Each connection that reads the stream encodes the stored records in
//! its own format.

use serde::Serialize;
use serde_json::value::{RawValue, to_raw_value};

use crate::protocol::ErrorPacket;
use crate::protocol::PacketKind;
use crate::stream::buffer::{Queue, Refused, Writer};

/// One packet of a resumable stream, before it gets its number in the store.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) kind: PacketKind,
    /// The value sent (for an error, the error object) as JSON.
    pub(crate) data: Box<RawValue>,
}

impl Record {
    /// Serializes `value` as a packet of `kind`.
    pub(crate) fn new<T: Serialize + ?Sized>(
        kind: PacketKind,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Record {
            kind,
            data: to_raw_value(value)?,
        })
    }

    /// The final `error` packet carrying `packet`.
    pub(crate) fn error(packet: &ErrorPacket) -> Self {
        Record::new(PacketKind::Error, packet).expect("the error object always serializes")
    }
}

/// The queue of a resumable stream's buffer: records, in order.
#[derive(Debug, Default)]
pub(crate) struct Records(Vec<Record>);

impl Queue for Records {
    type Batch = Vec<Record>;
    type Final = Record;

    fn new() -> Self {
        Records(Vec::new())
    }

    fn take(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.0)
    }

    fn clear(&mut self) {
        self.0 = Vec::new();
    }
}

impl Writer<Records> {
    /// Queues `record` if there is room; gives it back if not.
    pub(crate) fn try_push(&self, record: Record) -> Result<(), (Refused, Record)> {
        self.offer(record, |queue, record| queue.0.push(record))
    }

    /// Queues `record`, waiting for room. Fails only once closed.
    pub(crate) async fn push(&self, mut record: Record) -> Result<(), Refused> {
        loop {
            match self.try_push(record) {
                Ok(()) => return Ok(()),
                Err((Refused::Full, back)) => {
                    record = back;
                    self.room().await;
                }
                Err((refused, _)) => return Err(refused),
            }
        }
    }

    /// [`push`](Writer::push) for blocking code: blocks the thread while the
    /// buffer is full.
    pub(crate) fn blocking_push(&self, record: Record) -> Result<(), Refused> {
        futures::executor::block_on(self.push(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::buffer::{self, End};
    use futures::FutureExt;

    #[tokio::test]
    async fn records_keep_the_bound_order_and_end_of_frames() {
        let (tx, mut rx) = buffer::queue::<Records>(2, Default::default());
        let record = |n: u32| Record::new(PacketKind::Progress, &n).unwrap();
        tx.try_push(record(1)).unwrap();
        tx.push(record(2)).await.unwrap();
        let Err((Refused::Full, back)) = tx.try_push(record(3)) else {
            panic!("the third record finds the buffer full");
        };
        let mut third = Box::pin(tx.push(back));
        assert!((&mut third).now_or_never().is_none());
        let taken = rx.try_take();
        let data: Vec<_> = taken.frames.iter().map(|r| r.data.get()).collect();
        assert_eq!((data, taken.packets), (vec!["1", "2"], 2));
        assert!(taken.refilling, "the waiting writer was let go");
        third.await.unwrap();
        tx.finish(End::Done(Record::new(PacketKind::Done, "ok").unwrap()));
        let taken = rx.take().await;
        assert_eq!(taken.frames[0].data.get(), "3");
        let Some(End::Done(done)) = taken.end else {
            panic!("the end follows the packets");
        };
        assert_eq!((done.kind, done.data.get()), (PacketKind::Done, "\"ok\""));
        assert!(matches!(tx.try_push(record(4)), Err((Refused::Closed, _))));
    }
}
