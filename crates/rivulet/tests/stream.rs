//! The library against a real server on loopback, read by a real HTTP client.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use rivulet::decode::Event;
use rivulet::{Config, Error, Format, Stream};
use rivulet_testkit::{PATIENCE, Reader, events, eventually, get as get_stream, serve};
use serde_json::json;
use tokio::sync::Notify;

fn progress(v: serde_json::Value) -> Event {
    Event::Progress(v)
}

#[tokio::test]
async fn packets_keep_their_json_shape_in_every_format() {
    async fn shapes(stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                tx.send("text").await?;
                tx.send(3).await?;
                tx.send(1.5).await?;
                tx.send([1, 2, 3]).await?;
                tx.send(json!({"k": "v", "n": null})).await?;
                tx.send(true).await?;
                tx.send(()).await?;
                tx.send("naïve café 🌊 水").await?;
                tx.send("with \"quotes\"\nand a line break\0").await?;
                tx.send("").await?;
                Ok(json!({"all": "done", "emoji": "🌊"}))
            })
            .await
    }
    let addr = serve(Router::new().route("/", get(shapes))).await;
    let expected = vec![
        progress(json!("text")),
        progress(json!(3)),
        progress(json!(1.5)),
        progress(json!([1, 2, 3])),
        progress(json!({"k": "v", "n": null})),
        progress(json!(true)),
        progress(json!(null)),
        progress(json!("naïve café 🌊 水")),
        progress(json!("with \"quotes\"\nand a line break\0")),
        progress(json!("")),
        Event::Done(json!({"all": "done", "emoji": "🌊"})),
    ];
    for format in Format::ALL {
        let response = get_stream(addr, "/", format).await;
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], format.content_type());
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["x-accel-buffering"], "no");
        let mut reader = Reader::new(response);
        assert_eq!(reader.rest().await, expected, "{format}");
        if format == Format::Legacy {
            assert!(
                reader.raw.is_ascii(),
                "legacy framing is ASCII for Latin-1 clients"
            );
        }
    }
}

/// A handler that sends one packet, then waits for the test to let it finish.
#[derive(Clone, Default)]
struct Gate {
    release: Arc<Notify>,
    finished: Arc<AtomicBool>,
}

async fn gated(State(gate): State<Gate>, stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send("first").await?;
            gate.release.notified().await;
            gate.finished.store(true, Ordering::SeqCst);
            Ok("last")
        })
        .await
}

#[tokio::test]
async fn the_first_packet_arrives_while_the_handler_still_runs() {
    let gate = Gate::default();
    let addr = serve(
        Router::new()
            .route("/", get(gated))
            .with_state(gate.clone()),
    )
    .await;
    for format in Format::ALL {
        gate.finished.store(false, Ordering::SeqCst);
        let mut reader = Reader::new(get_stream(addr, "/", format).await);
        let first = reader.next().await.unwrap().unwrap();
        assert_eq!(first, progress(json!("first")));
        assert!(
            !gate.finished.load(Ordering::SeqCst),
            "the handler is still waiting"
        );
        gate.release.notify_one();
        assert_eq!(reader.rest().await, [Event::Done(json!("last"))]);
    }
}

#[tokio::test]
async fn compression_middleware_leaves_streams_alone() {
    let gate = Gate::default();
    let app = Router::new()
        .route("/", get(gated))
        .with_state(gate.clone())
        .layer(tower_http::compression::CompressionLayer::new());
    let addr = serve(app).await;
    for format in Format::ALL {
        let mut request = rivulet_testkit::client()
            .get(format!("http://{addr}/"))
            .header("accept-encoding", "gzip");
        for (name, value) in format.request_headers() {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.headers()["content-encoding"],
            "identity",
            "{format}"
        );
        let mut reader = Reader::new(response);
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            progress(json!("first"))
        );
        gate.release.notify_one();
        assert_eq!(reader.rest().await, [Event::Done(json!("last"))]);
    }
}

#[tokio::test]
async fn an_error_before_the_first_packet_is_an_http_error() {
    async fn invalid(stream: Stream) -> Response {
        stream
            .run(|_tx| async move {
                Err::<(), _>(Error::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "items must be positive",
                ))
            })
            .await
    }
    async fn missing(stream: Stream) -> Response {
        stream
            .run(
                |_tx| async move { Err::<(), _>(Error::new(StatusCode::NOT_FOUND, "no such job")) },
            )
            .await
    }
    let addr = serve(
        Router::new()
            .route("/invalid", get(invalid))
            .route("/missing", get(missing)),
    )
    .await;
    for format in Format::ALL {
        let response = get_stream(addr, "/invalid", format).await;
        assert_eq!(response.status(), 422);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"error": {"message": "items must be positive", "status": 422}})
        );
        assert_eq!(get_stream(addr, "/missing", format).await.status(), 404);
    }
}

