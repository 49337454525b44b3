//! The request body guard that `Router::layer(config)` installs: a body that
//! makes no progress ends the request (408 before the first packet, an error
//! packet after it), and multipart heads are bounded (400 with a JSON reason).
//! Real server on loopback, request bodies streamed by a real client.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Multipart;
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use rivulet::decode::Event;
use rivulet::{Config, Stream};
use rivulet_testkit::{PATIENCE, Reader, client, serve};
use serde_json::Value;
use tokio::sync::mpsc;

const BOUNDARY: &str = "hostile";

/// Reads every part, sending one packet per chunk when `?report` is set.
async fn upload(stream: Stream, multipart: Multipart) -> Response {
    stream
        .run(|tx| async move {
            let mut multipart = multipart;
            let mut bytes = 0;
            while let Some(mut field) = multipart.next_field().await? {
                while let Some(chunk) = field.chunk().await? {
                    bytes += chunk.len();
                    tx.send(bytes).await?;
                }
            }
            Ok(bytes)
        })
        .await
}

/// Reads the whole upload before its first packet.
async fn upload_quietly(stream: Stream, multipart: Multipart) -> Response {
    stream
        .run(|_tx| async move {
            let mut multipart = multipart;
            let mut bytes = 0;
            while let Some(mut field) = multipart.next_field().await? {
                while let Some(chunk) = field.chunk().await? {
                    bytes += chunk.len();
                }
            }
            Ok(bytes)
        })
        .await
}

async fn app(config: Config) -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/upload", post(upload))
            .route("/quiet", post(upload_quietly))
            .layer(config),
    )
    .await
}

/// A POST whose body is what `body` receives, for as long as it stays open.
async fn post_streaming(
    addr: std::net::SocketAddr,
    path: &str,
    body: mpsc::Receiver<Bytes>,
) -> reqwest::Response {
    let stream = futures::stream::unfold(body, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), rx))
    });
    let request = client()
        .post(format!("http://{addr}{path}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("accept", "text/event-stream")
        .body(reqwest::Body::wrap_stream(stream));
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("a response in time")
        .expect("a response")
}

fn part_head() -> Bytes {
    Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
    ))
}

async fn json_error(response: reqwest::Response) -> Value {
    let body: Value = tokio::time::timeout(PATIENCE, response.json())
        .await
        .expect("the body in time")
        .expect("a JSON body");
    body["error"].clone()
}

#[tokio::test]
async fn a_stalled_body_is_a_408_before_the_first_packet() {
    let config = Config::default().request_body_timeout(Some(Duration::from_secs(1)));
    let addr = app(config).await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(part_head()).await.unwrap();
    tx.send(Bytes::from_static(b"half of the file"))
        .await
        .unwrap();
    let started = Instant::now();
    // `tx` stays open: the body neither ends nor moves.
    let response = post_streaming(addr, "/quiet", rx).await;
    assert_eq!(response.status(), 408);
    let error = json_error(response).await;
    assert_eq!(error["status"], 408);
    assert!(
        error["message"].as_str().unwrap().contains("no progress"),
        "{error}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    drop(tx);
}

#[tokio::test]
async fn a_stalled_body_after_the_first_packet_ends_with_an_error_packet() {
    let config = Config::default().request_body_timeout(Some(Duration::from_secs(1)));
    let addr = app(config).await;
    let (tx, rx) = mpsc::channel(4);
    tx.send(part_head()).await.unwrap();
    tx.send(Bytes::from_static(b"the first chunk"))
        .await
        .unwrap();
    let response = post_streaming(addr, "/upload", rx).await;
    assert_eq!(response.status(), 200);
    // Bounded as a whole: keep-alives would keep a per-chunk wait going.
    let events = tokio::time::timeout(PATIENCE, Reader::new(response).rest())
        .await
        .expect("the stream ends in time");
    let Some(Event::Error(error)) = events.last() else {
        panic!("ends with an error packet: {events:?}");
    };
    assert_eq!(error.status, 408);
    assert!(error.message.contains("no progress"), "{error}");
    assert!(matches!(events[0], Event::Progress(_)), "{events:?}");
    drop(tx);
}

#[tokio::test]
async fn a_slow_body_that_keeps_moving_is_not_cut() {
    let config = Config::default().request_body_timeout(Some(Duration::from_millis(800)));
    let addr = app(config).await;
    let (tx, rx) = mpsc::channel(4);
    let sender = tokio::spawn(async move {
        tx.send(part_head()).await.unwrap();
        // 2.5 s in all, never 0.8 s without a byte.
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            tx.send(Bytes::from_static(b"0123456789")).await.unwrap();
        }
        tx.send(Bytes::from(format!("\r\n--{BOUNDARY}--\r\n")))
            .await
            .unwrap();
    });
    let response = post_streaming(addr, "/quiet", rx).await;
    assert_eq!(response.status(), 200);
    let events = Reader::new(response).rest().await;
    assert_eq!(events.last(), Some(&Event::Done(100.into())));
    sender.await.unwrap();
}

