//! The four streams of the Hazaar "AJAX Streaming" page, served by axum, and a
//! page that plays them with the browser client:
//! `createStream(url).progress(cb).done(cb).error(cb).start()`.
//!
//! ```sh
//! cargo run -p rivulet-http --example streams
//! # then open http://127.0.0.1:3000/ and press the buttons, or in a terminal:
//! curl -N http://127.0.0.1:3000/stream
//! curl -N -H 'Accept: application/x-ndjson' 'http://127.0.0.1:3000/stream/riskyProcess?fail=1'
//! ```
//!
//! What to look at:
//! - `/stream`: ten text packets, one a second: `tx.send("i=1")` and so on,
//!   each delivered to `progress()` as it is sent.
//! - `/stream/status`: one packet that is an object; the page gets an object.
//! - `/stream/process`: progress lines, then the handler's return value as the
//!   final packet, delivered to `done()`.
//! - `/stream/riskyProcess`: fails half of the time (`?fail=1` always): the
//!   `Err` the handler returns reaches the page's `error()` callback.
//! - `/rivulet/stream.js`: the browser client, served by one line,
//!   `rivulet::assets::router`.
//!
//! `?interval_ms=N` paces any stream (the tests run them at full speed).

use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::response::{Html, Response};
use axum::routing::get;
use rivulet::{Error, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::time::sleep;

/// `?interval_ms=N`: the pause between packets.
#[derive(Deserialize)]
struct Pace {
    interval_ms: Option<u64>,
}

impl Pace {
    fn or(&self, default_ms: u64) -> Duration {
        Duration::from_millis(self.interval_ms.unwrap_or(default_ms).min(10_000))
    }
}

/// `$this->stream('Starting stream test')`, then `i=1` to `i=10`.
async fn test(stream: Stream, Query(pace): Query<Pace>) -> Response {
    stream
        .run(|tx| async move {
            tx.send("Starting stream test").await?;
            for i in 1..=10 {
                sleep(pace.or(1000)).await;
                tx.send(format!("i={i}")).await?;
            }
            Ok(())
        })
        .await
}

/// A packet can be any JSON value: this one is an object.
async fn status(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send(json!({ "status": "ok", "count": 3, "items": ["alpha", "beta", "gamma"] }))
                .await?;
            Ok(())
        })
        .await
}

/// A batch job: a progress line every ten items, then a summary as the final
/// packet (the handler's return value).
async fn process(stream: Stream, Query(pace): Query<Pace>) -> Response {
    stream
        .run(|tx| async move {
            tx.send("Starting batch process").await?;
            for i in 1..=50 {
                sleep(pace.or(50)).await; // the work on item i
                if i % 10 == 0 {
                    tx.send(format!("Processed {i} items")).await?;
                }
            }
            Ok(json!({ "success": true, "processed": 50 }))
        })
        .await
}

/// `?fail=1` fails, `?fail=0` succeeds, no `fail` flips a coin.
#[derive(Deserialize)]
struct Risk {
    fail: Option<u8>,
    interval_ms: Option<u64>,
}

/// An error returned by the handler ends the stream with an error packet.
async fn risky_process(stream: Stream, Query(risk): Query<Risk>) -> Response {
    stream
        .run(|tx| async move {
            tx.send("Starting risky operation").await?;
            sleep(Duration::from_millis(
                risk.interval_ms.unwrap_or(500).min(10_000),
            ))
            .await;
            let fail = risk
                .fail
                .map_or_else(rand::random::<bool>, |fail| fail == 1);
            if fail {
                return Err(Error::from_message("Something went wrong!"));
            }
            tx.send("Operation succeeded").await?;
            Ok(json!({ "success": true }))
        })
        .await
}

/// The page, the four streams and the browser client.
fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Html(include_str!("pages/streams.html")) }),
        )
        .route("/stream", get(test))
        .route("/stream/status", get(status))
        .route("/stream/process", get(process))
        .route("/stream/riskyProcess", get(risky_process))
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

    use super::app;

    fn progress(v: Value) -> Event {
        Event::Progress(v)
    }

    #[tokio::test]
    async fn the_four_streams_in_every_format() {
        let addr = serve(app()).await;
        for format in Format::ALL {
            let mut counting = vec![progress(json!("Starting stream test"))];
            counting.extend((1..=10).map(|i| progress(json!(format!("i={i}")))));
            counting.push(Event::Done(Value::Null));
            assert_eq!(
                events(addr, "/stream?interval_ms=0", format).await,
                counting
            );

            assert_eq!(
                events(addr, "/stream/status", format).await,
                [
                    progress(
                        json!({ "status": "ok", "count": 3, "items": ["alpha", "beta", "gamma"] })
                    ),
                    Event::Done(Value::Null),
                ]
            );

            let mut process = vec![progress(json!("Starting batch process"))];
            process.extend((1..=5).map(|i| progress(json!(format!("Processed {} items", i * 10)))));
            process.push(Event::Done(json!({ "success": true, "processed": 50 })));
            assert_eq!(
                events(addr, "/stream/process?interval_ms=0", format).await,
                process
            );

            let risky = events(addr, "/stream/riskyProcess?fail=1&interval_ms=0", format).await;
            assert_eq!(risky[0], progress(json!("Starting risky operation")));
            match &risky[1..] {
                [Event::Error(error)] => assert_eq!(error.message, "Something went wrong!"),
                other => panic!("{format}: expected one error packet, got {other:?}"),
            }
            let lucky = events(addr, "/stream/riskyProcess?fail=0&interval_ms=0", format).await;
            assert_eq!(lucky.last(), Some(&Event::Done(json!({ "success": true }))));
        }
    }

    #[tokio::test]
    async fn the_page_plays_the_streams_with_the_served_client() {
        let addr = serve(app()).await;
        let page = client().get(url(addr, "/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("from '/rivulet/stream.js'"), "{page}");
        for route in [
            "/stream",
            "/stream/status",
            "/stream/process",
            "/stream/riskyProcess",
        ] {
            assert!(
                page.contains(&format!("data-url=\"{route}\"")),
                "the page plays {route}"
            );
        }
        let script = client()
            .get(url(addr, "/rivulet/stream.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(script.status(), 200);
        assert!(
            script
                .text()
                .await
                .unwrap()
                .contains("export function createStream")
        );
    }
}
