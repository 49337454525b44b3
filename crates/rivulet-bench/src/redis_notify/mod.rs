//! Scenario `redis-notify`: how many append notifications each server of a
//! group sharing one Redis receives, and how many commands each Redis node
//! runs per append. Two `RedisStore`s (two servers: each has its own
//! connections and subscription) share a `redis-server` started on a free
//! loopback port, then a 3-master Redis Cluster; 1,000 resumable streams of
//! 20 packets are appended, and each server reads half of them to their end.
//! A server needs the notifications of the streams it reads; every other one
//! it receives is work it does for nothing, and with N servers that work
//! grows N-fold. Each node's `INFO commandstats` gives the commands it ran.
//!
//! Needs `redis-server` and `redis-cli` (scripts/setup installs them;
//! `REDIS_SERVER=path`, `REDIS_CLI=path` override).

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
        RedisServer::start_with(&[])
    }

    /// A node of a Redis Cluster (joined by [`cluster`]).
    fn cluster_node() -> RedisServer {
        RedisServer::start_with(&[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
    }

    fn start_with(extra: &[&str]) -> RedisServer {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        // A free port from the kernel, handed over; retried if taken
        // meanwhile. A cluster node also needs the port 10,000 above its own.
        let cluster = extra.contains(&"--cluster-enabled");
        for _ in 0..20 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|probe| probe.local_addr())
                .expect("a free port")
                .port();
            if cluster && port > 55535 {
                continue;
            }
            let dir = std::env::temp_dir().join(format!("rivulet-bench-redis-{port}"));
            std::fs::create_dir_all(&dir).expect("a directory for redis-server");
            let mut child = Command::new(&binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", dir.to_str().expect("a UTF-8 path")])
                .args(extra)
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
        let dir = std::env::temp_dir().join(format!("rivulet-bench-redis-{}", self.port));
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `redis-cli -p port args…`: its output.
fn cli(port: u16, args: &[&str]) -> String {
    let binary = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    let output = Command::new(&binary)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{binary}`: {e} (scripts/setup installs it)"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Three cluster nodes joined as a 3-master cluster, ready.
fn cluster() -> Vec<RedisServer> {
    let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::cluster_node()).collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addresses.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    cli(nodes[0].port, &args);
    let deadline = Instant::now() + PATIENCE;
    for node in &nodes {
        while !cli(node.port, &["cluster", "info"]).contains("cluster_state:ok") {
            assert!(
                Instant::now() < deadline,
                "the cluster did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    nodes
}

/// The calls of each command a node ran since its last `CONFIG RESETSTAT`
/// (this scenario's own `INFO` and `CONFIG` left out), most first.
fn commandstats(port: u16) -> Vec<(String, u64)> {
    let mut calls: Vec<(String, u64)> = cli(port, &["info", "commandstats"])
        .lines()
        .filter_map(|line| {
            // cmdstat_evalsha:calls=20000,usec=…
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let count = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), count))
        })
        .filter(|(name, _)| name != "info" && !name.starts_with("config"))
        .collect();
    calls.sort_by_key(|(_, calls)| std::cmp::Reverse(*calls));
    calls
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
    let node = RedisServer::start();
    measure(
        "one node",
        &format!("redis://127.0.0.1:{}", node.port),
        &[node.port],
        streams,
        packets,
    )
    .await;
    drop(node);
    let nodes = cluster();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    measure(
        "3-master cluster",
        &format!("redis://127.0.0.1:{}", ports[0]),
        &ports,
        streams,
        packets,
    )
    .await;
}

/// Runs the scenario on the Redis at `url`, whose nodes listen on `ports`.
async fn measure(deployment: &str, url: &str, ports: &[u16], streams: usize, packets: u64) {
    let servers = [
        RedisStore::connect(url).await.expect("Redis answers"),
        RedisStore::connect(url).await.expect("Redis answers"),
    ];
    let ids: Vec<StreamId> = (0..streams).map(|_| StreamId::random()).collect();
    let lease = Duration::from_secs(60);
    for port in ports {
        cli(*port, &["config", "resetstat"]);
    }
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
        "  redis-notify, {deployment}: 2 servers, {streams} streams x {packets} packets = {appends} appends, each server reading {} streams, in {:.2} s",
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
    // Creating, appending, reading and waiting, as each node counted them.
    for port in ports {
        let calls = commandstats(*port);
        let total: u64 = calls.iter().map(|(_, n)| n).sum();
        let top: Vec<String> = calls
            .iter()
            .take(6)
            .map(|(name, n)| format!("{name} {:.2}", *n as f64 / appends as f64))
            .collect();
        println!(
            "    node :{port}: {total} commands = {:.2} per append of the whole run ({})",
            total as f64 / appends as f64,
            top.join(", ")
        );
    }
}
