//! A live feed: a price ticker that a background task publishes to, followed
//! by any number of pages, and a publish route for anyone else.
//!
//! ```sh
//! cargo run -p rivulet-http --example feed
//! # then, in two terminals:
//! curl -N http://127.0.0.1:3000/ticker
//! curl -X POST -H 'Content-Type: application/json' -d '{"price": 1}' http://127.0.0.1:3000/ticker
//! ```
//!
//! What to look at:
//! - `GET /ticker`: `stream.follow(&feed)` — every packet published after the
//!   request joined, in its own wire format; an `EventSource` (or any Rivulet
//!   client) that reconnects with `Last-Event-ID` gets what it missed first.
//! - `POST /ticker`: publishes the JSON body to every follower (`202`).
//! - the task in `main`: `feed.publish(…)` from anywhere, never waiting for a
//!   slow follower.
//!
//! `TICK_MS` sets the ticker's pace (1000 by default).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rivulet::feed::Feed;
use rivulet::{Config, Stream};
use serde_json::{Value, json};

/// Follows the ticker until the client leaves.
async fn follow(stream: Stream, State(feed): State<Feed>) -> Response {
    stream.follow(&feed).await
}

/// Publishes the request's JSON to every follower.
async fn publish(State(feed): State<Feed>, Json(value): Json<Value>) -> Response {
    match feed.publish(value).await {
        Ok(number) => (StatusCode::ACCEPTED, Json(json!({ "published": number }))).into_response(),
        Err(e) => rivulet::Error::internal(e).into_response(),
    }
}

fn app(feed: &Feed) -> Router {
    Router::new()
        .route("/ticker", get(follow).post(publish))
        .with_state(feed.clone())
        .layer(Config::default())
}

/// Publishes a price every `tick`, for ever.
async fn ticker(feed: Feed, tick: Duration) {
    let mut price = 100.0_f64;
    for n in 1u64.. {
        price += if n % 3 == 0 { -0.5 } else { 0.25 };
        if feed
            .publish(json!({ "n": n, "price": price }))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(tick).await;
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let addr = addr.parse().map_err(std::io::Error::other)?;
    let tick = std::env::var("TICK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis);
    let feed = Feed::new();
    tokio::spawn(ticker(feed.clone(), tick));
    let listener = rivulet::serve::bind(addr)?;
    println!("follow http://{}/ticker", listener.local_addr()?);
    let shutdown = rivulet::Shutdown::new();
    rivulet::serve(listener, app(&feed))
        .with_graceful_shutdown(&shutdown, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use rivulet::Format;
    use rivulet::decode::Event;
    use rivulet::feed::Feed;
    use rivulet_testkit::{Reader, client, get, serve, url};
    use serde_json::json;

    use super::app;

    #[tokio::test]
    async fn followers_get_what_is_published_after_they_joined_in_every_format() {
        let feed = Feed::new();
        let addr = serve(app(&feed)).await;
        for format in Format::ALL {
            let mut reader = Reader::new(get(addr, "/ticker", format).await);
            // The follower has joined once the feed counts it.
            while feed.subscribers() == 0 {
                tokio::task::yield_now().await;
            }
            let published = client()
                .post(url(addr, "/ticker"))
                .json(&json!({ "price": 1 }))
                .send()
                .await
                .unwrap();
            assert_eq!(published.status(), 202);
            assert_eq!(
                reader.next().await.unwrap().unwrap(),
                Event::Progress(json!({ "price": 1 })),
                "{format}"
            );
            drop(reader);
            while feed.subscribers() != 0 {
                tokio::task::yield_now().await;
            }
        }
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_refused_with_4xx() {
        let feed = Feed::new();
        let addr = serve(app(&feed)).await;
        let refused = client()
            .post(url(addr, "/ticker"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert!(refused.status().is_client_error(), "{}", refused.status());
    }
}
