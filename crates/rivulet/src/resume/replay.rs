//! Serving one connection of a resumable stream: reads the stream from the
//! store after the client's resume point, encodes each packet in the
//! connection's format, and keeps the stream marked as watched meanwhile.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::id::StreamId;
use super::store::{Packet, StoreError};
use super::{STREAM_ID_HEADER, Settings};
use crate::body::HandlerTask;
use crate::buffer::{self, End, Writer};
use crate::encode::{self, Kind};
use crate::error::{Error, ErrorPacket};
use crate::format::Format;
use crate::stream;

/// What a client is told when the packets it missed were evicted.
pub(super) const EVICTED_MESSAGE: &str =
    "the packets this client missed are no longer kept: the stream cannot be resumed";
const EXPIRED_MESSAGE: &str = "the stream has expired";
const PRODUCER_GONE_MESSAGE: &str = "the server running this stream stopped";
const STORE_FAILED_MESSAGE: &str = "the stream store failed";

/// Packets read from the store at once.
const BATCH: usize = 64;
/// Failed store reads in a row before a connection gives up.
const MAX_FAILURES: u32 = 5;

/// Answers with stream `id` from packet `after + 1` on.
pub(super) async fn respond(
    settings: &Arc<Settings>,
    id: StreamId,
    after: u64,
    format: Format,
    keep_alive: Option<Duration>,
) -> Response {
    let (tx, rx) = buffer::channel(BATCH);
    let task = tokio::spawn(follow(settings.clone(), id, after, format, tx));
    let mut response = stream::respond(
        rx,
        format,
        keep_alive,
        HandlerTask(task.abort_handle()),
        None,
    )
    .await;
    if response.status() == StatusCode::OK {
        let value = HeaderValue::from_str(&id.to_string()).expect("hex digits");
        response.headers_mut().insert(STREAM_ID_HEADER, value);
    }
    response
}

async fn follow(settings: Arc<Settings>, id: StreamId, after: u64, format: Format, tx: Writer) {
    let store = &settings.store;
    let heartbeat = async {
        loop {
            if let Err(e) = store.touch(id, settings.grace).await {
                tracing::debug!(stream = %id, error = %e, "could not mark the stream watched");
            }
            tokio::time::sleep(settings.grace / 3).await;
        }
    };
    tokio::select! {
        () = replay(&settings, id, after, format, &tx) => {}
        () = heartbeat => {}
    }
}

async fn replay(settings: &Settings, id: StreamId, mut after: u64, format: Format, tx: &Writer) {
    let store = &settings.store;
    // How long one read waits for new packets before checking on the producer.
    let wait = (settings.lease / 2).min(Duration::from_secs(5));
    let mut failures = 0;
    loop {
        let mut packets = match store.read(id, after, BATCH, wait).await {
            Ok(packets) => packets,
            Err(StoreError::Evicted { .. }) => {
                return fail(tx, format, id, StatusCode::GONE, EVICTED_MESSAGE).await;
            }
            Err(StoreError::Unknown) => {
                return fail(tx, format, id, StatusCode::GONE, EXPIRED_MESSAGE).await;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(stream = %id, error = %e, "reading a stream failed");
                if failures >= MAX_FAILURES {
                    let status = StatusCode::SERVICE_UNAVAILABLE;
                    return fail(tx, format, id, status, STORE_FAILED_MESSAGE).await;
                }
                tokio::time::sleep(wait.min(Duration::from_millis(200) * failures)).await;
                continue;
            }
        };
        if packets.is_empty() {
            match store.status(id).await {
                Ok(Some(status)) if status.finished && status.last <= after => return,
                Ok(Some(status)) if status.finished || status.producer_alive => {
                    failures = 0;
                    continue;
                }
                Ok(Some(_)) => {
                    // The lease ran out. A final packet appended just before
                    // that would still be there: one last look.
                    packets = store
                        .read(id, after, BATCH, Duration::ZERO)
                        .await
                        .unwrap_or_default();
                    if packets.is_empty() {
                        let status = StatusCode::SERVICE_UNAVAILABLE;
                        return fail(tx, format, id, status, PRODUCER_GONE_MESSAGE).await;
                    }
                }
                Ok(None) => {
                    return fail(tx, format, id, StatusCode::GONE, EXPIRED_MESSAGE).await;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(stream = %id, error = %e, "checking a stream failed");
                    if failures >= MAX_FAILURES {
                        let status = StatusCode::SERVICE_UNAVAILABLE;
                        return fail(tx, format, id, status, STORE_FAILED_MESSAGE).await;
                    }
                    continue;
                }
            }
        }
        failures = 0;
        for packet in packets {
            let item = match encode_packet(&packet, format, id) {
                Ok(item) => item,
                Err(e) => {
                    tracing::error!(stream = %id, seq = packet.seq, error = %e, "a stored packet is not valid");
                    let status = StatusCode::INTERNAL_SERVER_ERROR;
                    return fail(tx, format, id, status, STORE_FAILED_MESSAGE).await;
                }
            };
            match item {
                Item::Packet(frame) => {
                    if tx.push(&frame).await.is_err() {
                        return;
                    }
                }
                Item::End(end) => tx.finish(end),
            }
            after = packet.seq;
            if packet.last {
                return;
            }
        }
    }
}

