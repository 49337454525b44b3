//! The demo's Prometheus metrics, in a test binary of its own so that no other
//! test's streams move the gauges.

use rivulet::Format;
use rivulet_testkit::{Reader, get, metric, scrape, serve_with};

#[tokio::test]
async fn metrics_count_streams_packets_and_cancellations() {
    let addr = serve_with(rivulet_cli::demo::serve_on).await;

    Reader::new(get(addr, "/stream?interval_ms=0", Format::Sse).await)
        .rest()
        .await;
    let before = scrape(addr).await;
    for name in [
        rivulet::metrics::STREAMS_ACTIVE,
        rivulet::metrics::STREAMS_TOTAL,
        rivulet::metrics::PACKETS_TOTAL,
    ] {
        assert!(before.contains(name), "{name} missing from:\n{before}");
    }
    assert!(metric(&before, rivulet::metrics::PACKETS_TOTAL) >= 12.0);

    // A live feed the client leaves: the handler is dropped and counted.
    let mut reader = Reader::new(get(addr, "/stream/feed?interval_ms=5", Format::Sse).await);
    reader.next().await.unwrap().unwrap();
    reader.next().await.unwrap().unwrap();
    let during = scrape(addr).await;
    assert_eq!(metric(&during, rivulet::metrics::STREAMS_ACTIVE), 1.0);
    drop(reader);
    let deadline = tokio::time::Instant::now() + rivulet_testkit::PATIENCE;
    let after = loop {
        let text = scrape(addr).await;
        if metric(&text, rivulet::metrics::STREAMS_ACTIVE) == 0.0
            && metric(&text, rivulet::metrics::STREAMS_CANCELLED_TOTAL) >= 1.0
        {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the feed was not cancelled:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert!(metric(&after, rivulet::metrics::STREAMS_TOTAL) >= 2.0);
}
