//! Loss is detected, never silent: two servers share a feed through a real
//! `redis-server`, which is restarted empty (no persistence) on the same
//! port. Every reader crosses the loss with an error packet saying so, no
//! publish is answered until it can be delivered, both servers go on under
//! one new epoch, and no resume point names two packets. A job whose Redis
//! lost only its latest packets (a failover before they reached the
//! replica) ends its stream with that error packet at once, and a feed's
//! servers go on under a new epoch after telling their subscribers.

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

/// What a Redis failover that lost writes leaves of a resumable stream or a
/// feed: the new master holds its keys with the first `ARGV[1]` packets only
/// (they reached the replica, the later ones did not), its counter (the meta
/// field `seq`, of a stream and a feed alike) and its stream's last id
/// theirs. KEYS: meta, packets. Returns the packets lost.
const LOSE_THE_LATEST_PACKETS: &str = r"
local lost = redis.call('XRANGE', KEYS[2], '0-' .. (tonumber(ARGV[1]) + 1), '+')
for _, entry in ipairs(lost) do redis.call('XDEL', KEYS[2], entry[1]) end
redis.call('XSETID', KEYS[2], '0-' .. ARGV[1])
redis.call('HSET', KEYS[1], 'seq', ARGV[1])
return #lost
";

/// Runs [`LOSE_THE_LATEST_PACKETS`] on the Redis at `port`, keeping `kept`
/// packets of the keys under `base`; returns how many it dropped.
fn lose_the_latest_packets(port: u16, base: &str, kept: u64) -> u64 {
    let (meta, packets) = (format!("{base}:meta"), format!("{base}:packets"));
    let kept = kept.to_string();
    let script = LOSE_THE_LATEST_PACKETS;
    let args = ["eval", script, "2", &meta, &packets, &kept];
    let lost = rivulet_testkit::redis_cli(port, None, &args);
    lost.trim().parse().unwrap_or_else(|_| panic!("{lost}"))
}

#[tokio::test]
async fn a_feed_whose_redis_lost_its_latest_packets_says_so_and_goes_on_under_a_new_epoch() {
    let redis = RedisServer::start();
    let connect = || async { RedisStore::connect(&redis.url()).await.unwrap() };
    let feed_a = Feed::redis(&connect().await, "partial").await.unwrap();
    let feed_b = Feed::redis(&connect().await, "partial").await.unwrap();
    let old = feed_a.epoch();
    let (a, b) = (serve(app(&feed_a)).await, serve(app(&feed_b)).await);
    let mut on_a = Reader::new(follow(a, Format::Ndjson, None).await);
    let mut on_b = Reader::new(follow(b, Format::Sse, None).await);
    eventually("both subscribers to join", || {
        feed_a.subscribers() == 1 && feed_b.subscribers() == 1
    })
    .await;
    for n in 1..=5 {
        assert_eq!(feed_b.publish(json!({ "n": n })).await.unwrap(), n);
    }
    for reader in [&mut on_a, &mut on_b] {
        take(reader, 5).await;
    }

    assert_eq!(
        lose_the_latest_packets(redis.port, "rivulet:feed:{partial}", 2),
        3
    );
    // The failover breaks every connection to the old master.
    rivulet_testkit::redis_cli(redis.port, None, &["client", "kill", "type", "normal"]);

    // Every subscriber crosses the loss with an error packet saying so,
    // never packet 3 again under another value.
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
    wait_for("both servers to take a new epoch", || {
        let (ea, eb) = (feed_a.epoch(), feed_b.epoch());
        std::future::ready((ea != old && ea == eb).then_some(()))
    })
    .await;
    let mut fresh = Reader::new(follow(b, Format::Sse, None).await);
    eventually("the new subscriber to join", || feed_b.subscribers() == 1).await;
    assert_eq!(publish(&feed_a, json!("after")).await, 1, "numbered anew");
    assert_eq!(take(&mut fresh, 1).await, [Event::Progress(json!("after"))]);
}

#[tokio::test]
async fn a_job_whose_redis_lost_its_latest_packets_ends_its_stream_saying_so_at_once() {
    use axum::routing::get;
    use axum::{Extension, Router};
    use rivulet::resume::Resume;
    use rivulet_testkit::{counting, open};

    let redis = RedisServer::start();
    // A lease far longer than the test waits: the readers must not learn of
    // the loss from the lease lapsing (the "job was lost" packet).
    let lease = PATIENCE * 4;
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(&redis.url()).await.unwrap();
        let app = Router::new()
            .route("/count", get(counting))
            .layer(Extension(Resume::new(store).lease(lease)));
        servers.push(serve(app).await);
    }
    let url = |addr| format!("http://{addr}/count?n=100000&pause_ms=20");
    let started = open(&url(servers[0]), Format::Sse, None).await;
    let id = started.headers()["rivulet-stream-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut first = Reader::new(started);
    take(&mut first, 4).await;
    let mut second =
        Reader::new(open(&url(servers[1]), Format::Ndjson, Some(&format!("{id}.3"))).await);
    take(&mut second, 1).await;

    let lost = lose_the_latest_packets(redis.port, &format!("rivulet:{{{id}}}"), 2);
    assert!(lost >= 2, "{lost}");

    // A reader that resumes behind the loss gets what Redis kept, then the
    // packet saying the rest was lost; the readers that had more get it too.
    let mut behind =
        Reader::new(open(&url(servers[1]), Format::Ndjson, Some(&format!("{id}.1"))).await);
    let kept_for_behind = vec![json!({ "i": 2 })];
    let readers = [
        (&mut behind, Some(kept_for_behind)),
        (&mut first, None),
        (&mut second, None),
    ];
    for (reader, kept) in readers {
        let end = tokio::time::timeout(PATIENCE, async {
            let mut progress = Vec::new();
            loop {
                match reader.next().await {
                    Some(Ok(Event::Progress(value))) => progress.push(value),
                    other => return (progress, other),
                }
            }
        })
        .await
        .expect("the loss is told in time, not once the lease lapses");
        match end {
            (progress, Some(Ok(Event::Error(packet)))) => {
                assert_eq!(packet.message, HISTORY_LOST_MESSAGE);
                assert_eq!(packet.status, 500);
                if let Some(kept) = kept {
                    assert_eq!(progress, kept, "what Redis kept, then the loss");
                }
            }
            other => panic!("expected the history-lost packet, got {other:?}"),
        }
    }
}
