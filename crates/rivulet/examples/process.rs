//! A Rust program reading a stream with `rivulet::client`: each progress line
//! as it arrives, then the final summary, typed.
//!
//! ```sh
//! cargo run -p rivulet-http --features client --example process
//! # or against the demo server (`cargo run --release` in another terminal):
//! cargo run -p rivulet-http --features client --example process -- 'http://127.0.0.1:8080/stream/process?items=30'
//! ```
//!
//! Without a URL it serves its own `/stream/process` (the demo's batch job) on
//! a free loopback port and reads that, so one terminal is enough.
//!
//! What to look at: `stream.progress::<String>()` returns each packet as it is
//! sent and `None` once the final packet is next; `stream.done::<Summary>()`
//! decodes the final packet into a type. A stream that ends with an error
//! packet, or is cut off, is a `rivulet::client::Error`, never a hang.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use rivulet::Stream;
use rivulet::client::Client;
use serde::Deserialize;
use serde_json::json;

/// The final packet of `/stream/process`.
#[derive(Debug, Deserialize, PartialEq)]
struct Summary {
    success: bool,
    processed: u64,
    duration: f64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            let listener = rivulet::serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(rivulet::serve(listener, app()).into_future());
            format!("http://{addr}/stream/process")
        }
    };
    let printed = read_process(&Client::new(), &url, |line| println!("{line}")).await;
    match printed {
        Ok(summary) => {
            println!(
                "success: {}, processed {} items in {:.3} s",
                summary.success, summary.processed, summary.duration
            );
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{url}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Reads the stream at `url`: each progress line to `line`, then the summary.
async fn read_process(
    client: &Client,
    url: &str,
    mut line: impl FnMut(String),
) -> Result<Summary, rivulet::client::Error> {
    let mut stream = client.get(url).send().await?;
    while let Some(progress) = stream.progress::<String>().await? {
        line(progress);
    }
    stream.done().await
}

/// The stream this example reads when given no URL: thirty items of work, a
/// line every ten.
async fn process(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            let started = Instant::now();
            tx.send("Starting batch process").await?;
            for i in 1..=30 {
                tokio::time::sleep(Duration::from_millis(20)).await; // the work on item i
                if i % 10 == 0 {
                    tx.send(format!("Processed {i} items")).await?;
                }
            }
            Ok(json!({
                "success": true,
                "processed": 30,
                "duration": started.elapsed().as_secs_f64(),
            }))
        })
        .await
}

fn app() -> Router {
    Router::new().route("/stream/process", get(process))
}

#[cfg(test)]
mod tests {
    use rivulet::client::{Client, Error};
    use rivulet_testkit::{PATIENCE, serve, url};

    use super::{app, read_process};

    fn client() -> Client {
        Client::from(rivulet_testkit::client())
    }

    #[tokio::test]
    async fn it_prints_each_line_then_the_summary() {
        let addr = serve(app()).await;
        let mut lines = Vec::new();
        let summary = tokio::time::timeout(
            PATIENCE,
            read_process(&client(), &url(addr, "/stream/process"), |line| {
                lines.push(line)
            }),
        )
        .await
        .expect("the stream ends in time")
        .unwrap();
        assert_eq!(
            lines,
            [
                "Starting batch process",
                "Processed 10 items",
                "Processed 20 items",
                "Processed 30 items"
            ]
        );
        assert!(summary.success);
        assert_eq!(summary.processed, 30);
        assert!(summary.duration > 0.0);
    }

    #[tokio::test]
    async fn a_missing_stream_is_an_error_not_a_hang() {
        let addr = serve(app()).await;
        let missing = tokio::time::timeout(
            PATIENCE,
            read_process(&client(), &url(addr, "/no/such/stream"), |_| {}),
        )
        .await
        .expect("an answer in time");
        assert!(matches!(missing, Err(Error::Status { .. })), "{missing:?}");
    }
}
