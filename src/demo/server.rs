//! The demo's HTTP server: hyper with the protections a long-lived streaming
//! server needs — a header-read timeout (slowloris), a cap on running streams,
//! a request size limit, and a graceful shutdown that ends the streams still
//! running after a grace period with an error packet saying why.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rivulet::Shutdown;
use rivulet::feed::Feed;
use rivulet::resume::Resume;
use tokio::net::TcpListener;

use super::{UPLOAD_LIMIT, memory_store, memory_ticker, router};

/// How the demo server protects itself, and where it keeps resumable streams.
#[derive(Clone)]
pub struct Options {
    /// A client must send a request's whole head within this time, also when it
    /// keeps a connection open between requests.
    pub header_read_timeout: Duration,
    /// At most this many streams run at once; more are answered 503.
    pub max_streams: usize,
    /// At shutdown, running streams get this long to finish on their own.
    pub grace: Duration,
    /// Streams longer than this are ended with an error packet, if set.
    pub max_stream_duration: Option<Duration>,
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
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            header_read_timeout: Duration::from_secs(10),
            max_streams: 10_000,
            grace: Duration::from_secs(10),
            max_stream_duration: None,
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

/// Binds `addr` and serves the demo until Ctrl-C or SIGTERM.
pub async fn serve(addr: SocketAddr, options: Options) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    tracing::info!("rivulet demo on http://{}", listener.local_addr()?);
    serve_with(listener, options, stop_signal()).await
}

/// Serves the demo on a bound listener with default options until Ctrl-C or
/// SIGTERM.
pub async fn serve_on(listener: TcpListener) -> std::io::Result<()> {
    serve_with(listener, Options::default(), stop_signal()).await
}

/// Serves the demo until `stop` completes, then shuts down gracefully: no new
/// connections, running streams get [`Options::grace`] to finish, the rest end
/// with an error packet, and the server returns once every connection closed.
pub async fn serve_with(
    listener: TcpListener,
    options: Options,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let shutdown = Shutdown::new();
    let service = TowerToHyperService::new(router(
        options.stream_config(&shutdown),
        options.durable.clone(),
        options.ticker.clone(),
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Packets leave as soon as they are written: no Nagle delay.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("could not set TCP_NODELAY: {e}");
        }
        let connection = http.serve_connection(TokioIo::new(tcp), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!(grace = ?options.grace, "shutting down: letting running streams finish");
    let closed = graceful.shutdown();
    tokio::pin!(closed);
    if tokio::time::timeout(options.grace, &mut closed)
        .await
        .is_err()
    {
        tracing::info!("grace period over: ending the streams still running");
        shutdown.end_streams();
        if tokio::time::timeout(Duration::from_secs(5), &mut closed)
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close; exiting anyway");
        }
    }
    Ok(())
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