#[tokio::test]
async fn an_error_after_the_first_packet_is_an_error_packet() {
    async fn risky(stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                tx.send("Starting risky operation").await?;
                Err::<(), _>(Error::from_message("Something went wrong!"))
            })
            .await
    }
    let addr = serve(Router::new().route("/", get(risky))).await;
    for format in Format::ALL {
        assert_eq!(
            events(addr, "/", format).await,
            [
                progress(json!("Starting risky operation")),
                Event::Error(rivulet::ErrorPacket {
                    message: "Something went wrong!".into(),
                    status: 500,
                    error_id: None
                })
            ],
            "{format}"
        );
    }
}

async fn leaky(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send("one").await?;
            let secret: Result<(), std::io::Error> =
                Err(std::io::Error::other("db password is hunter2"));
            secret?;
            Ok(())
        })
        .await
}

async fn panicky(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send("one").await?;
            panic!("secret panic detail");
            #[allow(unreachable_code)]
            Ok(())
        })
        .await
}

#[tokio::test]
async fn internal_errors_and_panics_hide_their_detail() {
    let app = Router::new()
        .route("/leak", get(leaky))
        .route("/panic", get(panicky));
    let addr = serve(app.clone()).await;
    for format in Format::ALL {
        for path in ["/leak", "/panic"] {
            let got = events(addr, path, format).await;
            assert_eq!(got[0], progress(json!("one")));
            let Event::Error(error) = &got[1] else {
                panic!("{path}: expected an error packet, got {got:?}")
            };
            assert_eq!(error.message, rivulet::protocol::INTERNAL_ERROR_MESSAGE);
            assert_eq!(error.status, 500);
            assert_eq!(error.error_id.as_ref().map(String::len), Some(16));
        }
    }
    // An application can opt in to details.
    let exposed = serve(app.layer(Config::default().expose_internal_errors(true))).await;
    let got = events(exposed, "/leak", Format::Sse).await;
    assert!(matches!(&got[1], Event::Error(e) if e.message == "db password is hunter2"));
    let got = events(exposed, "/panic", Format::Sse).await;
    assert!(matches!(&got[1], Event::Error(e) if e.message == "secret panic detail"));
}

/// A handler whose future records being dropped.
#[derive(Clone, Default)]
struct Lifecycle {
    sent: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
    saw_closed: Arc<AtomicBool>,
}

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_handler() {
    async fn endless(State(life): State<Lifecycle>, stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                let _flag = DropFlag(life.dropped.clone());
                for _ in 0u64.. {
                    tx.send(life.sent.fetch_add(1, Ordering::SeqCst)).await?;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(())
            })
            .await
    }
    for format in Format::ALL {
        let life = Lifecycle::default();
        let addr = serve(
            Router::new()
                .route("/", get(endless))
                .with_state(life.clone()),
        )
        .await;
        let mut reader = Reader::new(get_stream(addr, "/", format).await);
        assert_eq!(reader.next().await.unwrap().unwrap(), progress(json!(0)));
        drop(reader);
        eventually("the handler's future to be dropped", || {
            life.dropped.load(Ordering::SeqCst)
        })
        .await;
        let sent = life.sent.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            life.sent.load(Ordering::SeqCst),
            sent,
            "nothing runs after the drop"
        );
    }
}

#[tokio::test]
async fn a_handler_that_does_not_send_can_await_the_closed_signal() {
    async fn busy(State(life): State<Lifecycle>, stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                tx.send("working").await?;
                // Long work that never sends: spawned, so only the signal tells it.
                let watcher = tx.clone();
                let saw = life.saw_closed.clone();
                tokio::spawn(async move {
                    watcher.closed().await;
                    saw.store(true, Ordering::SeqCst);
                });
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
    }
    let life = Lifecycle::default();
    let app = Router::new()
        .route("/", get(busy))
        .with_state(life.clone())
        .layer(Config::default().keep_alive(Some(Duration::from_millis(20))));
    let addr = serve(app).await;
    let mut reader = Reader::new(get_stream(addr, "/", Format::Sse).await);
    assert_eq!(
        reader.next().await.unwrap().unwrap(),
        progress(json!("working"))
    );
    assert!(!life.saw_closed.load(Ordering::SeqCst));
    drop(reader);
    eventually("the closed signal", || {
        life.saw_closed.load(Ordering::SeqCst)
    })
    .await;
}

