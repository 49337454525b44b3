//! Serving one connection: HTTP/1.1 or HTTP/2, whichever the client speaks.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tower_service::Service;

use super::deadline::FirstByteDeadline;
use super::idle::{OpenBody, Requests};
use crate::request::tracked;

/// How long a connection told to go away for being idle gets to close on its
/// own before it is dropped: a silent peer never answers the GOAWAY's PING.
const IDLE_GOAWAY_LINGER: Duration = Duration::from_secs(1);

/// The HTTP/2 settings of a server, beside those HTTP/1.1 shares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Http2 {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) stream_send_buffer: usize,
}

/// The protocol settings every connection of a server shares.
pub(crate) fn builder(
    header_read_timeout: Duration,
    max_header_bytes: usize,
    http2: Http2,
) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A head larger than the read buffer is answered 431 by hyper. The
        // buffer is hyper's floor at least.
        .max_buf_size(max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        // Larger header lists are refused with 431 too.
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(http2.max_concurrent_streams)
        // Dead or silent peers with streams open: a PING unanswered within
        // the timeout closes the connection.
        .keep_alive_interval(Some(http2.ping_interval))
        .keep_alive_timeout(http2.ping_timeout)
        // What a stream may queue for a peer that does not read, whatever
        // window it advertised; past it the body is not polled and the
        // stream's own bounded buffer holds the handler back.
        .max_send_buf_size(http2.stream_send_buffer);
    builder
}

/// Serves `io` from `peer` with `app` until the client or a graceful
/// shutdown (`stop` changes or its sender goes) ends it, or until it has held
/// no request for `header_read_timeout`. Every request carries
/// `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = Requests::new();
    let service = hyper::service::service_fn({
        let requests = requests.clone();
        move |request: Request<Incoming>| {
            let open = requests.open();
            let mut app = app.clone();
            let (parts, body) = request.into_parts();
            let (body, read) = tracked::track(body);
            let mut request = Request::from_parts(parts, axum::body::Body::new(body));
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(read);
            async move {
                let response = app.call(request).await;
                let response = response.unwrap_or_else(|never| match never {});
                Ok::<_, Infallible>(response.map(|body| OpenBody::new(body, open)))
            }
        }
    });
    let io = TokioIo::new(FirstByteDeadline::new(io, header_read_timeout));
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    let idle = requests.idle_for(header_read_timeout);
    tokio::pin!(idle);
    let linger = tokio::time::sleep(Duration::MAX);
    tokio::pin!(linger);
    let (mut stopping, mut idled) = (false, false);
    let ended = loop {
        tokio::select! {
            ended = connection.as_mut() => break ended,
            _ = stop.changed(), if !stopping => {
                stopping = true;
                if !idled {
                    connection.as_mut().graceful_shutdown();
                }
            }
            () = &mut idle, if !idled => {
                tracing::debug!(%peer, "closing a connection idle for {header_read_timeout:?}");
                idled = true;
                if !stopping {
                    connection.as_mut().graceful_shutdown();
                }
                linger.as_mut().reset(tokio::time::Instant::now() + IDLE_GOAWAY_LINGER);
            }
            () = &mut linger, if idled => {
                tracing::debug!(%peer, "dropping an idle connection that did not close");
                return;
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(%peer, "connection ended: {e}");
    }
    // `stop` is held until here: a graceful shutdown waits for every receiver.
    drop(stop);
}
