//! A disconnect storm, in a test binary of its own so that the process-wide
//! counts it checks (streams, tasks, file descriptors) are its alone.
//!
//! `cargo test --release --test storm -- --nocapture` prints the figures quoted
//! in docs/reliability.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rivulet_testkit::{metric, scrape, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

const CLIENTS: usize = 10_000;
const AT_ONCE: usize = 500;
/// Ten thousand connections on two cores take longer than any other test's
/// wait: twice the kit's patience.
const PATIENCE: Duration = Duration::from_secs(2 * rivulet_testkit::PATIENCE.as_secs());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Opens a feed, waits for its first packet, and leaves.
async fn leave_mid_stream(addr: std::net::SocketAddr) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /stream/feed?interval_ms=20 HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\n\r\n",
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !seen.windows(11).any(|w| w == b"{\"progress\"") {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed before the first packet");
        seen.extend_from_slice(&buf[..n]);
    }
    // Dropping the socket here is the client leaving mid-stream.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_clients_leave_and_everything_returns_to_baseline() {
    let addr = serve_with(rivulet_cli::demo::serve_on).await;
    let metrics = tokio::runtime::Handle::current().metrics();

    // Warm up (the metrics recorder, the first connection), then take the baseline.
    leave_mid_stream(addr).await;
    let settle = Instant::now() + PATIENCE;
    while metric(&scrape(addr).await, rivulet::metrics::STREAMS_ACTIVE) != 0.0 {
        assert!(Instant::now() < settle);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let base_tasks = metrics.num_alive_tasks();
    let base_fds = open_fds();

    let started = Instant::now();
    let slots = Arc::new(Semaphore::new(AT_ONCE));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let permit = slots.clone().acquire_owned().await.unwrap();
        clients.spawn(async move {
            tokio::time::timeout(PATIENCE, leave_mid_stream(addr))
                .await
                .expect("a packet in time");
            drop(permit);
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let storm = started.elapsed();

    // Every handler is dropped, every connection task ends, every socket closes.
    let deadline = Instant::now() + PATIENCE;
    let (active, tasks, fds) = loop {
        let text = scrape(addr).await;
        let active = metric(&text, rivulet::metrics::STREAMS_ACTIVE);
        let tasks = metrics.num_alive_tasks();
        let fds = open_fds();
        if active == 0.0 && tasks <= base_tasks && fds <= base_fds {
            break (active, tasks, fds);
        }
        assert!(
            Instant::now() < deadline,
            "not back to baseline: {active} streams, {tasks} tasks (baseline {base_tasks}), {fds} fds (baseline {base_fds})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let text = scrape(addr).await;
    assert!(metric(&text, rivulet::metrics::STREAMS_CANCELLED_TOTAL) >= CLIENTS as f64);
    eprintln!(
        "storm: {CLIENTS} clients ({AT_ONCE} at once) in {storm:.2?}; back to baseline {:.2?} later: \
         {active} active streams, {tasks} tasks (baseline {base_tasks}), {fds} fds (baseline {base_fds})",
        started.elapsed() - storm
    );
}
