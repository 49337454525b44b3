//! Scenario `fanout`: one producer, many subscribers. Ten thousand SSE
//! connections follow one feed on one server while it publishes a [`Tick`] at
//! a fixed rate; measured are the server's CPU per delivered packet and the
//! latency from a packet's intended publish time to its subscriber having
//! parsed it, for
//!
//! * `rivulet::feed::Feed` followed with `Stream::follow`, and
//! * the hand-written version: a `tokio::sync::broadcast` channel of
//!   pre-serialized JSON (`Arc<str>`, serialized once per publish), each
//!   subscriber an `axum` `Sse` response over its receiver with `KeepAlive`,
//!   lagged receivers skipping ahead, and
//! * the floor: no HTTP framework, a raw writer on a listener of its own that
//!   answers each request with a fixed head and then writes each published
//!   SSE frame, encoded once, to each socket (one write per subscriber per
//!   packet).
//!
//! The server runs in a child process (this binary, `fanout-child`) on one
//! current-thread runtime pinned to core 0, so that its CPU time (from
//! `/proc/<pid>/stat`) is the server's alone, and twenty thousand sockets fit
//! under one process's file limit. The clients run here on core 1 and decode
//! with `rivulet::decode`. Timestamps are `CLOCK_MONOTONIC`, shared by both
//! processes.

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt;
use rivulet::Format;
use rivulet::decode::{Decoder, Event};
use rivulet::feed::Feed;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::peers::Tick;
use crate::stats::{Table, median, micros, percentile, ratio, si};
use crate::wire::{Response as WireResponse, connect};

/// The peers, in the order they are measured in each round.
const PEERS: [&str; 3] = ["rivulet", "broadcast", "floor"];

/// Nanoseconds of `CLOCK_MONOTONIC`: one clock for the server and client
/// processes.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: CLOCK_MONOTONIC always exists; ts is ours.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What the two peers publish to.
#[derive(Clone)]
struct Hub {
    feed: Feed,
    broadcast: broadcast::Sender<Arc<str>>,
    /// The floor's frames, each encoded once.
    floor: broadcast::Sender<Bytes>,
    /// How long each of Rivulet's publishes took (ns), since last read.
    publish_ns: Arc<std::sync::Mutex<Vec<u64>>>,
}

#[derive(Deserialize)]
struct Publish {
    peer: String,
    rate: u64,
    n: u64,
    /// Bytes of padding in each packet (Rivulet only).
    #[serde(default)]
    pad: usize,
}

async fn rivulet_follow(stream: rivulet::Stream, State(hub): State<Hub>) -> Response {
    stream.follow(&hub.feed).await
}

async fn broadcast_follow(State(hub): State<Hub>) -> Response {
    let rx = hub.broadcast.subscribe();
    let events = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(json) => {
                    return Some((Ok::<_, Infallible>(SseEvent::default().data(&*json)), rx));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Starts publishing `n` ticks at `rate` per second on the server's runtime,
/// each stamped with the time it was due.
async fn publish(State(hub): State<Hub>, Query(p): Query<Publish>) -> StatusCode {
    tokio::spawn(async move {
        let period = 1_000_000_000 / p.rate.max(1);
        let start = monotonic_ns() + 1_000_000;
        for seq in 0..p.n {
            let due = start + seq * period;
            let now = monotonic_ns();
            if due > now {
                tokio::time::sleep(Duration::from_nanos(due - now)).await;
            }
            let tick = Tick::new(seq, due);
            if p.peer == "rivulet" {
                let started = std::time::Instant::now();
                let published = if p.pad > 0 {
                    let pad = "x".repeat(p.pad);
                    hub.feed
                        .publish(serde_json::json!({"seq": seq, "at": due, "pad": pad}))
                        .await
                } else {
                    hub.feed.publish(tick).await
                };
                published.expect("a memory feed takes packets");
                let took = started.elapsed().as_nanos() as u64;
                hub.publish_ns.lock().expect("not poisoned").push(took);
            } else if p.peer == "floor" {
                let json = serde_json::to_string(&tick).expect("a tick serializes");
                let _ = hub.floor.send(Bytes::from(format!("data: {json}\n\n")));
            } else {
                let json = serde_json::to_string(&tick).expect("a tick serializes");
                let _ = hub.broadcast.send(Arc::from(json));
            }
        }
    });
    StatusCode::ACCEPTED
}

/// The time each of Rivulet's publishes took since the last call, in
/// nanoseconds, comma-separated.
async fn publish_times(State(hub): State<Hub>) -> String {
    let times = std::mem::take(&mut *hub.publish_ns.lock().expect("not poisoned"));
    let times: Vec<String> = times.iter().map(u64::to_string).collect();
    times.join(",")
}

/// `rivulet-bench fanout-child`: serves both peers, prints its port, and
/// exits when its standard input closes (the parent has gone).
pub fn serve_child() {
    crate::sys::raise_nofile_limit();
    crate::sys::pin_to_core(0);
    crate::sys::raise_priority();
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let floor = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!(
            "port {} {}",
            listener.local_addr().expect("addr").port(),
            floor.local_addr().expect("addr").port()
        );
        let hub = Hub {
            feed: Feed::new(),
            broadcast: broadcast::channel(1024).0,
            floor: broadcast::channel(1024).0,
            publish_ns: Arc::default(),
        };
        tokio::spawn(floor_serve(floor, hub.floor.clone()));
        let app = Router::new()
            .route("/rivulet", get(rivulet_follow))
            .route("/broadcast", get(broadcast_follow))
            .route("/publish", post(publish))
            .route("/publish-times", get(publish_times))
            .with_state(hub);
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
}

/// The floor peer: reads a request head, answers with a fixed head and a
/// close-delimited body, then writes every frame published, as it is, until
/// the client goes.
async fn floor_serve(listener: TcpListener, frames: broadcast::Sender<Bytes>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let mut rx = frames.subscribe();
        tokio::spawn(async move {
            let (mut rd, mut wr) = tcp.into_split();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match rd.read(&mut buf).await {
                    Ok(n) if n > 0 && head.len() < 8192 => head.extend_from_slice(&buf[..n]),
                    _ => return,
                }
            }
            let answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
            if wr.write_all(answer).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    frame = rx.recv() => match frame {
                        Ok(frame) => {
                            if wr.write_all(&frame).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    read = rd.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) {
                        return;
                    },
                }
            }
        });
    }
}

