//! The shared stores through Redis Sentinel: a master with a replica,
//! watched by three sentinels, all real `redis-server`s on loopback, started
//! once for this test binary. Resumable streams and feeds work through a
//! `redis+sentinel://` URL, no password shows, and a failover is followed:
//! new commands go to the new master, subscribers subscribe again there,
//! and a reader either gets every packet once or a final error packet,
//! never a hang. A second deployment, also started once, speaks TLS only
//! (sentinels, master, replica and replication, with a CA made at run
//! time): the same works through `rediss+sentinel://` and the CA file, a
//! failover is followed over TLS, and without that CA the sentinels are
//! refused with a clear error.
//!
//! Run with `cargo test -p rivulet-http --features redis --test redis_sentinel`.

#![cfg(feature = "redis")]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use rivulet::Format;
use rivulet::decode::Event;
use rivulet::feed::Feed;
use rivulet::history::Packet;
use rivulet::protocol::PacketKind;
use rivulet::redis_conn::RedisConfig;
use rivulet::resume::{RedisStore, Resume, Store, StreamId};
use rivulet_testkit::feed::{app, follow};
use rivulet_testkit::{
    End, PATIENCE, Reader, Reading, RedisSentinel, counting, expected, free_port, open, redis_cli,
    serve, shared, wait_for,
};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::RwLock;

/// The deployment every test of this binary shares.
fn deployment() -> &'static RedisSentinel {
    static DEPLOYMENT: OnceLock<RedisSentinel> = OnceLock::new();
    shared(&DEPLOYMENT, RedisSentinel::start)
}

/// Held for reading by the tests that need a steady master, for writing by
/// the one that fails it over.
static FAILOVER: RwLock<()> = RwLock::const_new(());

/// [`FAILOVER`] for the deployment on TLS.
static TLS_FAILOVER: RwLock<()> = RwLock::const_new(());

/// The deployment on TLS only that the TLS tests share.
fn tls_deployment() -> &'static RedisSentinel {
    static DEPLOYMENT: OnceLock<RedisSentinel> = OnceLock::new();
    shared(&DEPLOYMENT, RedisSentinel::start_tls)
}

/// The deployment's URL (the master's password) with the sentinels'
/// password, and on TLS the CA to trust.
fn config_of(deployment: &RedisSentinel) -> RedisConfig {
    let config = RedisConfig::parse(&deployment.url())
        .unwrap()
        .sentinel_auth(None, RedisSentinel::SENTINEL_PASSWORD);
    match deployment.ca_file() {
        Some(ca) => config.ca_file(ca),
        None => config,
    }
}

fn config() -> RedisConfig {
    config_of(deployment())
}

async fn store_of(config: &RedisConfig) -> RedisStore {
    RedisStore::connect_with(config, "rivulet")
        .await
        .expect("the master, through the sentinels")
}

async fn store() -> RedisStore {
    store_of(&config()).await
}

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

/// A server whose resumable streams live in `store`.
async fn instance(store: RedisStore) -> SocketAddr {
    serve(
        Router::new()
            .route("/count", get(counting))
            .layer(Extension(Resume::new(store))),
    )
    .await
}

