//! Connections of resumable streams under the server's limits: a resumed
//! connection takes a slot under `Config::max_streams` like any stream (503
//! with `Retry-After` when none is free), and a server that stops ends the
//! resumed connections it serves with an error packet, also when the job runs
//! elsewhere. Real servers on loopback sharing one store.

use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::routing::get;
use rivulet::decode::Event;
use rivulet::resume::{MemoryStore, Resume};
use rivulet::{Config, Format, Shutdown};
use rivulet_testkit::{End, Reading, counting, open, serve, wait_for};

fn app(config: Config, resume: &Resume) -> Router {
    Router::new()
        .route("/count", get(counting))
        .layer(Extension(resume.clone()))
        .layer(config)
}

/// Starts a long job on `addr`, reads its first packet and leaves: the job
/// runs on. Returns the resume point.
async fn start_and_leave(addr: std::net::SocketAddr) -> String {
    let url = format!("http://{addr}/count?n=100000&pause_ms=20");
    let mut first = Reading::new(open(&url, Format::Sse, None).await, 0);
    assert_eq!(first.until(1).await, None);
    first.resume_point()
}

#[tokio::test]
async fn resumed_connections_count_against_max_streams() {
    let resume = Resume::new(MemoryStore::new());
    // One slot for the job, one for one reader.
    let addr = serve(app(Config::default().max_streams(2), &resume)).await;
    let point = start_and_leave(addr).await;
    let url = format!("http://{addr}/count?n=100000&pause_ms=20");

    let mut reader = Reading::new(open(&url, Format::Sse, Some(&point)).await, 1);
    assert_eq!(reader.response.status(), 200);
    assert_eq!(reader.until(2).await, None);
    // Every further connection is over the limit, resumed or new.
    for _ in 0..20 {
        let refused = open(&url, Format::Sse, Some(&point)).await;
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()["retry-after"], "5");
    }
    assert_eq!(open(&url, Format::Sse, None).await.status(), 503);

    // The reader leaves: its slot is free again.
    drop(reader);
    let again = wait_for("a free slot", || async {
        let response = open(&url, Format::Sse, Some(&point)).await;
        (response.status() == 200).then_some(response)
    })
    .await;
    assert_eq!(again.status(), 200);
}

#[tokio::test]
async fn a_stopping_server_ends_its_resumed_connections_with_an_error_packet() {
    let resume = Resume::new(MemoryStore::new());
    // The job runs on `runner`; `stopping` serves a resumed connection and
    // then shuts down.
    let runner = serve(app(Config::default(), &resume)).await;
    let shutdown = Shutdown::new();
    let stopping = serve(app(Config::default().shutdown(&shutdown), &resume)).await;
    let point = start_and_leave(runner).await;

    let url = format!("http://{stopping}/count?n=100000&pause_ms=20");
    let mut reader = Reading::new(open(&url, Format::Sse, Some(&point)).await, 1);
    assert_eq!(reader.until(3).await, None);
    shutdown.end_streams();
    let ended = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end())
        .await
        .expect("the connection ends in time");
    assert_eq!(ended, End::Final);
    let Some(Event::Error(error)) = reader.events.last() else {
        panic!("ends with an error packet: {:?}", reader.events.last());
    };
    assert_eq!(error.status, 503);
    assert_eq!(error.message, rivulet::protocol::SHUTDOWN_MESSAGE);
    // Without a resume point (the error packet is not one of the stream's):
    // the client resumes elsewhere, where the job still runs.
    let point = format!("{}.{}", reader.stream_id, reader.received - 1);
    let elsewhere = format!("http://{runner}/count?n=100000&pause_ms=20");
    let mut rest = Reading::new(
        open(&elsewhere, Format::Sse, Some(&point)).await,
        reader.received - 1,
    );
    assert_eq!(rest.response.status(), 200);
    assert_eq!(rest.until(1).await, None);
}

#[tokio::test]
async fn a_flood_of_streams_never_evicts_a_live_reader() {
    // A store of 50 streams; a victim reads a long stream live meanwhile.
    let resume = Resume::new(MemoryStore::new().max_streams(50));
    let addr = serve(app(Config::default(), &resume)).await;
    let long = format!("http://{addr}/count?n=100000&pause_ms=10");
    let mut victim = Reading::new(open(&long, Format::Sse, None).await, 0);
    assert_eq!(victim.until(1).await, None);

    // 200 short streams: finished ones make room, the victim's does not.
    let short = format!("http://{addr}/count?n=1");
    for _ in 0..200 {
        let mut reading = Reading::new(open(&short, Format::Sse, None).await, 0);
        assert_eq!(reading.read_to_end().await, End::Final);
    }
    // Long streams whose clients leave (their jobs run on) until the store is
    // full of running streams: then a clear refusal, not an eviction.
    let mut started = 0;
    let refused = loop {
        let response = open(&long, Format::Sse, None).await;
        if response.status() != 200 {
            break response;
        }
        started += 1;
        assert!(started < 50, "the store holds 50 streams");
    };
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many resumable streams"),
        "{body}"
    );
    println!("flood: 200 short streams served, {started} running ones, then 503");
    // The victim reads on, without a 410 or a gap.
    let before = victim.received as usize;
    assert_eq!(victim.until(before + 20).await, None);
    assert!(
        victim
            .events
            .iter()
            .all(|e| matches!(e, Event::Progress(_))),
        "{:?}",
        victim.events.last()
    );
}
