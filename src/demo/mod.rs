//! The demo app: the streams of the seed examples, a page to try them, and
//! Prometheus metrics.

mod params;
mod routes;
mod server;
mod tls;

pub use routes::use_redis;
pub use server::{Options, serve, serve_on, serve_with};
pub use tls::{CertificateError, SELF_SIGNED_NAMES, self_signed};

use std::sync::OnceLock;

use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::{Extension, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Where `cargo run --release` serves the demo.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The largest upload `/stream/upload` takes.
pub const UPLOAD_LIMIT: u64 = 256 * 1024 * 1024;

/// The demo's routes, their streams bounded by `config`.
pub fn router(config: rivulet::Config) -> Router {
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
            "/assets/demo.js",
            get(|| async {
                (
                    [(CONTENT_TYPE, "text/javascript")],
                    include_str!("assets/demo.js"),
                )
            }),
        )
        .route("/stream", get(routes::test))
        .route("/stream/status", get(routes::status))
        .route("/stream/process", get(routes::process))
        .route(
            "/stream/durable",
            get(routes::durable).layer(routes::durable_store()),
        )
        .route("/stream/riskyProcess", get(routes::risky_process))
        .route("/stream/types", get(routes::types))
        .route("/stream/feed", get(routes::feed))
        .route("/stream/panic", get(routes::panic))
        .route(
            "/stream/upload",
            post(routes::upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT as usize)),
        )
        .route("/stream/render", get(routes::render))
        .route("/stream/silent", get(routes::silent))
        .route("/stream/truncated", get(routes::truncated))
        .route("/stream/garbage", get(routes::garbage))
        .route("/stream/html-error", get(routes::html_error))
        .route("/stream/wrong-type", get(routes::wrong_type))
        .route(
            "/metrics",
            get(move || async move { metrics.render().into_response() }),
        )
        .merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE))
        .layer(Extension(config))
}

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
