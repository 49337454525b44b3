//! Scenario 3: resident memory per open, idle stream. The server runs in a
//! child process (this binary, `serve-child`) so that the client's sockets and
//! buffers are not counted; its RSS is read from `/proc/<pid>/status` before
//! and after opening the streams. Every stream has sent one packet and waits.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use tokio::net::TcpStream;

use crate::peers::Peer;
use crate::stats::{Table, median, ratio};
use crate::sys::rss_bytes;
use crate::wire::open_idle;

/// What is measured: a peer on its server, or Rivulet on its own serving path
/// (`rivulet::serve`) over HTTP/1.1 (a connection per stream) or HTTP/2
/// (streams sharing [`H2_CONNECTIONS`] connections, as behind a proxy).
#[derive(Clone, Copy)]
enum Row {
    Peer(Peer),
    ServeH1,
    ServeH2,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Peer(peer) => peer.name(),
            Row::ServeH1 => "rivulet on rivulet::serve, h1",
            Row::ServeH2 => "rivulet on rivulet::serve, h2 shared",
        }
    }
}

/// Raw hyper with a body that stays open is the floor: what the HTTP server
/// itself keeps per connection, whatever runs on top of it. Rivulet on axum's
/// server comes first: the ratios are against it.
const ROWS: [Row; 7] = [
    Row::Peer(Peer::Rivulet),
    Row::Peer(Peer::SseChannel),
    Row::Peer(Peer::Hyper),
    Row::ServeH1,
    Row::ServeH2,
    Row::Peer(Peer::RivuletActix),
    Row::Peer(Peer::ActixLabSse),
];

/// Streams being opened at once, over HTTP/1.1 and HTTP/2 alike: what is
/// measured is what an open stream keeps, not what a burst of requests
/// being answered needs at its peak (freed, but an allocator keeps the pages).
const OPENING: usize = 256;

/// The HTTP/2 connections the shared-h2 row opens its streams on.
const H2_CONNECTIONS: usize = 10;

struct ChildServer {
    child: Child,
    axum: SocketAddr,
    hyper: SocketAddr,
    serve: SocketAddr,
    actix: SocketAddr,
}