/// Over raw TCP (an HTTP client stops at the first failed write, and the
/// server closes the connection once it has answered): a POST announcing
/// `max` bytes that sends `first`, then `chunk` after `chunk` until the server
/// answers. Returns the answer's status, its error object, and how many bytes
/// had been written by then.
async fn flood(
    addr: std::net::SocketAddr,
    first: Bytes,
    chunk: Bytes,
    max: usize,
) -> (u16, Value, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let written = Arc::new(AtomicUsize::new(0));
    let counted = written.clone();
    let writer = tokio::spawn(async move {
        let head = format!(
            "POST /quiet HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary={BOUNDARY}\r\ncontent-length: {max}\r\n\r\n"
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(&first).await?;
        // Bounded: at most `max` bytes, and only as fast as they are taken.
        while counted.load(Ordering::Relaxed) + chunk.len() <= max {
            write.write_all(&chunk).await?;
            counted.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        std::future::pending::<std::io::Result<()>>().await
    });
    let mut answer = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    let response = loop {
        let n = tokio::time::timeout(PATIENCE, read.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.parse().ok())
                .expect("a content-length");
            if body.len() >= length {
                break (head.to_owned(), body[..length].to_owned());
            }
        }
        assert!(n > 0, "the connection closed without an answer: {text}");
    };
    let sent = written.load(Ordering::Relaxed);
    writer.abort();
    let status = response.0[9..12].parse().unwrap();
    let body: Value = serde_json::from_str(&response.1).expect("a JSON body");
    (status, body["error"].clone(), sent)
}

#[tokio::test]
async fn multipart_heads_that_never_end_are_refused_early_with_a_400() {
    const MIB: usize = 1024 * 1024;
    const MAX: usize = 64 * MIB;
    let addr = app(Config::default()).await;
    let junk = Bytes::from(vec![b'.'; 64 * 1024]);
    let before = rivulet_testkit::rss_bytes() as usize;
    // Six at once: a preamble that never reaches a boundary...
    let preambles =
        (0..3).map(|_| tokio::spawn(flood(addr, Bytes::from_static(b"."), junk.clone(), MAX)));
    // ... and a part header that never ends.
    let header = Bytes::from(format!("--{BOUNDARY}\r\nX-Pad: "));
    let headers = (0..3).map(|_| tokio::spawn(flood(addr, header.clone(), junk.clone(), MAX)));
    let runs: Vec<_> = preambles.chain(headers).collect();
    let mut most_sent = 0;
    for (i, run) in runs.into_iter().enumerate() {
        let (status, error, sent) = run.await.unwrap();
        assert_eq!(status, 400, "{error}");
        assert_eq!(error["status"], 400);
        let expected = if i < 3 {
            "no boundary"
        } else {
            "headers longer"
        };
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{error}"
        );
        most_sent = most_sent.max(sent);
    }
    let grown = (rivulet_testkit::rss_bytes() as usize).saturating_sub(before);
    println!(
        "6 connections sending endless multipart heads: answered 400 after at most {:.1} MiB sent each, RSS +{:.1} MiB",
        most_sent as f64 / MIB as f64,
        grown as f64 / MIB as f64
    );
    // Refused after the first KiBs, not after the whole body: what was handed
    // over is what sat in the socket buffers when the answer came.
    assert!(most_sent < 16 * MIB, "{most_sent} bytes sent");
    assert!(grown < 64 * MIB, "RSS grew by {grown} bytes");
}
