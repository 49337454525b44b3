//! The demo's broken streams, on purpose: a handler that panics, one that is
//! silent for a while, and responses no server should send (cut off, not JSON,
//! an HTML error page, the wrong content type). Every client must turn each of
//! them into an `error` callback or packet, never a hang; the tests and the
//! demo page use them to show it.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rivulet::{Format, Stream};
use tokio::time::sleep;

use super::params::Params;

/// The fault routes, under `/stream/`.
pub fn router() -> Router {
    Router::new()
        .route("/stream/panic", get(panic))
        .route("/stream/silent", get(silent))
        .route("/stream/truncated", get(truncated))
        .route("/stream/garbage", get(garbage))
        .route("/stream/html-error", get(html_error))
        .route("/stream/wrong-type", get(wrong_type))
}

/// `/stream/panic`: one packet, then the handler panics.
pub async fn panic(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            tx.send("About to panic").await?;
            sleep(params.interval(100)?).await;
            panic!("the demo handler panicked on purpose");
            #[allow(unreachable_code)]
            Ok(())
        })
        .await
}

/// `/stream/silent?after_ms=N`: nothing for a while, then one packet; for idle
/// timeouts and keep-alives.
pub async fn silent(stream: Stream, params: Params) -> Response {
    stream
        .run(|tx| async move {
            let after: u64 = params.get("after_ms", 5000, 0..=600_000)?;
            sleep(Duration::from_millis(after)).await;
            tx.send("finally").await?;
            Ok(())
        })
        .await
}

/// `/stream/truncated`: a response that ends without a final packet, as a
/// crashed proxy or server would leave it; every client must call it an error.
pub async fn truncated(headers: HeaderMap) -> Response {
    let format = Format::negotiate(&headers);
    let bytes: &'static [u8] = match format {
        Format::Sse => b"id: 1\ndata: \"partial\"\n\nid: 2\ndata: {\"cut\":",
        Format::Ndjson => b"{\"progress\":\"partial\"}\n{\"progress\":{\"cut\":",
        Format::Legacy => b"7\0spartialc\0a{\"cut\":",
    };
    (
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from(bytes),
    )
        .into_response()
}

/// `/stream/garbage`: a 200 stream response whose packets are not JSON, for
/// testing that clients report bad framing cleanly.
pub async fn garbage(headers: HeaderMap) -> Response {
    let format = Format::negotiate(&headers);
    let bytes: &'static [u8] = match format {
        Format::Sse => b"id: 1\ndata: \"fine\"\n\nid: 2\ndata: {not json at all\n\n",
        Format::Ndjson => b"{\"progress\":\"fine\"}\n<<garbage>>\n",
        Format::Legacy => b"4\0sfinezz\0q!!",
    };
    (
        [(header::CONTENT_TYPE, format.content_type())],
        Body::from(bytes),
    )
        .into_response()
}

/// `/stream/html-error`: what a proxy in front of a stream may answer instead.
pub async fn html_error() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>502 Bad Gateway</title><h1>Bad Gateway</h1>",
    )
        .into_response()
}

/// `/stream/wrong-type`: a 200 whose content type is not a stream format.
pub async fn wrong_type() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "this is not a stream\n",
    )
        .into_response()
}
