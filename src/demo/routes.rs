//! The demo's streams: the seed examples, and a few more that show errors,
//! uploads, progressive rendering and live feeds.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::StatusCode;
use axum::response::Response;
use rivulet::{Error, Stream};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::time::sleep;

use super::params::Params;

/// `/stream`: the first seed example.
pub async fn test(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let interval = params.interval(1000)?;
            tx.send("Starting stream test").await?;
            for i in 1..=10 {
                sleep(interval).await;
                tx.send(format!("i={i}")).await?;
            }
            Ok(())
        })
        .await
}

/// `/stream/status`: one object packet.
pub async fn status(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            sleep(params.interval(0)?).await;
            tx.send(json!({ "status": "ok", "count": 3, "items": ["alpha", "beta", "gamma"] }))
                .await?;
            Ok(())
        })
        .await
}

/// `/stream/process?items=N`: a batch job with a final summary.
pub async fn process(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            // Checked before the first packet: a bad value is answered 422.
            let items: u32 = params.get("items", 100, 1..=100_000)?;
            let interval = params.interval(100)?;
            let started = Instant::now();
            tx.send("Starting batch process").await?;
            let mut processed = 0;
            for i in 1..=items {
                sleep(interval).await; // the work on item i
                processed += 1;
                if i % 10 == 0 {
                    tx.send(format!("Processed {processed} items")).await?;
                }
            }
            Ok(json!({
                "success": true,
                "processed": processed,
                "duration": started.elapsed().as_secs_f64(),
            }))
        })
        .await
}

/// `/stream/job?items=N`: a batch job that reports how far it is as
/// `{"current": k, "total": n}`, the shape `rivulet watch` draws a bar for.
pub async fn job(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let total: u32 = params.get("items", 30, 1..=100_000)?;
            let interval = params.interval(100)?;
            let started = Instant::now();
            for current in 1..=total {
                sleep(interval).await; // the work on item `current`
                tx.send(json!({ "current": current, "total": total }))
                    .await?;
            }
            Ok(json!({
                "success": true,
                "processed": total,
                "duration": started.elapsed().as_secs_f64(),
            }))
        })
        .await
}

/// `/stream/riskyProcess?fail=0|1`: fails half of the time, or as asked.
pub async fn risky_process(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let fail = match params.0.get("fail") {
                None => rand::random::<bool>(),
                Some(_) => params.get("fail", 0u8, 0..=1)? == 1,
            };
            let interval = params.interval(500)?;
            tx.send("Starting risky operation").await?;
            sleep(interval).await;
            if fail {
                return Err(Error::from_message("Something went wrong!"));
            }
            tx.send("Operation succeeded").await?;
            Ok(json!({ "success": true }))
        })
        .await
}

/// `/stream/types`: one packet of every JSON shape.
pub async fn types(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let interval = params.interval(200)?;
            let all = json!({
                "string": "Hello, stream",
                "integer": 42,
                "float": 3.25,
                "array": [1, "two", 3.5],
                "object": { "status": "ok", "nested": { "depth": 2 } },
                "boolean": true,
                "null": null,
                "unicode": "Grüße, naïve café — 水 🌊",
            });
            for key in [
                "string", "integer", "float", "array", "object", "boolean", "null", "unicode",
            ] {
                tx.send(&all[key]).await?;
                sleep(interval).await;
            }
            Ok(all)
        })
        .await
}

/// `/stream/feed`: a live feed, one packet per interval until the client leaves.
pub async fn feed(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let interval = params.interval(1000)?;
            let mut ticks = tokio::time::interval(interval.max(Duration::from_millis(1)));
            for seq in 1u64.. {
                ticks.tick().await;
                let at_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                tx.send(json!({ "seq": seq, "at_ms": at_ms })).await?;
            }
            Ok(())
        })
        .await
}

/// `/stream/upload`: hashes an uploaded file (multipart field `file`), reporting
/// the bytes hashed so far.
pub async fn upload(stream: Stream, multipart: Result<Multipart, MultipartRejection>) -> Response {
    stream
        .run(|tx| async move {
            // A rejection or a broken part is a 4xx with its reason (rivulet::rejection).
            let mut multipart = multipart?;
            let mut field = loop {
                match multipart.next_field().await? {
                    Some(field) if field.name() == Some("file") => break field,
                    Some(_) => continue,
                    None => {
                        return Err(Error::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "the upload has no `file` field",
                        ));
                    }
                }
            };
            const REPORT_EVERY: u64 = 256 * 1024;
            let mut hasher = Sha256::new();
            let mut bytes = 0u64;
            let mut reported = 0u64;
            while let Some(chunk) = field.chunk().await? {
                hasher.update(&chunk);
                bytes += chunk.len() as u64;
                if bytes - reported >= REPORT_EVERY {
                    reported = bytes;
                    tx.send(json!({ "bytes": bytes })).await?;
                }
            }
            let sha256: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Ok(json!({ "bytes": bytes, "sha256": sha256 }))
        })
        .await
}

/// `/stream/render?rows=N`: rows of a table, sent as they are computed.
pub async fn render(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let rows: u32 = params.get("rows", 20, 1..=10_000)?;
            let interval = params.interval(100)?;
            for row in 1..=rows {
                sleep(interval).await;
                let square = u64::from(row) * u64::from(row);
                tx.send(json!({
                    "row": row,
                    "cells": [format!("Item {row}"), square, format!("{:.3}", f64::from(row).sqrt())],
                }))
                .await?;
            }
            Ok(json!({ "rows": rows }))
        })
        .await
}

/// `/stream/durable?items=N&every=K`: `/stream/process` as a resumable stream.
/// The job survives a dropped connection or a page reload: a client that comes
/// back with `Last-Event-ID` (or `?lastEventId=`) gets what it missed, then the
/// rest. A packet every `every` items (default 10).
pub async fn durable(stream: rivulet::resume::Resumable, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let items: u32 = params.get("items", 100, 1..=100_000)?;
            let every: u32 = params.get("every", 10, 1..=100_000)?;
            let interval = params.interval(100)?;
            let started = Instant::now();
            tx.send("Starting durable process").await?;
            for i in 1..=items {
                sleep(interval).await; // the work on item i
                if i % every == 0 {
                    tx.send(format!("Processed {i} items")).await?;
                }
            }
            Ok(json!({
                "success": true,
                "processed": items,
                "duration": started.elapsed().as_secs_f64(),
            }))
        })
        .await
}
