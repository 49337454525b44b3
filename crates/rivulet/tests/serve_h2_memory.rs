//! An HTTP/2 peer that advertises the largest window, opens hundreds of fast
//! streams and reads none of them, against `rivulet::serve`, in a test binary
//! of its own: it measures the process's resident memory, which other tests
//! running at the same time would move.

use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rivulet::{Config, Stream};
use rivulet_testkit::PATIENCE;
use tokio::io::AsyncWriteExt;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const MAX_WINDOW: u32 = (1 << 31) - 1;

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The server's resident memory, from `/proc`.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Streams of small packets sent as fast as the client takes them (at most
/// `LIMIT` each); every packet sent is counted in `sent`.
fn fast_app(sent: Arc<AtomicU64>) -> Router {
    const LIMIT: u64 = 1_000_000;
    Router::new()
        .route(
            "/fast",
            get(move |stream: Stream| async move {
                stream
                    .run(move |tx| async move {
                        let packet = "x".repeat(200);
                        for _ in 0..LIMIT {
                            tx.send(packet.as_str()).await?;
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    })
                    .await
            }),
        )
        .layer(Config::default())
}

#[tokio::test]
async fn unread_h2_streams_with_a_huge_window_hold_bounded_memory() {
    const STREAMS: u32 = 500;
    let sent = Arc::new(AtomicU64::new(0));
    let listener = rivulet::serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rivulet::serve(listener, fast_app(Arc::clone(&sent))).into_future());
    let before = rss_bytes();

    let mut peer = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut hello = PREFACE.to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) at its largest, and the connection's
    // window opened as far (WINDOW_UPDATE, 0x8).
    let mut settings = vec![0, 4];
    settings.extend_from_slice(&MAX_WINDOW.to_be_bytes());
    hello.extend(frame(0x4, 0, 0, &settings));
    hello.extend(frame(0x8, 0, 0, &(MAX_WINDOW - 65_535).to_be_bytes()));
    for i in 0..STREAMS {
        // GET /fast: indexed :method GET and :scheme http, literal :path and
        // :authority; END_STREAM | END_HEADERS.
        let mut block = vec![0x82, 0x86, 0x04, 5];
        block.extend_from_slice(b"/fast");
        block.extend_from_slice(&[0x01, 0x01, b'x']);
        hello.extend(frame(0x1, 0x5, 2 * i + 1, &block));
    }
    peer.write_all(&hello).await.unwrap();

    // The peer reads nothing: the streams stop once what the server may
    // queue is queued and the socket is full. Wait until no packet has been
    // sent for a while.
    let mut last = u64::MAX;
    tokio::time::timeout(PATIENCE, async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = sent.load(Ordering::Relaxed);
            if now == last && now > 0 {
                return;
            }
            last = now;
        }
    })
    .await
    .expect("the streams stop when nobody reads");
    let grown = rss_bytes().saturating_sub(before);
    println!(
        "{STREAMS} unread streams: {} packets sent, {} MiB",
        last,
        grown / (1024 * 1024)
    );
    // With hyper's 400 KiB send buffer per stream and every small write
    // pinning a 64 KiB allocation this was about 370 MiB here (debug build),
    // and 1.5 GB for 1000 streams of a release build; bounded, about 125 MiB
    // (the stream's buffer, one coalesced write held and one queued, 16 KiB
    // of send buffer, and the loopback socket's buffers).
    assert!(
        grown < 192 * 1024 * 1024,
        "{} MiB more for {STREAMS} unread streams",
        grown / (1024 * 1024)
    );
    drop(peer);
}
