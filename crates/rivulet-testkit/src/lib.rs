//! What Rivulet's integration tests and examples share: a real server on a
//! free loopback port, one HTTP client, one [`PATIENCE`] that bounds every wait,
//! a reader that decodes streams with the library's own decoder, a TCP proxy
//! that cuts connections, a real `redis-server`, the Prometheus scraper, and
//! the starter of the `rivulet` binary, and the route and requests of the
//! live-feed tests ([`feed`]).
//!
//! ```no_run
//! # async fn run() {
//! use axum::{Router, routing::get};
//! use rivulet::{Format, Stream};
//!
//! async fn hello(stream: Stream) -> axum::response::Response {
//!     stream.run(|tx| async move { tx.send("hello").await?; Ok(()) }).await
//! }
//! let addr = rivulet_testkit::serve(Router::new().route("/", get(hello))).await;
//! let events = rivulet_testkit::events(addr, "/", Format::Sse).await;
//! assert_eq!(events.len(), 2);
//! # }
//! ```

mod binary;
pub mod feed;
mod metrics;
mod proxy;
mod reader;
mod redis;
mod resumable;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

pub use binary::{
    Demo, Run, binary, binary_command, finish, interrupt, next_line, spawn_watch,
    spawn_watch_with_stdin, stdout_lines, watch, watch_command,
};
pub use metrics::{metric, scrape};
pub use proxy::Proxy;
pub use reader::{Reader, events, get};
pub use redis::{
    RedisCluster, RedisSentinel, RedisServer, RedisTls, redis_cli, redis_cli_tls, shared,
};
pub use resumable::{Count, DropSignal, End, Reading, cancel, counting, endless, expected, open};

/// Every wait in the tests is bounded by this, so a bug fails instead of
/// hanging. Generous: the tests run on loaded two-core machines.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A listener on a free loopback port, and its address.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves `app` on a free loopback port, TCP_NODELAY on, as the demo does.
pub async fn serve(app: Router) -> SocketAddr {
    use axum::serve::ListenerExt;
    let (listener, addr) = listen().await;
    let listener = listener.tap_io(|tcp| tcp.set_nodelay(true).unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Runs a server of its own (`rivulet_cli::demo::serve_on`, for example) on a
/// free loopback port, spawned.
pub async fn serve_with<F, Fut>(server: F) -> SocketAddr
where
    F: FnOnce(TcpListener) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let (listener, addr) = listen().await;
    tokio::spawn(server(listener));
    addr
}

/// A free loopback port, for a server that must be told its port (a child
/// process). Another process could take it in between; callers retry or fail.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// `http://{addr}{path}`.
pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// One client for every test: building one loads TLS roots, which is slow.
/// No proxy from the environment, and no idle pooling, so that no connection
/// outlives its test's runtime and every request opens a connection of its own.
pub fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        })
        .clone()
}

/// Waits until `check` holds, polling; panics after [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the async `check` until it returns `Some`; panics after [`PATIENCE`].
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// This process's resident memory in bytes, from `/proc/self/status`: what
/// a test that bounds memory under load reads before and after.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}
