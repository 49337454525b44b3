//! A client reading 1 KiB/s while its handler tries to send 1 GiB: the handler
//! waits, and the server's memory stays flat. A test binary of its own, so that
//! the resident memory it measures is not moved by other tests.
//!
//! `cargo test --release --test slow_reader -- --nocapture` prints the figures
//! quoted in docs/reliability.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use rivulet::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PACKET: usize = 1024;
const GIB_OF_PACKETS: u64 = (1 << 30) / PACKET as u64;

async fn firehose(State(sent): State<Arc<AtomicU64>>, stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            let packet = "x".repeat(PACKET - 16);
            for _ in 0..GIB_OF_PACKETS {
                tx.send(&packet).await?;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_the_handler_back_and_memory_stays_flat() {
    let sent = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route("/", get(firehose))
        .with_state(sent.clone());
    let addr = rivulet_testkit::serve(app).await;

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 512];
    // Let the buffers between handler and client fill, then measure.
    for _ in 0..4 {
        let _ = tcp.read(&mut buf).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (rss_before, sent_before) = (rivulet_testkit::rss_bytes(), sent.load(Ordering::Relaxed));
    // Read at 1 KiB/s for 6 s.
    let mut read = 0;
    for _ in 0..12 {
        read += tcp.read(&mut buf).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (rss_after, sent_after) = (rivulet_testkit::rss_bytes(), sent.load(Ordering::Relaxed));
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!(
        "slow reader: read {read} bytes in 6 s; the handler sent {sent_before} packets before, \
         {sent_after} after ({:.1} MiB of its 1 GiB); RSS {:.1} MiB -> {:.1} MiB (+{} KiB)",
        (sent_after * PACKET as u64) as f64 / (1 << 20) as f64,
        rss_before as f64 / (1 << 20) as f64,
        rss_after as f64 / (1 << 20) as f64,
        growth / 1024
    );
    assert!(
        sent_after < GIB_OF_PACKETS / 16,
        "the handler was never held back"
    );
    assert!(growth < 4 << 20, "RSS grew by {growth} bytes");
}
