//! Serving one connection: HTTP/1.1 or HTTP/2, whichever the client speaks.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, watch};
use tower_service::Service;

use super::idle::{OpenBody, Requests};
use super::version::{self, Version};
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

/// The HTTP/1.1 and HTTP/2 settings of a server.
#[derive(Debug)]
pub(crate) struct Builders {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

/// The protocol settings every connection of a server shares.
pub(crate) fn builders(
    header_read_timeout: Duration,
    max_header_bytes: usize,
    settings: Http2,
) -> Builders {
    let mut http1 = http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        // A head larger than the read buffer is answered 431 by hyper. The
        // buffer is hyper's floor at least.
        .max_buf_size(max_header_bytes.max(8192));
    let mut http2 = http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        // Larger header lists are refused with 431 too.
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(settings.max_concurrent_streams)
        // Dead or silent peers with streams open: a PING unanswered within
        // the timeout closes the connection.
        .keep_alive_interval(Some(settings.ping_interval))
        .keep_alive_timeout(settings.ping_timeout)
        // What a stream may queue for a peer that does not read, whatever
        // window it advertised; past it the body is not polled and the
        // stream's own bounded buffer holds the handler back.
        .max_send_buf_size(settings.stream_send_buffer);
    Builders { http1, http2 }
}

/// The answer to one request, being worked out by the app.
///
/// Boxed, so that what the app keeps while it works (the request, the
/// router's future) is freed as soon as the response is given: hyper keeps
/// room for the service's future for a connection's whole life (HTTP/1.1) or
/// a stream's (HTTP/2), which for the future itself would be ~600 bytes held
/// by every open stream.
type Responding =
    Pin<Box<dyn Future<Output = Result<Response<OpenBody<axum::body::Body>>, Infallible>> + Send>>;

/// Serves `io` from `peer` with `app` until the client or a graceful
/// shutdown (`stop` changes or its sender goes) ends it, or until it has held
/// no request for `header_read_timeout` (hyper's header-read timeout over
/// HTTP/1.1, the count of open requests over HTTP/2). Every request carries
/// `ConnectInfo<SocketAddr>`. `slot` is held until the connection has closed.
pub(crate) async fn serve<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builders: Arc<Builders>,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<()>,
    slot: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let detected = tokio::select! {
        detected = version::detect(io, header_read_timeout) => detected,
        _ = stop.changed() => return,
    };
    let (version, io) = match detected {
        Ok(detected) => detected,
        Err(e) => {
            tracing::debug!(%peer, "connection not served: {e}");
            return;
        }
    };
    let io = TokioIo::new(io);
    let open = Open {
        peer,
        stop,
        _slot: slot,
    };
    match version {
        // hyper closes an HTTP/1.1 connection that holds no request for the
        // header-read timeout: no count of requests, no timer of our own.
        Version::Http1 => {
            let service = service(app, peer, None);
            open.drive(
                move || builders.http1.serve_connection(io, service).with_upgrades(),
                |connection| connection.graceful_shutdown(),
                std::future::pending(),
            )
            .await
        }
        // Boxed: the task of every connection has room for the larger of the
        // two, and an HTTP/2 connection (one for many streams) is the larger.
        Version::Http2 => {
            let requests = Requests::new();
            let service = service(app, peer, Some(requests.clone()));
            Box::pin(open.drive(
                move || builders.http2.serve_connection(io, service),
                |connection| connection.graceful_shutdown(),
                async move {
                    requests.idle_for(header_read_timeout).await;
                    tracing::debug!(%peer, "closing a connection idle for {header_read_timeout:?}");
                },
            ))
            .await
        }
    }
}

/// The service that hands each request to `app`, with the peer's address
/// and its body tracked; with `requests`, counting it as open until its
/// response has been sent.
fn service(
    app: Router,
    peer: SocketAddr,
    requests: Option<Requests>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<OpenBody<axum::body::Body>>,
    Error = Infallible,
    Future = Responding,
> + Send {
    hyper::service::service_fn(move |request: Request<Incoming>| {
        let open = requests.as_ref().map(Requests::open);
        let mut app = app.clone();
        let (parts, body) = request.into_parts();
        let (body, read) = tracked::track(body);
        let mut request = Request::from_parts(parts, axum::body::Body::new(body));
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(read);
        let respond: Responding = Box::pin(async move {
            let response = app.call(request).await;
            let response = response.unwrap_or_else(|never| match never {});
            Ok(response.map(|body| OpenBody::new(body, open)))
        });
        respond
    })
}

/// A connection being served, whichever its protocol.
struct Open {
    peer: SocketAddr,
    stop: watch::Receiver<()>,
    _slot: OwnedSemaphorePermit,
}

/// How the first part of a connection's life ended.
enum Phase {
    Ended(hyper::Result<()>),
    /// Idle too long, and asked to close.
    Idled,
}

impl Open {
    /// Runs the connection `make` makes to its end; `graceful_shutdown` asks
    /// it to finish its requests and close, which it is also asked to when
    /// `idle` completes, and then given [`IDLE_GOAWAY_LINGER`] to do.
    ///
    /// The connection is made here rather than passed in: an async fn keeps
    /// its arguments apart from its locals, and a connection passed in would
    /// take its room (~700 bytes over HTTP/1.1) twice in every connection's
    /// task.
    async fn drive<C>(
        self,
        make: impl FnOnce() -> C,
        graceful_shutdown: impl Fn(Pin<&mut C>),
        idle: impl Future<Output = ()>,
    ) where
        C: Future<Output = hyper::Result<()>>,
    {
        let Open {
            peer,
            mut stop,
            _slot,
        } = self;
        let connection = make();
        tokio::pin!(connection);
        let phase = {
            tokio::pin!(idle);
            let mut stopping = false;
            loop {
                tokio::select! {
                    ended = connection.as_mut() => break Phase::Ended(ended),
                    _ = stop.changed(), if !stopping => {
                        stopping = true;
                        graceful_shutdown(connection.as_mut());
                    }
                    () = &mut idle => {
                        if !stopping {
                            graceful_shutdown(connection.as_mut());
                        }
                        break Phase::Idled;
                    }
                }
            }
        };
        let ended = match phase {
            Phase::Ended(ended) => ended,
            Phase::Idled => {
                match tokio::time::timeout(IDLE_GOAWAY_LINGER, connection.as_mut()).await {
                    Ok(ended) => ended,
                    Err(_) => {
                        tracing::debug!(%peer, "dropping an idle connection that did not close");
                        return;
                    }
                }
            }
        };
        if let Err(e) = ended {
            tracing::debug!(%peer, "connection ended: {e}");
        }
        // `stop` is held until here: a graceful shutdown waits for every receiver.
        drop(stop);
    }
}
