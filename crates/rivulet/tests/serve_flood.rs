//! A flood of connections against `rivulet::serve`, in a test binary of its
//! own: it measures the process's resident memory, which other tests running
//! at the same time would move.

use std::future::IntoFuture;
use std::time::Duration;

use axum::Router;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_flood_of_connections_with_big_unfinished_heads_is_bounded() {
    const CAP: usize = 50;
    const FLOOD: usize = 600;
    const HEAD: usize = 60 * 1024;
    let listener = rivulet::serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        rivulet::serve(listener, Router::new())
            .max_connections(CAP)
            .into_future(),
    );
    let before = rivulet_testkit::rss_bytes();
    let mut flood = Vec::new();
    let part = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}", "a".repeat(HEAD));
    for _ in 0..FLOOD {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        // Connections past the cap are not read: their bytes stay in the
        // kernel, and a write may wait; it is not awaited for long.
        let _ =
            tokio::time::timeout(Duration::from_millis(20), tcp.write_all(part.as_bytes())).await;
        flood.push(tcp);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = rivulet_testkit::rss_bytes().saturating_sub(before);
    // Uncapped, hyper reads up to ~400 KB of head per connection: 600 × 60 KiB
    // ≈ 35 MiB. Capped, 50 connections are read.
    assert!(
        grown < 20 * 1024 * 1024,
        "{} MiB more for {FLOOD} connections",
        grown / (1024 * 1024)
    );
    drop(flood);
}
