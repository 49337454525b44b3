//! A server for a Rivulet app: HTTP/1.1 and HTTP/2 on one port, TLS, the
//! limits a server of long-lived streams needs, and a graceful shutdown.
//!
//! `axum::serve` has no header-read timeout, no connection cap and no TLS.
//! [`serve`] has them, and speaks HTTP/2 — with prior knowledge on plain TCP
//! (proxies, `curl --http2-prior-knowledge`) and by ALPN over TLS — so that a
//! browser opens as many streams as it likes on one connection instead of
//! six at most per origin over HTTP/1.1.
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use rivulet::{Config, Shutdown, Stream};
//!
//! async fn feed(stream: Stream) -> axum::response::Response {
//!     stream
//!         .run(|tx| async move {
//!             tx.send("hello").await?;
//!             Ok(())
//!         })
//!         .await
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // The streams the server ends, with a packet, when it stops: `serve`
//! // hands it to every request, so the Config need not name it.
//! let shutdown = Shutdown::new();
//! let app = Router::new()
//!     .route("/feed", get(feed))
//!     .layer(Config::default());
//! let listener = rivulet::serve::bind("127.0.0.1:8443".parse()?)?;
//! rivulet::serve(listener, app)
//!     .tls(rivulet::serve::Tls::from_pem_files("cert.pem", "key.pem")?)
//!     .max_connections(5_000)
//!     .grace(Duration::from_secs(10))
//!     .with_graceful_shutdown(&shutdown, async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Handlers get the client's address with axum's
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) extractor, as with
//! `into_make_service_with_connect_info`.
//!
//! No peer holds a connection by saying nothing: a request head must arrive
//! within the [header-read timeout](Serve::header_read_timeout), over HTTP/2
//! a connection with no open stream for that long is sent GOAWAY and closed,
//! and HTTP/2 peers that do not answer [PINGs](Serve::ping_timeout) lose
//! their connection. What an HTTP/2 stream queues for a peer that does not
//! read is [bounded](Serve::stream_send_buffer) whatever window it advertises.
//!
//! When the stop signal completes the server stops accepting, tells HTTP/2
//! clients so (GOAWAY) and closes idle HTTP/1.1 connections; streams asked
//! for from then on are answered `503` with `Retry-After`; running streams get
//! the grace period to end on their own, and the rest then end with an error
//! packet saying the server is shutting down.

mod connection;
mod idle;
mod listener;
mod tls;
mod version;

pub use listener::{DEFAULT_BACKLOG, bind, bind_with_backlog};
pub use tls::{Tls, TlsError};

use std::future::{Future, IntoFuture, Pending};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::shutdown::Shutdown;

/// The default time a client has to send a request head.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default largest request head: larger ones are answered `431`.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;
/// The default number of connections served at once. Further clients wait in
/// the listen backlog until one closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The default number of streams at once on one HTTP/2 connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 1_000;
/// The default time between HTTP/2 PINGs the server sends to check that a
/// peer is still there.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(20);
/// The default time an HTTP/2 peer has to answer a PING before its connection
/// is closed.
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// The default number of bytes one HTTP/2 stream may queue for a peer that
/// does not read, whatever window the peer advertised.
pub const DEFAULT_STREAM_SEND_BUFFER: usize = 16 * 1024;
/// The default time running streams get to finish after the stop signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long connections get to close after the streams were ended.
const CLOSE_AFTER_END: Duration = Duration::from_secs(5);

/// Serves `app` on `listener`; see the [module docs](self).
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        listener,
        app,
        tls: None,
        header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
        ping_interval: DEFAULT_PING_INTERVAL,
        ping_timeout: DEFAULT_PING_TIMEOUT,
        stream_send_buffer: DEFAULT_STREAM_SEND_BUFFER,
        grace: DEFAULT_SHUTDOWN_GRACE,
        shutdown: None,
        signal: std::future::pending(),
    }
}

/// A server being set up: made by [`serve`], run by `.await`.
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S = Pending<()>> {
    listener: TcpListener,
    app: Router,
    tls: Option<Tls>,
    header_read_timeout: Duration,
    max_header_bytes: usize,
    max_connections: usize,
    max_concurrent_streams: u32,
    ping_interval: Duration,
    ping_timeout: Duration,
    stream_send_buffer: usize,
    grace: Duration,
    shutdown: Option<Shutdown>,
    signal: S,
}