/// Appends to a new stream in `producer` until `reader`, waiting far longer
/// than the test does, is woken and returns packet 1. Returns the stream.
async fn a_waiting_reader_wakes(producer: &RedisStore, reader: &RedisStore) -> StreamId {
    let id = StreamId::random();
    producer
        .create(id, None, Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    let waiting = {
        let reader = reader.clone();
        tokio::spawn(async move { reader.read(id, 0, 10, Duration::from_secs(3600)).await })
    };
    wait_for("the waiting reader to wake", || {
        let waiting = &waiting;
        async move {
            if waiting.is_finished() {
                return Some(());
            }
            let seq = producer.status(id).await.unwrap().unwrap().last + 1;
            let packet = Packet::new(seq, PacketKind::Progress, raw(&seq.to_string()));
            producer.append(id, packet).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    })
    .await;
    let packets = waiting.await.unwrap().unwrap();
    assert_eq!(packets.first().map(|p| p.seq), Some(1));
    id
}

/// Starts a job of `n` packets on `a`, reads three there, and resumes on
/// `b`: the reading on `b`, and the events read on `a`.
async fn started_on_a_resumed_on_b(
    a: SocketAddr,
    b: SocketAddr,
    path: &str,
) -> (Reading, Vec<Event>) {
    let mut first = Reading::new(
        open(&format!("http://{a}{path}"), Format::Sse, None).await,
        0,
    );
    assert_eq!(first.until(3).await, None);
    let point = first.resume_point();
    let rest = Reading::new(
        open(&format!("http://{b}{path}"), Format::Sse, Some(&point)).await,
        first.received,
    );
    (rest, first.events)
}

/// The events of a stream of `n` packets that was read while Redis failed
/// over: every packet once and in order, then the final packet, or, when
/// packets may have been lost, a final error packet after the packets
/// delivered in order.
fn assert_once_in_order_or_an_error(events: &[Event], n: u64) {
    let all = expected(n);
    match events.last() {
        Some(Event::Error(_)) => {
            let delivered = &events[..events.len() - 1];
            assert_eq!(delivered, &all[..delivered.len()], "packets in order");
        }
        _ => assert_eq!(events, all, "every packet once, in order"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_notifications_and_a_feed_work_through_sentinel_and_no_password_shows() {
    let _steady = FAILOVER.read().await;
    let producer = store().await;
    let reader = store().await;
    a_waiting_reader_wakes(&producer, &reader).await;

    // A job started on one server resumes on another.
    let a = instance(producer.clone()).await;
    let b = instance(reader.clone()).await;
    let (mut rest, mut all) = started_on_a_resumed_on_b(a, b, "/count?n=20&pause_ms=5").await;
    assert_eq!(rest.read_to_end().await, End::Final);
    all.extend(rest.events);
    assert_eq!(all, expected(20), "every packet once, in order");

    // A feed published through one server reaches a subscriber of another.
    a_feed_reaches_another_server(&producer, &reader, "sentinel-ticker").await;

    // A sentinel that is down is skipped.
    let d = deployment();
    let url = format!(
        "redis+sentinel://:{}@127.0.0.1:{},127.0.0.1:{}/{}",
        RedisSentinel::PASSWORD,
        free_port(),
        d.sentinels[1].port,
        RedisSentinel::MASTER
    );
    let config = RedisConfig::parse(&url)
        .unwrap()
        .sentinel_auth(None, RedisSentinel::SENTINEL_PASSWORD);
    let other = RedisStore::connect_with(&config, "rivulet")
        .await
        .expect("a live sentinel");
    a_waiting_reader_wakes(&producer, &other).await;

    // Neither password shows in Display, Debug or an error.
    let shown = format!("{config} {config:?} {producer:?}");
    for secret in [RedisSentinel::PASSWORD, RedisSentinel::SENTINEL_PASSWORD] {
        assert!(!shown.contains(secret), "{shown}");
    }
    let wrong = RedisConfig::parse(&url)
        .unwrap()
        .sentinel_auth(None, "wrong-s3cret");
    let e = RedisStore::connect_with(&wrong, "rivulet")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("redis+sentinel://127.0.0.1:"), "{e}");
    for secret in [RedisSentinel::PASSWORD, "wrong-s3cret"] {
        assert!(!e.contains(secret), "{e}");
    }
}

/// A feed `name` published through `producer` reaches a subscriber of a
/// server whose feed reads through `reader`.
async fn a_feed_reaches_another_server(producer: &RedisStore, reader: &RedisStore, name: &str) {
    let feed_a = Feed::redis(producer, name).await.unwrap();
    let feed_b = Feed::redis(reader, name).await.unwrap();
    let addr = serve(app(&feed_b)).await;
    let mut follower = Reader::new(follow(addr, Format::Ndjson, None).await);
    wait_for("the subscriber to join", || async {
        (feed_b.subscribers() == 1).then_some(())
    })
    .await;
    for n in 1..=5 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }
    feed_a.close(json!("over")).await.unwrap();
    let mut want: Vec<Event> = (1..=5)
        .map(|n| Event::Progress(json!({ "n": n })))
        .collect();
    want.push(Event::Done(json!("over")));
    assert_eq!(follower.rest().await, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_notifications_and_a_feed_work_through_tls_sentinels() {
    let _steady = TLS_FAILOVER.read().await;
    let d = tls_deployment();
    let config = config_of(d);
    assert!(
        config.to_string().starts_with("rediss+sentinel://"),
        "{config}"
    );
    let producer = store_of(&config).await;
    let reader = store_of(&config).await;
    let id = a_waiting_reader_wakes(&producer, &reader).await;
    let master = d.master().expect("a master");
    let meta = format!("rivulet:{{{id}}}:meta");
    assert_eq!(
        d.node_cli(master, &["exists", &meta]).trim(),
        "1",
        "the stream is on the master"
    );

    // A job started on one server resumes on another.
    let a = instance(producer.clone()).await;
    let b = instance(reader.clone()).await;
    let (mut rest, mut all) = started_on_a_resumed_on_b(a, b, "/count?n=20&pause_ms=5").await;
    assert_eq!(rest.read_to_end().await, End::Final);
    all.extend(rest.events);
    assert_eq!(all, expected(20), "every packet once, in order");

    a_feed_reaches_another_server(&producer, &reader, "tls-sentinel-ticker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_on_tls_is_followed_to_the_new_master() {
    let _alone = TLS_FAILOVER.write().await;
    let d = tls_deployment();
    let config = config_of(d);
    let producer = store_of(&config).await;
    let reader = store_of(&config).await;
    let a = instance(producer.clone()).await;
    let b = instance(reader.clone()).await;
    a_waiting_reader_wakes(&producer, &reader).await;

    let old_master = d.master().expect("a master");
    let new_master = tokio::task::spawn_blocking(|| tls_deployment().fail_over())
        .await
        .unwrap();
    assert_ne!(new_master, old_master);

    // Commands and notifications reach the new master over TLS, with the
    // same CA.
    let id = a_waiting_reader_wakes(&producer, &reader).await;
    let meta = format!("rivulet:{{{id}}}:meta");
    let exists = d.node_cli(new_master, &["exists", &meta]);
    assert_eq!(exists.trim(), "1", "the stream is on the new master");
    let path = "/count?n=10&pause_ms=50";
    let (mut rest, mut all) = started_on_a_resumed_on_b(a, b, path).await;
    assert_eq!(rest.read_to_end().await, End::Final);
    all.extend(rest.events);
    assert_eq!(all, expected(10), "every packet once, in order");
    a_feed_reaches_another_server(&producer, &reader, "tls-failover-ticker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sentinels_are_refused_without_their_ca_and_no_password_shows() {
    let d = tls_deployment();
    // The system roots do not hold the CA made for the test.
    let untrusted = RedisConfig::parse(&d.url())
        .unwrap()
        .sentinel_auth(None, RedisSentinel::SENTINEL_PASSWORD);
    // Plain TCP to sentinels that speak TLS only.
    let plain = RedisConfig::parse(&d.url().replacen("rediss+", "redis+", 1))
        .unwrap()
        .sentinel_auth(None, RedisSentinel::SENTINEL_PASSWORD);
    // "invalid peer certificate: UnknownIssuer"; "Connection reset by peer".
    let cases = [
        (untrusted, "rediss+sentinel://", "certificate"),
        (plain, "redis+sentinel://", ""),
    ];
    for (config, scheme, why) in cases {
        let e = tokio::time::timeout(PATIENCE, RedisStore::connect_with(&config, "rivulet"))
            .await
            .expect("refused in time, not a hang")
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{scheme}127.0.0.1:")), "{e}");
        assert!(e.contains(why), "{e}");
        for secret in [RedisSentinel::PASSWORD, RedisSentinel::SENTINEL_PASSWORD] {
            assert!(!e.contains(secret), "{e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_is_followed_and_readers_never_hang() {
    let _alone = FAILOVER.write().await;
    let d = deployment();
    let producer = store().await;
    let reader = store().await;
    let a = instance(producer.clone()).await;
    let b = instance(reader.clone()).await;

    // A feed subscriber on one server, a publisher on the other.
    let feed_a = Feed::redis(&producer, "failover-ticker").await.unwrap();
    let feed_b = Feed::redis(&reader, "failover-ticker").await.unwrap();
    let addr = serve(app(&feed_b)).await;
    let mut follower = Reader::new(follow(addr, Format::Ndjson, None).await);
    wait_for("the subscriber to join", || async {
        (feed_b.subscribers() == 1).then_some(())
    })
    .await;
    for n in 1..=3 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }

    // A job runs on one server, its reader on the other, while the
    // sentinels promote the replica.
    let n = 60;
    let path = format!("/count?n={n}&pause_ms=50");
    let (mut rest, mut all) = started_on_a_resumed_on_b(a, b, &path).await;
    let old_master = d.master().expect("a master");
    let failover = tokio::task::spawn_blocking(|| deployment().fail_over());
    let end = tokio::time::timeout(PATIENCE * 2, rest.read_to_end())
        .await
        .expect("the reader ends: never a hang");
    let new_master = failover.await.unwrap();
    assert_ne!(new_master, old_master);
    assert_eq!(end, End::Final, "a final packet, not a cut");
    all.extend(rest.events);
    assert_once_in_order_or_an_error(&all, n);

    // New commands go to the new master, and notifications reach readers:
    // the subscriber subscribed again there.
    let id = a_waiting_reader_wakes(&producer, &reader).await;
    let meta = format!("rivulet:{{{id}}}:meta");
    let port = d.nodes[new_master].port;
    let exists = redis_cli(port, Some(RedisSentinel::PASSWORD), &["exists", &meta]);
    assert_eq!(exists.trim(), "1", "the stream is on the new master");

    // A new job is served whole.
    let (mut rest, mut all) = started_on_a_resumed_on_b(a, b, "/count?n=10&pause_ms=50").await;
    assert_eq!(rest.read_to_end().await, End::Final);
    all.extend(rest.events);
    assert_eq!(all, expected(10));

    // The feed: the subscriber gets what was published after the failover,
    // or an error packet if it could have missed something; never a hang.
    for n in 4..=6 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }
    feed_a.close(json!("over")).await.unwrap();
    let events = tokio::time::timeout(PATIENCE, follower.rest())
        .await
        .expect("the subscriber's stream ends: never a hang");
    let mut want: Vec<Event> = (1..=6)
        .map(|n| Event::Progress(json!({ "n": n })))
        .collect();
    want.push(Event::Done(json!("over")));
    match events.last() {
        Some(Event::Error(_)) => {
            let delivered = &events[..events.len() - 1];
            assert_eq!(delivered, &want[..delivered.len()], "packets in order");
        }
        _ => assert_eq!(events, want),
    }
}
