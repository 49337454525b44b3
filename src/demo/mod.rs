//! The demo app: the streams of the seed examples, a page to try them, and
//! Prometheus metrics.

mod params;
mod routes;

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

/// Where `cargo run --release` serves the demo.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// The largest upload `/stream/upload` takes.
pub const UPLOAD_LIMIT: usize = 256 * 1024 * 1024;

/// The demo's routes.
pub fn router() -> Router {
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
        .route("/stream/riskyProcess", get(routes::risky_process))
        .route("/stream/types", get(routes::types))
        .route("/stream/feed", get(routes::feed))
        .route("/stream/panic", get(routes::panic))
        .route(
            "/stream/upload",
            post(routes::upload).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/stream/render", get(routes::render))
        .route("/stream/silent", get(routes::silent))
        .route("/stream/truncated", get(routes::truncated))
        .route(
            "/metrics",
            get(move || async move { metrics.render().into_response() }),
        )
        .merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE))
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

/// Binds `addr` and serves the demo until Ctrl-C.
pub async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!("rivulet demo on http://{}", listener.local_addr()?);
    serve_on(listener).await
}

/// Serves the demo on a bound listener. Packets go out as soon as they are
/// written: Nagle's algorithm is off on every connection.
pub async fn serve_on(listener: TcpListener) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("could not set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
