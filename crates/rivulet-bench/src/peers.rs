//! The servers being compared, all in one place so that each does the same work
//! per packet: serialize one [`Tick`] to JSON and frame it as an SSE event.
//!
//! * `/rivulet` — a Rivulet handler: `tx.send(&tick).await?` in a loop.
//! * `/sse-channel` — `axum::response::sse::Sse` the way handlers are written:
//!   a spawned producer sends events into a bounded channel (32, Rivulet's
//!   default buffer) and the response streams the receiver, with `KeepAlive`.
//! * `/sse-ready` — `Sse` over a stream that is always ready (no task, no channel).
//! * raw hyper — a `hyper` HTTP/1 server whose body yields one pre-framed
//!   `Bytes` per packet.
//! * raw TCP — a tokio `TcpStream` writer with a 64 KiB buffer: the ceiling.
//!
//! The `-paced` routes send at a fixed rate for the latency scenario; the
//! `-idle` routes send one packet and then wait, for memory and cancellation.

use std::convert::Infallible;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Query;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use http_body::Frame;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::sys::ThreadClock;

/// The packet every peer sends: about 50 bytes of JSON.
#[derive(Serialize, Clone, Copy)]
pub struct Tick {
    pub seq: u64,
    /// For the latency scenario, the intended send time in nanoseconds since
    /// [`now_ns`]'s epoch.
    pub at: u64,
    pub stage: &'static str,
    pub ok: bool,
}

impl Tick {
    pub fn new(seq: u64, at: u64) -> Tick {
        Tick {
            seq,
            at,
            stage: "progress",
            ok: true,
        }
    }
}

/// The clock of the latency scenario, shared by server and client threads.
pub fn now_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// An `at` value with as many digits as a latency timestamp.
pub fn throughput_at(seq: u64) -> u64 {
    1_000_000_000 + seq * 1000
}

/// Which server a measurement talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Rivulet,
    SseChannel,
    SseReady,
    Hyper,
    Tcp,
    /// Rivulet on the actix-web adapter (`actix_peers.rs`).
    RivuletActix,
    /// actix-web-lab's `sse`, channel-fed (`actix_peers.rs`).
    ActixLabSse,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Rivulet => "rivulet",
            Peer::SseChannel => "axum Sse, channel-fed",
            Peer::SseReady => "axum Sse, ready stream",
            Peer::Hyper => "raw hyper, frame/packet",
            Peer::Tcp => "raw TCP writer",
            Peer::RivuletActix => "rivulet on actix-web",
            Peer::ActixLabSse => "actix-web-lab sse, channel-fed",
        }
    }

    /// The route prefix on the axum server (`/rivulet`, `/sse-channel`, …).
    fn route(self) -> &'static str {
        match self {
            Peer::Rivulet | Peer::RivuletActix => "/rivulet",
            Peer::SseChannel | Peer::ActixLabSse => "/sse-channel",
            Peer::SseReady => "/sse-ready",
            Peer::Hyper | Peer::Tcp => "/",
        }
    }
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    n: u64,
    /// Packets per second for the paced routes.
    #[serde(default)]
    rate: u64,
    /// The slot in [`DROPS`] to stamp when the idle handler is dropped.
    id: Option<usize>,
}

/// The routes of the axum server.
pub fn app() -> Router {
    Router::new()
        .route("/rivulet", get(rivulet))
        .route("/rivulet-paced", get(rivulet_paced))
        .route("/rivulet-idle", get(rivulet_idle))
        .route("/sse-channel", get(sse_channel))
        .route("/sse-channel-paced", get(sse_channel_paced))
        .route("/sse-channel-idle", get(sse_channel_idle))
        .route("/sse-ready", get(sse_ready))
        .merge(crate::js::routes())
}

async fn rivulet(stream: rivulet::Stream, Query(p): Query<Params>) -> Response {
    stream
        .run(move |tx| async move {
            for seq in 0..p.n {
                tx.send(Tick::new(seq, throughput_at(seq))).await?;
            }
            Ok(())
        })
        .await
}

