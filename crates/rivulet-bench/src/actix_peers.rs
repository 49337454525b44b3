//! The actix-web peers, on an actix-web server of their own (one worker, its
//! thread pinned to the server's core):
//!
//! * `/rivulet` — the Rivulet handler of `peers.rs` on the actix-web adapter:
//!   `tx.send(&tick).await?` in a loop.
//! * `/sse-channel` — actix-web-lab's `sse` the way its users write it: a
//!   spawned producer sends events into a bounded channel (32, Rivulet's
//!   default buffer) and `Sse::from_infallible_receiver` streams it, with a
//!   keep-alive.
//!
//! The `-idle` routes send one packet and then wait, for the memory scenario.
//!
//! Server CPU is read from the worker thread's clock: the handlers' tasks run
//! on it too.

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, Responder, web};
use actix_web_lab::sse;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::peers::{Tick, throughput_at};
use crate::sys::ThreadClock;

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    n: u64,
}

async fn rivulet(stream: rivulet::actix::Stream, p: web::Query<Params>) -> HttpResponse {
    let n = p.n;
    stream
        .run(move |tx| async move {
            for seq in 0..n {
                tx.send(Tick::new(seq, throughput_at(seq))).await?;
            }
            Ok(())
        })
        .await
}

async fn sse_channel(p: web::Query<Params>) -> impl Responder {
    let n = p.n;
    let (tx, rx) = mpsc::channel(rivulet::DEFAULT_BUFFER);
    tokio::spawn(async move {
        for seq in 0..n {
            let data = sse::Data::new_json(Tick::new(seq, throughput_at(seq))).expect("serializes");
            if tx.send(data.into()).await.is_err() {
                break;
            }
        }
    });
    sse::Sse::from_infallible_receiver(rx).with_keep_alive(Duration::from_secs(15))
}

async fn rivulet_idle(stream: rivulet::actix::Stream) -> HttpResponse {
    stream
        .run(move |tx| async move {
            tx.send(Tick::new(0, 0)).await?;
            // Busy with something that is not the stream: only cancellation ends it.
            std::future::pending::<()>().await;
            Ok(())
        })
        .await
}

async fn sse_channel_idle() -> impl Responder {
    let (tx, rx) = mpsc::channel(rivulet::DEFAULT_BUFFER);
    tokio::spawn(async move {
        let data = sse::Data::new_json(Tick::new(0, 0)).expect("serializes");
        if tx.send(data.into()).await.is_ok() {
            // The careful way to write it: stop when the client has gone.
            tx.closed().await;
        }
    });
    sse::Sse::from_infallible_receiver(rx).with_keep_alive(Duration::from_secs(15))
}

/// The actix-web server: its address, and its worker thread's CPU clock.
pub struct ActixServer {
    pub addr: SocketAddr,
    pub clock: ThreadClock,
}

/// Starts the actix-web peers on a thread of their own; its worker is pinned
/// to `core`. The server lives until the process exits.
pub fn start(core: usize) -> ActixServer {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (clock_tx, clock_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("bench-actix".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    // Called on the worker's thread as it starts.
                    crate::sys::pin_to_core(core);
                    crate::sys::raise_priority();
                    let _ = clock_tx.send(ThreadClock::current());
                    App::new()
                        .route("/rivulet", web::get().to(rivulet))
                        .route("/sse-channel", web::get().to(sse_channel))
                        .route("/rivulet-idle", web::get().to(rivulet_idle))
                        .route("/sse-channel-idle", web::get().to(sse_channel_idle))
                })
                .workers(1)
                // As the other servers: a backlog and a connection cap above
                // the memory scenario's streams.
                .backlog(4096)
                .max_connections(1_000_000)
                // Ten thousand connections arrive at once on a loaded machine:
                // no deadline on a request's head.
                .client_request_timeout(Duration::ZERO)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind");
                addr_tx.send(server.addrs()[0]).expect("the harness waits");
                let _ = server.run().await;
            });
        })
        .expect("spawn actix thread");
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the actix server binds");
    let clock = clock_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the actix worker starts");
    ActixServer { addr, clock }
}
