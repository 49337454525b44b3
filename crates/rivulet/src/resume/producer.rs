//! The producer of a resumable stream: takes the packets of the detached job
//! and appends them to the store, renews its lease while the job runs, and
//! stops the job when no client has been connected for the grace period.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tokio::time::{Instant, interval_at};

use super::Settings;
use super::id::StreamId;
use super::store::{Packet, StoreError};
use crate::body::HandlerTask;
use crate::encode;
use crate::error::{Error, ErrorPacket};
use crate::format::Format;
use crate::sender::Item;
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
            item = rx.recv() => {
                let (record, last) = match item {
                    Some(item) => record_of(item),
                    // The job's task was stopped from outside (the runtime is
                    // shutting down) before its final packet.
                    None => (error_record(ended_packet()), true),
                };
                seq += 1;
                if let Err(e) = append(&settings, id, Packet { seq, record, last }).await {
                    tracing::error!(stream = %id, error = %e, "could not store a packet: the job is stopped");
                    return;
                }
                if last {
                    return;
                }
            }
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
                    while let Ok(item) = rx.try_recv() {
                        let (record, last) = record_of(item);
                        seq += 1;
                        if append(&settings, id, Packet { seq, record, last }).await.is_err() || last {
                            return;
                        }
                    }
                    let message = format!(
                        "the stream was stopped: no client was connected for {:?}",
                        settings.grace
                    );
                    let packet = Error::new(StatusCode::GONE, message).into_packet(false);
                    seq += 1;
                    let record = error_record(packet);
                    let _ = append(&settings, id, Packet { seq, record, last: true }).await;
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

/// The stored form of an item: its NDJSON line without the line end.
fn record_of(item: Item) -> (String, bool) {
    let (frame, last) = match item {
        Item::Packet(frame) => (frame, false),
        Item::Done(frame) => (frame, true),
        Item::Failed { packet, frame } => match std::str::from_utf8(&frame) {
            Ok(_) => (frame, true),
            Err(_) => return (error_record(*packet), true),
        },
    };
    let line = frame.strip_suffix(b"\n").unwrap_or(&frame);
    match String::from_utf8(line.to_vec()) {
        Ok(record) => (record, last),
        // serde_json writes UTF-8; this is only a guard.
        Err(_) => (error_record(ended_packet()), true),
    }
}

fn error_record(packet: ErrorPacket) -> String {
    let frame = encode::error(Format::Ndjson, 0, &packet);
    let line = frame.strip_suffix(b"\n").unwrap_or(&frame);
    String::from_utf8_lossy(line).into_owned()
}

fn ended_packet() -> ErrorPacket {
    Error::message("the stream ended unexpectedly").into_packet(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn records_are_ndjson_lines() {
        let item = Item::Packet(Bytes::from_static(b"{\"progress\":\"hi\"}\n"));
        assert_eq!(record_of(item), ("{\"progress\":\"hi\"}".to_owned(), false));
        let item = Item::Done(Bytes::from_static(b"{\"done\":null}\n"));
        assert_eq!(record_of(item), ("{\"done\":null}".to_owned(), true));
        let packet = ErrorPacket {
            message: "no".into(),
            status: 422,
            error_id: None,
        };
        assert_eq!(
            error_record(packet),
            "{\"error\":{\"message\":\"no\",\"status\":422}}"
        );
    }
}
