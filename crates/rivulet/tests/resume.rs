//! Resumable streams with the in-memory store, against a real server on
//! loopback: connections cut by a proxy and resumed, in every format, with the
//! job running on without a client, finished streams, authorization, and the
//! store's bounds under many streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use rivulet::decode::Event;
use rivulet::resume::{MemoryStore, Resumable, Resume, StreamId};
use rivulet::{Error, Format, Stream};
use rivulet_testkit::{End, Proxy, Reading, counting, expected, open, serve, wait_for};
use serde_json::json;

fn app(resume: Resume) -> Router {
    Router::new()
        .route("/count", get(counting))
        .layer(Extension(resume))
}

#[tokio::test]
async fn a_cut_connection_resumes_in_every_format_exactly_once() {
    let addr = serve(app(Resume::new(MemoryStore::new()))).await;
    let proxy = Proxy::start(addr).await;
    for format in Format::ALL {
        let url = format!("http://{}/count?n=30&pause_ms=2", proxy.addr);
        let mut first = Reading::new(open(&url, format, None).await, 0);
        assert_eq!(first.until(3).await, None, "{format}");
        proxy.cut();
        assert_eq!(first.read_to_end().await, End::Cut, "{format}");
        let point = first.resume_point();
        assert!(point.starts_with(&first.stream_id));

        let url = format!("http://{addr}/count?n=30&pause_ms=2");
        let mut rest = Reading::new(open(&url, format, Some(&point)).await, first.received);
        assert_eq!(rest.stream_id, first.stream_id);
        assert_eq!(rest.read_to_end().await, End::Final, "{format}");
        let mut all = first.events.clone();
        all.extend(rest.events.clone());
        assert_eq!(all, expected(30), "{format}: every packet once, in order");

        // The client has the final packet: nothing more to resume.
        let again = open(&url, format, Some(&rest.resume_point())).await;
        assert_eq!(again.status(), StatusCode::NO_CONTENT, "{format}");
    }
}

