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

const PEERS: [Peer; 2] = [Peer::Rivulet, Peer::SseChannel];

struct ChildServer {
    child: Child,
    addr: SocketAddr,
}

impl ChildServer {
    fn start() -> ChildServer {
        let mut child = Command::new(std::env::current_exe().expect("current exe"))
            .arg("serve-child")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server process");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("stdout"))
            .read_line(&mut line)
            .expect("port line");
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .expect("the child prints its port");
        ChildServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn rss(&self) -> u64 {
        rss_bytes(self.child.id())
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_many(addr: SocketAddr, peer: Peer, count: usize) -> Vec<TcpStream> {
    let path = format!(
        "{}-idle",
        match peer {
            Peer::Rivulet => "/rivulet",
            _ => "/sse-channel",
        }
    );
    futures::stream::iter(0..count)
        .map(|i| open_idle(addr, &path, i))
        .buffer_unordered(256)
        .collect()
        .await
}

/// Bytes per stream for `count` streams on a fresh server.
async fn measure(peer: Peer, count: usize) -> f64 {
    let server = ChildServer::start();
    // Warm up: the first connections grow the runtime's and allocator's pools.
    drop(open_many(server.addr, peer, 100).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = server.rss();
    let streams = open_many(server.addr, peer, count).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = server.rss();
    drop(streams);
    (after.saturating_sub(before)) as f64 / count as f64
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
    for &count in counts {
        if count as u64 + 64 > limit {
            println!("  skipping {count} streams: open-file limit {limit}");
            continue;
        }
        let mut results: Vec<Vec<f64>> = PEERS.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..PEERS.len() {
                let i = (k + round) % PEERS.len();
                results[i].push(measure(PEERS[i], count).await);
            }
        }
        let rivulet = median(&results[0]);
        for (i, peer) in PEERS.iter().enumerate() {
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
    println!("  target: rivulet ≤ 8 KiB per stream at 10k streams");
}
