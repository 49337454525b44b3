//! Scenario 4: cancellation. 1k idle streams are open (each has sent one
//! packet; the handler then awaits something that never happens). The client
//! closes them all in one burst, stamping each close; each handler stamps the
//! moment it is dropped. The latency is the difference, per stream.
//!
//! For axum `Sse` the "handler" is the spawned producer, written the careful
//! way: it awaits `tx.closed()` after its packet, and stops when the response
//! (and with it the channel's receiver) is dropped.

use std::time::Duration;

use futures::StreamExt;
use tokio::net::TcpStream;

use crate::peers::{Peer, Servers, drop_time, now_ns, reset_drops};
use crate::stats::{Table, median, micros, percentile, ratio};
use crate::wire::open_idle;

const PEERS: [Peer; 2] = [Peer::Rivulet, Peer::SseChannel];

/// p50, p99, max of disconnect → drop, in nanoseconds, and how many never dropped.
async fn measure(servers: &Servers, peer: Peer, count: usize) -> ([u64; 3], usize) {
    reset_drops(count);
    let streams: Vec<TcpStream> = futures::stream::iter(0..count)
        .map(|id| {
            let (addr, path) = servers.target(peer, "-idle", &format!("id={id}"));
            async move { open_idle(addr, &path, id).await }
        })
        .buffered(128)
        .collect()
        .await;
    let mut closed_at = Vec::with_capacity(count);
    for stream in streams {
        closed_at.push(now_ns());
        drop(stream);
    }
    // Wait (bounded) for every handler to be dropped.
    for _ in 0..500 {
        if (0..count).all(|id| drop_time(id) != 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies = Vec::with_capacity(count);
    let mut missing = 0;
    for (id, closed) in closed_at.iter().enumerate() {
        match drop_time(id) {
            0 => missing += 1,
            dropped => latencies.push(dropped.saturating_sub(*closed)),
        }
    }
    latencies.sort_unstable();
    (
        [
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            *latencies.last().unwrap_or(&0),
        ],
        missing,
    )
}

pub async fn run(servers: &Servers, quick: bool) {
    crate::sys::raise_nofile_limit();
    let count = 1_000;
    let rounds = if quick { 1 } else { 5 };
    // As for latency: other work on a shared machine would otherwise decide p99.
    let realtime = crate::sys::Realtime::enter(servers.thread);
    println!(
        "== cancellation: {count} idle streams closed by the client in one burst → handler dropped, {rounds} round(s), {}; µs",
        realtime.describe()
    );
    let mut results: Vec<Vec<([u64; 3], usize)>> = PEERS.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..PEERS.len() {
            let i = (k + round) % PEERS.len();
            results[i].push(measure(servers, PEERS[i], count).await);
        }
    }
    drop(realtime);
    let mut table = Table::new([
        "peer",
        "p50",
        "p99",
        "max",
        "never dropped",
        "p99 peer ÷ rivulet",
    ]);
    let med =
        |i: usize, q: usize| median(&results[i].iter().map(|r| r.0[q] as f64).collect::<Vec<_>>());
    for (i, peer) in PEERS.iter().enumerate() {
        let missing: usize = results[i].iter().map(|r| r.1).max().unwrap_or(0);
        table.row(vec![
            peer.name().to_string(),
            micros(med(i, 0) as u64),
            micros(med(i, 1) as u64),
            micros(med(i, 2) as u64),
            missing.to_string(),
            if i == 0 {
                "—".into()
            } else {
                ratio(med(i, 1) / med(0, 1).max(1.0))
            },
        ]);
    }
    table.print();
    println!("  target: rivulet p99 ≤ 50 000 µs");
}