#[tokio::test]
async fn sse_ids_are_resume_points_and_a_stream_resumes_in_another_format() {
    let addr = serve(app(Resume::new(MemoryStore::new()))).await;
    let url = format!("http://{addr}/count?n=5");
    let mut sse = Reading::new(open(&url, Format::Sse, None).await, 0);
    assert_eq!(sse.until(2).await, None);
    let text = String::from_utf8(sse.raw.clone()).unwrap();
    assert!(
        text.starts_with(&format!("id: {}.1\ndata: {{\"i\":1}}\n\n", sse.stream_id)),
        "{text:?}"
    );
    drop(sse.response);
    for format in [Format::Ndjson, Format::Legacy] {
        let point = format!("{}.2", sse.stream_id);
        let mut rest = Reading::new(open(&url, format, Some(&point)).await, 2);
        assert_eq!(rest.read_to_end().await, End::Final);
        assert_eq!(rest.events, expected(5)[2..], "{format}");
    }
    // The resume point may also come as a query parameter (an EventSource
    // opened anew after a page reload cannot set headers).
    let query = format!("{url}&lastEventId={}.4", sse.stream_id);
    let mut rest = Reading::new(open(&query, Format::Sse, None).await, 4);
    assert_eq!(rest.read_to_end().await, End::Final);
    assert_eq!(rest.events, expected(5)[4..]);
    // From the first packet is `.0`; a stream id alone is not a point.
    let start = format!("{}.0", sse.stream_id);
    let mut all = Reading::new(open(&url, Format::Sse, Some(&start)).await, 0);
    assert_eq!(all.read_to_end().await, End::Final);
    assert_eq!(all.events, expected(5));
    let bare = open(&url, Format::Sse, Some(&sse.stream_id)).await;
    assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn requests_that_resume_nothing_get_204_or_400_without_running_the_handler() {
    let started = Arc::new(AtomicU64::new(0));
    let counter = started.clone();
    let app = Router::new().route(
        "/",
        get(move |stream: Resumable| {
            let counter = counter.clone();
            async move {
                stream
                    .run(move |_tx| async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            }
        }),
    );
    let addr = serve(app).await;
    let url = format!("http://{addr}/");
    let unknown = format!("{}.3", StreamId::random());
    let response = open(&url, Format::Sse, Some(&unknown)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // Not a resume point: 400 with the reason, as a feed answers it.
    for id in ["7", "not an id"] {
        let response = open(&url, Format::Sse, Some(id)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{id}");
    }
    assert_eq!(started.load(Ordering::SeqCst), 0);
    // Without a Resume extension, the process-wide memory store serves.
    let mut reading = Reading::new(open(&url, Format::Ndjson, None).await, 0);
    assert_eq!(reading.read_to_end().await, End::Final);
    assert_eq!(reading.events, [Event::Done(json!(null))]);
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_plain_stream_still_answers_every_reconnect_with_204() {
    let app = Router::new().route(
        "/",
        get(|stream: Stream| async move { stream.run(|_tx| async { Ok(()) }).await }),
    );
    let addr = serve(app).await;
    let point = format!("{}.1", StreamId::random());
    let response = open(&format!("http://{addr}/"), Format::Sse, Some(&point)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// A job that sends a packet whenever the test asks, and says when its future
/// was dropped.
#[derive(Clone, Default)]
struct Remote {
    sent: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
    go: Arc<tokio::sync::Notify>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn remote_job(stream: Resumable, Extension(remote): Extension<Remote>) -> Response {
    stream
        .run(move |tx| async move {
            let _guard = SetOnDrop(remote.dropped.clone());
            loop {
                remote.go.notified().await;
                let n = remote.sent.load(Ordering::SeqCst) + 1;
                tx.send(n).await?;
                remote.sent.store(n, Ordering::SeqCst);
                if n == 5 {
                    return Ok("finished");
                }
            }
        })
        .await
}

#[tokio::test]
async fn the_job_runs_on_without_a_client_then_stops_after_the_grace_period() {
    let remote = Remote::default();
    let store = MemoryStore::new();
    let resume = Resume::new(store.clone()).grace(Duration::from_secs(1));
    let app = Router::new()
        .route("/job", get(remote_job))
        .layer(Extension(remote.clone()))
        .layer(Extension(resume));
    let addr = serve(app).await;
    let url = format!("http://{addr}/job");

    // notify_one stores a permit, so a packet is asked for even when the job
    // is not waiting yet.
    remote.go.notify_one();
    let mut first = Reading::new(open(&url, Format::Ndjson, None).await, 0);
    assert_eq!(first.until(1).await, None);
    drop(first.response);

    // No client: the job still sends.
    remote.go.notify_one();
    wait_for("the job to send while no client is connected", || async {
        (remote.sent.load(Ordering::SeqCst) == 2).then_some(())
    })
    .await;
    assert!(!remote.dropped.load(Ordering::SeqCst));

    // After the grace period it is stopped, and the stream ends with an error
    // that a client coming back later still gets, after what it missed.
    wait_for("the job to be stopped", || async {
        remote.dropped.load(Ordering::SeqCst).then_some(())
    })
    .await;
    let point = format!("{}.1", first.stream_id);
    let mut late = Reading::new(open(&url, Format::Ndjson, Some(&point)).await, 1);
    assert_eq!(late.read_to_end().await, End::Final);
    assert_eq!(late.events.len(), 2, "{:?}", late.events);
    assert_eq!(late.events[0], Event::Progress(json!(2)));
    match &late.events[1] {
        Event::Error(error) => {
            assert_eq!(error.status, 410);
            assert!(error.message.contains("no client"), "{}", error.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_finished_stream_can_be_fetched_for_its_ttl_then_204() {
    use rivulet::resume::Store;
    for (ttl, kept) in [(Duration::from_secs(60), true), (Duration::ZERO, false)] {
        let store = MemoryStore::new();
        let addr = serve(app(Resume::new(store.clone()).ttl(ttl))).await;
        let url = format!("http://{addr}/count?n=3");
        let mut reading = Reading::new(open(&url, Format::Sse, None).await, 0);
        assert_eq!(reading.until(1).await, None);
        drop(reading.response);
        let id: StreamId = reading.stream_id.parse().unwrap();
        // The job finishes while nobody watches.
        wait_for("the stream to finish", || {
            let store = store.clone();
            async move {
                match store.status(id).await.unwrap() {
                    Some(status) => status.finished.then_some(()),
                    None => Some(()), // finished and already expired
                }
            }
        })
        .await;
        let point = format!("{id}.1");
        let response = open(&url, Format::Sse, Some(&point)).await;
        if kept {
            // A client that comes back gets the rest, final packet included.
            let mut rest = Reading::new(response, 1);
            assert_eq!(rest.read_to_end().await, End::Final);
            assert_eq!(rest.events, expected(3)[1..]);
        } else {
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
    }
}

#[tokio::test]
async fn resuming_checks_the_owner_or_the_apps_hook() {
    async fn owned(stream: Resumable, headers: axum::http::HeaderMap) -> Response {
        let user = headers
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_owned();
        stream
            .owner(user)
            .run(|tx| async move {
                tx.send("secret").await?;
                Ok(())
            })
            .await
    }
    let addr = serve(
        Router::new()
            .route("/owned", get(owned))
            .layer(Extension(Resume::new(MemoryStore::new()))),
    )
    .await;
    let url = format!("http://{addr}/owned");
    let client = rivulet_testkit::client();
    let start = client
        .get(&url)
        .header("x-user", "alice")
        .send()
        .await
        .unwrap();
    let mut reading = Reading::new(start, 0);
    assert_eq!(reading.read_to_end().await, End::Final);
    let point = format!("{}.0", reading.stream_id);
    let as_bob = client
        .get(&url)
        .header("x-user", "bob")
        .header("last-event-id", &point)
        .send()
        .await
        .unwrap();
    assert_eq!(as_bob.status(), StatusCode::FORBIDDEN);
    let as_alice = client
        .get(&url)
        .header("x-user", "alice")
        .header("last-event-id", &point)
        .send()
        .await
        .unwrap();
    assert_eq!(as_alice.status(), StatusCode::OK);

    // A hook replaces the owner check.
    let resume = Resume::new(MemoryStore::new()).authorize(|request| {
        match request.headers().get("authorization") {
            Some(token) if token == "Bearer let-me-in" => Ok(()),
            _ => Err(Error::new(StatusCode::UNAUTHORIZED, "who are you?")),
        }
    });
    let addr = serve(
        Router::new()
            .route("/owned", get(owned))
            .layer(Extension(resume)),
    )
    .await;
    let url = format!("http://{addr}/owned");
    let mut reading = Reading::new(client.get(&url).send().await.unwrap(), 0);
    assert_eq!(reading.read_to_end().await, End::Final);
    let point = format!("{}.0", reading.stream_id);
    let denied = client
        .get(&url)
        .header("last-event-id", &point)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = denied.json().await.unwrap();
    assert_eq!(body["error"]["message"], "who are you?");
    let allowed = client
        .get(&url)
        .header("last-event-id", &point)
        .header("authorization", "Bearer let-me-in")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_handler_that_fails_before_its_first_packet_is_an_http_error() {
    let app = Router::new().route(
        "/",
        get(|stream: Resumable| async move {
            stream
                .run(|_tx| async {
                    Err::<(), _>(Error::new(StatusCode::UNPROCESSABLE_ENTITY, "bad input"))
                })
                .await
        }),
    );
    let addr = serve(app).await;
    let response = open(&format!("http://{addr}/"), Format::Sse, None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "bad input");
}

#[tokio::test]
async fn the_memory_store_stays_within_its_bounds_under_many_streams() {
    let store = MemoryStore::new()
        .max_streams(8)
        .max_packets_per_stream(5)
        .max_bytes(4 * 1024);
    let addr = serve(app(Resume::new(store.clone()))).await;
    let url = format!("http://{addr}/count?n=12");
    let mut ids = Vec::new();
    for _ in 0..40 {
        let mut reading = Reading::new(open(&url, Format::Ndjson, None).await, 0);
        assert_eq!(reading.read_to_end().await, End::Final);
        assert_eq!(reading.events, expected(12));
        ids.push(reading.stream_id.clone());
        assert!(store.len() <= 8, "{} streams kept", store.len());
        assert!(store.bytes() <= 4 * 1024, "{} bytes kept", store.bytes());
    }
    // The oldest streams were evicted whole: a late resumer is told so.
    let evicted = open(&url, Format::Ndjson, Some(&format!("{}.3", ids[0]))).await;
    assert_eq!(evicted.status(), StatusCode::GONE);
    let body: serde_json::Value = evicted.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no longer kept"),
        "{body}"
    );
    // The newest keeps only its last packets: resuming behind them is refused,
    // resuming within them works.
    let newest = ids.last().unwrap();
    let behind = open(&url, Format::Ndjson, Some(&format!("{newest}.2"))).await;
    assert_eq!(behind.status(), StatusCode::GONE);
    let mut within = Reading::new(
        open(&url, Format::Ndjson, Some(&format!("{newest}.10"))).await,
        10,
    );
    assert_eq!(within.read_to_end().await, End::Final);
    assert_eq!(within.events, expected(12)[10..]);
}

/// The recorded resumed streams in `fixtures/` (`resumed.*`) are what the
/// server sends when a client resumes after the first packet, with the stream
/// id replaced by `0123456789abcdef0123456789abcdef`. The decoder tests (Rust
/// and JavaScript) read them with every other fixture. `RIVULET_RECORD=1`
/// records them anew.
#[tokio::test]
async fn resumed_fixtures_are_what_the_server_sends() {
    async fn resumed(stream: Resumable) -> Response {
        stream
            .run(|tx| async move {
                tx.send("Starting durable job").await?;
                tx.send(json!({ "step": 1, "of": 2 })).await?;
                tx.send("naïve café 🌊").await?;
                Ok(json!({ "success": true, "steps": 2 }))
            })
            .await
    }
    const PLACEHOLDER: &str = "0123456789abcdef0123456789abcdef";
    let addr = serve(Router::new().route("/", get(resumed))).await;
    let url = format!("http://{addr}/");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let record = std::env::var_os("RIVULET_RECORD").is_some();
    let mut first_events = None;
    for format in Format::ALL {
        let mut whole = Reading::new(open(&url, format, None).await, 0);
        assert_eq!(whole.read_to_end().await, End::Final);
        let point = format!("{}.1", whole.stream_id);
        let mut rest = Reading::new(open(&url, format, Some(&point)).await, 1);
        assert_eq!(rest.read_to_end().await, End::Final);
        assert_eq!(rest.events, whole.events[1..]);
        let bytes = String::from_utf8(rest.raw.clone())
            .unwrap()
            .replace(&rest.stream_id, PLACEHOLDER);
        let file = dir.join(format!("resumed.{}", format.name()));
        if record {
            std::fs::write(&file, &bytes).unwrap();
        } else {
            let recorded = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(
                recorded,
                bytes,
                "{} differs from the server's",
                file.display()
            );
        }
        match &first_events {
            None => first_events = Some(rest.events.clone()),
            Some(first) => assert_eq!(first, &rest.events, "{format}"),
        }
    }
    let file = dir.join("resumed.events.json");
    let events = first_events.unwrap();
    if record {
        let mut text = serde_json::to_string_pretty(&events).unwrap();
        text.push('\n');
        std::fs::write(&file, text).unwrap();
    } else {
        let recorded: Vec<Event> = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(recorded, events);
    }
}
