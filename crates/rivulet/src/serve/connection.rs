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
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite};
use tower_service::Service;

use super::deadline::FirstByteDeadline;
use crate::request::tracked;

/// The protocol settings every connection of a server shares.
pub(crate) fn builder(
    header_read_timeout: Duration,
    max_header_bytes: usize,
    max_concurrent_streams: u32,
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
        .max_concurrent_streams(max_concurrent_streams);
    builder
}

/// Serves `io` from `peer` with `app` until the client or a graceful
/// shutdown ends it. Every request carries `ConnectInfo<SocketAddr>`.
pub(crate) async fn serve<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builder: auto::Builder<TokioExecutor>,
    header_read_timeout: Duration,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let mut app = app.clone();
        let (parts, body) = request.into_parts();
        let (body, read) = tracked::track(body);
        let mut request = Request::from_parts(parts, axum::body::Body::new(body));
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(read);
        async move {
            let response = app.call(request).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let io = TokioIo::new(FirstByteDeadline::new(io, header_read_timeout));
    let connection = builder.serve_connection_with_upgrades(io, service);
    if let Err(e) = watcher.watch(connection.into_owned()).await {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}