/// Ends this connection's stream with an error packet. It has no resume id:
/// the error belongs to this connection, not to the stream.
async fn fail(
    tx: &Writer,
    format: Format,
    id: StreamId,
    status: StatusCode,
    message: &'static str,
) {
    tracing::info!(stream = %id, message, "ending a connection of a resumable stream");
    let packet = Error::new(status, message).into_packet(false);
    let frame = encode::error(format, 0, &packet);
    let frame = if format == Format::Sse {
        // An SSE `id: 0` would reset the client's last event id; an event
        // without an `id` field keeps it.
        Bytes::from(frame.strip_prefix(b"id: 0\n").unwrap_or(&frame).to_vec())
    } else {
        frame
    };
    tx.finish(End::Failed { packet, frame });
}

/// A stored record: `{"progress"|"done"|"error": …}`.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Record {
    Progress(Box<RawValue>),
    Done(Box<RawValue>),
    Error(ErrorPacket),
}

/// A stored packet encoded for a connection.
enum Item {
    Packet(Bytes),
    End(End),
}

/// Encodes a stored packet for a connection in `format`.
fn encode_packet(packet: &Packet, format: Format, id: StreamId) -> Result<Item, serde_json::Error> {
    let record: Record = serde_json::from_str(&packet.record)?;
    let seq = packet.seq;
    Ok(match record {
        Record::Progress(value) => {
            let frame = encode::packet(format, Kind::Progress, seq, &*value)?;
            Item::Packet(with_stream_id(format, id, frame))
        }
        Record::Done(value) => {
            let frame = encode::packet(format, Kind::Done, seq, &*value)?;
            Item::End(End::Done(with_stream_id(format, id, frame)))
        }
        Record::Error(packet) => {
            let frame = encode::error(format, seq, &packet);
            Item::End(End::Failed {
                packet,
                frame: with_stream_id(format, id, frame),
            })
        }
    })
}

/// Turns an SSE frame's `id: <seq>` into `id: <stream id>.<seq>`: the resume
/// point of the packet, which an `EventSource` sends back as `Last-Event-ID`.
fn with_stream_id(format: Format, id: StreamId, frame: Bytes) -> Bytes {
    if format != Format::Sse {
        return frame;
    }
    let Some(rest) = frame.strip_prefix(b"id: ") else {
        debug_assert!(false, "SSE frames start with their id");
        return frame;
    };
    let mut out = BytesMut::with_capacity(frame.len() + 33);
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.to_string().as_bytes());
    out.extend_from_slice(b".");
    out.extend_from_slice(rest);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(item: Item) -> String {
        let frame = match item {
            Item::Packet(frame) => frame,
            Item::End(End::Done(frame) | End::Failed { frame, .. }) => frame,
            Item::End(End::Dropped) => unreachable!("stored packets are never dropped ends"),
        };
        String::from_utf8(frame.to_vec()).unwrap()
    }

    #[test]
    fn stored_packets_encode_in_every_format() {
        let id: StreamId = "000000000000000000000000000000ff".parse().unwrap();
        let packet = |record: &str, seq| Packet {
            seq,
            record: record.into(),
            last: false,
        };
        let progress = packet(
            r#"{"progress":{"k":"café 🌊","n":18446744073709551616}}"#,
            7,
        );
        assert_eq!(
            text(encode_packet(&progress, Format::Sse, id).unwrap()),
            "id: 000000000000000000000000000000ff.7\ndata: {\"k\":\"café 🌊\",\"n\":18446744073709551616}\n\n"
        );
        assert_eq!(
            text(encode_packet(&progress, Format::Ndjson, id).unwrap()),
            "{\"progress\":{\"k\":\"café 🌊\",\"n\":18446744073709551616}}\n"
        );
        assert_eq!(
            text(encode_packet(&progress, Format::Legacy, id).unwrap()),
            "37\0a{\"k\":\"caf\\u00e9 \\ud83c\\udf0a\",\"n\":18446744073709551616}"
        );
        let plain = packet(r#"{"progress":"plain text"}"#, 1);
        assert_eq!(
            text(encode_packet(&plain, Format::Legacy, id).unwrap()),
            "a\0splain text"
        );
        let done = packet(r#"{"done":null}"#, 8);
        assert_eq!(
            text(encode_packet(&done, Format::Sse, id).unwrap()),
            "id: 000000000000000000000000000000ff.8\nevent: done\ndata: null\n\n"
        );
        let error = packet(r#"{"error":{"message":"no","status":410}}"#, 9);
        assert_eq!(
            text(encode_packet(&error, Format::Legacy, id).unwrap()),
            "\0e{\"ok\":false,\"error\":{\"type\":410,\"status\":\"Stream Error\",\"str\":\"no\"}}"
        );
    }
}
