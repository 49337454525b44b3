//! Live feeds shared through Redis by several servers, against a real
//! `redis-server` this test starts on a free loopback port (it fails, loudly,
//! without one: `apt-get install redis-server`, or `scripts/setup`).
//!
//! Run with `cargo test -p rivulet --features redis --test feed_redis`.

#![cfg(feature = "redis")]

use std::net::SocketAddr;

use http::StatusCode;
use rivulet::Format;
use rivulet::decode::Event;
use rivulet::feed::{FEED_STORE_FAILED_MESSAGE, Feed};
use rivulet::resume::RedisStore;
use rivulet_testkit::feed::{app, follow, last_id, take};
use rivulet_testkit::{Reader, RedisServer, client, serve, wait_for};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A server whose feed `name` lives in the Redis at `url`.
async fn instance(url: &str, name: &str) -> (SocketAddr, Feed) {
    let store = RedisStore::connect(url).await.expect("Redis answers");
    let feed = Feed::redis(&store, name).await.expect("the feed loads");
    let addr = serve(app(&feed)).await;
    (addr, feed)
}

async fn open(addr: SocketAddr, format: Format, last_event_id: Option<&str>) -> Reader {
    let response = follow(addr, format, last_event_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    Reader::new(response)
}

fn numbers(range: std::ops::RangeInclusive<u64>) -> Vec<Event> {
    range.map(|n| Event::Progress(json!({ "n": n }))).collect()
}

/// The number of `XRANGE` calls (a feed's reads) Redis has served, from
/// `INFO commandstats`.
async fn xranges(port: u16) -> u64 {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut tcp = BufReader::new(tcp);
    tcp.get_mut()
        .write_all(b"INFO commandstats\r\n")
        .await
        .unwrap();
    let mut line = String::new();
    tcp.read_line(&mut line).await.unwrap(); // $<length>
    let length: usize = line.trim().trim_start_matches('$').parse().unwrap();
    let mut text = String::new();
    while text.len() < length {
        let mut line = String::new();
        tcp.read_line(&mut line).await.unwrap();
        text.push_str(&line);
    }
    text.lines()
        .find_map(|l| l.strip_prefix("cmdstat_xrange:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_on_one_server_reaches_subscribers_on_both_and_redis_is_read_once_per_server() {
    const PER_SERVER: usize = 30;
    const PACKETS: u64 = 20;
    let redis = RedisServer::start();
    let (a, feed_a) = instance(&redis.url(), "ticker").await;
    let (b, feed_b) = instance(&redis.url(), "ticker").await;
    let mut readers = Vec::new();
    for i in 0..PER_SERVER * 2 {
        let server = if i % 2 == 0 { a } else { b };
        readers.push(open(server, Format::ALL[i % 3], None).await);
    }
    wait_for("every subscriber to join", || async {
        (feed_a.subscribers() == PER_SERVER && feed_b.subscribers() == PER_SERVER).then_some(())
    })
    .await;
    let before = xranges(redis.port).await;
    for n in 1..=PACKETS {
        let seq = feed_a.publish(json!({ "n": n })).await.unwrap();
        assert_eq!(seq, n);
    }
    feed_b.close(json!("over")).await.unwrap();
    let mut expected = numbers(1..=PACKETS);
    expected.push(Event::Done(json!("over")));
    let mut ids = Vec::new();
    for (i, mut reader) in readers.into_iter().enumerate() {
        assert_eq!(reader.rest().await, expected, "subscriber {i}");
        if i % 3 == 0 {
            ids.push(last_id(&reader.raw));
        }
    }
    // Every SSE subscriber, on either server, saw the same ids.
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    // Two servers, one reader each: a few reads per packet at most, not one
    // per subscriber and packet.
    let reads = xranges(redis.port).await - before;
    assert!(
        reads <= 2 * (PACKETS + 1) + 8,
        "{reads} XRANGEs for {} subscribers",
        PER_SERVER * 2
    );
}

#[tokio::test]
async fn a_client_resumes_on_another_server_from_its_last_event_id() {
    let redis = RedisServer::start();
    let (a, feed_a) = instance(&redis.url(), "orders").await;
    let (b, _feed_b) = instance(&redis.url(), "orders").await;
    let mut first = open(a, Format::Sse, None).await;
    wait_for("the subscriber to join", || async {
        (feed_a.subscribers() == 1).then_some(())
    })
    .await;
    for n in 1..=3 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }
    assert_eq!(take(&mut first, 3).await, numbers(1..=3));
    let point = last_id(&first.raw);
    drop(first);
    for n in 4..=6 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }
    // Server b has read them from Redis by the time it serves the resume.
    let mut rest = None;
    for _ in 0..100 {
        let mut reader = open(b, Format::Sse, Some(&point)).await;
        let events = take(&mut reader, 1).await;
        if events == numbers(4..=4) {
            rest = Some(reader);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut rest = rest.expect("server b resumes after packet 3");
    assert_eq!(take(&mut rest, 2).await, numbers(5..=6));
    // A server that starts later loads the window from Redis.
    let (c, _feed_c) = instance(&redis.url(), "orders").await;
    let mut late = open(c, Format::Ndjson, Some(&point)).await;
    assert_eq!(take(&mut late, 3).await, numbers(4..=6));
}

#[tokio::test]
async fn a_redis_that_goes_away_ends_subscribers_with_an_error_packet() {
    let redis = RedisServer::start();
    let (a, feed) = instance(&redis.url(), "ticker").await;
    let mut readers = Vec::new();
    for format in Format::ALL {
        readers.push(open(a, format, None).await);
    }
    wait_for("every subscriber to join", || async {
        (feed.subscribers() == 3).then_some(())
    })
    .await;
    feed.publish(json!({ "n": 1 })).await.unwrap();
    for reader in &mut readers {
        assert_eq!(take(reader, 1).await, numbers(1..=1));
    }
    drop(redis);
    for mut reader in readers {
        let Some(Ok(Event::Error(error))) = reader.next().await else {
            panic!("an error packet");
        };
        assert_eq!(error.status, 503);
        assert_eq!(error.message, FEED_STORE_FAILED_MESSAGE);
        assert!(reader.next().await.is_none());
    }
    let refused = client()
        .get(format!("http://{a}/feed"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["message"], json!(FEED_STORE_FAILED_MESSAGE));
    assert!(
        feed.publish(2).await.is_err(),
        "a publish reports the failure"
    );
}
