//! Scenario 1 over HTTP/2: one connection, ~50-byte JSON packets as fast as
//! the producer can send them, HTTP/2 (h2c with prior knowledge, hyper's
//! client) beside HTTP/1.1 (the bare client of `wire.rs`). Every row is served
//! by `rivulet::serve` on the server thread, Rivulet and the channel-fed axum
//! `Sse` alike, so the rows differ only in the handler and the protocol.

use std::time::Instant;

use crate::peers::{Peer, Servers};
use crate::stats::{Table, median, ratio, si};
use crate::wire::{EventCounter, Response, connect};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    H1,
    H2,
}

/// The rows, Rivulet over HTTP/2 first: the ratios are taken against it.
const ROWS: [(Peer, Protocol); 4] = [
    (Peer::Rivulet, Protocol::H2),
    (Peer::SseChannel, Protocol::H2),
    (Peer::Rivulet, Protocol::H1),
    (Peer::SseChannel, Protocol::H1),
];

fn row_name(peer: Peer, protocol: Protocol) -> String {
    let protocol = match protocol {
        Protocol::H1 => "HTTP/1.1",
        Protocol::H2 => "HTTP/2",
    };
    format!("{}, {protocol}", peer.name())
}

struct Run {
    packets_per_sec: f64,
    cpu_ns_per_packet: f64,
}

async fn measure(servers: &Servers, (peer, protocol): (Peer, Protocol), n: u64) -> Run {
    let (addr, path) = servers.serve_target(peer, &format!("n={n}"));
    let mut counter = EventCounter::default();
    let cpu_before = servers.clock.elapsed();
    let start = Instant::now();
    match protocol {
        Protocol::H1 => {
            let stream = connect(addr, 0).await.expect("connect");
            let mut response = Response::get(stream, &path, 256 * 1024)
                .await
                .expect("response");
            response
                .read_to_end(&mut |bytes| counter.feed(bytes))
                .await
                .expect("read");
        }
        Protocol::H2 => {
            crate::h2_client::read_to_end(addr, &path, &mut |bytes| counter.feed(bytes))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", row_name(peer, protocol)))
        }
    }
    let elapsed = start.elapsed();
    let cpu = servers.clock.elapsed() - cpu_before;
    assert!(
        counter.events >= n,
        "{}: {} of {n} packets",
        row_name(peer, protocol),
        counter.events
    );
    Run {
        packets_per_sec: n as f64 / elapsed.as_secs_f64(),
        cpu_ns_per_packet: cpu.as_nanos() as f64 / n as f64,
    }
}

pub async fn run(servers: &Servers, quick: bool) {
    let (n, rounds) = if quick { (20_000, 3) } else { (400_000, 7) };
    println!(
        "== throughput-h2: {n} packets of ~55 bytes per connection on rivulet::serve, {rounds} rounds, rows in rotating order"
    );
    for row in ROWS {
        measure(servers, row, n / 10).await; // warm-up
    }
    let mut runs: Vec<Vec<Run>> = ROWS.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..ROWS.len() {
            let i = (k + round) % ROWS.len();
            runs[i].push(measure(servers, ROWS[i], n).await);
        }
    }
    // Ratios are taken round by round (rows measured back to back), then the
    // median of those: drift on a shared machine cancels out.
    let per_round = |a: usize, b: usize, f: fn(&Run) -> f64| -> f64 {
        let values: Vec<f64> = (0..rounds)
            .map(|r| f(&runs[a][r]) / f(&runs[b][r]))
            .collect();
        median(&values)
    };
    let pps = |r: &Run| r.packets_per_sec;
    let cpu = |r: &Run| r.cpu_ns_per_packet;
    let mut table = Table::new([
        "row",
        "packets/s",
        "server CPU ns/packet",
        "rivulet h2 ÷ row (packets/s)",
        "row CPU ÷ rivulet h2 CPU",
    ]);
    for (i, (peer, protocol)) in ROWS.iter().enumerate() {
        let rates: Vec<f64> = runs[i].iter().map(pps).collect();
        let costs: Vec<f64> = runs[i].iter().map(cpu).collect();
        table.row(vec![
            row_name(*peer, *protocol),
            si(median(&rates)),
            format!("{:.0}", median(&costs)),
            if i == 0 {
                "—".into()
            } else {
                ratio(per_round(0, i, pps))
            },
            if i == 0 {
                "—".into()
            } else {
                ratio(per_round(i, 0, cpu))
            },
        ]);
    }
    table.print();
    let index = |row: (Peer, Protocol)| ROWS.iter().position(|r| *r == row).expect("a row");
    for peer in [Peer::Rivulet, Peer::SseChannel] {
        let (h2, h1) = (index((peer, Protocol::H2)), index((peer, Protocol::H1)));
        println!(
            "  {}: HTTP/2 ÷ HTTP/1.1 packets/s {}, server CPU per packet {}",
            peer.name(),
            ratio(per_round(h2, h1, pps)),
            ratio(per_round(h2, h1, cpu))
        );
    }
    let (sse_h2, sse_h1) = (
        index((Peer::SseChannel, Protocol::H2)),
        index((Peer::SseChannel, Protocol::H1)),
    );
    let riv_h1 = index((Peer::Rivulet, Protocol::H1));
    println!(
        "  rivulet ÷ axum Sse, channel-fed (packets/s): HTTP/2 {}, HTTP/1.1 {}",
        ratio(per_round(0, sse_h2, pps)),
        ratio(per_round(riv_h1, sse_h1, pps))
    );
}
