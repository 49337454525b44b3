//! Loss is detected, never silent: two servers share a feed through a real
//! `redis-server`, which is restarted empty (no persistence) on the same
//! port. Every reader crosses the loss with an error packet saying so, no
//! publish is answered until it can be delivered, both servers go on under
//! one new epoch, and no resume point names two packets.

#![cfg(feature = "redis")]

use http::StatusCode;
use rivulet::Format;
use rivulet::decode::Event;
use rivulet::feed::{Feed, FeedError, HISTORY_LOST_MESSAGE};
use rivulet::resume::RedisStore;
use rivulet_testkit::feed::{app, follow, last_id, take};
use rivulet_testkit::{PATIENCE, Reader, RedisServer, eventually, serve, wait_for};
use serde_json::json;

/// Publishes `value`, again while the store answers that it cannot take it
/// yet (a connection broken by the restart, or a history not yet begun
/// anew): such a publish is refused, never answered with a number.
async fn publish(feed: &Feed, value: serde_json::Value) -> u64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match feed.publish(&value).await {
            Ok(seq) => return seq,
            Err(FeedError::Lost | FeedError::Backend(_)) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "a publish taken in time"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
}

#[tokio::test]
async fn a_feed_whose_redis_restarted_empty_says_so_and_goes_on_under_a_new_epoch() {
    let mut redis = RedisServer::start();
    let feed_a = Feed::redis(&RedisStore::connect(&redis.url()).await.unwrap(), "loss")
        .await
        .unwrap();
    let feed_b = Feed::redis(&RedisStore::connect(&redis.url()).await.unwrap(), "loss")
        .await
        .unwrap();
    let old = feed_a.epoch();
    assert_eq!(feed_b.epoch(), old, "one epoch for every server");
    let (a, b) = (serve(app(&feed_a)).await, serve(app(&feed_b)).await);
    let mut on_a = Reader::new(follow(a, Format::Ndjson, None).await);
    let mut on_b = Reader::new(follow(b, Format::Sse, None).await);
    eventually("both subscribers to join", || {
        feed_a.subscribers() == 1 && feed_b.subscribers() == 1
    })
    .await;
    for n in 1..=3 {
        assert_eq!(feed_b.publish(json!({ "n": n })).await.unwrap(), n);
    }
    for reader in [&mut on_a, &mut on_b] {
        take(reader, 3).await;
    }

    redis.restart_empty();

    // A publish under the lost epoch is refused, never numbered again from 1.
    match feed_a.publish(json!("early")).await {
        Ok(_) => assert_ne!(feed_a.epoch(), old, "accepted only under a new epoch"),
        Err(FeedError::Lost | FeedError::Backend(_)) => {}
        Err(e) => panic!("unexpected {e}"),
    }
    // Every reader crosses the loss with an error packet saying so.
    for reader in [&mut on_a, &mut on_b] {
        let event = tokio::time::timeout(PATIENCE, reader.next())
            .await
            .expect("the loss is told in time");
        match event {
            Some(Ok(Event::Error(packet))) => {
                assert_eq!(packet.message, HISTORY_LOST_MESSAGE);
                assert_eq!(packet.status, 500);
            }
            other => panic!("expected the history-lost packet, got {other:?}"),
        }
    }
    // Both servers go on under one new epoch.
    wait_for("both servers to take the new epoch", || {
        let (ea, eb) = (feed_a.epoch(), feed_b.epoch());
        std::future::ready((ea != old && ea == eb).then_some(()))
    })
    .await;
    let new = feed_a.epoch();
    let mut fresh = Reader::new(follow(a, Format::Sse, None).await);
    eventually("the new subscriber to join", || feed_a.subscribers() == 1).await;
    let mut published = Vec::new();
    for n in 1..=3 {
        published.push(publish(&feed_b, json!({ "after": n })).await);
    }
    assert_eq!(published, [1, 2, 3], "the new history starts empty");
    let events = take(&mut fresh, 3).await;
    assert_eq!(events[0], Event::Progress(json!({ "after": 1 })));
    assert_eq!(last_id(&fresh.raw), format!("{new}.3"));
    // A point of the lost history names nothing kept any more.
    let stale = follow(b, Format::Sse, Some(&format!("{old}.2"))).await;
    assert_eq!(stale.status(), StatusCode::NO_CONTENT);
    // The new one resumes on the other server.
    let mut resumed = Reader::new(follow(b, Format::Ndjson, Some(&format!("{new}.1"))).await);
    let rest = take(&mut resumed, 2).await;
    assert_eq!(rest[1], Event::Progress(json!({ "after": 3 })));
}

#[tokio::test]
async fn a_resumable_stream_whose_redis_restarted_empty_tells_its_readers() {
    use axum::routing::get;
    use axum::{Extension, Router};
    use rivulet::resume::Resume;
    use rivulet_testkit::{counting, open};

    let mut redis = RedisServer::start();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(&redis.url()).await.unwrap();
        let app = Router::new()
            .route("/count", get(counting))
            .layer(Extension(Resume::new(store)));
        servers.push(serve(app).await);
    }
    let url = |addr| format!("http://{addr}/count?n=100000&pause_ms=20");
    let started = open(&url(servers[0]), Format::Sse, None).await;
    let id = started.headers()["rivulet-stream-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut first = Reader::new(started);
    take(&mut first, 3).await;
    // A second reader on the other server, from the same point.
    let mut second =
        Reader::new(open(&url(servers[1]), Format::Ndjson, Some(&format!("{id}.3"))).await);
    take(&mut second, 1).await;

    redis.restart_empty();

    // Each reader gets an error packet saying the history was lost, not
    // that the stream expired or a silent gap.
    for reader in [&mut first, &mut second] {
        let end = tokio::time::timeout(PATIENCE, async {
            loop {
                match reader.next().await {
                    Some(Ok(Event::Progress(_))) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("the loss is told in time");
        match end {
            Some(Ok(Event::Error(packet))) => {
                assert_eq!(packet.message, HISTORY_LOST_MESSAGE);
                assert_eq!(packet.status, 500);
            }
            other => panic!("expected the history-lost packet, got {other:?}"),
        }
    }
    // Nothing is kept under that id any more: a resume is 204, never a new
    // packet under an old number.
    let resume = open(&url(servers[1]), Format::Sse, Some(&format!("{id}.3"))).await;
    assert_eq!(resume.status(), StatusCode::NO_CONTENT);
}
