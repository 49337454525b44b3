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
    /// How long a connection may hold no request (see [`serve`]).
    header_read_timeout: Duration,
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
    Builders {
        http1,
        http2,
        header_read_timeout,
    }
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
/// no request for the header-read timeout of `builders` (hyper's over
/// HTTP/1.1, the count of open requests over HTTP/2). Every request carries
/// `ConnectInfo<SocketAddr>`. `slot` is held until the connection has closed.
///
/// Every connection's task holds this future, and an async fn keeps its
/// arguments apart from its locals for its whole life: what is passed here
/// is passed once and used in place (the peer's address, the stop signal and
/// the slot are not moved again), which keeps each connection's task a
/// 128-byte step smaller.
pub(crate) async fn serve<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builders: Arc<Builders>,
    mut stop: watch::Receiver<()>,
    slot: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = builders.header_read_timeout;
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
    let mut open = Open {
        stop: &mut stop,
        _slot: &slot,
    };
    let ended = match version {
        // hyper closes an HTTP/1.1 connection that holds no request for the
        // header-read timeout: no count of requests, no timer of our own.
        Version::Http1 => {
            let service = service(app, peer, None);
            let connection =
                std::pin::pin!(builders.http1.serve_connection(io, service).with_upgrades());
            open.drive(
                connection,
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
            Box::pin(async move {
                let connection = std::pin::pin!(builders.http2.serve_connection(io, service));
                open.drive(
                    connection,
                    |connection| connection.graceful_shutdown(),
                    async move {
                        requests.idle_for(header_read_timeout).await;
                        tracing::debug!(%peer, "closing a connection idle for {header_read_timeout:?}");
                    },
                )
                .await
            })
            .await
        }
    };
    match ended {
        Ended::Closed(Ok(())) => {}
        Ended::Closed(Err(e)) => tracing::debug!(%peer, "connection ended: {e}"),
        Ended::Lingered => {
            tracing::debug!(%peer, "dropping an idle connection that did not close");
        }
    }
    // `stop` is held until here: a graceful shutdown waits for every
    // receiver; and `slot` until the connection has closed.
    drop((stop, slot));
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

/// A connection being served, whichever its protocol: what its driving
/// borrows from [`serve`].
struct Open<'a> {
    stop: &'a mut watch::Receiver<()>,
    _slot: &'a OwnedSemaphorePermit,
}

/// How a connection's driving ended.
enum Ended {
    /// The connection closed, cleanly or not.
    Closed(hyper::Result<()>),
    /// It was asked to close for being idle and did not within
    /// [`IDLE_GOAWAY_LINGER`].
    Lingered,
}

/// How the first part of a connection's life ended.
enum Phase {
    Ended(hyper::Result<()>),
    /// Idle too long, and asked to close.
    Idled,
}

impl Open<'_> {
    /// Runs `connection` to its end; `graceful_shutdown` asks it to finish
    /// its requests and close, which it is also asked to when `idle`
    /// completes, and then given [`IDLE_GOAWAY_LINGER`] to do.
    ///
    /// The connection is borrowed, pinned where [`serve`] made it: an async
    /// fn keeps its arguments apart from its locals, and a connection moved
    /// in (or the closure that makes it) would take its room (~700 bytes
    /// over HTTP/1.1) twice in every connection's task.
    async fn drive<C>(
        &mut self,
        mut connection: Pin<&mut C>,
        graceful_shutdown: impl Fn(Pin<&mut C>),
        idle: impl Future<Output = ()>,
    ) -> Ended
    where
        C: Future<Output = hyper::Result<()>>,
    {
        let stop = &mut *self.stop;
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
        match phase {
            Phase::Ended(ended) => Ended::Closed(ended),
            Phase::Idled => {
                match tokio::time::timeout(IDLE_GOAWAY_LINGER, connection.as_mut()).await {
                    Ok(ended) => Ended::Closed(ended),
                    Err(_) => Ended::Lingered,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Semaphore;

    /// A connection accepted on loopback, its client and its peer address.
    async fn accepted(listener: &TcpListener) -> (TcpStream, TcpStream, SocketAddr) {
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        (client, server, peer)
    }

    /// Every connection's task holds [`serve`]'s future: hyper's connection
    /// (which holds the socket and the service) must be in it once, with
    /// little beside it. Moved into the function that drives it, the
    /// connection (or the closure making it) and the arguments took their
    /// room twice: 720 bytes beside hyper's connection in a release build
    /// (512 now), a task 128 bytes larger.
    #[tokio::test]
    async fn a_connection_is_held_once_in_its_task() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let settings = Http2 {
            max_concurrent_streams: 100,
            ping_interval: Duration::from_secs(10),
            ping_timeout: Duration::from_secs(10),
            stream_send_buffer: 64 * 1024,
        };
        let builders = Arc::new(builders(Duration::from_secs(10), 8192, settings));

        let (mut client, server, peer) = accepted(&listener).await;
        client.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let (version, io) = version::detect(server, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(version, Version::Http1);
        let service = service(Router::new(), peer, None);
        let connection = builders
            .http1
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let hyper = std::mem::size_of_val(&connection);

        let (_client, server, peer) = accepted(&listener).await;
        let (_stopping, stop) = watch::channel(());
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let task = serve(server, peer, Router::new(), builders, stop, slot);
        let task = std::mem::size_of_val(&task);
        eprintln!("{task} bytes serving a {hyper}-byte connection");
        assert!(
            task <= hyper + 640,
            "{task} bytes serving a {hyper}-byte connection"
        );
    }
}
