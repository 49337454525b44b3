//! The demo's HTTP server: [`rivulet::serve`] with the demo's routes, and the
//! limits a long-lived streaming server needs — a header-read timeout
//! (slowloris), caps on connections, head size and running streams, a request
//! size limit, and a graceful shutdown that ends the streams still running
//! after a grace period with an error packet saying why.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rivulet::Shutdown;
use rivulet::feed::Feed;
use rivulet::resume::Resume;
use rivulet::serve::Tls;
use tokio::net::TcpListener;

use super::{UPLOAD_LIMIT, memory_store, memory_ticker, router};

/// How the demo server protects itself, whether it serves HTTPS, and where it
/// keeps resumable streams.
#[derive(Clone)]
pub struct Options {
    /// A client must send a request's whole head within this time, also when it
    /// keeps a connection open between requests.
    pub header_read_timeout: Duration,
    /// At most this many streams run at once; more are answered 503.
    pub max_streams: usize,
    /// At most this many connections are served at once; more wait in the
    /// listen backlog.
    pub max_connections: usize,
    /// Request heads larger than this are answered 431.
    pub max_header_bytes: usize,
    /// At shutdown, running streams get this long to finish on their own.
    pub grace: Duration,
    /// Streams longer than this are ended with an error packet, if set.
    pub max_stream_duration: Option<Duration>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this certificate.
    pub tls: Option<Tls>,
    /// Where `/stream/durable` keeps its streams.
    pub durable: Resume,
    /// The live feed of `/stream/ticker`.
    pub ticker: Feed,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_streams", &self.max_streams)
            .field("grace", &self.grace)
            .field("max_stream_duration", &self.max_stream_duration)
            .field("max_connections", &self.max_connections)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            header_read_timeout: rivulet::serve::DEFAULT_HEADER_READ_TIMEOUT,
            max_streams: 10_000,
            max_connections: rivulet::serve::DEFAULT_MAX_CONNECTIONS,
            max_header_bytes: rivulet::serve::DEFAULT_MAX_HEADER_BYTES,
            grace: rivulet::serve::DEFAULT_SHUTDOWN_GRACE,
            max_stream_duration: None,
            tls: None,
            durable: memory_store(),
            ticker: memory_ticker(),
        }
    }
}

impl Options {
    fn stream_config(&self, shutdown: &Shutdown) -> rivulet::Config {
        let config = rivulet::Config::default()
            .max_streams(self.max_streams)
            .max_request_bytes(UPLOAD_LIMIT)
            .shutdown(shutdown);
        match self.max_stream_duration {
            Some(duration) => config.max_duration(duration),
            None => config,
        }
    }
}

/// Binds `addr` with a listen backlog of `backlog` and serves the demo until
/// Ctrl-C or SIGTERM.
pub(super) async fn serve(addr: SocketAddr, backlog: u32, options: Options) -> std::io::Result<()> {
    let listener = rivulet::serve::bind_with_backlog(addr, backlog)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let scheme = if options.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!("rivulet demo on {scheme}://{}", listener.local_addr()?);
    serve_with(listener, options, stop_signal()).await
}

/// Serves the demo on a bound listener with default options until Ctrl-C or
/// SIGTERM.
pub async fn serve_on(listener: TcpListener) -> std::io::Result<()> {
    serve_with(listener, Options::default(), stop_signal()).await
}

/// Serves the demo until `stop` completes, then shuts down gracefully: no new
/// connections or streams, running streams get [`Options::grace`] to finish,
/// the rest end with an error packet, and the server returns once every
/// connection closed.
pub async fn serve_with(
    listener: TcpListener,
    options: Options,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let shutdown = Shutdown::new();
    let app = router(
        options.stream_config(&shutdown),
        options.durable.clone(),
        options.ticker.clone(),
    );
    let server = rivulet::serve(listener, app)
        .header_read_timeout(options.header_read_timeout)
        .max_connections(options.max_connections)
        .max_header_bytes(options.max_header_bytes)
        .grace(options.grace);
    let server = match options.tls {
        Some(tls) => server.tls(tls),
        None => server,
    };
    server.with_graceful_shutdown(&shutdown, stop).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