impl<S> std::fmt::Debug for Serve<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("tls", &self.tls)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("stream_send_buffer", &self.stream_send_buffer)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl<S> Serve<S> {
    /// Serves HTTPS with `tls` (HTTP/2 or HTTP/1.1, by ALPN).
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A client must send a request's whole head within this time, also when
    /// it keeps a connection open between requests, and finish the TLS
    /// handshake within it. Over HTTP/2 likewise: a connection that has held
    /// no open stream for this time (a peer that sent only the preface, or
    /// half a header block) is told to go away (GOAWAY) and closed a second
    /// later if it has not. Default: [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Request heads larger than this are answered `431 Request Header Fields
    /// Too Large` (at least 8 KiB). Default: [`DEFAULT_MAX_HEADER_BYTES`].
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }

    /// At most this many connections are read and served at once (at least
    /// 1); the next clients wait in the listen backlog. With
    /// [`max_header_bytes`](Serve::max_header_bytes) it bounds what a flood of
    /// connections can make the server hold. Default:
    /// [`DEFAULT_MAX_CONNECTIONS`].
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// At most this many streams at once on one HTTP/2 connection. Default:
    /// [`DEFAULT_MAX_CONCURRENT_STREAMS`].
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// The server PINGs each HTTP/2 peer this often; see
    /// [`ping_timeout`](Serve::ping_timeout). Default:
    /// [`DEFAULT_PING_INTERVAL`].
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// An HTTP/2 peer that does not answer a PING within this time is gone
    /// (or pretends to be): its connection is closed, streams and all, and its
    /// slot freed. Default: [`DEFAULT_PING_TIMEOUT`].
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.ping_timeout = timeout;
        self
    }

    /// One HTTP/2 stream queues at most about this many bytes (plus one write
    /// of at most 64 KiB) for a peer that does not read, however large a
    /// window the peer advertised; the stream's packets then wait in its own
    /// bounded buffer, under the same slow-reader rules as over HTTP/1.1. A
    /// connection thus queues at most about
    /// [`max_concurrent_streams`](Serve::max_concurrent_streams) times this.
    /// Default: [`DEFAULT_STREAM_SEND_BUFFER`].
    pub fn stream_send_buffer(mut self, bytes: usize) -> Self {
        self.stream_send_buffer = bytes;
        self
    }

    /// How long running streams get to end on their own after the stop
    /// signal. Default: [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Stops gracefully when `signal` completes, ending the streams of every
    /// [`Config`](crate::Config) given `shutdown`: new ones are refused at
    /// once, running ones are ended after the [grace period](Serve::grace).
    pub fn with_graceful_shutdown<F>(self, shutdown: &Shutdown, signal: F) -> Serve<F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            app: self.app,
            tls: self.tls,
            header_read_timeout: self.header_read_timeout,
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            max_concurrent_streams: self.max_concurrent_streams,
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            stream_send_buffer: self.stream_send_buffer,
            grace: self.grace,
            shutdown: Some(shutdown.clone()),
            signal,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S> IntoFuture for Serve<S>
where
    S: Future<Output = ()> + Send + 'static,
{
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S> Serve<S>
where
    S: Future<Output = ()> + Send + 'static,
{
    async fn run(self) -> std::io::Result<()> {
        let Serve {
            listener,
            app,
            tls,
            header_read_timeout,
            max_header_bytes,
            max_connections,
            max_concurrent_streams,
            ping_interval,
            ping_timeout,
            stream_send_buffer,
            grace,
            shutdown,
            signal,
        } = self;
        // Every request gets the server's Shutdown: its streams are ended by
        // the graceful shutdown without the app passing it to its Config.
        let app = match &shutdown {
            Some(shutdown) => app.layer(axum::Extension(shutdown.clone())),
            None => app,
        };
        let builders = Arc::new(connection::builders(
            header_read_timeout,
            max_header_bytes,
            connection::Http2 {
                max_concurrent_streams,
                ping_interval,
                ping_timeout,
                stream_send_buffer,
            },
        ));
        let acceptor = tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config));
        let slots = Arc::new(Semaphore::new(max_connections));
        // Every connection holds a receiver until it has closed: a change
        // tells it to shut down gracefully, and the sender's `closed` says
        // when all have.
        let (stop, _) = tokio::sync::watch::channel(());
        tokio::pin!(signal);
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => unreachable!("the semaphore is never closed"),
                },
                () = &mut signal => break,
            };
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, don't spin.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut signal => break,
            };
            // Packets leave as soon as they are written: no Nagle delay.
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("could not set TCP_NODELAY: {e}");
            }
            let app = app.clone();
            let builders = builders.clone();
            let watcher = stop.subscribe();
            // Each kind of connection is a task of its own size: a plain one
            // does not carry room for a TLS session (several KiB) in its task.
            match acceptor.clone() {
                None => tokio::spawn(connection::serve(tcp, peer, app, builders, watcher, slot)),
                Some(acceptor) => tokio::spawn(async move {
                    let tls = match tokio::time::timeout(header_read_timeout, acceptor.accept(tcp))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let serve = connection::serve(tls, peer, app, builders, watcher, slot);
                    serve.await
                }),
            };
        }
        drop(listener);
        tracing::info!(?grace, "shutting down: letting running streams finish");
        if let Some(shutdown) = &shutdown {
            shutdown.stop();
        }
        stop.send_replace(());
        let closed = stop.closed();
        tokio::pin!(closed);
        if tokio::time::timeout(grace, &mut closed).await.is_err() {
            tracing::info!("grace period over: ending the streams still running");
            if let Some(shutdown) = &shutdown {
                shutdown.end_streams();
            }
            if tokio::time::timeout(CLOSE_AFTER_END, &mut closed)
                .await
                .is_err()
            {
                tracing::warn!("some connections did not close; exiting anyway");
            }
        }
        Ok(())
    }
}
