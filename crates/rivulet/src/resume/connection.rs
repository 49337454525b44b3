//! Serving one connection of a resumable stream: reads the stream from the
//! store after the client's resume point, encodes each packet in the
//! connection's format, and keeps the stream marked as watched meanwhile.

use std::sync::Arc;
use std::time::Duration;

use crate::response::Response;
use http::StatusCode;

use super::Settings;
use super::encoding::Encoding;
use super::store::StoreError;
use crate::error::Error;
use crate::history::Packet;
use crate::metrics::ActiveStream;
use crate::protocol::ErrorPacket;
use crate::protocol::Format;
use crate::protocol::SHUTDOWN_MESSAGE;
use crate::protocol::StreamId;
use crate::protocol::{
    EVICTED_MESSAGE, EXPIRED_MESSAGE, HISTORY_LOST_MESSAGE, JOB_LOST_MESSAGE, PacketKind as Kind,
    STORE_FAILED_MESSAGE,
};
use crate::replay::{Item, encode_packet};
use crate::request::resume;
use crate::shutdown::Shutdown;
use crate::stream::body::Leaving;
use crate::stream::buffer::{self, End, Writer};
use crate::stream::encode::{self, EventId};
use crate::stream::handler_task::HandlerTask;
use crate::stream::{self, Timing};
use tokio::sync::OwnedSemaphorePermit;

/// Packets read from the store at once.
const BATCH: usize = 64;
/// Failed store reads in a row before a connection gives up.
const MAX_FAILURES: u32 = 5;

/// How a connection writes packets: in one of Rivulet's formats, or in an
/// app's SSE dialect.
#[derive(Clone)]
pub(super) enum Writing {
    Format(Format),
    Dialect(Arc<dyn Encoding>),
}

impl Writing {
    /// The Rivulet format the response takes its head and keep-alive from.
    fn format(&self) -> Format {
        match self {
            Writing::Format(format) => *format,
            Writing::Dialect(_) => Format::Sse,
        }
    }

    /// A stored packet, encoded for the connection.
    fn packet(&self, packet: &Packet, id: StreamId) -> Result<Item, serde_json::Error> {
        match self {
            Writing::Format(format) => encode_packet(packet, *format, id),
            Writing::Dialect(encoding) => {
                let frame = encoding.frame(packet);
                Ok(match packet.kind {
                    Kind::Progress => Item::Packet(frame),
                    Kind::Done => Item::End(End::Done(frame)),
                    Kind::Error => Item::End(End::Failed {
                        packet: Box::new(serde_json::from_str(packet.data.get())?),
                        frame,
                    }),
                })
            }
        }
    }

    /// The final error packet of one connection.
    fn error(&self, packet: ErrorPacket) -> End {
        let frame = match self {
            // No SSE `id` field: the client's last event id stays that of
            // the last real packet.
            Writing::Format(format) => encode::error(*format, EventId::None, &packet),
            Writing::Dialect(encoding) => {
                let record = crate::stream::record::Record::error(&packet);
                encoding.frame(&Packet::new(0, record.kind, record.data))
            }
        };
        End::Failed {
            packet: Box::new(packet),
            frame,
        }
    }
}

/// One connection reading a resumable stream.
pub(super) struct Connection {
    pub(super) writing: Writing,
    pub(super) timing: Timing,
    /// Ends the connection with an error packet when the server stops.
    pub(super) shutdown: Option<Shutdown>,
    /// For a resumed connection: its slot under `Config::max_streams` and its
    /// count as an active stream, held while it streams.
    pub(super) held: Option<(Option<OwnedSemaphorePermit>, ActiveStream)>,
}

