//! A page written for the original jQuery `$.stream()` plugin, unchanged, on
//! a Rust server: the Hazaar MVC example that counts from 1 to 10.
//!
//! ```sh
//! (cd js && npm ci)          # jQuery itself comes from npm: js/node_modules/jquery
//! cargo run -p rivulet-http --example jquery
//! # then open http://127.0.0.1:3000/ and watch the page (and the console)
//! ```
//!
//! What to look at:
//! - The page loads jQuery as a classic script and `/rivulet/jquery.stream.js`
//!   as a module; that module adds `$.stream` to the global jQuery.
//! - `$.stream(url).progress(cb).done(cb)` is the plugin's API as Hazaar pages
//!   use it; `.fail(cb)` gets `(xhr, errorType, message)` as a jQuery
//!   Deferred does.
//! - `/stream/test` is `$this->stream('Starting stream test')` and a loop, as
//!   a Rust handler.
//!
//! `JQUERY=path/to/jquery.js` serves another copy of jQuery.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use rivulet::Stream;
use serde::Deserialize;
use serde_json::json;

/// `?interval_ms=N`: the pause between packets (the seed's `sleep(1)`).
#[derive(Deserialize)]
struct Pace {
    #[serde(default = "Pace::second")]
    interval_ms: u64,
}

impl Pace {
    fn second() -> u64 {
        1000
    }
}

/// The seed's `StreamController::test()`.
async fn test(stream: Stream, Query(pace): Query<Pace>) -> Response {
    stream
        .run(|tx| async move {
            tx.send("Starting stream test").await?;
            for i in 1..=10 {
                tx.send(format!("i={i}")).await?;
                tokio::time::sleep(Duration::from_millis(pace.interval_ms.min(10_000))).await;
            }
            Ok(())
        })
        .await
}

/// Where jQuery is read from: `JQUERY`, or the copy `npm ci` puts in js/.
fn jquery_path() -> PathBuf {
    std::env::var_os("JQUERY").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../js/node_modules/jquery/dist/jquery.min.js")
        },
        PathBuf::from,
    )
}

/// jQuery, read from disk: it is not part of Rivulet.
async fn jquery() -> Response {
    let path = jquery_path();
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], bytes).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": {
                "status": 404,
                "message": format!("no jQuery at {} ({e}): run `npm ci` in js/, or set JQUERY", path.display()),
            }})),
        )
            .into_response(),
    }
}

fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("pages/jquery.html")) }),
        )
        .route("/jquery.js", get(jquery))
        .route("/stream/test", get(test))
        .merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE))
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
    use rivulet_testkit::{client, events, serve, url};
    use serde_json::{Value, json};

    use super::{app, jquery_path};

    #[tokio::test]
    async fn the_seed_stream_counts_to_ten_in_every_format() {
        let addr = serve(app()).await;
        let mut expected = vec![Event::Progress(json!("Starting stream test"))];
        expected.extend((1..=10).map(|i| Event::Progress(json!(format!("i={i}")))));
        expected.push(Event::Done(Value::Null));
        for format in Format::ALL {
            assert_eq!(
                events(addr, "/stream/test?interval_ms=0", format).await,
                expected
            );
        }
    }

    #[tokio::test]
    async fn the_page_uses_the_plugin_on_the_served_jquery() {
        let addr = serve(app()).await;
        let page = client().get(url(addr, "/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        for needle in [
            r#"<script src="/jquery.js"></script>"#,
            r#"<script type="module" src="/rivulet/jquery.stream.js"></script>"#,
            "$.stream('/stream/test'",
            ".progress(",
            ".done(",
        ] {
            assert!(page.contains(needle), "{needle} in the page");
        }
        let plugin = client()
            .get(url(addr, "/rivulet/jquery.stream.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(plugin.status(), 200);

        let jquery = client().get(url(addr, "/jquery.js")).send().await.unwrap();
        if jquery_path().exists() {
            assert_eq!(jquery.status(), 200);
            assert!(jquery.text().await.unwrap().contains("jQuery"));
        } else {
            assert_eq!(jquery.status(), 404);
            let body: Value = jquery.json().await.unwrap();
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("npm ci")
            );
        }
    }
}
