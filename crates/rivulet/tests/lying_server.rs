//! The Rust client against servers that lie about resumable streams: one
//! that sends packets 1–3 again on every reconnect, and one that drops every
//! connection after one packet. The client drops packets it already has (by
//! their number) and stops reconnecting when no progress is made, with an
//! error instead of reconnecting for ever. Real servers on loopback.

#![cfg(feature = "client")]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use rivulet::client::{Client, Error, Reconnect};
use rivulet::decode::Event;

const STREAM_ID: &str = "0123456789abcdef0123456789abcdef";

/// More connections than any client here should make: past them, `204`.
const MAX_CONNECTIONS: u64 = 60;

fn quick() -> Reconnect {
    Reconnect::default()
        .delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
}

/// Packets numbered `numbers`, as SSE events of stream `STREAM_ID`, then the
/// end of the body without a final packet.
fn cut_stream(numbers: impl Iterator<Item = u64>) -> Response {
    let body: String = numbers
        .map(|n| format!("id: {STREAM_ID}.{n}\ndata: {n}\n\n"))
        .collect();
    (
        [
            ("content-type", "text/event-stream"),
            ("rivulet-stream-id", STREAM_ID),
        ],
        body,
    )
        .into_response()
}

fn resumed_after(headers: &HeaderMap) -> u64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('.'))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(0)
}

/// Serves `route` at `/`, counting its connections.
async fn serve(
    route: impl Fn(&HeaderMap) -> Response + Clone + Send + Sync + 'static,
) -> (std::net::SocketAddr, Arc<AtomicU64>) {
    let connections = Arc::new(AtomicU64::new(0));
    let counted = connections.clone();
    let app = Router::new().route(
        "/",
        get(move |headers: HeaderMap| {
            let route = route.clone();
            let counted = counted.clone();
            async move {
                if counted.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
                    return StatusCode::NO_CONTENT.into_response();
                }
                route(&headers)
            }
        }),
    );
    (rivulet_testkit::serve(app).await, connections)
}

/// Every event until the stream ends, and the error it ended with.
async fn read_all(addr: std::net::SocketAddr) -> (Vec<u64>, Option<Error>) {
    let mut stream = Client::new()
        .get(format!("http://{addr}/"))
        .reconnect(quick())
        .send()
        .await
        .unwrap();
    let mut numbers = Vec::new();
    let read = async {
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Progress(n)) => numbers.push(n.as_u64().unwrap()),
                Ok(other) => panic!("no final packet is ever sent: {other:?}"),
                Err(error) => return Some(error),
            }
        }
        None
    };
    let error = tokio::time::timeout(rivulet_testkit::PATIENCE, read)
        .await
        .expect("the stream ends in time");
    (numbers, error)
}

#[tokio::test]
async fn packets_sent_again_are_dropped_and_the_client_gives_up() {
    let (addr, connections) = serve(|_| cut_stream(1..=3)).await;
    let (numbers, error) = read_all(addr).await;
    assert_eq!(numbers, [1, 2, 3], "every packet once");
    assert!(matches!(error, Some(Error::Truncated)), "{error:?}");
    // The first connection, then the default 8 attempts without a new packet.
    assert_eq!(connections.load(Ordering::Relaxed), 1 + 8);
}

#[tokio::test]
async fn a_server_that_drops_after_every_packet_is_given_up_on() {
    let (addr, connections) =
        serve(|headers| cut_stream(std::iter::once(resumed_after(headers) + 1))).await;
    let (numbers, error) = read_all(addr).await;
    assert!(
        matches!(error, Some(Error::Unsteady { connections: 10 })),
        "{error:?}"
    );
    assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
    assert_eq!(connections.load(Ordering::Relaxed), 10);
}

#[tokio::test]
async fn a_server_that_drops_after_a_few_new_packets_is_followed_to_the_end() {
    // 3 new packets per connection, 25 connections: progress every time.
    let (addr, connections) = serve(|headers| {
        let after = resumed_after(headers);
        if after >= 75 {
            return (
                [("content-type", "text/event-stream")],
                format!("id: {STREAM_ID}.76\nevent: done\ndata: \"ok\"\n\n"),
            )
                .into_response();
        }
        cut_stream(after + 1..=after + 3)
    })
    .await;
    let stream = Client::new()
        .get(format!("http://{addr}/"))
        .reconnect(quick())
        .send()
        .await
        .unwrap();
    let outcome: String = tokio::time::timeout(rivulet_testkit::PATIENCE, stream.done())
        .await
        .expect("done in time")
        .unwrap();
    assert_eq!(outcome, "ok");
    assert_eq!(connections.load(Ordering::Relaxed), 26);
}
