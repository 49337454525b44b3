//! Scenario 1: one connection, ~50-byte JSON packets as fast as the producer
//! can send them. Packets per second at the client and server CPU per packet.

use std::time::Instant;

use crate::peers::{Peer, Servers};
use crate::stats::{Table, median, ratio, si};
use crate::wire::{EventCounter, Response, connect};

const PEERS: [Peer; 7] = [
    Peer::Rivulet,
    Peer::SseChannel,
    Peer::SseReady,
    Peer::Hyper,
    Peer::Tcp,
    Peer::RivuletActix,
    Peer::ActixLabSse,
];

/// What Rivulet should reach against each peer (issue 5).
fn target(peer: Peer) -> &'static str {
    match peer {
        Peer::SseChannel => "≥ 2×",
        Peer::Hyper => "≥ 1×",
        Peer::Tcp => "≥ 0.5×",
        _ => "",
    }
}

struct Run {
    packets_per_sec: f64,
    cpu_ns_per_packet: f64,
}

async fn measure(servers: &Servers, peer: Peer, n: u64) -> Run {
    let (addr, path) = servers.target(peer, "", &format!("n={n}"));
    let clock = servers.clock_of(peer);
    let cpu_before = clock.elapsed();
    let start = Instant::now();
    let stream = connect(addr, 0).await.expect("connect");
    let mut response = Response::get(stream, &path, 256 * 1024)
        .await
        .expect("response");
    let mut counter = EventCounter::default();
    response
        .read_to_end(&mut |bytes| counter.feed(bytes))
        .await
        .expect("read");
    let elapsed = start.elapsed();
    let cpu = clock.elapsed() - cpu_before;
    assert!(
        counter.events >= n,
        "{}: {} of {n} packets",
        peer.name(),
        counter.events
    );
    Run {
        packets_per_sec: n as f64 / elapsed.as_secs_f64(),
        cpu_ns_per_packet: cpu.as_nanos() as f64 / n as f64,
    }
}

/// Runs one peer alone for a while, for a profiler to watch the server thread:
/// `perf record -g --call-graph dwarf -- rivulet-bench throughput --profile hyper`.
pub async fn profile(servers: &Servers, name: &str) {
    let Some(peer) = PEERS.iter().find(|p| p.name().starts_with(name)) else {
        eprintln!("--profile: no peer named {name}");
        std::process::exit(2);
    };
    for _ in 0..10 {
        let run = measure(servers, *peer, 200_000).await;
        println!(
            "  {}: {} packets/s, {:.0} ns server CPU/packet",
            peer.name(),
            si(run.packets_per_sec),
            run.cpu_ns_per_packet
        );
    }
}

pub async fn run(servers: &Servers, quick: bool) {
    let (n, rounds) = if quick { (20_000, 3) } else { (400_000, 7) };
    println!(
        "== throughput: {n} packets of ~55 bytes per connection, {rounds} rounds, peers in rotating order"
    );
    for peer in PEERS {
        measure(servers, peer, n / 10).await; // warm-up
    }
    let mut runs: Vec<Vec<Run>> = PEERS.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..PEERS.len() {
            let i = (k + round) % PEERS.len();
            runs[i].push(measure(servers, PEERS[i], n).await);
        }
    }
    let rivulet = &runs[0];
    let mut table = Table::new([
        "peer",
        "packets/s",
        "server CPU ns/packet",
        "rivulet ÷ peer (packets/s)",
        "target",
        "peer CPU ÷ rivulet CPU",
    ]);
    for (i, peer) in PEERS.iter().enumerate() {
        let pps: Vec<f64> = runs[i].iter().map(|r| r.packets_per_sec).collect();
        let cpu: Vec<f64> = runs[i].iter().map(|r| r.cpu_ns_per_packet).collect();
        // Ratios are taken round by round (peers measured back to back), then
        // the median of those: drift on a shared machine cancels out.
        let speed: Vec<f64> = (0..rounds)
            .map(|r| rivulet[r].packets_per_sec / runs[i][r].packets_per_sec)
            .collect();
        let cost: Vec<f64> = (0..rounds)
            .map(|r| runs[i][r].cpu_ns_per_packet / rivulet[r].cpu_ns_per_packet)
            .collect();
        table.row(vec![
            peer.name().to_string(),
            si(median(&pps)),
            format!("{:.0}", median(&cpu)),
            if i == 0 {
                "—".into()
            } else {
                ratio(median(&speed))
            },
            target(*peer).to_string(),
            if i == 0 {
                "—".into()
            } else {
                ratio(median(&cost))
            },
        ]);
    }
    table.print();
    // On actix-web, Rivulet against the SSE its users would write there
    // (issue 22: ≥ 2× packets/s), and against Rivulet on axum.
    let index = |peer: Peer| PEERS.iter().position(|p| *p == peer).expect("a peer");
    let (on_actix, lab) = (index(Peer::RivuletActix), index(Peer::ActixLabSse));
    let per_round = |a: usize, b: usize| -> f64 {
        let ratios: Vec<f64> = (0..rounds)
            .map(|r| runs[a][r].packets_per_sec / runs[b][r].packets_per_sec)
            .collect();
        median(&ratios)
    };
    println!(
        "  rivulet on actix-web ÷ actix-web-lab sse (packets/s): {} (target ≥ 2×); ÷ rivulet on axum: {}",
        ratio(per_round(on_actix, lab)),
        ratio(per_round(on_actix, 0)),
    );
}
