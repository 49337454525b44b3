//! Live feeds: the route that follows a feed, a request that follows it
//! (resuming when asked), and reading its packets and SSE ids.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use rivulet::decode::Event;
use rivulet::feed::Feed;
use rivulet::{Format, Stream};

use crate::{Reader, open};

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

/// GETs `/feed` of the server at `addr` in `format`, resuming from
/// `last_event_id` when given.
pub async fn follow(
    addr: SocketAddr,
    format: Format,
    last_event_id: Option<&str>,
) -> reqwest::Response {
    open(&format!("http://{addr}/feed"), format, last_event_id).await
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
