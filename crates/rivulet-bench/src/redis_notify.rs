//! Scenario `redis-notify`: how many append notifications each server of a
//! group sharing one Redis receives. Two `RedisStore`s (two servers: each has
//! its own connections and subscription) share a `redis-server` started on a
//! free loopback port; 1,000 resumable streams of 20 packets are appended,
//! and each server reads half of them to their end. A server needs the
//! notifications of the streams it reads; every other one it receives is
//! work it does for nothing, and with N servers that work grows N-fold.
//!
//! Needs `redis-server` (scripts/setup installs it; `REDIS_SERVER=path`
//! overrides).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::protocol::PacketKind;
use rivulet::resume::{Packet, RedisStore, Store, StreamId};

/// Every wait of the scenario is bounded by this.
const PATIENCE: Duration = Duration::from_secs(60);

struct RedisServer {
    port: u16,
    child: Child,
}

impl RedisServer {
    fn start() -> RedisServer {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        // A free port from the kernel, handed over; retried if taken meanwhile.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|probe| probe.local_addr())
                .expect("a free port")
                .port();
            let mut child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot start `{binary}`: {e} (scripts/setup installs it)")
                });
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return RedisServer { port, child };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn record(seq: u64, last: bool) -> Packet {
    let kind = if last {
        PacketKind::Done
    } else {
        PacketKind::Progress
    };
    let data = serde_json::value::RawValue::from_string(seq.to_string()).expect("a number is JSON");
    Packet::new(seq, kind, data)
}

/// Reads `stream` to its last packet, as a resumed connection would.
async fn read_to_end(store: RedisStore, stream: StreamId) {
    let mut after = 0;
    loop {
        let packets = store
            .read(stream, after, 64, Duration::from_secs(5))
            .await
            .expect("a read");
        for packet in packets {
            after = packet.seq;
            if packet.is_final() {
                return;
            }
        }
    }
}

pub async fn run(quick: bool) {
    let (streams, packets) = if quick { (200, 5) } else { (1000, 20) };
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let servers = [
        RedisStore::connect(&url).await.expect("Redis answers"),
        RedisStore::connect(&url).await.expect("Redis answers"),
    ];
    let ids: Vec<StreamId> = (0..streams).map(|_| StreamId::random()).collect();
    let lease = Duration::from_secs(60);
    for (i, id) in ids.iter().enumerate() {
        servers[i % 2]
            .create(*id, Some("bench"), lease, lease)
            .await
            .expect("created");
    }
    // Server i % 2 runs the job of stream i, and server i / (streams / 2)
    // reads it: half of the readers read a stream the other server produces.
    let readers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| tokio::spawn(read_to_end(servers[i * 2 / streams].clone(), *id)))
        .collect();
    // Let the readers start waiting before the appends begin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for seq in 1..=packets {
        futures::stream::iter(ids.iter().enumerate())
            .for_each_concurrent(64, |(i, id)| {
                let store = &servers[i % 2];
                async move {
                    store
                        .append(*id, record(seq, seq == packets))
                        .await
                        .expect("appended")
                }
            })
            .await;
    }
    for reader in readers {
        tokio::time::timeout(PATIENCE, reader)
            .await
            .expect("every reader gets its last packet in time")
            .expect("the reader ran");
    }
    let elapsed = started.elapsed();
    // Notifications still on their way are counted too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let appends = (streams as u64) * packets;
    println!(
        "  redis-notify: 2 servers, {streams} streams x {packets} packets = {appends} appends, each server reading {} streams, in {:.2} s",
        streams / 2,
        elapsed.as_secs_f64()
    );
    for (name, server) in ["A", "B"].iter().zip(&servers) {
        let received = server.notifications_received();
        println!(
            "    server {name}: {received} notifications received = {:.2} of all appends ({} needed for the streams it reads)",
            received as f64 / appends as f64,
            appends / 2
        );
    }
}
