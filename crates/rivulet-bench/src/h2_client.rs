//! HTTP/2 with prior knowledge (h2c), on hyper's client: idle streams sharing
//! a few connections, as a proxy in front of the server multiplexes them, and
//! one stream read to its end on a connection of its own (throughput).

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::wire::connect;

/// An open stream whose first packet has arrived, with its connection's
/// handle (the connection lives while a handle or stream does).
pub struct Stream {
    _body: Incoming,
    _connection: hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
}

/// Opens `count` HTTP/2 connections to `addr`, each driven by a task of its
/// own; the connection lives while its sender (or a clone) does.
pub async fn connections_to(
    addr: SocketAddr,
    count: usize,
) -> Vec<hyper::client::conn::http2::SendRequest<Empty<Bytes>>> {
    let mut senders = Vec::with_capacity(count);
    for i in 0..count {
        let tcp = connect(addr, i).await.expect("connect");
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(connection);
        senders.push(sender);
    }
    senders
}

/// Opens `count` streams of `path` on `connections` HTTP/2 connections to
/// `addr`, `in_flight` at a time, each returned once its first packet is in.
pub async fn open_idle(
    addr: SocketAddr,
    path: &str,
    count: usize,
    connections: usize,
    in_flight: usize,
) -> Vec<Stream> {
    let senders = connections_to(addr, connections).await;
    let opening = (0..count).map(|i| {
        let mut sender = senders[i % connections].clone();
        let uri = format!("http://{addr}{path}");
        async move {
            let request = http::Request::get(uri)
                .header("accept", "text/event-stream")
                .body(Empty::<Bytes>::new())
                .expect("a request");
            sender.ready().await.expect("the connection is open");
            let mut response = sender.send_request(request).await.expect("a response");
            let frame = response.body_mut().frame().await;
            assert!(
                matches!(frame, Some(Ok(_))),
                "stream closed before its first packet"
            );
            Stream {
                _body: response.into_body(),
                _connection: sender,
            }
        }
    });
    futures::stream::iter(opening)
        .buffer_unordered(in_flight)
        .collect()
        .await
}

/// The receive window per stream of [`read_to_end`].
const STREAM_WINDOW: u32 = 512 * 1024;

/// Opens one HTTP/2 connection to `addr`, sends `GET path` on it and passes
/// every DATA frame's bytes to `sink` until the stream ends. Fails on a status
/// other than 200 or a broken stream.
///
/// The receive windows are 512 KiB per stream and hyper's 5 MiB per
/// connection; credit goes back as each frame is taken. The stream window is
/// below hyper's 2 MiB default because the h2 crate's client hangs up
/// (GOAWAY `ENHANCE_YOUR_CALM`, "too_many_data_frames") once the framing
/// overhead of the small DATA frames it holds unread passes half its
/// connection window: a server that writes one ~60-byte frame per packet, as
/// axum `Sse` does, fills a 2 MiB window with 35k of them, past that budget.
/// At 512 KiB the frames a window holds stay inside it.
pub async fn read_to_end(
    addr: SocketAddr,
    path: &str,
    sink: &mut impl FnMut(&[u8]),
) -> io::Result<()> {
    let tcp = connect(addr, 0).await?;
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(STREAM_WINDOW)
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(io::Error::other)?;
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}{path}"))
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())
        .map_err(io::Error::other)?;
    sender.ready().await.map_err(io::Error::other)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(io::Error::other)?;
    if response.status() != http::StatusCode::OK {
        return Err(io::Error::other(format!(
            "unexpected status {}",
            response.status()
        )));
    }
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.map_err(io::Error::other)?.into_data() {
            sink(&data);
        }
    }
    Ok(())
}
