//! `rivulet demo --redis redis+sentinel://…`, the real binary run twice
//! against a master, its replica and three Redis Sentinels on loopback (the
//! sentinels' password in `RIVULET_REDIS_SENTINEL_PASSWORD`): a durable
//! stream started on one server resumes on the other, through the master the
//! sentinels name.

use std::sync::OnceLock;

use rivulet::Format;
use rivulet::decode::Event;
use rivulet_testkit::{Demo, End, Reading, RedisSentinel, open, shared};
use serde_json::json;

fn deployment() -> &'static RedisSentinel {
    static DEPLOYMENT: OnceLock<RedisSentinel> = OnceLock::new();
    shared(&DEPLOYMENT, RedisSentinel::start)
}

async fn demo() -> Demo {
    Demo::start_with_env(
        &["--redis", &deployment().url()],
        &[(
            "RIVULET_REDIS_SENTINEL_PASSWORD",
            RedisSentinel::SENTINEL_PASSWORD,
        )],
    )
    .await
}

#[tokio::test]
async fn a_durable_stream_through_sentinel_resumes_on_another_demo_server() {
    let a = demo().await;
    let b = demo().await;
    let path = "/stream/durable?items=20&every=1&interval_ms=10";
    let mut first = Reading::new(
        open(&format!("http://{}{path}", a.addr), Format::Ndjson, None).await,
        0,
    );
    assert_eq!(first.until(4).await, None);
    let point = first.resume_point();
    drop(first.response);
    let mut rest = Reading::new(
        open(
            &format!("http://{}{path}", b.addr),
            Format::Sse,
            Some(&point),
        )
        .await,
        first.received,
    );
    assert_eq!(rest.read_to_end().await, End::Final);
    let mut all = first.events.clone();
    all.extend(rest.events.clone());
    let (last, progress) = all.split_last().unwrap();
    let mut expected = vec![Event::Progress(json!("Starting durable process"))];
    expected.extend((1..=20).map(|i| Event::Progress(json!(format!("Processed {i} items")))));
    assert_eq!(progress, expected, "every packet once, in order");
    match last {
        Event::Done(done) => assert_eq!(done["processed"], 20),
        other => panic!("expected done, got {other:?}"),
    }
}
