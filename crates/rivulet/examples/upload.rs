//! An upload with progress both ways: the browser reports the bytes it has
//! sent (`uploadProgress()`), the server streams the bytes it has read so far
//! (`progress()`), then a summary of the file as the final packet (`done()`).
//!
//! ```sh
//! cargo run -p rivulet-http --example upload
//! # then open http://127.0.0.1:3000/ and pick a large file, or in a terminal:
//! head -c 5000000 /dev/urandom > /tmp/big && \
//!   curl -N -H 'Accept: application/x-ndjson' -F file=@/tmp/big http://127.0.0.1:3000/upload
//! ```
//!
//! What to look at:
//! - The handler takes axum's `Multipart` and reads the `file` field chunk by
//!   chunk inside `stream.run`, so nothing waits for the whole body and
//!   nothing holds more than a chunk of it.
//! - A request without a `file` field is refused with a 4xx and a JSON reason
//!   before the first packet: the `Err` is returned before anything was sent.
//! - `DefaultBodyLimit` and `Config::max_request_bytes` bound what a client can
//!   send.

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart};
use axum::http::StatusCode;
use axum::response::{Html, Response};
use axum::routing::{get, post};
use rivulet::{Config, Error, Stream};
use serde_json::json;

/// The largest upload taken.
const LIMIT: usize = 64 * 1024 * 1024;

/// A progress packet every this many bytes.
const REPORT_EVERY: u64 = 256 * 1024;

/// Reads the `file` field, reporting the bytes read, then its size and lines.
async fn upload(stream: Stream, multipart: Result<Multipart, MultipartRejection>) -> Response {
    stream
        .run(|tx| async move {
            // `?` classifies multipart rejections and field errors (a stalled
            // or malformed body included) as 4xx errors with their reason.
            let mut multipart = multipart?;
            let mut field = loop {
                match multipart.next_field().await? {
                    Some(field) if field.name() == Some("file") => break field,
                    Some(_) => continue,
                    None => {
                        return Err(Error::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "the upload has no `file` field",
                        ));
                    }
                }
            };
            let name = field.file_name().unwrap_or("").to_owned();
            let (mut bytes, mut lines, mut reported) = (0u64, 0u64, 0u64);
            while let Some(chunk) = field.chunk().await? {
                bytes += chunk.len() as u64;
                lines += newlines(&chunk);
                if bytes - reported >= REPORT_EVERY {
                    reported = bytes;
                    tx.send(json!({ "received": bytes })).await?;
                }
            }
            Ok(json!({ "name": name, "bytes": bytes, "lines": lines }))
        })
        .await
}

/// Newlines in `chunk`.
fn newlines(chunk: &[u8]) -> u64 {
    chunk.iter().filter(|&&b| b == b'\n').count() as u64
}

fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("pages/upload.html")) }),
        )
        .route("/upload", post(upload).layer(DefaultBodyLimit::max(LIMIT)))
        .merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE))
        // As a layer, the config also guards the upload's body: a body that
        // stalls for 30 s fails with 408, multipart heads are bounded.
        .layer(Config::default().max_request_bytes(LIMIT as u64))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let addr = addr.parse().map_err(std::io::Error::other)?;
    // rivulet::serve: header timeout, connection cap, HTTP/2, and a graceful
    // shutdown that ends running streams with a packet on Ctrl-C.
    let listener = rivulet::serve::bind(addr)?;
    println!("open http://{}/", listener.local_addr()?);
    let shutdown = rivulet::Shutdown::new();
    rivulet::serve(listener, app())
        .with_graceful_shutdown(&shutdown, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use rivulet::Format;
    use rivulet::decode::Event;
    use rivulet_testkit::{PATIENCE, Reader, client, serve, url};
    use serde_json::{Value, json};

    use super::{REPORT_EVERY, app};

    async fn post(addr: std::net::SocketAddr, form: reqwest::multipart::Form) -> reqwest::Response {
        let request = client()
            .post(url(addr, "/upload"))
            .header("accept", Format::Ndjson.content_type())
            .multipart(form);
        tokio::time::timeout(PATIENCE, request.send())
            .await
            .expect("an answer in time")
            .unwrap()
    }

    #[tokio::test]
    async fn an_upload_reports_its_progress_then_its_summary() {
        let addr = serve(app()).await;
        let file: Vec<u8> = (0..8 * REPORT_EVERY + 1000)
            .map(|i| if i % 100 == 99 { b'\n' } else { b'x' })
            .collect();
        let size = file.len() as u64;
        let form = reqwest::multipart::Form::new()
            .text("note", "fields before the file are skipped")
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name("x.txt"),
            );
        let response = post(addr, form).await;
        assert_eq!(response.status(), 200);
        let events = Reader::new(response).rest().await;
        let (last, progress) = events.split_last().unwrap();
        let received: Vec<u64> = progress
            .iter()
            .map(|event| match event {
                Event::Progress(p) => p["received"].as_u64().expect("a byte count"),
                other => panic!("expected progress, got {other:?}"),
            })
            .collect();
        assert!(received.len() >= 2, "{received:?}");
        assert!(received.windows(2).all(|w| w[0] < w[1]), "{received:?}");
        assert!(received.iter().all(|&r| r <= size), "{received:?}");
        assert_eq!(
            last,
            &Event::Done(json!({ "name": "x.txt", "bytes": size, "lines": size / 100 }))
        );
    }

    #[tokio::test]
    async fn an_upload_without_a_file_is_refused_with_a_reason() {
        let addr = serve(app()).await;
        let form = reqwest::multipart::Form::new().text("note", "no file");
        let response = post(addr, form).await;
        assert_eq!(response.status(), 422);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["message"], "the upload has no `file` field");
    }

    #[tokio::test]
    async fn the_page_uploads_with_progress() {
        let addr = serve(app()).await;
        let page = client().get(url(addr, "/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        for needle in [
            "from '/rivulet/stream.js'",
            "createStream('/upload'",
            ".uploadProgress(",
        ] {
            assert!(page.contains(needle), "{needle} in the page");
        }
    }
}
