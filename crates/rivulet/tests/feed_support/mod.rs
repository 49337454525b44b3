//! Support for the feed tests: the route that follows a feed, a request that
//! follows it (resuming when asked), and reading its packets and SSE ids.
//! Builds on `rivulet_testkit` (a real server on loopback, a real HTTP client).

#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use rivulet::decode::Event;
use rivulet::feed::Feed;
use rivulet::{Format, Stream};

use rivulet_testkit::{PATIENCE, Reader, client};

/// `GET /feed`: follows the feed in the state.
pub async fn watch(stream: Stream, State(feed): State<Feed>) -> Response {
    stream.follow(&feed).await
}

/// The router of a server whose `/feed` follows `feed`.
pub fn app(feed: &Feed) -> Router {
    Router::new()
        .route("/feed", get(watch))
        .with_state(feed.clone())
}

/// GETs `/feed` in `format`, resuming from `last_event_id` when given.
pub async fn follow(
    addr: SocketAddr,
    format: Format,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    let mut request = client().get(format!("http://{addr}/feed"));
    for (name, value) in format.request_headers() {
        request = request.header(*name, *value);
    }
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("a response head in time")
        .expect("a response")
}

/// The `id` of the last SSE event in `raw`.
pub fn last_id(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix("id: "))
        .expect("an event with an id")
        .to_owned()
}

/// Reads `count` packets.
pub async fn take(reader: &mut Reader, count: usize) -> Vec<Event> {
    let mut events = Vec::new();
    while events.len() < count {
        events.push(reader.next().await.expect("a packet").expect("well-formed"));
    }
    events
}
