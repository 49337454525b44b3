//! A resumable job shared by two servers through Redis: start it on one
//! server, lose the connection, and pick it up on the other, with every packet
//! you missed, once each, in order, then the live ones and the final packet.
//!
//! ```sh
//! redis-server --port 6379 --save '' &     # or any Redis you have
//! cargo run -p rivulet-http --features redis --example resumable_redis -- redis://127.0.0.1:6379
//! # Server A is http://127.0.0.1:3001, server B http://127.0.0.1:3002. Start
//! # the job on A and stop curl after a few events (Ctrl-C):
//! curl -N http://127.0.0.1:3001/job
//! # Every SSE event has an id `<stream id>.<number>`. Resume from the last one
//! # you saw on B:
//! curl -N -H 'Last-Event-ID: <stream id>.<number>' http://127.0.0.1:3002/job
//! # Or let a client reconnect on its own across a cut:
//! cargo run -- watch http://127.0.0.1:3001/job
//! ```
//!
//! What to look at:
//! - The handler takes `rivulet::resume::Resumable` instead of `Stream`: the job
//!   runs on a task of its own, detached from the connection, and its packets
//!   go to the store.
//! - Both servers get a `Resume` over a `RedisStore` on the same Redis, so
//!   either one can answer a resume; the job keeps running on the server that
//!   started it while a client reads it from the other.
//! - NDJSON and legacy clients build the same resume point from the
//!   `Rivulet-Stream-Id` header and the count of packets they received.
//!
//! `ADDR_A`, `ADDR_B` override the addresses; `?steps=N&interval_ms=M` the job.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Query;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use rivulet::resume::{RedisStore, Resumable, Resume, StoreError};
use serde::Deserialize;
use serde_json::json;

/// `?steps=N&interval_ms=M`.
#[derive(Deserialize)]
struct Job {
    #[serde(default = "Job::default_steps")]
    steps: u32,
    #[serde(default = "Job::default_interval")]
    interval_ms: u64,
}

impl Job {
    fn default_steps() -> u32 {
        20
    }
    fn default_interval() -> u64 {
        500
    }
}

/// A job of `steps` steps: a packet per step, a summary at the end.
async fn job(stream: Resumable, Query(job): Query<Job>) -> Response {
    stream
        .run(move |tx| async move {
            let (steps, pause) = (job.steps.min(10_000), job.interval_ms.min(10_000));
            for step in 1..=steps {
                tokio::time::sleep(Duration::from_millis(pause)).await; // the work
                tx.send(json!({ "step": step, "of": steps })).await?;
            }
            Ok(json!({ "steps": steps }))
        })
        .await
}

/// One server: the job, its streams kept in the Redis at `redis`.
async fn app(redis: &str) -> Result<Router, StoreError> {
    let resume = Resume::new(RedisStore::connect(redis).await?).grace(Duration::from_secs(30));
    Ok(Router::new()
        .route("/job", get(job))
        .layer(Extension(resume)))
}

async fn serve(addr_var: &str, default: &str, app: Router) -> std::io::Result<SocketAddr> {
    let addr: SocketAddr = std::env::var(addr_var)
        .unwrap_or_else(|_| default.into())
        .parse()
        .expect("an address HOST:PORT");
    let listener = rivulet::serve::bind(addr)?;
    let addr = listener.local_addr()?;
    tokio::spawn(rivulet::serve(listener, app).into_future());
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
    // Two servers as two processes would run them: each its own connection.
    let a = serve("ADDR_A", "127.0.0.1:3001", app(&redis).await?).await?;
    let b = serve("ADDR_B", "127.0.0.1:3002", app(&redis).await?).await?;
    println!("server A: http://{a}/job\nserver B: http://{b}/job\nstreams kept in {redis}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rivulet::Format;
    use rivulet::decode::Event;
    use rivulet_testkit::{End, Reading, RedisServer, open, serve, url};
    use serde_json::json;

    use super::app;

    #[tokio::test]
    async fn a_job_started_on_one_server_resumes_on_the_other_exactly_once() {
        let redis = RedisServer::start();
        let a = serve(app(&redis.url()).await.unwrap()).await;
        let b = serve(app(&redis.url()).await.unwrap()).await;
        let path = "/job?steps=30&interval_ms=20";
        for format in Format::ALL {
            let mut first = Reading::new(open(&url(a, path), format, None).await, 0);
            assert_eq!(first.until(3).await, None, "{format}");
            let point = first.resume_point();
            let seen = first.events.len() as u64;
            drop(first); // the connection is lost

            let mut rest = Reading::new(open(&url(b, path), format, Some(&point)).await, seen);
            assert_eq!(rest.read_to_end().await, End::Final, "{format}");
            let (last, progress) = rest.events.split_last().unwrap();
            let expected: Vec<Event> = (seen + 1..=30)
                .map(|step| Event::Progress(json!({ "step": step, "of": 30 })))
                .collect();
            assert_eq!(
                progress, expected,
                "{format}: the rest, once each, in order"
            );
            assert_eq!(last, &Event::Done(json!({ "steps": 30 })), "{format}");
        }
    }
}
