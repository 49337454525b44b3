//! The demo server under faults, bad input and limits, on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use rivulet::Format;
use rivulet::decode::Event;
use rivulet::protocol::SHUTDOWN_MESSAGE;
use rivulet_cli::demo::Options;
use rivulet_testkit::{PATIENCE, Reader, events, get, listen};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

struct Demo {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn demo(options: Options) -> Demo {
    let (listener, addr) = listen().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(rivulet_cli::demo::serve_with(listener, options, async {
        let _ = stopped.await;
    }));
    Demo {
        addr,
        stop: Some(stop),
        served,
    }
}

fn error_of(event: &Event) -> &rivulet::ErrorPacket {
    match event {
        Event::Error(e) => e,
        other => panic!("expected an error packet, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_lets_short_streams_finish_and_ends_the_rest() {
    let mut demo = demo(Options {
        grace: Duration::from_millis(500),
        ..Options::default()
    })
    .await;
    // A stream that finishes within the grace period, and one that never does.
    let mut short = Reader::new(get(demo.addr, "/stream?interval_ms=20", Format::Sse).await);
    let mut endless =
        Reader::new(get(demo.addr, "/stream/feed?interval_ms=20", Format::Ndjson).await);
    assert!(matches!(short.next().await, Some(Ok(Event::Progress(_)))));
    assert!(matches!(endless.next().await, Some(Ok(Event::Progress(_)))));

    demo.stop.take().unwrap().send(()).unwrap();

    let rest = short.rest().await;
    assert_eq!(
        rest.last(),
        Some(&Event::Done(Value::Null)),
        "the short stream finished"
    );
    let rest = endless.rest().await;
    let error = error_of(rest.last().unwrap());
    assert_eq!(error.message, SHUTDOWN_MESSAGE);
    assert_eq!(error.status, 503);
    // The server returns once every connection has closed.
    tokio::time::timeout(PATIENCE, demo.served)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(demo.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn streams_over_the_cap_get_503_with_retry_after() {
    let demo = demo(Options {
        max_streams: 2,
        ..Options::default()
    })
    .await;
    let mut first = Reader::new(get(demo.addr, "/stream/feed?interval_ms=20", Format::Sse).await);
    let mut second = Reader::new(get(demo.addr, "/stream/feed?interval_ms=20", Format::Sse).await);
    first.next().await.unwrap().unwrap();
    second.next().await.unwrap().unwrap();

    let refused = get(demo.addr, "/stream/status", Format::Sse).await;
    assert_eq!(refused.status(), 503);
    assert!(
        refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .is_ok()
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["status"], json!(503));

    // Once a client leaves, its slot is free again.
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let response = get(demo.addr, "/stream/status", Format::Sse).await;
        if response.status() == 200 {
            assert_eq!(Reader::new(response).rest().await.len(), 2);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_stream_over_its_maximum_duration_ends_with_an_error_that_says_so() {
    let demo = demo(Options {
        max_stream_duration: Some(Duration::from_millis(200)),
        ..Options::default()
    })
    .await;
    for format in Format::ALL {
        let got = events(demo.addr, "/stream/feed?interval_ms=10", format).await;
        assert!(got.len() > 1, "some packets before the limit");
        let error = error_of(got.last().unwrap());
        assert_eq!(error.status, 504);
        assert!(
            error.message.contains("maximum duration"),
            "{}",
            error.message
        );
    }
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_before_streaming() {
    let demo = demo(Options::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(demo.addr).await.unwrap();
    // The head announces more than the limit; no body follows.
    let head = format!(
        "POST /stream/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
        rivulet_cli::demo::UPLOAD_LIMIT + 1
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut response = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("application/json"), "{text}");
    assert!(text.contains("\"status\":413"), "{text}");
}

#[tokio::test]
async fn a_thousand_panicking_handlers_leave_the_server_serving() {
    let demo = demo(Options::default()).await;
    let addr = demo.addr;
    // A well-behaved stream runs through all of it.
    let steady =
        tokio::spawn(async move { events(addr, "/stream?interval_ms=10", Format::Sse).await });
    let started = std::time::Instant::now();
    let panics: Vec<_> = (0..1000)
        .map(|_| {
            tokio::spawn(async move {
                events(addr, "/stream/panic?interval_ms=0", Format::Ndjson).await
            })
        })
        .collect();
    for panic in panics {
        let got = panic.await.unwrap();
        assert_eq!(got.len(), 2);
        let error = error_of(&got[1]);
        assert_eq!(
            error.message,
            rivulet::protocol::INTERNAL_ERROR_MESSAGE,
            "no internal detail"
        );
        assert!(error.error_id.is_some());
    }
    eprintln!("1000 panicking streams answered in {:?}", started.elapsed());
    let steady = steady.await.unwrap();
    assert_eq!(steady.len(), 12);
    assert_eq!(steady.last(), Some(&Event::Done(Value::Null)));
    assert_eq!(
        events(addr, "/stream/status", Format::Sse).await.len(),
        2,
        "still serving"
    );
}

#[tokio::test]
async fn slow_and_silent_clients_are_disconnected() {
    let demo = demo(Options {
        header_read_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    // A slowloris: part of a head, then nothing. And a client that sends nothing.
    let mut slow = tokio::net::TcpStream::connect(demo.addr).await.unwrap();
    slow.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(demo.addr).await.unwrap();
    let mut buf = [0u8; 64];
    for (name, tcp) in [("slowloris", &mut slow), ("silent", &mut silent)] {
        let read = tokio::time::timeout(PATIENCE, tcp.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(n)) => {
                // hyper may answer 408 before closing; then the close follows.
                assert!(String::from_utf8_lossy(&buf[..n]).contains("408"), "{name}");
            }
            Err(_) => panic!("{name}: the server kept the connection open"),
        }
    }
    // Streaming itself is not cut by the header timeout.
    let got = events(demo.addr, "/stream?interval_ms=100", Format::Sse).await;
    assert_eq!(got.len(), 12);
}

#[tokio::test]
async fn hostile_responses_are_clean_decode_errors() {
    let demo = demo(Options::default()).await;
    for format in Format::ALL {
        let mut reader = Reader::new(get(demo.addr, "/stream/garbage", format).await);
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            Event::Progress(json!("fine"))
        );
        assert!(reader.next().await.unwrap().is_err(), "{format}");
    }
    let response = get(demo.addr, "/stream/wrong-type", Format::Sse).await;
    assert_eq!(Format::from_response_headers(response.headers()), None);
    let response = get(demo.addr, "/stream/html-error", Format::Sse).await;
    assert_eq!(response.status(), 502);
}
