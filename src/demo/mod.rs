//! The demo app: the streams of the seed examples, a page to try them, and
//! Prometheus metrics.

mod chat;
mod command;
mod faults;
mod params;
mod routes;
mod server;
mod ticker;
mod tls;

pub use command::{Args, run};
use server::serve;
pub use server::{Options, serve_on, serve_with};
pub use ticker::{TICKER_BODY_LIMIT, TICKER_FEED, memory_ticker, redis_ticker};
pub use tls::{CertificateError, SELF_SIGNED_NAMES, SelfSigned, self_signed};

use std::convert::Infallible;
use std::sync::OnceLock;

use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Extension, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rivulet::feed::Feed;
use rivulet::redis_conn::RedisConfig;
use rivulet::resume::{MemoryStore, RedisStore, Resume, StoreError};

/// Where `cargo run --release` serves the demo.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The largest upload `/stream/upload` takes.
pub const UPLOAD_LIMIT: u64 = 256 * 1024 * 1024;

/// The demo's routes, their streams bounded by `config`; `/stream/durable`
/// and the chat answers of `/api/chat` keep their streams in `durable`
/// ([`memory_store`] or [`redis_store`]), and
/// `/stream/ticker` is the live feed `ticker` ([`memory_ticker`] or
/// [`redis_ticker`]).
pub fn router(config: rivulet::Config, durable: Resume, ticker: Feed) -> Router {
    let metrics = metrics_handle();
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("assets/index.html")) }),
        )
        .route(
            "/assets/demo.css",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/css")],
                    include_str!("assets/demo.css"),
                )
            }),
        )
        .route(
            "/assets/ticker.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript")],
                    include_str!("assets/ticker.js"),
                )
            }),
        )
        .route(
            "/assets/demo.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript")],
                    include_str!("assets/demo.js"),
                )
            }),
        )
        .route("/stream", get(routes::test).post(routes::test))
        .route("/stream/status", get(routes::status).post(routes::status))
        .route(
            "/stream/process",
            get(routes::process).post(routes::process),
        )
        .route(
            "/stream/durable",
            get(routes::durable)
                .post(routes::durable)
                .delete(routes::durable)
                .layer(Extension(durable.clone())),
        )
        .route(
            "/api/chat",
            post(chat::answer).layer(Extension(durable.clone())),
        )
        .route(
            "/api/chat/{chat_id}/stream",
            get(chat::running)
                .delete(chat::running)
                .layer(Extension(durable)),
        )
        .route(
            "/chat",
            get(|| async { Html(include_str!("assets/chat.html")) }),
        )
        .route(
            "/assets/chat.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript")],
                    include_str!("assets/chat.js"),
                )
            }),
        )
        .route("/stream/job", get(routes::job).post(routes::job))
        .route(
            "/stream/riskyProcess",
            get(routes::risky_process).post(routes::risky_process),
        )
        .route("/stream/types", get(routes::types).post(routes::types))
        .route("/stream/feed", get(routes::feed).post(routes::feed))
        .route(
            "/stream/ticker",
            get(ticker::follow)
                .post(ticker::publish)
                .layer::<_, Infallible>(DefaultBodyLimit::max(TICKER_BODY_LIMIT))
                .layer::<_, Infallible>(Extension(ticker)),
        )
        .route(
            "/stream/upload",
            post(routes::upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT as usize)),
        )
        .route("/stream/render", get(routes::render).post(routes::render))
        .merge(faults::router())
        .route(
            "/metrics",
            get(move || async move { metrics.render().into_response() }),
        )
        .merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE))
        // The streams' settings, and the guard on request bodies.
        .layer(config)
}

/// Resumable streams kept in this process's memory: a stream resumes on this
/// server only.
pub fn memory_store() -> Resume {
    Resume::new(MemoryStore::new())
}

/// Resumable streams kept in the Redis `config` names, so that demo servers
/// sharing it resume each other's streams.
pub async fn redis_store(config: &RedisConfig) -> Result<Resume, StoreError> {
    Ok(Resume::new(
        RedisStore::connect_with(config, DEMO_REDIS_PREFIX).await?,
    ))
}

/// The key prefix of the demo's streams and ticker in Redis.
const DEMO_REDIS_PREFIX: &str = "rivulet";

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}
