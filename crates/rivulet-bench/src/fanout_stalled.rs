//! The `fanout` scenario's second part: subscribers that never read, beside
//! subscribers that do. A feed publishes 16 KiB packets to both; measured are
//! the time each publish takes in the server (from `Feed::publish` being
//! called to its return), the server's peak memory, and that the readers get
//! every packet. The run without stalled subscribers is the baseline: a
//! publish must not take longer because subscribers stall, and the server
//! must not keep more than the per-subscriber byte bound (`Feed::buffer_bytes`,
//! 1 MiB by default) for each of them.
//!
//! A stalled subscriber sends its request, reads the response head and then
//! nothing, on a socket with a 4 KiB receive buffer, so that the kernel holds
//! little for it and the server's own bound is what is measured.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::fanout::{ChildServer, subscriber};
use crate::stats::{Table, micros, percentile};
use crate::wire::{Response as WireResponse, connect};

/// Bytes of padding in each packet.
const PAD: usize = 16 * 1024;
/// What a subscriber may have waiting before it is cut off: the feed's
/// default, `rivulet::feed::DEFAULT_FEED_BUFFER_BYTES`.
const BOUND: u64 = 1024 * 1024;

/// Opens a subscription that reads its response head and nothing more.
async fn stall(addr: SocketAddr, source: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("a receive buffer size");
    let ip = Ipv4Addr::new(127, 0, 0, 1 + (source % 8) as u8);
    socket.bind(SocketAddr::from((ip, 0))).expect("bind");
    let mut tcp = socket.connect(addr).await.expect("connect");
    let request = "GET /rivulet HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.expect("request");
    // Byte by byte, so that nothing past the head is taken from the socket.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).await.expect("the response head");
        assert!(n == 1 && head.len() < 4096, "a response head");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "subscribed");
    tcp
}

struct Run {
    publishes: Vec<u64>,
    delivered: u64,
    expected: u64,
    peak_growth: u64,
}

async fn measure(readers: usize, stalled: usize, rate: u64, n: u64) -> Run {
    let server = ChildServer::start();
    let addr = server.addr;
    let responses: Vec<WireResponse> = futures::stream::iter(0..readers)
        .map(|i| async move {
            let stream = connect(addr, i).await.expect("connect");
            WireResponse::get(stream, "/rivulet", 64 * 1024)
                .await
                .expect("a stream")
        })
        .buffer_unordered(256)
        .collect()
        .await;
    let held: Vec<TcpStream> = futures::stream::iter(0..stalled)
        .map(|i| stall(addr, readers + i))
        .buffer_unordered(256)
        .collect()
        .await;
    let before = crate::sys::rss_bytes(server.pid());
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs_f64(n as f64 / rate as f64)
        + Duration::from_secs(20);
    let tasks: Vec<_> = responses
        .into_iter()
        .map(|response| tokio::spawn(subscriber(response, n, deadline)))
        .collect();
    server.publish("rivulet", rate, n, PAD).await;
    let mut delivered = 0;
    for task in tasks {
        let (got, _connection) = task.await.expect("a subscriber task");
        delivered += got.len() as u64;
    }
    let peak_growth = crate::sys::peak_rss_bytes(server.pid()).saturating_sub(before);
    let publishes = server.publish_times().await;
    drop(held);
    Run {
        publishes,
        delivered,
        expected: readers as u64 * n,
        peak_growth,
    }
}

pub async fn run(quick: bool) {
    let (readers, stalled, rate, n) = if quick {
        (100, 100, 20, 20)
    } else {
        (1_000, 1_000, 20, 100)
    };
    println!(
        "== fanout with stalled subscribers: {readers} reading, {n} packets of {} KiB at {rate}/s; \
         time per publish in the server, peak server memory",
        PAD / 1024
    );
    let mut table = Table::new([
        "stalled subscribers",
        "readers got",
        "publish p50 µs",
        "publish p99 µs",
        "publish max µs",
        "peak memory growth MiB",
        "bound × stalled MiB",
    ]);
    let mut p99s = Vec::new();
    for stalled in [0, stalled] {
        let run = measure(readers, stalled, rate, n).await;
        let mut publishes = run.publishes;
        publishes.sort_unstable();
        assert_eq!(publishes.len() as u64, n, "every publish was timed");
        let p99 = percentile(&publishes, 99.0);
        p99s.push(p99);
        table.row(vec![
            stalled.to_string(),
            format!(
                "{:.2}%",
                run.delivered as f64 * 100.0 / run.expected.max(1) as f64
            ),
            micros(percentile(&publishes, 50.0)),
            micros(p99),
            micros(publishes.last().copied().unwrap_or(0)),
            format!("{:.1}", run.peak_growth as f64 / (1024.0 * 1024.0)),
            format!("{:.0}", (BOUND * stalled as u64) as f64 / (1024.0 * 1024.0)),
        ]);
    }
    table.print();
    println!(
        "  publish p99 with stalled subscribers ÷ without: {:.2}×; targets: publish p99 ≤ 1 ms, peak memory ≤ bound × stalled + 10%",
        p99s[1] as f64 / p99s[0].max(1) as f64
    );
}
