//! Leaving a stream early, with the Rust client (dropping the stream) and with
//! `rivulet watch` (Ctrl-C): the demo server sees the client go, cancels the
//! handler and counts it. One test in a binary of its own, so that no other
//! test's streams move the metrics it reads.

use std::net::SocketAddr;

use rivulet::Format;
use rivulet::client::Client;
use rivulet::metrics::{STREAMS_ACTIVE, STREAMS_CANCELLED_TOTAL};
use rivulet_testkit::{
    PATIENCE, finish, interrupt, metric, next_line, scrape, serve_with, spawn_watch, stdout_lines,
    url,
};
use serde_json::Value;
use tokio::time::{Instant, sleep, timeout};

/// The demo server, in this process, on a free loopback port.
async fn demo() -> SocketAddr {
    serve_with(rivulet_cli::demo::serve_on).await
}

fn client() -> Client {
    Client::from(reqwest::Client::builder().no_proxy().build().unwrap())
}

/// The demo's running and cancelled stream counts.
async fn streams(addr: SocketAddr) -> (f64, f64) {
    let text = scrape(addr).await;
    (
        metric(&text, STREAMS_ACTIVE),
        metric(&text, STREAMS_CANCELLED_TOTAL),
    )
}

/// Waits until no stream runs and `cancelled` streams have been cancelled.
async fn until_cancelled(addr: SocketAddr, cancelled: f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = streams(addr).await;
        if now == (0.0, cancelled) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "streams (active, cancelled) are {now:?}, expected (0, {cancelled})"
        );
        sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_server_sees_the_client_leave() {
    let addr = demo().await;
    let feed = url(addr, "/stream/feed?interval_ms=10");
    let (_, mut cancelled) = streams(addr).await;

    for format in Format::ALL {
        let mut stream = timeout(PATIENCE, client().get(&feed).format(format).send())
            .await
            .unwrap()
            .unwrap();
        for seq in 1..=2 {
            let packet = timeout(PATIENCE, stream.progress::<Value>())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(packet["seq"], seq, "{format}");
        }
        assert_eq!(streams(addr).await.0, 1.0, "{format}: the feed runs");
        drop(stream);
        cancelled += 1.0;
        until_cancelled(addr, cancelled).await;
    }

    for format in ["sse", "ndjson", "legacy"] {
        let mut child = spawn_watch(&["--format", format, &feed]);
        let mut stdout = stdout_lines(&mut child);
        next_line(&mut stdout).await.expect("a first packet");
        assert_eq!(streams(addr).await.0, 1.0, "{format}: the feed runs");
        interrupt(&child);
        while next_line(&mut stdout).await.is_some() {}
        let run = finish(child).await;
        assert_eq!(run.code, Some(130), "{format}: {run:?}");
        cancelled += 1.0;
        until_cancelled(addr, cancelled).await;
    }
}
