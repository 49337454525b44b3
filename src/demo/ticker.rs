//! `/stream/ticker`: one live feed shared by every viewer. `GET` follows it,
//! `POST` with a JSON body publishes that value to it (answered `202`). With
//! `rivulet demo --redis URL` the feed lives in Redis and every demo server
//! on it shares it: a publish on one reaches the viewers of all.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rivulet::feed::Feed;
use rivulet::redis_conn::RedisConfig;
use rivulet::resume::RedisStore;
use rivulet::{Error, Stream};
use serde_json::{Value, json};

/// The feed's name in Redis.
pub const TICKER_FEED: &str = "demo-ticker";

/// The largest value `POST /stream/ticker` takes.
pub const TICKER_BODY_LIMIT: usize = 64 * 1024;

/// A ticker in this process's memory: its viewers are this server's.
pub fn memory_ticker() -> Feed {
    Feed::new()
}

/// The ticker shared by every demo server on the Redis `config` names: a
/// value published on one reaches the viewers of all.
pub async fn redis_ticker(
    config: &RedisConfig,
) -> Result<Feed, Box<dyn std::error::Error + Send + Sync>> {
    let store = RedisStore::connect_with(config, super::DEMO_REDIS_PREFIX).await?;
    Ok(Feed::redis(&store, TICKER_FEED).await?)
}

/// `GET /stream/ticker`: every value published from now on (or, with
/// `Last-Event-ID`, since then).
pub async fn follow(stream: Stream, Extension(feed): Extension<Feed>) -> Response {
    stream.follow(&feed).await
}

/// `POST /stream/ticker`: publishes the JSON body; answers `202` with the
/// packet's number.
pub async fn publish(
    Extension(feed): Extension<Feed>,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    let Json(value) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return Error::new(rejection.status(), rejection.body_text()).into_response();
        }
    };
    match feed.publish(value).await {
        Ok(seq) => (StatusCode::ACCEPTED, Json(json!({ "published": seq }))).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "publishing to the ticker failed");
            // 409 once closed; 503 with Retry-After while Redis cannot take
            // it (unreachable, or its history lost and not yet begun anew).
            e.into_response()
        }
    }
}
