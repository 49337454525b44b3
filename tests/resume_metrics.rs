//! The demo's metrics for resumable streams, in a test binary of its own so
//! that no other test's streams move them: a resumed connection is counted as
//! a running stream while it streams, and leaving it cancels nothing (its job
//! runs on).

use rivulet::metrics::{STREAMS_ACTIVE, STREAMS_CANCELLED_TOTAL, STREAMS_TOTAL};
use rivulet_testkit::{PATIENCE, Reader, client, metric};

#[tokio::test]
async fn resumed_connections_are_counted_and_leaving_them_cancels_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rivulet_cli::demo::serve_on(listener));
    let scrape = || async move {
        let text = client()
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        [STREAMS_ACTIVE, STREAMS_TOTAL, STREAMS_CANCELLED_TOTAL].map(|name| metric(&text, name))
    };
    let url = format!("http://{addr}/stream/durable?items=100000&every=1&interval_ms=20");
    let open = |point: Option<String>| {
        let mut request = client().get(&url).header("accept", "text/event-stream");
        if let Some(point) = point {
            request = request.header("last-event-id", point);
        }
        async move {
            tokio::time::timeout(PATIENCE, request.send())
                .await
                .unwrap()
                .unwrap()
        }
    };
    let first = open(None).await;
    let stream_id = first.headers()["rivulet-stream-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut first = Reader::new(first);
    first.next().await.unwrap().unwrap();
    drop(first);
    let [active0, total0, cancelled0] = scrape().await;

    const RESUMERS: usize = 20;
    let mut readers = Vec::new();
    for _ in 0..RESUMERS {
        let mut reader = Reader::new(open(Some(format!("{stream_id}.1"))).await);
        reader.next().await.unwrap().unwrap();
        readers.push(reader);
    }
    let [active, total, _] = scrape().await;
    assert_eq!(
        active - active0,
        RESUMERS as f64,
        "each resumed connection runs"
    );
    assert_eq!(
        total - total0,
        RESUMERS as f64,
        "each resumed connection started"
    );
    drop(readers);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let [active, _, cancelled] = scrape().await;
        assert_eq!(
            cancelled, cancelled0,
            "leaving a resumable stream cancels nothing"
        );
        if active == active0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "active stays at {active}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
