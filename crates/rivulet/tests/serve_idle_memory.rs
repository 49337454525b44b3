//! Thousands of open, idle streams on `rivulet::serve`, over HTTP/1.1 (a
//! connection each), in a test binary of its own: it measures the process's
//! resident memory, which other tests running at the same time would move.
//!
//! `rivulet-bench memory` measures the same thing precisely (the server in a
//! process of its own; docs/benchmarks.md); this test keeps a generous bound,
//! so that what an idle stream costs cannot double unnoticed.

use std::future::IntoFuture;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use futures::StreamExt;
use rivulet::Stream;
use rivulet_testkit::PATIENCE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A stream that sends one packet and then waits for ever.
async fn idle(stream: Stream) -> axum::response::Response {
    stream
        .run(|tx| async move {
            tx.send("ready").await?;
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
}

/// Opens a stream and reads until its first packet has arrived.
async fn open(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /idle HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let read = async {
        while !seen.windows(7).any(|w| w == b"\"ready\"") {
            let mut chunk = [0u8; 512];
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the first packet arrives");
    tcp
}

async fn open_many(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    futures::stream::iter(0..count)
        .map(|_| open(addr))
        .buffer_unordered(64)
        .collect()
        .await
}

#[tokio::test]
async fn thousands_of_idle_http1_streams_stay_small() {
    const STREAMS: usize = 3_000;
    let listener = rivulet::serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/idle", get(idle));
    tokio::spawn(rivulet::serve(listener, app).into_future());
    // The first connections grow the runtime's and the allocator's pools.
    drop(open_many(addr, 200).await);
    let before = rivulet_testkit::rss_bytes();
    let streams = open_many(addr, STREAMS).await;
    let grown = rivulet_testkit::rss_bytes().saturating_sub(before);
    // Server and client together, measured at ~13 KiB per stream (the bench's
    // server alone: ~12 KiB); before the serving path was trimmed, the server
    // alone took ~21 KiB.
    let per_stream = grown / STREAMS as u64;
    eprintln!("{per_stream} bytes per idle stream, server and client");
    assert!(
        per_stream < 18 * 1024,
        "{per_stream} bytes per idle stream ({} MiB for {STREAMS})",
        grown / (1024 * 1024)
    );
    drop(streams);
}