/// Answers with stream `id` from packet `after + 1` on.
pub(super) async fn respond(
    settings: &Arc<Settings>,
    id: StreamId,
    after: u64,
    connection: Connection,
) -> Response {
    let Connection {
        writing,
        timing,
        shutdown,
        held,
    } = connection;
    let (tx, rx) = buffer::channel(BATCH);
    let format = writing.format();
    let dialect = match &writing {
        Writing::Dialect(encoding) => Some(encoding.clone()),
        Writing::Format(_) => None,
    };
    let task = tokio::spawn(follow(
        settings.clone(),
        id,
        after,
        writing,
        tx,
        shutdown,
        held,
    ));
    let task = HandlerTask(task.abort_handle());
    let mut response = stream::respond(rx, format, timing, task, Leaving::KeepsJob, None).await;
    if response.status() == StatusCode::OK {
        resume::name_history(response.headers_mut(), id, after);
        if let Some(encoding) = dialect {
            encoding.headers(response.headers_mut());
        }
    }
    response
}

async fn follow(
    settings: Arc<Settings>,
    id: StreamId,
    after: u64,
    writing: Writing,
    tx: Writer,
    shutdown: Option<Shutdown>,
    held: Option<(Option<OwnedSemaphorePermit>, ActiveStream)>,
) {
    // Released when the connection ends, or is dropped with this task.
    let _held = held;
    let store = &settings.store;
    // A server that stops ends every stream it serves with a packet: this
    // connection's job may run on elsewhere, and its client resume there.
    let stopping = async {
        match &shutdown {
            Some(shutdown) => shutdown.ended().await,
            None => std::future::pending().await,
        }
    };
    let heartbeat = async {
        loop {
            if let Err(e) = store.touch(id, settings.grace).await {
                tracing::debug!(stream = %id, error = %e, "could not mark the stream watched");
            }
            tokio::time::sleep(settings.grace / 3).await;
        }
    };
    tokio::select! {
        () = replay(&settings, id, after, &writing, &tx) => {}
        () = heartbeat => {}
        () = stopping => {
            let status = StatusCode::SERVICE_UNAVAILABLE;
            fail(&tx, &writing, id, status, SHUTDOWN_MESSAGE).await;
        }
    }
}

