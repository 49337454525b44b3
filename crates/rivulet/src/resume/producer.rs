//! The producer of a resumable stream: takes the packets of the detached job
//! and appends them to the store, renews its lease while the job runs, and
//! stops the job when no client has been connected for the grace period.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use serde_json::value::RawValue;
use tokio::time::{Instant, interval_at};

use super::Settings;
use super::store::{Packet, StoreError};
use crate::buffer::{End, Taken};
use crate::error::{Error, ErrorPacket};
use crate::handler_task::HandlerTask;
use crate::protocol::StreamId;
use crate::protocol::{ENDED_UNEXPECTEDLY_MESSAGE, NdjsonLine, PacketKind};
use crate::stream::Job;

/// Registers the stream and spawns its producer. On failure the job is stopped.
pub(super) async fn start(
    settings: &Arc<Settings>,
    id: StreamId,
    owner: Option<&str>,
    job: Job,
) -> Result<(), StoreError> {
    // Stops the job if this function fails or its future is dropped.
    let stop = HandlerTask(job.task.clone());
    settings
        .store
        .create(id, owner, settings.lease, settings.ttl)
        .await?;
    // The connection that starts the stream is its first client.
    settings.store.touch(id, settings.grace).await?;
    tokio::spawn(produce(settings.clone(), id, job, stop));
    Ok(())
}

async fn produce(settings: Arc<Settings>, id: StreamId, job: Job, stop: HandlerTask) {
    let store = &settings.store;
    let mut rx = job.rx;
    let renew_every = settings.lease / 3;
    let mut renew = interval_at(Instant::now() + renew_every, renew_every);
    let check_every = (settings.grace / 4).max(Duration::from_millis(5));
    let mut check = interval_at(Instant::now() + check_every, check_every);
    let mut seq = 0;
    loop {
        tokio::select! {
            taken = rx.take() => match keep(&settings, id, &mut seq, taken).await {
                Ok(false) => {}
                // The final packet is stored.
                Ok(true) => return,
                Err(e) => {
                    tracing::error!(stream = %id, error = %e, "could not store a packet: the job is stopped");
                    return;
                }
            },
            _ = renew.tick() => {
                if let Err(e) = store.renew(id, settings.lease).await {
                    tracing::warn!(stream = %id, error = %e, "could not renew the producer's lease");
                }
            }
            _ = check.tick() => match store.status(id).await {
                Ok(Some(status)) if status.watched => {}
                Ok(Some(_)) => {
                    stop.0.abort();
                    // What the job sent before it stopped is kept; a final
                    // packet among it ends the stream as it was.
                    rx.close();
                    let mut taken = rx.try_take();
                    if matches!(taken.end, Some(End::Dropped)) {
                        // Stopped here, not from outside: said below.
                        taken.end = None;
                    }
                    if !matches!(keep(&settings, id, &mut seq, taken).await, Ok(false)) {
                        return;
                    }
                    let message = format!(
                        "the stream was stopped: no client was connected for {:?}",
                        settings.grace
                    );
                    let packet = Error::new(StatusCode::GONE, message).into_packet(false);
                    seq += 1;
                    let (kind, data) = error_record(&packet);
                    let _ = append(&settings, id, Packet::new(seq, kind, data)).await;
                    return;
                }
                Ok(None) | Err(StoreError::Unknown | StoreError::Evicted { .. }) => {
                    tracing::warn!(stream = %id, "the stream left the store: its job is stopped");
                    return;
                }
                Err(e) => tracing::warn!(stream = %id, error = %e, "could not check for clients"),
            },
        }
    }
}

/// Appends `packet`, retrying a failing backend for up to one lease.
async fn append(settings: &Settings, id: StreamId, packet: Packet) -> Result<(), StoreError> {
    let deadline = Instant::now() + settings.lease;
    let mut delay = Duration::from_millis(20);
    loop {
        match settings.store.append(id, packet.clone()).await {
            Err(StoreError::Backend(e)) if Instant::now() + delay < deadline => {
                tracing::warn!(stream = %id, error = %e, "storing a packet failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            result => return result,
        }
    }
}

/// Stores a batch's packets, then its end if it has one; true when it had.
async fn keep(
    settings: &Settings,
    id: StreamId,
    seq: &mut u64,
    taken: Taken,
) -> Result<bool, StoreError> {
    let (records, end) = match records(&taken.frames) {
        Ok(records) => (records, taken.end.map(end_record)),
        // serde_json writes valid JSON; this is only a guard.
        Err(_) => (Vec::new(), Some(error_record(&ended_packet()))),
    };
    let ended = end.is_some();
    for (kind, data) in records.into_iter().chain(end) {
        *seq += 1;
        append(settings, id, Packet::new(*seq, kind, data)).await?;
    }
    Ok(ended)
}

/// A stored packet's kind and JSON.
type Record = (PacketKind, Box<RawValue>);

/// The records of a batch of packets, which the job's [`Sender`](crate::Sender)
/// wrote as NDJSON lines. A line is one JSON value, so reading the batch as a
/// sequence of JSON values splits it, even where a packet holds raw JSON that
/// spans lines.
fn records(frames: &[u8]) -> Result<Vec<Record>, serde_json::Error> {
    serde_json::Deserializer::from_slice(frames)
        .into_iter::<NdjsonLine<Box<RawValue>, Box<RawValue>>>()
        .map(|line| line.map(NdjsonLine::into_parts))
        .collect()
}

/// The record of a stream's end.
fn end_record(end: End) -> Record {
    let (frame, packet) = match end {
        End::Done(frame) => (frame, None),
        End::Failed { packet, frame } => (frame, Some(packet)),
        // The job's task was stopped from outside (the runtime is shutting
        // down) before its final packet.
        End::Dropped => return error_record(&ended_packet()),
    };
    match serde_json::from_slice::<NdjsonLine<Box<RawValue>, Box<RawValue>>>(&frame) {
        Ok(line) => line.into_parts(),
        // serde_json writes valid JSON; this is only a guard.
        Err(_) => error_record(&packet.unwrap_or_else(ended_packet)),
    }
}

fn error_record(packet: &ErrorPacket) -> Record {
    let data = serde_json::value::to_raw_value(packet).expect("the error object always serializes");
    (PacketKind::Error, data)
}

fn ended_packet() -> ErrorPacket {
    Error::message(ENDED_UNEXPECTEDLY_MESSAGE).into_packet(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn text((kind, data): Record) -> (PacketKind, String) {
        (kind, data.get().to_owned())
    }

    #[test]
    fn records_are_kind_and_raw_json() {
        let frames = b"{\"progress\":\"hi\"}\n{\"progress\":{\"a\":\n1}}\n";
        let got: Vec<_> = records(frames).unwrap().into_iter().map(text).collect();
        assert_eq!(
            got,
            [
                (PacketKind::Progress, "\"hi\"".to_owned()),
                (PacketKind::Progress, "{\"a\":\n1}".to_owned())
            ]
        );
        let done = End::Done(Bytes::from_static(b"{\"done\":null}\n"));
        assert_eq!(
            text(end_record(done)),
            (PacketKind::Done, "null".to_owned())
        );
        let packet = ErrorPacket {
            message: "no".into(),
            status: 422,
            error_id: None,
        };
        assert_eq!(
            text(error_record(&packet)),
            (
                PacketKind::Error,
                "{\"message\":\"no\",\"status\":422}".to_owned()
            )
        );
    }
}
