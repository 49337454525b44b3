//! The producer of a resumable stream: takes the packets of the detached job
//! and appends them to the store, renews its lease while the job runs, and
//! stops the job when no client has been connected for the grace period.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::time::{Instant, interval_at};

use super::Settings;
use super::store::StoreError;
use crate::error::Error;
use crate::history::Packet;
use crate::protocol::StreamId;
use crate::protocol::{CANCELLED_MESSAGE, ENDED_UNEXPECTEDLY_MESSAGE, HISTORY_LOST_MESSAGE};
use crate::stream::Job;
use crate::stream::buffer::{End, Taken};
use crate::stream::handler_task::HandlerTask;
use crate::stream::record::{Record, Records};

/// How often, at most, the producer looks for a cancel.
const CANCEL_POLL: Duration = Duration::from_millis(250);

/// Registers the stream and spawns its producer. On failure the job is stopped.
pub(super) async fn start(
    settings: &Arc<Settings>,
    id: StreamId,
    owner: Option<&str>,
    job: Job<Records>,
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

async fn produce(settings: Arc<Settings>, id: StreamId, job: Job<Records>, stop: HandlerTask) {
    let store = &settings.store;
    let mut rx = job.rx;
    let renew_every = settings.lease / 3;
    let mut renew = interval_at(Instant::now() + renew_every, renew_every);
    // Often enough that a cancel stops the job within a second, wherever the
    // client sent it: the flag travels through the store.
    let check_every = (settings.grace / 4).clamp(Duration::from_millis(5), CANCEL_POLL);
    let mut check = interval_at(Instant::now() + check_every, check_every);
    let mut seq = 0;
    loop {
        tokio::select! {
            taken = rx.take() => match keep(&settings, id, &mut seq, taken).await {
                Ok(false) => {}
                // The final packet is stored.
                Ok(true) => return,
                Err(StoreError::OutOfOrder { seq }) => return end_lost_history(&settings, id, seq).await,
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
                Ok(Some(status)) if status.cancelled => {
                    let packet = Error::new(StatusCode::CONFLICT, CANCELLED_MESSAGE);
                    tracing::info!(stream = %id, "a client cancelled the stream: its job is stopped");
                    return stop_job(&settings, id, &stop, rx, seq, packet).await;
                }
                Ok(Some(status)) if status.watched => {}
                Ok(Some(_)) => {
                    let message = format!(
                        "the stream was stopped: no client was connected for {:?}",
                        settings.grace
                    );
                    let packet = Error::new(StatusCode::GONE, message);
                    return stop_job(&settings, id, &stop, rx, seq, packet).await;
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

/// Stops the job (drops its future), keeps what it sent before, and ends the
/// stream with `why` unless a final packet among that already ended it.
async fn stop_job(
    settings: &Settings,
    id: StreamId,
    stop: &HandlerTask,
    mut rx: crate::stream::buffer::Reader<Records>,
    mut seq: u64,
    why: Error,
) {
    stop.0.abort();
    crate::metrics::cancelled();
    rx.close();
    let mut taken = rx.try_take();
    if matches!(taken.end, Some(End::Dropped)) {
        // Stopped here, not from outside: `why` says it below.
        taken.end = None;
    }
    if !matches!(keep(settings, id, &mut seq, taken).await, Ok(false)) {
        return;
    }
    seq += 1;
    let record = Record::error(&why.into_packet(false));
    let _ = append(settings, id, &[Packet::new(seq, record.kind, record.data)]).await;
}

/// The store refused packet `seq` as out of order although this producer
/// appended every packet before it. When the store holds fewer of them than
/// that, it lost some (a Redis failover before they reached the replica): the
/// stream ends there with the history-lost packet, so that every reader
/// learns it now, not once the producer's lease has lapsed. The job stops.
async fn end_lost_history(settings: &Settings, id: StreamId, seq: u64) {
    let status = settings.store.status(id).await;
    let last = match status {
        Ok(Some(status)) if !status.finished && status.last + 1 < seq => status.last,
        other => {
            tracing::error!(stream = %id, seq, status = ?other, "the store refused a packet out of order: the job is stopped");
            return;
        }
    };
    tracing::warn!(stream = %id, appended = seq - 1, kept = last, "the store lost packets of the stream: it ends saying so");
    let lost = Error::new(StatusCode::INTERNAL_SERVER_ERROR, HISTORY_LOST_MESSAGE);
    let record = Record::error(&lost.into_packet(false));
    if let Err(e) = append(
        settings,
        id,
        &[Packet::new(last + 1, record.kind, record.data)],
    )
    .await
    {
        tracing::error!(stream = %id, error = %e, "could not end a stream whose packets the store lost");
    }
}

/// Appends `packets`, retrying a failing backend for up to one lease: a
/// retry appends them all again, and the store skips those it has.
async fn append(settings: &Settings, id: StreamId, packets: &[Packet]) -> Result<(), StoreError> {
    let deadline = Instant::now() + settings.lease;
    let mut delay = Duration::from_millis(20);
    loop {
        match settings.store.append_all(id, packets).await {
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
    taken: Taken<Records>,
) -> Result<bool, StoreError> {
    let end = taken.end.map(end_record);
    let ended = end.is_some();
    let packets: Vec<Packet> = taken
        .frames
        .into_iter()
        .chain(end)
        .map(|record| {
            *seq += 1;
            Packet::new(*seq, record.kind, record.data)
        })
        .collect();
    append(settings, id, &packets).await?;
    Ok(ended)
}

/// The record of a stream's end.
fn end_record(end: End<Record>) -> Record {
    match end {
        End::Done(record) | End::Failed { frame: record, .. } => record,
        // The job's task was stopped from outside (the runtime is shutting
        // down) before its final packet.
        End::Dropped => {
            Record::error(&Error::from_message(ENDED_UNEXPECTEDLY_MESSAGE).into_packet(false))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stream;
    use crate::config::Config;
    use crate::protocol::Format;
    use crate::protocol::PacketKind;
    use serde_json::value::RawValue;

    /// The job's packets reach the producer as the records the handler's
    /// sends made: each value's JSON text as serialized (here raw JSON that
    /// spans lines, and a string holding NDJSON lines of its own), with its
    /// kind, and no frame in between to split.
    #[tokio::test]
    async fn a_jobs_packets_arrive_as_records() {
        let raw = RawValue::from_string("{\"a\":\n 1}".to_owned()).unwrap();
        let lines = "{\"done\":1}\n{\"error\":2}\n";
        let stream = Stream::new(Format::Sse, Config::default());
        let Ok(job) = stream.spawn::<Records, _, _, _>(move |tx| async move {
            tx.send(&raw).await?;
            tx.send(lines).await?;
            Ok("end")
        }) else {
            panic!("the job starts");
        };
        let mut rx = job.rx;
        let mut got = Vec::new();
        loop {
            let taken = rx.take().await;
            got.extend(taken.frames);
            if let Some(end) = taken.end {
                got.push(end_record(end));
                break;
            }
        }
        let got: Vec<_> = got.iter().map(|r| (r.kind, r.data.get())).collect();
        assert_eq!(
            got,
            [
                (PacketKind::Progress, "{\"a\":\n 1}"),
                (
                    PacketKind::Progress,
                    "\"{\\\"done\\\":1}\\n{\\\"error\\\":2}\\n\""
                ),
                (PacketKind::Done, "\"end\""),
            ]
        );
    }

    #[test]
    fn a_job_stopped_from_outside_ends_with_an_error_record() {
        let record = end_record(End::Dropped);
        assert_eq!(record.kind, PacketKind::Error);
        assert!(record.data.get().contains(ENDED_UNEXPECTEDLY_MESSAGE));
    }
}