async fn rivulet_paced(stream: rivulet::Stream, Query(p): Query<Params>) -> Response {
    stream
        .run(move |tx| async move {
            let (done, finished) = tokio::sync::oneshot::channel::<()>();
            pace(p.n, p.rate, move |tick| {
                let _done = &done;
                tx.blocking_send(tick).is_ok()
            });
            // The pacer drops `done` when it stops; the stream ends then.
            let _ = finished.await;
            Ok(())
        })
        .await
}

async fn rivulet_idle(stream: rivulet::Stream, Query(p): Query<Params>) -> Response {
    stream
        .run(move |tx| async move {
            let _stamp = p.id.map(DropStamp);
            tx.send(Tick::new(0, 0)).await?;
            // Busy with something that is not the stream: only cancellation ends it.
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
}

fn event(tick: Tick) -> Event {
    Event::default().json_data(tick).expect("a tick serializes")
}

/// `Sse` over the receiving end of a bounded channel.
fn channel_sse(rx: mpsc::Receiver<Event>) -> Response {
    let mut rx = rx;
    let events =
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(Ok::<_, Infallible>)));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn sse_channel(Query(p): Query<Params>) -> Response {
    let (tx, rx) = mpsc::channel(rivulet::DEFAULT_BUFFER);
    tokio::spawn(async move {
        for seq in 0..p.n {
            if tx
                .send(event(Tick::new(seq, throughput_at(seq))))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    channel_sse(rx)
}

async fn sse_channel_paced(Query(p): Query<Params>) -> Response {
    let (tx, rx) = mpsc::channel(rivulet::DEFAULT_BUFFER);
    pace(p.n, p.rate, move |tick| {
        tx.blocking_send(event(tick)).is_ok()
    });
    channel_sse(rx)
}

async fn sse_channel_idle(Query(p): Query<Params>) -> Response {
    let (tx, rx) = mpsc::channel(rivulet::DEFAULT_BUFFER);
    tokio::spawn(async move {
        let _stamp = p.id.map(DropStamp);
        if tx.send(event(Tick::new(0, 0))).await.is_ok() {
            // The careful way to write it: stop when the client has gone.
            tx.closed().await;
        }
    });
    channel_sse(rx)
}

async fn sse_ready(Query(p): Query<Params>) -> Response {
    let events = futures::stream::iter(0..p.n)
        .map(|seq| Ok::<_, Infallible>(event(Tick::new(seq, throughput_at(seq)))));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Calls `send` with `n` ticks at `rate` per second from a thread of its own,
/// until `send` returns false. Each tick carries its intended send time:
/// latency is measured from it, so a late pacer counts against the result (no
/// coordinated omission).
///
/// The thread sleeps between packets (tokio's timer ticks in milliseconds),
/// but wakes at most every [`PACER_STEP_NS`] and then sends every packet that
/// is due: a wake-up costs several microseconds, and one per packet at 50k/s
/// would take the pacer's core over the kernel's real-time budget (95% of each
/// second), throttling it for 50 ms at a time. It is the load generator's
/// clock and runs on the client's core.
fn pace(n: u64, rate: u64, mut send: impl FnMut(Tick) -> bool + Send + 'static) {
    std::thread::spawn(move || {
        crate::sys::pin_to_core(1);
        crate::sys::prepare_latency_thread();
        let period = 1_000_000_000 / rate.max(1);
        let start = now_ns() + 1_000_000;
        for seq in 0..n {
            let due = start + seq * period;
            let wake = start + (due - start).div_ceil(PACER_STEP_NS) * PACER_STEP_NS;
            let now = now_ns();
            if wake > now && due > now {
                std::thread::sleep(Duration::from_nanos(wake - now));
            }
            PACER_LATE.fetch_max(now_ns().saturating_sub(due), Ordering::Relaxed);
            if !send(Tick::new(seq, due)) {
                break;
            }
        }
    });
}

/// The pacer's shortest sleep.
const PACER_STEP_NS: u64 = 100_000;

/// The most the pacer fell behind its schedule (ns), for `RIVULET_BENCH_TRACE`.
pub static PACER_LATE: AtomicU64 = AtomicU64::new(0);

/// Drop times of the idle handlers, in [`now_ns`] nanoseconds (0: not yet).
pub static DROPS: OnceLock<Vec<AtomicU64>> = OnceLock::new();

pub fn reset_drops(count: usize) {
    let drops = DROPS.get_or_init(|| (0..100_000).map(|_| AtomicU64::new(0)).collect());
    for slot in &drops[..count] {
        slot.store(0, Ordering::Relaxed);
    }
}

pub fn drop_time(id: usize) -> u64 {
    DROPS
        .get()
        .map_or(0, |drops| drops[id].load(Ordering::Acquire))
}

/// Stamps its slot in [`DROPS`] when the handler holding it is dropped.
struct DropStamp(usize);

impl Drop for DropStamp {
    fn drop(&mut self) {
        if let Some(slot) = DROPS.get().and_then(|d| d.get(self.0)) {
            slot.store(now_ns(), Ordering::Release);
        }
    }
}

/// The raw hyper peer's body: one pre-framed event per frame. With `idle`,
/// it stays open after the last one (for the memory scenario's floor).
struct FramePerPacket {
    next: u64,
    n: u64,
    idle: bool,
}

impl http_body::Body for FramePerPacket {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.next == self.n {
            return if self.idle {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        }
        let seq = self.next;
        self.next += 1;
        let mut frame = Vec::with_capacity(80);
        frame.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut frame, &Tick::new(seq, throughput_at(seq))).expect("serializes");
        frame.extend_from_slice(b"\n\n");
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(frame)))))
    }
}

