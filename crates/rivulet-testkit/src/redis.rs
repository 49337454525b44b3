//! Real `redis-server`s on free loopback ports: a single node, a node
//! serving TLS only with a CA made at run time, and a 3-master Redis Cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::PATIENCE;

/// A `redis-server` on a free loopback port, killed when dropped. Fails the
/// test loudly when there is none: these tests must not skip silently.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: TempDir,
}

fn binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(|port, _| vec!["--port".into(), port.to_string()])
    }

    /// A `redis-server` whose listening settings `listen(port, dir)` gives:
    /// `port` is free, `dir` is the server's own directory (for files it
    /// needs); the server is ready once `port` accepts connections.
    fn start_with(listen: impl Fn(u16, &Path) -> Vec<String>) -> RedisServer {
        let binary = binary();
        let dir = TempDir::new();
        // Redis needs an explicit port: take a free one from the kernel and
        // hand it over. Another process could take it in between; the start
        // is then retried on a new port.
        for _ in 0..5 {
            let port = crate::free_port();
            let child = Command::new(&binary)
                .args(listen(port, &dir.0))
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", dir.0.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot start `{binary}` ({e}): the Redis tests need redis-server \
                     (apt-get install redis-server, or scripts/setup; REDIS_SERVER=path overrides)"
                ),
            };
            let deadline = std::time::Instant::now() + PATIENCE;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port was taken; try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return RedisServer { port, child, dir };
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not listen on port {port}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("redis-server would not start on a free port");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts an empty one on the same port, without
    /// persistence: a Redis restarted that lost everything.
    pub fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let mut child = Command::new(binary())
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", self.dir.0.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("redis-server starts again");
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    self.child = child;
                    return;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not listen again on port {}",
                    self.port
                );
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port is not free yet: try again
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` that speaks TLS only, with a certificate for 127.0.0.1
/// and localhost signed by a CA made at start; [`RedisTls::ca_file`] holds
/// that CA. Killed when dropped.
pub struct RedisTls {
    pub server: RedisServer,
}

impl RedisTls {
    pub fn start() -> RedisTls {
        let server = RedisServer::start_with(|port, dir| {
            let (ca, cert, key) = certificates();
            std::fs::write(dir.join("ca.pem"), ca).unwrap();
            std::fs::write(dir.join("cert.pem"), cert).unwrap();
            std::fs::write(dir.join("key.pem"), key).unwrap();
            let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
            vec![
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                file("cert.pem"),
                "--tls-key-file".into(),
                file("key.pem"),
                "--tls-ca-cert-file".into(),
                file("ca.pem"),
                "--tls-auth-clients".into(),
                "no".into(),
            ]
        });
        RedisTls { server }
    }

    /// `rediss://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.server.port)
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.server.dir.0.join("ca.pem")
    }
}

/// A CA, and a certificate for 127.0.0.1 and localhost it signed, with its
/// key: PEM each.
fn certificates() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// A Redis Cluster of three masters (no replicas) on free loopback ports,
/// its slots spread by `redis-cli --cluster create`. Killed when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(|port, _| {
                    vec![
                        "--port".into(),
                        port.to_string(),
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        "nodes.conf".into(),
                    ]
                })
            })
            .collect();
        let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
        let status = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `{cli}` ({e}): apt-get install redis-tools"));
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        // Every node must see every slot served before the cluster is used.
        let deadline = std::time::Instant::now() + PATIENCE;
        for node in &cluster.nodes {
            loop {
                let info = Command::new(&cli)
                    .args(["-p", &node.port.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli runs");
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the cluster did not become ready"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// The URL of one node: enough to find the whole cluster.
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "rivulet-redis-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