impl ChildServer {
    fn start() -> ChildServer {
        // RIVULET_BENCH_CHILD_WRAPPER runs the server under a tool, for example
        // "valgrind --tool=dhat" to see where its memory goes.
        let wrapper = std::env::var("RIVULET_BENCH_CHILD_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let exe = std::env::current_exe().expect("current exe");
        let mut command = match words.next() {
            Some(tool) => {
                let mut command = Command::new(tool);
                command.args(words).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let mut child = command
            .arg("serve-child")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("port line");
        let ports: Vec<u16> = line
            .trim()
            .strip_prefix("ports ")
            .map(|p| p.split(' ').filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default();
        assert_eq!(ports.len(), 4, "the child prints its ports: {line}");
        ChildServer {
            child,
            axum: SocketAddr::from(([127, 0, 0, 1], ports[0])),
            hyper: SocketAddr::from(([127, 0, 0, 1], ports[1])),
            serve: SocketAddr::from(([127, 0, 0, 1], ports[2])),
            actix: SocketAddr::from(([127, 0, 0, 1], ports[3])),
        }
    }

    fn rss(&self) -> u64 {
        rss_bytes(self.child.id())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Closing its standard input asks the child to exit; a bounded wait,
        // then it is killed.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open streams, kept open while this lives.
enum Open {
    Connections {
        _held: Vec<TcpStream>,
    },
    H2 {
        _held: Vec<crate::h2_client::Stream>,
    },
}

async fn open_many(server: &ChildServer, row: Row, count: usize) -> Open {
    let (addr, path) = match row {
        Row::Peer(Peer::Rivulet) => (server.axum, "/rivulet-idle"),
        Row::Peer(Peer::SseChannel) => (server.axum, "/sse-channel-idle"),
        Row::Peer(Peer::RivuletActix) => (server.actix, "/rivulet-idle"),
        Row::Peer(Peer::ActixLabSse) => (server.actix, "/sse-channel-idle"),
        Row::Peer(_) => (server.hyper, "/idle"),
        Row::ServeH1 => (server.serve, "/rivulet-idle"),
        Row::ServeH2 => {
            let held = crate::h2_client::open_idle(
                server.serve,
                "/rivulet-idle",
                count,
                H2_CONNECTIONS,
                OPENING,
            )
            .await;
            return Open::H2 { _held: held };
        }
    };
    let held = futures::stream::iter(0..count)
        .map(|i| open_idle(addr, path, i))
        .buffer_unordered(OPENING)
        .collect()
        .await;
    Open::Connections { _held: held }
}

/// Bytes per stream for `count` streams on a fresh server.
async fn measure(row: Row, count: usize) -> f64 {
    let server = ChildServer::start();
    // Warm up: the first connections grow the runtime's and allocator's pools.
    drop(open_many(&server, row, 100).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss();
    let streams = open_many(&server, row, count).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = server.rss();
    drop(streams);
    (after.saturating_sub(before)) as f64 / count as f64
}

/// One row alone (every row whose name contains `name`), once at 1k streams
/// (10k without `quick`): for a tool watching the server, such as DHAT
/// through `RIVULET_BENCH_CHILD_WRAPPER`.
pub async fn profile(name: &str, quick: bool) {
    let count = if quick { 1_000 } else { 10_000 };
    let rows: Vec<Row> = ROWS
        .iter()
        .copied()
        .filter(|row| row.name().contains(name))
        .collect();
    if rows.is_empty() {
        let names: Vec<&str> = ROWS.iter().map(|row| row.name()).collect();
        eprintln!("no memory row matches {name:?}; the rows: {names:?}");
        std::process::exit(2);
    }
    for row in rows {
        let bytes = measure(row, count).await;
        println!("  {count}, {}: {bytes:.0} bytes/stream", row.name());
    }
}

pub async fn run(quick: bool) {
    let limit = crate::sys::raise_nofile_limit();
    let (counts, rounds): (&[usize], usize) = if quick {
        (&[1_000], 1)
    } else {
        (&[1_000, 10_000], 3)
    };
    println!(
        "== memory: server RSS growth per open idle stream (server in a child process), {rounds} round(s); open-file limit {limit}"
    );
    let mut table = Table::new([
        "streams, peer",
        "bytes/stream",
        "KiB/stream",
        "peer ÷ rivulet",
    ]);
    let mut actix_ratios = Vec::new();
    for &count in counts {
        if count as u64 + 64 > limit {
            println!("  skipping {count} streams: open-file limit {limit}");
            continue;
        }
        let mut results: Vec<Vec<f64>> = ROWS.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..ROWS.len() {
                let i = (k + round) % ROWS.len();
                results[i].push(measure(ROWS[i], count).await);
            }
        }
        let rivulet = median(&results[0]);
        let row = |peer: Peer| {
            let i = ROWS
                .iter()
                .position(|r| matches!(r, Row::Peer(p) if *p == peer));
            median(&results[i.expect("a row")])
        };
        actix_ratios.push(format!(
            "{count} streams: {}",
            ratio(row(Peer::RivuletActix) / row(Peer::ActixLabSse))
        ));
        for (i, peer) in ROWS.iter().enumerate() {
            let bytes = median(&results[i]);
            table.row(vec![
                format!("{count}, {}", peer.name()),
                format!("{bytes:.0}"),
                format!("{:.2}", bytes / 1024.0),
                if i == 0 {
                    "—".into()
                } else {
                    ratio(bytes / rivulet)
                },
            ]);
        }
    }
    table.print();
    println!(
        "  rivulet on actix-web ÷ actix-web-lab sse (bytes/stream; target ≤ 1×): {}",
        actix_ratios.join(", ")
    );
    println!(
        "  targets: rivulet ≤ 8 KiB per stream at 10k streams; on rivulet::serve ≤ 12 KiB per h1 stream, ≤ 4 KiB per stream on shared h2 connections"
    );
}
