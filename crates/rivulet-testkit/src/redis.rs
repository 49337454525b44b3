//! Real `redis-server`s on free loopback ports: a single node, a node
//! serving TLS only with a CA made at run time, a 3-master Redis Cluster
//! (with a replica per master, for failovers), and a master with a replica
//! watched by three Redis Sentinels. [`shared`] starts a deployment once per
//! test binary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::PATIENCE;

/// A `redis-server` on a free loopback port, killed when dropped. Fails the
/// test loudly when there is none: these tests must not skip silently.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: TempDir,
    /// Its command line, to start it again ([`RedisServer::restart`]).
    args: Vec<String>,
    /// Whether it outlives its test ([`shared`]).
    kept: bool,
}

/// The deployment in `cell`, started by `start` on first use and shared by
/// every test of the binary from then on. Its servers are killed when the
/// process ends, however it ends (`PR_SET_PDEATHSIG` on the thread of
/// `spawn` that lives as long as the process), and their directories are
/// removed at exit.
pub fn shared<T: Send + Sync + 'static>(
    cell: &'static OnceLock<T>,
    start: fn() -> T,
) -> &'static T {
    static STARTING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(deployment) = cell.get() {
        return deployment;
    }
    KEPT.set(true);
    let deployment = std::panic::catch_unwind(start);
    KEPT.set(false);
    match deployment {
        Ok(deployment) => {
            let _ = cell.set(deployment);
            cell.get().unwrap()
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

thread_local! {
    /// Whether the servers this thread starts outlive their test ([`shared`]).
    static KEPT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Directories of servers that outlive their tests, removed at exit.
static KEPT_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_kept_dirs() {
    let dirs = KEPT_DIRS.lock().unwrap_or_else(|e| e.into_inner());
    for dir in dirs.iter() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// `redis-cli -p port [-a password] args…`: its output, or a panic naming
/// the command when it cannot run.
pub fn redis_cli(port: u16, password: Option<&str>, args: &[&str]) -> String {
    redis_cli_tls(port, password, None, args)
}

/// [`redis_cli`] over TLS when `ca` (the PEM file of the CA to trust) is
/// given.
pub fn redis_cli_tls(
    port: u16,
    password: Option<&str>,
    ca: Option<&Path>,
    args: &[&str],
) -> String {
    let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    // Bounded: whatever listens on the port may never answer.
    let mut command = Command::new("timeout");
    command.args(["10", &cli, "-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(ca) = ca {
        command.arg("--tls").arg("--cacert").arg(ca);
    }
    if let Some(password) = password {
        command.args(["--no-auth-warning", "-a", password]);
    }
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{cli}` ({e}): apt-get install redis-tools"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Waits until `check` holds, polling every 50 ms; panics naming `what`
/// after [`PATIENCE`].
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
        // hand it over.
        let kept = KEPT.get();
        if kept {
            static REGISTERED: std::sync::Once = std::sync::Once::new();
            REGISTERED.call_once(|| unsafe {
                libc::atexit(remove_kept_dirs);
            });
            KEPT_DIRS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(dir.0.clone());
        }
        // Another process could take the port in between, and a cluster
        // node also needs the port 10,000 above it (so at most 55535): the
        // start is then retried on a new port.
        for _ in 0..20 {
            let port = crate::free_port();
            let mut args = listen(port, &dir.0);
            args.extend(["--bind", "127.0.0.1"].map(String::from));
            args.extend(["--save", "", "--appendonly", "no"].map(String::from));
            args.extend(["--dir".into(), dir.0.to_str().unwrap().to_owned()]);
            let mut child = spawn(&binary, &args, kept);
            let deadline = Instant::now() + PATIENCE;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port was taken; try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    if !answers_as(port, child.id(), &args) {
                        // Another process took the port first, and this
                        // server could not listen: try another.
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    return RedisServer {
                        port,
                        child,
                        dir,
                        args,
                        kept,
                    };
                }
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not listen on port {port}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("redis-server would not start on a free port");
    }

    /// Kills the server (SIGKILL: no goodbye to its clients or peers).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server killed by [`RedisServer::kill`] again, on its port,
    /// with its directory (a cluster node keeps its `nodes.conf`).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + PATIENCE;
        self.child = spawn(&binary(), &self.args, self.kept);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen again on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
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

/// Whether the Redis listening on `port` is the process `pid` started with
/// `args` (its `--requirepass`, if any); a server on TLS only cannot be
/// asked, and is taken to be.
fn answers_as(port: u16, pid: u32, args: &[String]) -> bool {
    if args.iter().any(|arg| arg == "--tls-port") {
        return true;
    }
    let password = args
        .iter()
        .position(|arg| arg == "--requirepass")
        .and_then(|at| args.get(at + 1))
        .map(String::as_str);
    let info = redis_cli(port, password, &["info", "server"]);
    info.lines()
        .any(|line| line.trim() == format!("process_id:{pid}"))
}

/// Starts `binary args`. A `kept` server is started by a thread that lives
/// as long as the process, and is killed when that thread ends: with the
/// test binary, whichever test started it and however the binary ends.
fn spawn(binary: &str, args: &[String], kept: bool) -> Child {
    type Request = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<std::sync::mpsc::Sender<Request>>> = OnceLock::new();
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let spawned = if kept {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let spawner = SPAWNER.get_or_init(|| {
            let (requests, incoming) = std::sync::mpsc::channel::<Request>();
            std::thread::Builder::new()
                .name("rivulet-redis-spawner".into())
                .spawn(move || {
                    // Never ends: the sender lives in a static.
                    for (mut command, reply) in incoming {
                        let _ = reply.send(command.spawn());
                    }
                })
                .unwrap();
            Mutex::new(requests)
        });
        let (reply, child) = std::sync::mpsc::channel();
        spawner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((command, reply))
            .unwrap();
        child.recv().unwrap()
    } else {
        command.spawn()
    };
    spawned.unwrap_or_else(|e| {
        panic!(
            "cannot start `{binary}` ({e}): the Redis tests need redis-server \
             (apt-get install redis-server, or scripts/setup; REDIS_SERVER=path overrides)"
        )
    })
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
        let certificates = Certificates::new();
        let server = RedisServer::start_with(|port, dir| certificates.listen(port, dir));
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

/// A CA made at run time, and a certificate for 127.0.0.1 and localhost it
/// signed, with its key: PEM each. Every server of a deployment serves the
/// same certificate.
struct Certificates {
    ca: String,
    cert: String,
    key: String,
}

impl Certificates {
    fn new() -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        // Distinct names: OpenSSL (redis-server's TLS, replication and the
        // sentinels' links) takes a certificate named as its issuer for a
        // self-signed one.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Rivulet test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        let cert = params.signed_by(&key, &issuer).unwrap();
        Certificates {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Writes the files into `dir` (`ca.pem`, `cert.pem`, `key.pem`) and
    /// returns the settings of a server on TLS only at `port`, clients
    /// without a certificate of their own welcome.
    fn listen(&self, port: u16, dir: &Path) -> Vec<String> {
        std::fs::write(dir.join("ca.pem"), &self.ca).unwrap();
        std::fs::write(dir.join("cert.pem"), &self.cert).unwrap();
        std::fs::write(dir.join("key.pem"), &self.key).unwrap();
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
    }
}

/// A Redis Cluster of three masters on free loopback ports, its slots
/// spread by `redis-cli --cluster create`, each master with `replicas`
/// replicas (the first three nodes are the masters). Killed when dropped.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three masters, no replicas.
    pub fn start() -> RedisCluster {
        RedisCluster::start_with_replicas(0)
    }

    /// Three masters with `replicas` replicas each; a replica takes over
    /// about a second after its master stops answering.
    pub fn start_with_replicas(replicas: usize) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3 * (1 + replicas))
            .map(|_| {
                RedisServer::start_with(|port, _| {
                    vec![
                        "--port".into(),
                        port.to_string(),
                        "--cluster-enabled".into(),
                        "yes".into(),
                        "--cluster-config-file".into(),
                        "nodes.conf".into(),
                        "--cluster-node-timeout".into(),
                        "1000".into(),
                    ]
                })
            })
            .collect();
        let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
        let status = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()
            .unwrap_or_else(|e| panic!("cannot run `{cli}` ({e}): apt-get install redis-tools"));
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        cluster.wait_ready(3 * (1 + replicas));
        cluster
    }

    /// Waits until every live node sees every slot served and knows
    /// `known` nodes, each replica in sync with its master.
    fn wait_ready(&self, known: usize) {
        for node in &self.nodes {
            until("the cluster to become ready", || {
                let info = redis_cli(node.port, None, &["cluster", "info"]);
                let replication = redis_cli(node.port, None, &["info", "replication"]);
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{known}"))
                    && (replication.contains("role:master")
                        || replication.contains("master_link_status:up"))
            });
        }
    }

    /// The URL of one node: enough to find the whole cluster.
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The node serving `slot` as master now.
    pub fn master_of(&self, slot: u16) -> usize {
        self.serving(slot)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// The node serving `slot` as master now, if a live one does.
    fn serving(&self, slot: u16) -> Option<usize> {
        // `CLUSTER NODES`: `id host:port@bus flags master - ping pong epoch state slots…`
        let nodes = self
            .nodes
            .iter()
            .find_map(|node| {
                let out = redis_cli(node.port, None, &["cluster", "nodes"]);
                (!out.is_empty()).then_some(out)
            })
            .expect("a live node");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| {
                let (from, to) = range.split_once('-').unwrap_or((range, range));
                matches!((from.parse::<u16>(), to.parse::<u16>()), (Ok(from), Ok(to)) if from <= slot && slot <= to)
            });
            if serves {
                let port: u16 = fields[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|port| port.parse().ok())
                    .expect("host:port@bus");
                return self.nodes.iter().position(|node| node.port == port);
            }
        }
        None
    }

    /// Moves `slot`, with its keys, from the master serving it to master
    /// `to`, as `redis-cli --cluster reshard` does one slot at a time:
    /// `CLUSTER SETSLOT … IMPORTING` / `MIGRATING`, `MIGRATE` of its keys
    /// (clients asking meanwhile get `ASK`, or `TRYAGAIN` for a command on
    /// keys on both sides), then `CLUSTER SETSLOT … NODE` on every node
    /// on every master (clients get `MOVED` from then on). Returns once the
    /// cluster names `to` for the slot.
    pub fn move_slot(&self, slot: u16, to: usize) {
        let from = self.master_of(slot);
        assert_ne!(from, to, "slot {slot} is on node {to} already");
        let id = |node: usize| {
            redis_cli(self.nodes[node].port, None, &["cluster", "myid"])
                .trim()
                .to_owned()
        };
        let (from_id, to_id) = (id(from), id(to));
        let slot_arg = slot.to_string();
        let (from_port, to_port) = (self.nodes[from].port, self.nodes[to].port);
        let ok = |out: String, what: &str| assert!(out.contains("OK"), "{what}: {out}");
        ok(
            redis_cli(
                to_port,
                None,
                &["cluster", "setslot", &slot_arg, "importing", &from_id],
            ),
            "SETSLOT IMPORTING",
        );
        ok(
            redis_cli(
                from_port,
                None,
                &["cluster", "setslot", &slot_arg, "migrating", &to_id],
            ),
            "SETSLOT MIGRATING",
        );
        let deadline = Instant::now() + PATIENCE;
        loop {
            let keys = redis_cli(
                from_port,
                None,
                &["cluster", "getkeysinslot", &slot_arg, "100"],
            );
            let keys: Vec<&str> = keys.lines().filter(|key| !key.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the keys of slot {slot} did not move"
            );
            let to_port = to_port.to_string();
            let mut args = vec!["migrate", "127.0.0.1", &to_port, "", "0", "5000", "keys"];
            args.extend(keys);
            let out = redis_cli(from_port, None, &args);
            assert!(
                out.contains("OK") || out.contains("NOKEY"),
                "MIGRATE: {out}"
            );
        }
        // The new owner first, then the old one, then the other masters.
        let mut order = vec![to, from];
        order.extend((0..self.nodes.len()).filter(|node| {
            *node != to
                && *node != from
                && redis_cli(self.nodes[*node].port, None, &["role"]).starts_with("master")
        }));
        for node in order {
            let port = self.nodes[node].port;
            ok(
                redis_cli(
                    port,
                    None,
                    &["cluster", "setslot", &slot_arg, "node", &to_id],
                ),
                "SETSLOT NODE",
            );
        }
        until("the cluster to name the slot's new master", || {
            self.serving(slot) == Some(to)
        });
    }

    /// Kills node `index` (a master), waits until its replica took over,
    /// then starts it again (it rejoins as a replica) and waits until the
    /// cluster is whole. Returns the index of the node that took over.
    pub fn fail_over(&mut self, index: usize, slot: u16) -> usize {
        let known = self.nodes.len();
        self.nodes[index].kill();
        let mut promoted = index;
        until("a replica to take over", || {
            promoted = self.serving(slot).unwrap_or(index);
            promoted != index
        });
        self.nodes[index].restart();
        self.wait_ready(known);
        promoted
    }
}

/// A master and its replica, watched by three Redis Sentinels (quorum 2)
/// under the name [`RedisSentinel::MASTER`]. The master and the replica ask
/// for [`RedisSentinel::PASSWORD`], the sentinels for
/// [`RedisSentinel::SENTINEL_PASSWORD`]. A sentinel sees a master down after
/// one second without an answer. [`RedisSentinel::start_tls`] starts every
/// server on TLS only: clients, replication and the sentinels' own links.
pub struct RedisSentinel {
    /// The first master and the first replica; their roles change with each
    /// failover.
    pub nodes: Vec<RedisServer>,
    pub sentinels: Vec<RedisServer>,
    /// The CA file, when every server speaks TLS only.
    ca: Option<PathBuf>,
}

impl RedisSentinel {
    pub const MASTER: &'static str = "rivulet-master";
    pub const PASSWORD: &'static str = "master-s3cret";
    pub const SENTINEL_PASSWORD: &'static str = "sentinel-s3cret";

    pub fn start() -> RedisSentinel {
        RedisSentinel::start_with(None)
    }

    /// Every server on TLS only (`--port 0`, `--tls-port`,
    /// `--tls-replication yes`, the sentinels too), with a certificate for
    /// 127.0.0.1 signed by a CA made now: [`RedisSentinel::ca_file`].
    pub fn start_tls() -> RedisSentinel {
        RedisSentinel::start_with(Some(Certificates::new()))
    }

    fn start_with(tls: Option<Certificates>) -> RedisSentinel {
        let password = RedisSentinel::PASSWORD;
        let tls = tls.as_ref();
        // The settings of a server at `port`: plain, or TLS only, with
        // replication and the sentinels' links on TLS too.
        let listen = move |port: u16, dir: &Path| match tls {
            Some(certificates) => {
                let mut args = certificates.listen(port, dir);
                args.extend(["--tls-replication", "yes"].map(String::from));
                args
            }
            None => vec!["--port".into(), port.to_string()],
        };
        let node = |replica_of: Option<u16>| {
            RedisServer::start_with(move |port, dir| {
                let mut args = listen(port, dir);
                args.extend([
                    "--requirepass".into(),
                    password.into(),
                    "--masterauth".into(),
                    password.into(),
                ]);
                if let Some(master) = replica_of {
                    args.extend(["--replicaof".into(), "127.0.0.1".into(), master.to_string()]);
                }
                args
            })
        };
        let master = node(None);
        let ca = tls.map(|_| master.dir.0.join("ca.pem"));
        let replica = node(Some(master.port));
        until("the replica to sync", || {
            redis_cli_tls(
                replica.port,
                Some(password),
                ca.as_deref(),
                &["info", "replication"],
            )
            .contains("master_link_status:up")
        });
        let master_port = master.port;
        let sentinels: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(move |port, dir| {
                    let config = dir.join("sentinel.conf");
                    let name = RedisSentinel::MASTER;
                    let secret = RedisSentinel::SENTINEL_PASSWORD;
                    std::fs::write(
                        &config,
                        format!(
                            "sentinel monitor {name} 127.0.0.1 {master_port} 2\n\
                             sentinel auth-pass {name} {password}\n\
                             sentinel down-after-milliseconds {name} 1000\n\
                             sentinel failover-timeout {name} 10000\n\
                             sentinel sentinel-pass {secret}\n"
                        ),
                    )
                    .unwrap();
                    let mut args = vec![config.to_str().unwrap().to_owned(), "--sentinel".into()];
                    args.extend(listen(port, dir));
                    args.extend(["--requirepass".into(), secret.into()]);
                    args
                })
            })
            .collect();
        let deployment = RedisSentinel {
            nodes: vec![master, replica],
            sentinels,
            ca,
        };
        deployment.wait_ready();
        deployment
    }

    /// `redis+sentinel://:PASSWORD@127.0.0.1:P1,…/MASTER` (`rediss+sentinel`
    /// on TLS): the master's password, every sentinel.
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!(
            "{}+sentinel://:{}@{}/{}",
            if self.ca.is_some() { "rediss" } else { "redis" },
            RedisSentinel::PASSWORD,
            sentinels.join(","),
            RedisSentinel::MASTER
        )
    }

    /// The PEM file of the CA that signed every server's certificate, when
    /// they speak TLS ([`RedisSentinel::start_tls`]).
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// `redis-cli` on node `index` (master or replica).
    pub fn node_cli(&self, index: usize, args: &[&str]) -> String {
        let password = Some(RedisSentinel::PASSWORD);
        redis_cli_tls(self.nodes[index].port, password, self.ca_file(), args)
    }

    /// `redis-cli` on sentinel `index`.
    fn sentinel(&self, index: usize, args: &[&str]) -> String {
        let secret = Some(RedisSentinel::SENTINEL_PASSWORD);
        redis_cli_tls(self.sentinels[index].port, secret, self.ca_file(), args)
    }

    /// The index in `nodes` of the node every live sentinel names master.
    pub fn master(&self) -> Option<usize> {
        let mut named = None;
        for index in 0..self.sentinels.len() {
            let out = self.sentinel(
                index,
                &["sentinel", "get-master-addr-by-name", RedisSentinel::MASTER],
            );
            let port: u16 = out.lines().nth(1)?.trim().parse().ok()?;
            let node = self.nodes.iter().position(|n| n.port == port)?;
            if named.is_some_and(|named| named != node) {
                return None;
            }
            named = Some(node);
        }
        named
    }

    /// Waits until every sentinel names the same master, knows the other
    /// two sentinels and the replica, and the replica is in sync.
    fn wait_ready(&self) {
        until("the sentinels to agree on a master", || {
            let Some(master) = self.master() else {
                return false;
            };
            let replica = 1 - master;
            let synced = self
                .node_cli(replica, &["info", "replication"])
                .contains("master_link_status:up");
            synced
                && (0..self.sentinels.len()).all(|index| {
                    let out = self.sentinel(index, &["sentinel", "master", RedisSentinel::MASTER]);
                    let field = |name: &str| {
                        let mut lines = out.lines();
                        lines.find(|line| *line == name)?;
                        lines.next().map(str::to_owned)
                    };
                    field("num-other-sentinels").as_deref() == Some("2")
                        && field("num-slaves").as_deref() == Some("1")
                        && field("flags").as_deref() == Some("master")
                        && self
                            .sentinel(index, &["sentinel", "replicas", RedisSentinel::MASTER])
                            .lines()
                            .any(|line| line == "slave")
                })
        });
    }

    /// Has the sentinels promote the replica (`SENTINEL FAILOVER`), waits
    /// until they all name it and the old master follows it, and returns the
    /// index of the new master.
    pub fn fail_over(&self) -> usize {
        let old = self.master().expect("the sentinels agree on a master");
        let answer = self.sentinel(0, &["sentinel", "failover", RedisSentinel::MASTER]);
        assert!(answer.contains("OK"), "SENTINEL FAILOVER: {answer}");
        until("the failover", || self.master() == Some(1 - old));
        self.wait_ready();
        1 - old
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
