//! The Rust client (`rivulet::client`) on resumable streams: it reconnects
//! through a proxy that cuts its connection and goes on exactly once, in
//! order, in every format; resumes later from a saved point; and stops when
//! told not to reconnect.

#![cfg(feature = "client")]

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use futures::StreamExt;
use rivulet::Format;
use rivulet::client::{Client, Error, EventStream, Reconnect};
use rivulet::decode::Event;
use rivulet::resume::{MemoryStore, Resume, ResumePoint, StreamId};
use rivulet_testkit::{PATIENCE, Proxy, counting, expected, serve};

async fn server() -> std::net::SocketAddr {
    serve(
        Router::new()
            .route("/count", get(counting))
            .layer(Extension(Resume::new(MemoryStore::new()))),
    )
    .await
}

async fn next(stream: &mut EventStream) -> Option<Result<Event, Error>> {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event in time")
}

fn quick() -> Reconnect {
    Reconnect::default()
        .delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
}

#[tokio::test]
async fn the_client_reconnects_after_a_cut_in_every_format() {
    let addr = server().await;
    let proxy = Proxy::start(addr).await;
    for format in Format::ALL {
        let url = format!("http://{}/count?n=20&pause_ms=5", proxy.addr);
        let mut stream = Client::new()
            .get(&url)
            .format(format)
            .reconnect(quick())
            .send()
            .await
            .unwrap();
        let mut events = Vec::new();
        while events.len() < 3 {
            events.push(next(&mut stream).await.unwrap().unwrap());
        }
        let connections = proxy.connections();
        proxy.cut();
        while let Some(event) = next(&mut stream).await {
            events.push(event.unwrap_or_else(|e| panic!("{format}: {e}")));
        }
        assert_eq!(
            events,
            expected(20),
            "{format}: every packet once, in order"
        );
        assert!(
            proxy.connections() > connections,
            "{format}: it reconnected"
        );
    }
}

#[tokio::test]
async fn a_saved_resume_point_resumes_the_stream_later() {
    let addr = server().await;
    let url = format!("http://{addr}/count?n=6&pause_ms=5");
    let mut stream = Client::new()
        .get(&url)
        .format(Format::Ndjson)
        .send()
        .await
        .unwrap();
    let first = next(&mut stream).await.unwrap().unwrap();
    let second = next(&mut stream).await.unwrap().unwrap();
    let point = stream.resume_point().expect("a resumable stream");
    assert_eq!(point.received, 2, "{point}");
    drop(stream);

    let mut rest = Client::new()
        .get(&url)
        .resume_from(point)
        .send()
        .await
        .unwrap();
    let mut events = vec![first, second];
    while let Some(event) = next(&mut rest).await {
        events.push(event.unwrap());
    }
    assert_eq!(events, expected(6));

    // A stream the server no longer has.
    let gone = ResumePoint {
        stream: StreamId::random(),
        received: 1,
    };
    match Client::new().get(&url).resume_from(gone).send().await {
        Err(Error::NotAStream { status, .. }) => assert_eq!(status, 204),
        other => panic!("expected a 204, got {other:?}"),
    }
}

#[tokio::test]
async fn without_reconnecting_a_cut_is_an_error() {
    let addr = server().await;
    let proxy = Proxy::start(addr).await;
    let url = format!("http://{}/count?n=50&pause_ms=10", proxy.addr);
    let mut stream = Client::new().get(&url).no_reconnect().send().await.unwrap();
    next(&mut stream).await.unwrap().unwrap();
    // Not reconnecting, the client still says where the stream would resume.
    let point = stream.resume_point().expect("a resumable stream's point");
    proxy.cut();
    let mut last = None;
    while let Some(event) = next(&mut stream).await {
        last = Some(event);
    }
    match last {
        Some(Err(Error::Transport(_) | Error::Truncated)) => {}
        other => panic!("expected a transport error, got {other:?}"),
    }
    // After the cut the point is still there, past the packets read before it.
    let after = stream.resume_point().expect("the point after the cut");
    assert_eq!(after.stream, point.stream);
    assert!(after.received >= point.received.max(1), "{after}");
}
