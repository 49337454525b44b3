//! Support for the resumable-stream tests: a TCP proxy that cuts connections,
//! a client that reads a stream until it ends or is cut, and a real
//! `redis-server` on a free loopback port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Query;
use axum::response::Response;
use rivulet::Format;
use rivulet::decode::{Decoder, Event};
use rivulet::resume::Resumable;
use serde::Deserialize;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Every wait in these tests is bounded by this.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A TCP proxy on loopback in front of `target`. [`Proxy::cut`] closes every
/// connection it carries, as a network change or a load balancer would.
pub struct Proxy {
    pub addr: SocketAddr,
    cuts: watch::Sender<u64>,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(0u64);
        let connections = Arc::new(AtomicUsize::new(0));
        let proxy = Proxy {
            addr,
            cuts: cuts.clone(),
            connections: connections.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut cut = cuts.subscribe();
                cut.mark_unchanged();
                connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                    // Both sockets are dropped here: the client sees its
                    // connection end in the middle of the response.
                });
            }
        });
        proxy
    }

    /// Closes every connection open now.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// GETs `url` in `format`, resuming from `last_event_id` when given.
pub async fn open(url: &str, format: Format, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = client().get(url);
    for (name, value) in format.request_headers() {
        request = request.header(*name, *value);
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("a response head in time")
        .expect("a response")
}

/// A stream response being read packet by packet, tolerating a cut.
pub struct Reading {
    pub response: reqwest::Response,
    pub format: Format,
    /// `Rivulet-Stream-Id`.
    pub stream_id: String,
    decoder: Decoder,
    pub events: Vec<Event>,
    pub raw: Vec<u8>,
    /// Packets received over every connection of this stream so far.
    pub received: u64,
}

/// How a read ended.
#[derive(Debug, PartialEq)]
pub enum End {
    /// The final packet arrived.
    Final,
    /// The connection ended before it.
    Cut,
}

impl Reading {
    pub fn new(response: reqwest::Response, received: u64) -> Reading {
        assert_eq!(response.status(), 200, "a stream response");
        let format = Format::from_response_headers(response.headers()).expect("a stream type");
        let stream_id = response
            .headers()
            .get("rivulet-stream-id")
            .expect("Rivulet-Stream-Id on a resumable stream")
            .to_str()
            .unwrap()
            .to_owned();
        Reading {
            response,
            format,
            stream_id,
            decoder: Decoder::new(format),
            events: Vec::new(),
            raw: Vec::new(),
            received,
        }
    }

    /// Reads until `count` packets have arrived in all, the final packet, or
    /// the end of the connection.
    pub async fn until(&mut self, count: usize) -> Option<End> {
        while self.events.len() < count {
            if let Some(end) = self.step().await {
                return Some(end);
            }
        }
        None
    }

    /// Reads to the final packet or the end of the connection.
    pub async fn read_to_end(&mut self) -> End {
        loop {
            if let Some(end) = self.step().await {
                return end;
            }
        }
    }

    async fn step(&mut self) -> Option<End> {
        let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
            .await
            .expect("a chunk in time");
        let mut out = Vec::new();
        match chunk {
            Ok(Some(chunk)) => {
                self.raw.extend_from_slice(&chunk);
                self.decoder
                    .feed(&chunk, &mut out)
                    .expect("well-formed packets");
            }
            Ok(None) | Err(_) => {
                let complete = self.decoder.finish(&mut out).is_ok();
                self.take(out);
                return Some(if complete { End::Final } else { End::Cut });
            }
        }
        let finished = self.decoder.is_finished();
        self.take(out);
        finished.then_some(End::Final)
    }

    fn take(&mut self, out: Vec<Event>) {
        self.received += out.len() as u64;
        self.events.extend(out);
    }

    /// Where to resume: the SSE id of the last event, which must equal what an
    /// NDJSON or legacy client builds from the header and its count.
    pub fn resume_point(&self) -> String {
        let counted = format!("{}.{}", self.stream_id, self.received);
        if self.format == Format::Sse && self.received > 0 {
            assert_eq!(self.decoder.last_event_id(), Some(counted.as_str()));
        }
        counted
    }
}

/// A `redis-server` on a free loopback port, killed when dropped. Fails the
/// test loudly when there is none: these tests must not skip silently.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = TempDir::new();
        // Redis needs an explicit port: take a free one from the kernel and
        // hand it over. Another process could take it in between; the start
        // is then retried on a new port.
        for _ in 0..5 {
            let port = {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                probe.local_addr().unwrap().port()
            };
            let child = Command::new(&binary)
                .args(["--port", &port.to_string()])
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
                    return RedisServer {
                        port,
                        child,
                        _dir: dir,
                    };
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
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// Polls `check` until it returns `Some`; panics after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
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

/// Serves `app` on an ephemeral loopback port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The query of [`counting`].
#[derive(Deserialize)]
pub struct Count {
    pub n: u64,
    #[serde(default)]
    pub pause_ms: u64,
}

/// `n` packets `{"i": 1..=n}`, then `{"total": n}`.
pub async fn counting(stream: Resumable, Query(count): Query<Count>) -> Response {
    stream
        .run(move |tx| async move {
            for i in 1..=count.n {
                tx.send(json!({ "i": i })).await?;
                tokio::time::sleep(Duration::from_millis(count.pause_ms)).await;
            }
            Ok(json!({ "total": count.n }))
        })
        .await
}

pub fn expected(n: u64) -> Vec<Event> {
    (1..=n)
        .map(|i| Event::Progress(json!({ "i": i })))
        .chain([Event::Done(json!({ "total": n }))])
        .collect()
}
