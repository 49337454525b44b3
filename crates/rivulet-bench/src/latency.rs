//! Scenario 2: latency from the intended send time to the client having parsed
//! the packet, at a fixed rate. The producer stamps each packet with the time
//! it was due, not the time it went out, so a stall counts against every packet
//! it delays (no coordinated omission). The client decodes with
//! `rivulet::decode`, the decoder of the Rust client.

use rivulet::Format;
use rivulet::decode::{Decoder, Event};

use crate::peers::{Peer, Servers, now_ns};
use crate::stats::{Table, median, micros, percentile};
use crate::wire::{Response, connect};

const PEERS: [Peer; 2] = [Peer::Rivulet, Peer::SseChannel];
const RATES: [u64; 3] = [1_000, 10_000, 50_000];

/// p50, p99, p99.9 and max in nanoseconds.
type Percentiles = [u64; 4];

async fn measure(servers: &Servers, peer: Peer, rate: u64, n: u64) -> Percentiles {
    let (addr, path) = servers.target(peer, "-paced", &format!("n={n}&rate={rate}"));
    let cpu_before = servers.clock.elapsed();
    let client_clock = crate::sys::ThreadClock::current();
    let client_before = client_clock.elapsed();
    let wall = std::time::Instant::now();
    let stream = connect(addr, 0).await.expect("connect");
    let mut response = Response::get(stream, &path, 64 * 1024)
        .await
        .expect("response");
    let mut decoder = Decoder::new(Format::Sse);
    let mut events = Vec::new();
    let mut latencies = Vec::with_capacity(n as usize);
    let mut failed = None;
    while latencies.len() < n as usize {
        let more = response
            .read(&mut |bytes| {
                if let Err(e) = decoder.feed(bytes, &mut events) {
                    failed = Some(e.to_string());
                }
            })
            .await
            .expect("read");
        let now = now_ns();
        for event in events.drain(..) {
            if let Event::Progress(tick) = event {
                let at = tick["at"].as_u64().expect("tick.at");
                latencies.push(now.saturating_sub(at));
            }
        }
        assert!(failed.is_none(), "decode: {failed:?}");
        if !more {
            break;
        }
    }
    assert_eq!(latencies.len(), n as usize, "{}: packets lost", peer.name());
    if std::env::var_os("RIVULET_BENCH_TRACE").is_some() {
        let step = (latencies.len() / 40).max(1);
        let shape: Vec<String> = latencies
            .iter()
            .step_by(step)
            .map(|l| format!("{}", l / 1000))
            .collect();
        let cpu =
            (servers.clock.elapsed() - cpu_before).as_secs_f64() / wall.elapsed().as_secs_f64();
        eprintln!(
            "{} {rate}/s, client CPU {:.0}%, server thread CPU {:.0}%, pacer late {} µs, µs every {step}: {}",
            peer.name(),
            (client_clock.elapsed() - client_before).as_secs_f64() / wall.elapsed().as_secs_f64()
                * 100.0,
            cpu * 100.0,
            crate::peers::PACER_LATE.swap(0, std::sync::atomic::Ordering::Relaxed) / 1000,
            shape.join(" ")
        );
    }
    // The first packets include connection setup; leave out the first 5%.
    let mut steady = latencies.split_off(latencies.len() / 20);
    steady.sort_unstable();
    [
        percentile(&steady, 50.0),
        percentile(&steady, 99.0),
        percentile(&steady, 99.9),
        *steady.last().unwrap_or(&0),
    ]
}

pub async fn run(servers: &Servers, quick: bool) {
    let (seconds, rounds) = if quick { (0.25, 1) } else { (2.0, 3) };
    // Real-time scheduling for the server, client and pacer threads while this
    // scenario runs: other work on a shared machine otherwise preempts them for
    // milliseconds at a time, which is what such a p99 would then measure.
    let realtime = crate::sys::Realtime::enter(servers.thread);
    println!(
        "== latency: intended send time → packet parsed by the client, {seconds} s per rate, {rounds} round(s), {}; µs",
        realtime.describe()
    );
    let mut table = Table::new([
        "rate, peer",
        "p50",
        "p99",
        "p99.9",
        "max",
        "p99 peer ÷ rivulet",
    ]);
    for rate in RATES {
        let n = (rate as f64 * seconds) as u64;
        let mut results: Vec<Vec<Percentiles>> = PEERS.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..PEERS.len() {
                let i = (k + round) % PEERS.len();
                results[i].push(measure(servers, PEERS[i], rate, n).await);
            }
        }
        let med = |i: usize, q: usize| {
            median(&results[i].iter().map(|p| p[q] as f64).collect::<Vec<_>>()) as u64
        };
        for (i, peer) in PEERS.iter().enumerate() {
            let vs = med(i, 1) as f64 / med(0, 1).max(1) as f64;
            table.row(vec![
                format!("{}/s, {}", crate::stats::si(rate as f64), peer.name()),
                micros(med(i, 0)),
                micros(med(i, 1)),
                micros(med(i, 2)),
                micros(med(i, 3)),
                if i == 0 {
                    "—".into()
                } else {
                    crate::stats::ratio(vs)
                },
            ]);
        }
    }
    drop(realtime);
    table.print();
    println!("  target: rivulet p99 ≤ 1000 µs at 10k/s");
}
