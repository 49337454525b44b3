//! The Redis deployments the scenario runs on, started on free loopback
//! ports, and what each node counted.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Every wait of the scenario is bounded by this.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) struct RedisServer {
    pub(crate) port: u16,
    child: Child,
}

impl RedisServer {
    pub(crate) fn start() -> RedisServer {
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
pub(crate) fn cli(port: u16, args: &[&str]) -> String {
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
pub(crate) fn cluster() -> Vec<RedisServer> {
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

/// Prints what each node at `ports` ran since its last `CONFIG RESETSTAT`:
/// its commands per `unit` (`count` of them in the run), and the six it ran
/// most.
pub(crate) fn print_commands(ports: &[u16], count: u64, unit: &str) {
    for port in ports {
        let calls = commandstats(*port);
        let total: u64 = calls.iter().map(|(_, n)| n).sum();
        let top: Vec<String> = calls
            .iter()
            .take(6)
            .map(|(name, n)| format!("{name} {:.2}", *n as f64 / count as f64))
            .collect();
        println!(
            "    node :{port}: {total} commands = {:.2} per {unit} of the whole run ({})",
            total as f64 / count as f64,
            top.join(", ")
        );
    }
}