async fn replay(settings: &Settings, id: StreamId, mut after: u64, writing: &Writing, tx: &Writer) {
    let store = &settings.store;
    // How long one read waits for new packets before checking on the producer.
    let wait = (settings.lease / 2).min(Duration::from_secs(5));
    let mut failures = 0;
    // A stream leaves its store on its own only its TTL after its final
    // packet: one that leaves before a reader saw it finished was lost
    // (Redis restarted empty, or evicted it), and the reader says so.
    let mut finished = false;
    // Progress packets are encoded here, then copied into the stream's
    // buffer: one buffer for the whole connection, not one per packet.
    let mut scratch = Vec::with_capacity(256);
    let left = |finished: bool| {
        if finished {
            EXPIRED_MESSAGE
        } else {
            HISTORY_LOST_MESSAGE
        }
    };
    let left_status = |finished: bool| {
        if finished {
            StatusCode::GONE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    loop {
        let packets = match store.read(id, after, BATCH, wait).await {
            Ok(packets) => packets,
            Err(StoreError::Evicted { .. }) => {
                return fail(tx, writing, id, StatusCode::GONE, EVICTED_MESSAGE).await;
            }
            Err(StoreError::Unknown) => {
                return fail(tx, writing, id, left_status(finished), left(finished)).await;
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(stream = %id, error = %e, "reading a stream failed");
                if failures >= MAX_FAILURES {
                    let status = StatusCode::SERVICE_UNAVAILABLE;
                    return fail(tx, writing, id, status, STORE_FAILED_MESSAGE).await;
                }
                tokio::time::sleep(wait.min(Duration::from_millis(200) * failures)).await;
                continue;
            }
        };
        if packets.is_empty() {
            let status = store.status(id).await;
            if let Ok(Some(status)) = &status {
                finished |= status.finished;
            }
            match status {
                Ok(Some(status))
                    if status.last < after || (status.finished && status.last == after) =>
                {
                    // The store holds fewer packets than this reader had, or
                    // a final packet under the number of one it had that was
                    // not final: it lost some (a Redis failover before they
                    // reached the replica). What follows would not continue
                    // them.
                    tracing::warn!(stream = %id, delivered = after, kept = status.last, "the store lost packets of the stream");
                    let status = StatusCode::INTERNAL_SERVER_ERROR;
                    return fail(tx, writing, id, status, HISTORY_LOST_MESSAGE).await;
                }
                Ok(Some(status)) if status.finished || status.producer_alive => {
                    failures = 0;
                    continue;
                }
                Ok(Some(status)) => {
                    // The lease ran out before the final packet: the server
                    // running the job is gone. The stream gets its final
                    // packet here, in the store, so that every reader and
                    // every later resume gets the same answer. The store
                    // appends it only if the lease has still run out and no
                    // other packet came meanwhile; either way, read again.
                    let lost = Error::new(StatusCode::INTERNAL_SERVER_ERROR, JOB_LOST_MESSAGE)
                        .into_packet(false);
                    let record = crate::stream::record::Record::error(&lost);
                    let packet = Packet::new(status.last + 1, record.kind, record.data);
                    match store.end_lost(id, packet).await {
                        Ok(ended) => {
                            if ended {
                                tracing::warn!(stream = %id, "the producer's lease ran out: the job was lost");
                            }
                        }
                        Err(StoreError::Unknown) => {
                            let (status, message) = (left_status(finished), left(finished));
                            return fail(tx, writing, id, status, message).await;
                        }
                        Err(e) => {
                            failures += 1;
                            tracing::warn!(stream = %id, error = %e, "ending a lost stream failed");
                            if failures >= MAX_FAILURES {
                                let status = StatusCode::SERVICE_UNAVAILABLE;
                                return fail(tx, writing, id, status, STORE_FAILED_MESSAGE).await;
                            }
                        }
                    }
                    continue;
                }
                Ok(None) => {
                    return fail(tx, writing, id, left_status(finished), left(finished)).await;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(stream = %id, error = %e, "checking a stream failed");
                    if failures >= MAX_FAILURES {
                        let status = StatusCode::SERVICE_UNAVAILABLE;
                        return fail(tx, writing, id, status, STORE_FAILED_MESSAGE).await;
                    }
                    continue;
                }
            }
        }
        failures = 0;
        for packet in packets {
            if let (Writing::Format(format), Kind::Progress) = (writing, packet.kind) {
                scratch.clear();
                let event_id = EventId::Resume(id, packet.seq);
                let data = &*packet.data;
                let pushed = match encode::packet_into(
                    &mut scratch,
                    *format,
                    Kind::Progress,
                    event_id,
                    data,
                ) {
                    Ok(frame) => tx.push(&scratch[frame]).await,
                    Err(e) => {
                        tracing::error!(stream = %id, seq = packet.seq, error = %e, "a stored packet is not valid");
                        let status = StatusCode::INTERNAL_SERVER_ERROR;
                        return fail(tx, writing, id, status, STORE_FAILED_MESSAGE).await;
                    }
                };
                if pushed.is_err() {
                    return;
                }
                after = packet.seq;
                continue;
            }
            let item = match writing.packet(&packet, id) {
                Ok(item) => item,
                Err(e) => {
                    tracing::error!(stream = %id, seq = packet.seq, error = %e, "a stored packet is not valid");
                    let status = StatusCode::INTERNAL_SERVER_ERROR;
                    return fail(tx, writing, id, status, STORE_FAILED_MESSAGE).await;
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
            if packet.is_final() {
                return;
            }
        }
    }
}

/// Ends this connection's stream with an error packet. It has no resume id:
/// the error belongs to this connection, not to the stream.
async fn fail(
    tx: &Writer,
    writing: &Writing,
    id: StreamId,
    status: StatusCode,
    message: &'static str,
) {
    tracing::info!(stream = %id, message, "ending a connection of a resumable stream");
    let packet = Error::new(status, message).into_packet(false);
    tx.finish(writing.error(packet));
}
