//! The demo's `/stream/durable` keeps its streams in the store its server was
//! given: two demo servers in one process resume each other's streams when
//! they share a store, and do not when each has its own.

use std::net::SocketAddr;

use rivulet::Format;
use rivulet::decode::Event;
use rivulet::resume::Resume;
use rivulet_cli::demo::{Options, memory_store, serve_with};
use rivulet_testkit::{End, Reading, open, url};
use serde_json::json;

/// A demo server in this process keeping durable streams in `durable`.
async fn demo(durable: Resume) -> SocketAddr {
    let options = Options {
        durable,
        ..Options::default()
    };
    rivulet_testkit::serve_with(move |listener| {
        serve_with(listener, options, std::future::pending())
    })
    .await
}

const PATH: &str = "/stream/durable?items=30&every=1&interval_ms=20";

/// Starts a durable stream on `a`, reads two packets, leaves, and resumes it
/// on `b`.
async fn resume_elsewhere(a: SocketAddr, b: SocketAddr) -> reqwest::Response {
    let mut first = Reading::new(open(&url(a, PATH), Format::Ndjson, None).await, 0);
    assert_eq!(first.until(2).await, None);
    let point = first.resume_point();
    drop(first);
    open(&url(b, PATH), Format::Ndjson, Some(&point)).await
}

#[tokio::test]
async fn demo_servers_sharing_a_store_resume_each_others_streams() {
    let shared = memory_store();
    let a = demo(shared.clone()).await;
    let b = demo(shared).await;
    let mut rest = Reading::new(resume_elsewhere(a, b).await, 2);
    assert_eq!(rest.read_to_end().await, End::Final);
    let (last, progress) = rest.events.split_last().unwrap();
    let expected: Vec<Event> = (2..=30)
        .map(|i| Event::Progress(json!(format!("Processed {i} items"))))
        .collect();
    assert_eq!(progress, expected, "the packets after the point, once each");
    assert!(matches!(last, Event::Done(_)), "{last:?}");
}

#[tokio::test]
async fn demo_servers_with_stores_of_their_own_do_not() {
    let a = demo(memory_store()).await;
    let b = demo(memory_store()).await;
    let elsewhere = resume_elsewhere(a, b).await;
    assert_eq!(elsewhere.status(), 204, "b has never heard of a's stream");
}