#[tokio::test]
async fn a_client_that_stops_reading_holds_the_handler_back() {
    const PACKET: usize = 1024;
    const TOTAL: u64 = 50_000; // 50 MB if nothing held the handler back
    async fn firehose(State(life): State<Lifecycle>, stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                let payload = "x".repeat(PACKET);
                for _ in 0..TOTAL {
                    tx.send(&payload).await?;
                    life.sent.fetch_add(1, Ordering::SeqCst);
                }
                Ok("done")
            })
            .await
    }
    let life = Lifecycle::default();
    let addr = serve(
        Router::new()
            .route("/", get(firehose))
            .with_state(life.clone()),
    )
    .await;
    let mut reader = Reader::new(get_stream(addr, "/", Format::Ndjson).await);
    // Read nothing: wait until the handler stops making progress.
    let mut last = u64::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = life.sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        assert!(now < TOTAL, "the handler was never held back");
        last = now;
    }
    // Only the buffer and the sockets' buffers hold packets: a few MiB at most.
    let queued_bytes = last as usize * PACKET;
    assert!(queued_bytes < 32 << 20, "{queued_bytes} bytes queued");
    // The client resumes reading and gets everything, in order.
    let mut count = 0u64;
    while let Some(event) = reader.next().await {
        match event.unwrap() {
            Event::Progress(_) => count += 1,
            Event::Done(done) => assert_eq!(done, json!("done")),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(count, TOTAL);
}

#[tokio::test]
async fn idle_streams_get_keep_alives() {
    async fn slow(State(gate): State<Gate>, stream: Stream) -> Response {
        stream
            .keep_alive(Some(Duration::from_millis(10)))
            .run(|tx| async move {
                tx.send("first").await?;
                gate.release.notified().await;
                Ok(())
            })
            .await
    }
    let gate = Gate::default();
    let addr = serve(Router::new().route("/", get(slow)).with_state(gate.clone())).await;
    for (format, comment) in [
        (Format::Sse, &b": keep-alive\n\n"[..]),
        (Format::Ndjson, b"\n"),
    ] {
        let mut response = get_stream(addr, "/", format).await;
        let mut raw = Vec::new();
        // Read until a keep-alive follows the first packet, then let the handler end.
        while !(raw.len() > comment.len() && raw.ends_with(comment)) {
            let chunk = tokio::time::timeout(PATIENCE, response.chunk())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            raw.extend_from_slice(&chunk);
        }
        gate.release.notify_one();
        while let Some(chunk) = response.chunk().await.unwrap() {
            raw.extend_from_slice(&chunk);
        }
        let events = rivulet::decode::Decoder::decode_all(format, &raw).unwrap();
        assert_eq!(events, [progress(json!("first")), Event::Done(json!(null))]);
    }
}

#[tokio::test]
async fn a_reconnecting_event_source_gets_204_and_the_handler_does_not_run() {
    async fn once(State(life): State<Lifecycle>, stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                life.sent.fetch_add(1, Ordering::SeqCst);
                tx.send("ran").await?;
                Ok(())
            })
            .await
    }
    let life = Lifecycle::default();
    let addr = serve(Router::new().route("/", get(once)).with_state(life.clone())).await;
    let response = rivulet_testkit::client()
        .get(format!("http://{addr}/"))
        .header("accept", "text/event-stream")
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(life.sent.load(Ordering::SeqCst), 0);
    // Every event carries an id, so an EventSource always has one to send back.
    let mut reader = Reader::new(get_stream(addr, "/", Format::Sse).await);
    reader.rest().await;
    let text = String::from_utf8(reader.raw).unwrap();
    assert_eq!(
        text,
        "id: 1\ndata: \"ran\"\n\nid: 2\nevent: done\ndata: null\n\n"
    );
}

#[tokio::test]
async fn senders_work_from_spawned_and_blocking_work() {
    async fn fan(stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                let blocking = tx.clone();
                tokio::task::spawn_blocking(move || blocking.blocking_send("from a thread"))
                    .await
                    .map_err(Error::internal)??;
                let spawned = tx.clone();
                tokio::spawn(async move { spawned.send("from a task").await })
                    .await
                    .map_err(Error::internal)??;
                Ok(2)
            })
            .await
    }
    let addr = serve(Router::new().route("/", get(fan))).await;
    assert_eq!(
        events(addr, "/", Format::Ndjson).await,
        [
            progress(json!("from a thread")),
            progress(json!("from a task")),
            Event::Done(json!(2))
        ]
    );
}

#[tokio::test]
async fn a_packet_over_the_limit_fails_the_send() {
    async fn big(stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                tx.send("small").await?;
                match tx.send("y".repeat(2000)).await {
                    Err(rivulet::SendError::TooLarge { limit: 1024, .. }) => Ok("refused"),
                    other => Err(Error::from_message(format!("unexpected {other:?}"))),
                }
            })
            .await
    }
    let app = Router::new()
        .route("/", get(big))
        .layer(Config::default().max_packet_bytes(1024));
    let addr = serve(app).await;
    assert_eq!(
        events(addr, "/", Format::Sse).await,
        [progress(json!("small")), Event::Done(json!("refused"))]
    );
}