/// The `n` query parameter of a request target.
fn query_n(target: &str) -> u64 {
    target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn serve_hyper(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| {
            let idle = req.uri().path() == "/idle";
            let n = if idle {
                1
            } else {
                query_n(&req.uri().to_string())
            };
            async move {
                let mut response = http::Response::new(FramePerPacket { next: 0, n, idle });
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/event-stream"),
                );
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn serve_tcp(listener: TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while memchr::memmem::find(&request, b"\r\n\r\n").is_none() {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let target = String::from_utf8_lossy(&request);
            let n = query_n(target.split(' ').nth(1).unwrap_or(""));
            let mut out = Vec::with_capacity(64 * 1024 + 128);
            out.extend_from_slice(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
            );
            for seq in 0..n {
                out.extend_from_slice(b"data: ");
                serde_json::to_writer(&mut out, &Tick::new(seq, throughput_at(seq)))
                    .expect("serializes");
                out.extend_from_slice(b"\n\n");
                if out.len() >= 64 * 1024 {
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            }
            let _ = stream.write_all(&out).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Every peer writes with `TCP_NODELAY`, as the demo server does: without it
/// Nagle's algorithm holds small writes back for the client's delayed ACK.
fn nodelay(
    listener: TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

/// The servers of one in-process run, on their own thread and core.
pub struct Servers {
    axum: SocketAddr,
    hyper: SocketAddr,
    tcp: SocketAddr,
    /// The same routes on `rivulet::serve`: HTTP/1.1 and HTTP/2 (h2c with
    /// prior knowledge) on one port.
    serve: SocketAddr,
    /// The CPU clock of the server thread: all server work runs on it.
    pub clock: ThreadClock,
    /// The actix-web peers' server, started on first use.
    actix: OnceLock<crate::actix_peers::ActixServer>,
    core: usize,
    /// The server thread's id, for changing its scheduling.
    pub thread: i32,
    pub pinned: bool,
}

impl Servers {
    /// Starts every peer on one current-thread runtime on a thread pinned to
    /// `core`. The thread lives until the process exits.
    pub fn start(core: usize) -> Servers {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("bench-server".into())
            .spawn(move || {
                let pinned = crate::sys::pin_to_core(core);
                crate::sys::raise_priority();
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    let bind = || TcpListener::bind("127.0.0.1:0");
                    let (axum_l, hyper_l, tcp_l) = (bind().await, bind().await, bind().await);
                    let (axum_l, hyper_l, tcp_l) = (
                        axum_l.expect("bind"),
                        hyper_l.expect("bind"),
                        tcp_l.expect("bind"),
                    );
                    let serve_l =
                        rivulet::serve::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
                    let servers = Servers {
                        axum: axum_l.local_addr().expect("addr"),
                        serve: serve_l.local_addr().expect("addr"),
                        hyper: hyper_l.local_addr().expect("addr"),
                        tcp: tcp_l.local_addr().expect("addr"),
                        clock: ThreadClock::current(),
                        actix: OnceLock::new(),
                        core,
                        thread: crate::sys::thread_id(),
                        pinned,
                    };
                    ready_tx.send(servers).expect("harness waits");
                    tokio::spawn(serve_hyper(hyper_l));
                    tokio::spawn(serve_tcp(tcp_l));
                    tokio::spawn(rivulet::serve(serve_l, app()).into_future());
                    let _ = axum::serve(nodelay(axum_l), app()).await;
                });
            })
            .expect("spawn server thread");
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server thread starts")
    }

    /// Where to connect for `peer`, and the request target for `query`.
    pub fn target(&self, peer: Peer, suffix: &str, query: &str) -> (SocketAddr, String) {
        let addr = match peer {
            Peer::Hyper => self.hyper,
            Peer::Tcp => self.tcp,
            Peer::RivuletActix | Peer::ActixLabSse => self.actix().addr,
            _ => self.axum,
        };
        (addr, format!("{}{suffix}?{query}", peer.route()))
    }

    /// The CPU clock of the thread that serves `peer`.
    pub fn clock_of(&self, peer: Peer) -> ThreadClock {
        match peer {
            Peer::RivuletActix | Peer::ActixLabSse => self.actix().clock,
            _ => self.clock,
        }
    }

    fn actix(&self) -> &crate::actix_peers::ActixServer {
        self.actix
            .get_or_init(|| crate::actix_peers::start(self.core))
    }

    /// Where to connect for an axum-routed `peer` on `rivulet::serve`, and the
    /// request target for `query`.
    pub fn serve_target(&self, peer: Peer, query: &str) -> (SocketAddr, String) {
        assert!(
            !matches!(
                peer,
                Peer::Hyper | Peer::Tcp | Peer::RivuletActix | Peer::ActixLabSse
            ),
            "{} is not an axum route",
            peer.name()
        );
        (self.serve, format!("{}?{query}", peer.route()))
    }
}

/// Serves the idle routes and the raw hyper peer for the memory scenario in a child
/// process: prints both ports, then serves until its standard input closes
/// (the parent has gone).
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
        let hyper_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let serve_listener =
            rivulet::serve::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        // The actix-web peers' idle routes, on their own server and thread.
        let actix = crate::actix_peers::start(0);
        println!(
            "ports {} {} {} {}",
            listener.local_addr().expect("addr").port(),
            hyper_listener.local_addr().expect("addr").port(),
            serve_listener.local_addr().expect("addr").port(),
            actix.addr.port()
        );
        tokio::spawn(serve_hyper(hyper_listener));
        // Only the idle routes: axum copies the route table for every
        // connection, which would add the same to every axum peer.
        let idle = Router::new()
            .route("/rivulet-idle", get(rivulet_idle))
            .route("/sse-channel-idle", get(sse_channel_idle));
        // Rivulet on its own serving path, HTTP/1.1 and HTTP/2 on one port;
        // no connection cap below the streams measured.
        tokio::spawn(
            rivulet::serve(serve_listener, idle.clone())
                .max_connections(1_000_000)
                .into_future(),
        );
        let _ = axum::serve(nodelay(listener), idle).await;
    });
}