pub(crate) struct ChildServer {
    child: Child,
    pub(crate) addr: SocketAddr,
    floor: SocketAddr,
}

impl ChildServer {
    pub(crate) fn start() -> ChildServer {
        let exe = std::env::current_exe().expect("current exe");
        let mut child = Command::new(exe)
            .arg("fanout-child")
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
            .strip_prefix("port ")
            .map(|p| p.split(' ').filter_map(|p| p.parse().ok()).collect())
            .unwrap_or_default();
        let [port, floor] = ports[..] else {
            panic!("the child prints its ports: {line}");
        };
        ChildServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            floor: SocketAddr::from(([127, 0, 0, 1], floor)),
        }
    }

    /// CPU time (user + system) the server process has used, from
    /// `/proc/<pid>/stat`.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("the server's stat");
        // The fields after the command name, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks: u64 =
            fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_nanos(ticks * 1_000_000_000 / per_second)
    }

    /// Waits (at most 10 s) until the server uses next to no CPU.
    async fn settle(&self) {
        for _ in 0..100 {
            let before = self.cpu();
            tokio::time::sleep(Duration::from_millis(100)).await;
            if self.cpu() - before <= Duration::from_millis(10) {
                return;
            }
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `n` publishes at `rate` per second, each packet padded with
    /// `pad` bytes (Rivulet only).
    pub(crate) async fn publish(&self, peer: &str, rate: u64, n: u64, pad: usize) {
        let mut tcp = connect(self.addr, 0).await.expect("connect");
        let request = format!(
            "POST /publish?peer={peer}&rate={rate}&n={n}&pad={pad} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.expect("publish");
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.expect("publish answer");
        assert!(answer.starts_with(b"HTTP/1.1 202"), "publish refused");
    }

    /// How long each of Rivulet's publishes took (ns) since the last call.
    pub(crate) async fn publish_times(&self) -> Vec<u64> {
        let mut tcp = connect(self.addr, 0).await.expect("connect");
        let request = "GET /publish-times HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        tcp.write_all(request.as_bytes()).await.expect("request");
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.expect("answer");
        let answer = String::from_utf8_lossy(&answer);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        body.split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect()
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
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

/// One subscriber: reads until `n` ticks or `deadline`; returns the latency of
/// each tick it got, and its connection (closed by the caller, after the
/// server's CPU has been read).
pub(crate) async fn subscriber(
    mut response: WireResponse,
    n: u64,
    deadline: tokio::time::Instant,
) -> (Vec<u64>, WireResponse) {
    let mut decoder = Decoder::new(Format::Sse);
    let mut events = Vec::new();
    let mut latencies = Vec::with_capacity(n as usize);
    while (latencies.len() as u64) < n {
        let mut sink = |bytes: &[u8]| {
            decoder
                .feed(bytes, &mut events)
                .expect("a well-formed stream");
        };
        match tokio::time::timeout_at(deadline, response.read(&mut sink)).await {
            Ok(Ok(true)) => {}
            _ => break,
        }
        let now = monotonic_ns();
        for event in events.drain(..) {
            if let Event::Progress(tick) = event {
                let at = tick["at"].as_u64().expect("tick.at");
                latencies.push(now.saturating_sub(at));
            }
        }
    }
    (latencies, response)
}

struct Run {
    deliveries: u64,
    expected: u64,
    cpu: Duration,
    p50: u64,
    p99: u64,
    max: u64,
}

async fn measure(server: &ChildServer, peer: &str, subscribers: usize, rate: u64, n: u64) -> Run {
    let path = format!("/{peer}");
    let addr = if peer == "floor" {
        server.floor
    } else {
        server.addr
    };
    let responses: Vec<WireResponse> = futures::stream::iter(0..subscribers)
        .map(|i| {
            let path = path.clone();
            async move {
                let stream = connect(addr, i).await.expect("connect");
                WireResponse::get(stream, &path, 4096)
                    .await
                    .expect("a stream")
            }
        })
        .buffer_unordered(256)
        .collect()
        .await;
    // Every subscriber has its response head: every one is registered.
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs_f64(n as f64 / rate as f64)
        + Duration::from_secs(10);
    let tasks: Vec<_> = responses
        .into_iter()
        .map(|response| tokio::spawn(subscriber(response, n, deadline)))
        .collect();
    let cpu_before = server.cpu();
    server.publish(peer, rate, n, 0).await;
    let mut latencies = Vec::with_capacity(subscribers * n as usize);
    let mut connections = Vec::with_capacity(subscribers);
    for task in tasks {
        let (got, connection) = task.await.expect("a subscriber task");
        latencies.extend(got);
        connections.push(connection);
    }
    let cpu = server.cpu() - cpu_before;
    drop(connections);
    // Closing ten thousand connections takes the server a while: the next
    // measurement starts once it is done, not with its bill.
    server.settle().await;
    latencies.sort_unstable();
    Run {
        deliveries: latencies.len() as u64,
        expected: subscribers as u64 * n,
        cpu,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or(0),
    }
}

pub async fn run(quick: bool) {
    crate::sys::raise_nofile_limit();
    // (subscribers, publishes per second)
    let (cases, seconds, rounds): (&[(usize, u64)], f64, usize) = if quick {
        (&[(500, 10)], 1.0, 1)
    } else {
        (&[(10_000, 10), (10_000, 50), (1_000, 10)], 3.0, 2)
    };
    println!(
        "== fanout: SSE subscribers of one feed, {seconds} s per case, {rounds} round(s); \
         server CPU per delivered packet, intended publish time → parsed by the subscriber"
    );
    let server = ChildServer::start();
    let mut table = Table::new([
        "subscribers × rate, peer",
        "delivered",
        "deliveries / CPU s",
        "CPU µs / delivery",
        "p50 µs",
        "p99 µs",
        "max µs",
        "rivulet ÷ peer, deliveries / CPU s",
    ]);
    for &(subscribers, rate) in cases {
        let n = (rate as f64 * seconds).max(1.0) as u64;
        let mut runs: Vec<Vec<Run>> = PEERS.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for k in 0..PEERS.len() {
                let i = (k + round) % PEERS.len();
                runs[i].push(measure(&server, PEERS[i], subscribers, rate, n).await);
            }
        }
        let per_cpu = |i: usize| {
            median(
                &runs[i]
                    .iter()
                    .map(|r| r.deliveries as f64 / r.cpu.as_secs_f64().max(1e-3))
                    .collect::<Vec<_>>(),
            )
        };
        let med = |i: usize, f: fn(&Run) -> u64| {
            median(&runs[i].iter().map(|r| f(r) as f64).collect::<Vec<_>>()) as u64
        };
        for (i, peer) in PEERS.iter().enumerate() {
            let delivered: u64 = runs[i].iter().map(|r| r.deliveries).sum();
            let expected: u64 = runs[i].iter().map(|r| r.expected).sum();
            table.row(vec![
                format!("{} × {rate}/s, {peer}", si(subscribers as f64)),
                format!("{:.2}%", delivered as f64 * 100.0 / expected.max(1) as f64),
                si(per_cpu(i)),
                format!("{:.2}", 1e6 / per_cpu(i)),
                micros(med(i, |r| r.p50)),
                micros(med(i, |r| r.p99)),
                micros(med(i, |r| r.max)),
                if i == 0 {
                    "—".into()
                } else {
                    ratio(per_cpu(0) / per_cpu(i))
                },
            ]);
        }
    }
    table.print();
    println!(
        "  targets: rivulet ≥ 0.7× the floor's and ≥ 1.3× broadcast + Sse deliveries per CPU second; rivulet p99 ≤ 10 ms at 10k × 10/s"
    );
    drop(server);
    crate::fanout_stalled::run(quick).await;
}
