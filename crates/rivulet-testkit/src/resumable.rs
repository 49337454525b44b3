//! Resumable streams: a GET that resumes from a point, a reader that rides
//! out a cut connection, and the counting handler the resume tests serve.

use std::time::Duration;

use axum::extract::Query;
use axum::response::Response;
use rivulet::Format;
use rivulet::decode::{Decoder, Event};
use rivulet::resume::Resumable;
use serde::Deserialize;
use serde_json::json;

use crate::{PATIENCE, client};

/// GETs `url` in `format`, resuming from `last_event_id` when given.
pub async fn open(url: &str, format: Format, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = client().get(url);
    for (name, value) in format.request_headers() {
        request = request.header(*name, *value);
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("a response head in time")
        .expect("a response")
}

/// A stream response being read packet by packet, tolerating a cut.
pub struct Reading {
    pub response: reqwest::Response,
    pub format: Format,
    /// `Rivulet-Stream-Id`.
    pub stream_id: String,
    decoder: Decoder,
    pub events: Vec<Event>,
    pub raw: Vec<u8>,
    /// Packets received over every connection of this stream so far.
    pub received: u64,
}

/// How a read ended.
#[derive(Debug, PartialEq)]
pub enum End {
    /// The final packet arrived.
    Final,
    /// The connection ended before it.
    Cut,
}

impl Reading {
    pub fn new(response: reqwest::Response, received: u64) -> Reading {
        assert_eq!(response.status(), 200, "a stream response");
        let format = Format::from_response_headers(response.headers()).expect("a stream type");
        let stream_id = response
            .headers()
            .get("rivulet-stream-id")
            .expect("Rivulet-Stream-Id on a resumable stream")
            .to_str()
            .unwrap()
            .to_owned();
        Reading {
            response,
            format,
            stream_id,
            decoder: Decoder::new(format),
            events: Vec::new(),
            raw: Vec::new(),
            received,
        }
    }

    /// Reads until `count` packets have arrived in all, the final packet, or
    /// the end of the connection.
    pub async fn until(&mut self, count: usize) -> Option<End> {
        while self.events.len() < count {
            if let Some(end) = self.step().await {
                return Some(end);
            }
        }
        None
    }

    /// Reads to the final packet or the end of the connection.
    pub async fn read_to_end(&mut self) -> End {
        loop {
            if let Some(end) = self.step().await {
                return end;
            }
        }
    }

    async fn step(&mut self) -> Option<End> {
        let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
            .await
            .expect("a chunk in time");
        let mut out = Vec::new();
        match chunk {
            Ok(Some(chunk)) => {
                self.raw.extend_from_slice(&chunk);
                self.decoder
                    .feed(&chunk, &mut out)
                    .expect("well-formed packets");
            }
            Ok(None) | Err(_) => {
                let complete = self.decoder.finish(&mut out).is_ok();
                self.take(out);
                return Some(if complete { End::Final } else { End::Cut });
            }
        }
        let finished = self.decoder.is_finished();
        self.take(out);
        finished.then_some(End::Final)
    }

    fn take(&mut self, out: Vec<Event>) {
        self.received += out.len() as u64;
        self.events.extend(out);
    }

    /// Where to resume: the SSE id of the last event, which must equal what an
    /// NDJSON or legacy client builds from the header and its count.
    pub fn resume_point(&self) -> String {
        let counted = format!("{}.{}", self.stream_id, self.received);
        if self.format == Format::Sse && self.received > 0 {
            assert_eq!(self.decoder.last_event_id(), Some(counted.as_str()));
        }
        counted
    }
}

/// The query of [`counting`].
#[derive(Deserialize)]
pub struct Count {
    pub n: u64,
    #[serde(default)]
    pub pause_ms: u64,
}

/// `n` packets `{"i": 1..=n}`, then `{"total": n}`.
pub async fn counting(stream: Resumable, Query(count): Query<Count>) -> Response {
    stream
        .run(move |tx| async move {
            for i in 1..=count.n {
                tx.send(json!({ "i": i })).await?;
                tokio::time::sleep(Duration::from_millis(count.pause_ms)).await;
            }
            Ok(json!({ "total": count.n }))
        })
        .await
}

pub fn expected(n: u64) -> Vec<Event> {
    (1..=n)
        .map(|i| Event::Progress(json!({ "i": i })))
        .chain([Event::Done(json!({ "total": n }))])
        .collect()
}

/// Sends `DELETE url`, cancelling the stream `point` (a resume point) names,
/// in the `Last-Event-ID` header when given.
pub async fn cancel(url: &str, point: Option<&str>) -> reqwest::Response {
    let mut request = client().delete(url);
    if let Some(point) = point {
        request = request.header("last-event-id", point);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("an answer in time")
        .expect("an answer")
}

/// Where [`endless`] says that its job's future was dropped: one `()` per job.
#[derive(Clone, Debug)]
pub struct DropSignal(pub tokio::sync::mpsc::UnboundedSender<()>);

/// Sends on its [`DropSignal`] when dropped, with the future that holds it.
struct Dropped(tokio::sync::mpsc::UnboundedSender<()>);

impl Drop for Dropped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// A resumable job that would run for 50 minutes, one packet `{"i": n}` every
/// 100 ms, and reports on the [`DropSignal`] extension when its future is
/// dropped (a cancel, the grace period running out). Route it for `GET` and
/// `DELETE`.
pub async fn endless(
    stream: Resumable,
    axum::Extension(dropped): axum::Extension<DropSignal>,
) -> Response {
    stream
        .run(move |tx| async move {
            let _dropped = Dropped(dropped.0);
            for i in 1..=30_000 {
                tx.send(json!({ "i": i })).await?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(json!("never reached in these tests"))
        })
        .await
}
