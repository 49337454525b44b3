//! The shared stores on Redis as deployments run it: a 3-master Redis
//! Cluster (a replica per master) reached through any one node (or through
//! seeds, some down), whose node failover ends readers with every packet or
//! an error packet, never a hang, and whose slots can move while a job runs
//! and a feed is followed without a packet lost; and a TLS-only Redis whose
//! certificate a CA made at run time signed. Real `redis-server`s on
//! loopback; the cluster is started once for this test binary.
//!
//! Run with `cargo test -p rivulet-http --features redis --test redis_deployments`.

#![cfg(feature = "redis")]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
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
    End, PATIENCE, Reader, Reading, RedisCluster, RedisTls, counting, expected, free_port, open,
    redis_cli, serve, shared, wait_for,
};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::sync::RwLock;

/// The cluster every test of this binary shares: three masters, a replica
/// each.
fn cluster() -> &'static Mutex<RedisCluster> {
    static CLUSTER: OnceLock<Mutex<RedisCluster>> = OnceLock::new();
    shared(&CLUSTER, || {
        Mutex::new(RedisCluster::start_with_replicas(1))
    })
}

/// The ports of the cluster's nodes.
fn ports() -> Vec<u16> {
    let cluster = cluster().lock().unwrap_or_else(|e| e.into_inner());
    cluster.nodes.iter().map(|node| node.port).collect()
}

/// Held for reading by the tests that need a steady cluster, for writing by
/// the one that fails a node over.
static FAILOVER: RwLock<()> = RwLock::const_new(());

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
    a_waiting_reader_of_wakes(producer, reader, id).await;
    id
}

/// Appends to stream `id` in `producer` until `reader`, waiting far longer
/// than the test does for the packet after the last one, is woken and
/// returns it.
async fn a_waiting_reader_of_wakes(producer: &RedisStore, reader: &RedisStore, id: StreamId) {
    let after = producer.status(id).await.unwrap().unwrap().last;
    let waiting = {
        let reader = reader.clone();
        tokio::spawn(async move { reader.read(id, after, 10, Duration::from_secs(3600)).await })
    };
    // The subscription may not be up for the first appends; a later one
    // wakes the reader.
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
    assert_eq!(packets.first().map(|p| p.seq), Some(after + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_given_any_node_serves_resumable_streams_notifications_and_feeds() {
    let _steady = FAILOVER.read().await;
    let ports = ports();
    let node = |i: usize| format!("redis://127.0.0.1:{}", ports[i]);

    // Two servers, each given a different node: every job, whichever master
    // its random id hashes to, starts on one and resumes on the other.
    let a = instance(RedisStore::connect(&node(0)).await.expect("the cluster")).await;
    let b = instance(RedisStore::connect(&node(2)).await.expect("the cluster")).await;
    for job in 0..12 {
        let format = Format::ALL[job % Format::ALL.len()];
        let path = "/count?n=20&pause_ms=5";
        let mut first = Reading::new(open(&format!("http://{a}{path}"), format, None).await, 0);
        assert_eq!(first.until(3).await, None, "job {job}");
        let point = first.resume_point();
        let (mut all, received) = (first.events.clone(), first.received);
        drop(first);
        let mut rest = Reading::new(
            open(&format!("http://{b}{path}"), format, Some(&point)).await,
            received,
        );
        assert_eq!(rest.read_to_end().await, End::Final, "job {job}");
        all.extend(rest.events.clone());
        assert_eq!(all, expected(20), "job {job}: every packet once, in order");
    }

    // Sharded notifications wake a reader on another server, which found
    // the cluster through seeds the first of which is down.
    let producer = RedisStore::connect(&node(1)).await.unwrap();
    let seeds = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        free_port(),
        ports[2]
    );
    let reader = RedisStore::connect(&seeds).await.expect("a live seed");
    let id = a_waiting_reader_wakes(&producer, &reader).await;
    // The reader may have been woken by its subscription coming up rather
    // than by a notification: appends to the stream it read, whose channel
    // stays subscribed, must reach it as sharded messages.
    wait_for("a sharded notification", || {
        let (producer, reader) = (&producer, &reader);
        async move {
            if reader.notifications_received() > 0 {
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

    // A feed published through one node reaches a subscriber whose server
    // was given another.
    let feed_a = Feed::redis(&producer, "ticker").await.unwrap();
    let feed_b = Feed::redis(&reader, "ticker").await.unwrap();
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
async fn tls_with_the_operators_ca_file_serves_streams_and_an_unknown_ca_is_a_clear_error() {
    let redis = RedisTls::start();
    let config = RedisConfig::parse(&redis.url())
        .unwrap()
        .ca_file(redis.ca_file());
    let producer = RedisStore::connect_with(&config, "rivulet")
        .await
        .expect("TLS with the CA");
    let reader = RedisStore::connect_with(&config, "rivulet")
        .await
        .expect("TLS with the CA");
    a_waiting_reader_wakes(&producer, &reader).await;

    let addr = instance(producer.clone()).await;
    let mut reading = Reading::new(
        open(&format!("http://{addr}/count?n=10"), Format::Sse, None).await,
        0,
    );
    assert_eq!(reading.read_to_end().await, End::Final);
    assert_eq!(reading.events, expected(10));

    // The system roots do not know the CA made for this test.
    let e = RedisStore::connect(&redis.url()).await.unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("rediss://127.0.0.1:{}", redis.server.port)),
        "{e}"
    );
}

/// The hash slot of `key`.
fn slot(port: u16, key: &str) -> u16 {
    redis_cli(port, None, &["cluster", "keyslot", key])
        .trim()
        .parse()
        .expect("a slot")
}

/// The events of a stream of `n` packets read while a Redis node failed
/// over: every packet once and in order, then the final packet, or, when
/// packets may have been lost or Redis could not be read for too long, a
/// final error packet after the packets delivered in order.
fn assert_once_in_order_or_an_error(events: &[Event], want: &[Event]) {
    match events.last() {
        Some(Event::Error(_)) => {
            let delivered = &events[..events.len() - 1];
            assert_eq!(delivered, &want[..delivered.len()], "packets in order");
        }
        _ => assert_eq!(events, want, "every packet once, in order"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_node_failover_ends_readers_with_every_packet_or_an_error_never_a_hang() {
    let _alone = FAILOVER.write().await;
    let ports = ports();
    // Every node as a seed: whichever is down, the others answer.
    let seeds: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let url = format!("redis+cluster://{}", seeds.join(","));
    let producer = RedisStore::connect(&url).await.expect("the cluster");
    let reader = RedisStore::connect(&url).await.expect("the cluster");
    let a = instance(producer.clone()).await;
    let b = instance(reader.clone()).await;

    // A job on one server, read on the other.
    let n = 60;
    let path = format!("/count?n={n}&pause_ms=50");
    let mut first = Reading::new(
        open(&format!("http://{a}{path}"), Format::Sse, None).await,
        0,
    );
    assert_eq!(first.until(3).await, None);
    let point = first.resume_point();
    let mut rest = Reading::new(
        open(&format!("http://{b}{path}"), Format::Sse, Some(&point)).await,
        first.received,
    );
    let stream_slot = slot(ports[0], &format!("rivulet:{{{}}}:meta", first.stream_id));
    let master = cluster()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .master_of(stream_slot);

    // A feed whose keys live on the same master, followed on one server,
    // published on the other.
    let name = (0..1000)
        .map(|i| format!("failover-{i}"))
        .find(|name| {
            let feed_slot = slot(ports[0], &format!("rivulet:feed:{{{name}}}:packets"));
            cluster()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .master_of(feed_slot)
                == master
        })
        .expect("a feed name on that master");
    let feed_a = Feed::redis(&producer, &name).await.unwrap();
    let feed_b = Feed::redis(&reader, &name).await.unwrap();
    let addr = serve(app(&feed_b)).await;
    let mut follower = Reader::new(follow(addr, Format::Ndjson, None).await);
    wait_for("the subscriber to join", || async {
        (feed_b.subscribers() == 1).then_some(())
    })
    .await;
    for n in 1..=3 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }

    // The master of the stream and the feed is killed; its replica takes
    // over, and the killed node comes back as a replica.
    let failover = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster().lock().unwrap_or_else(|e| e.into_inner());
        cluster.fail_over(master, stream_slot)
    });
    let end = tokio::time::timeout(PATIENCE * 2, rest.read_to_end())
        .await
        .expect("the reader ends: never a hang");
    let promoted = failover.await.unwrap();
    assert_ne!(promoted, master);
    assert_eq!(end, End::Final, "a final packet, not a cut");
    let mut all = first.events.clone();
    all.extend(rest.events.clone());
    assert_once_in_order_or_an_error(&all, &expected(n));

    // The feed's subscriber: what was published, or an error packet.
    let published = wait_for("a publish on the new master", || {
        let feed_a = &feed_a;
        async move {
            match feed_a.publish(json!({ "n": 4 })).await {
                Ok(_) => Some(()),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    None
                }
            }
        }
    });
    published.await;
    feed_a.close(json!("over")).await.unwrap();
    let events = tokio::time::timeout(PATIENCE, follower.rest())
        .await
        .expect("the subscriber's stream ends: never a hang");
    let mut want: Vec<Event> = (1..=4)
        .map(|n| Event::Progress(json!({ "n": n })))
        .collect();
    want.push(Event::Done(json!("over")));
    assert_once_in_order_or_an_error(&events, &want);

    // The cluster serves new jobs whole, resumed on the other server after
    // three packets (paced, so that the first reading stops before the end).
    let mut first = Reading::new(
        open(
            &format!("http://{a}/count?n=10&pause_ms=50"),
            Format::Sse,
            None,
        )
        .await,
        0,
    );
    let early = first.until(3).await;
    assert_eq!(
        early, None,
        "a new job after the failover: {:?}",
        first.events
    );
    let point = first.resume_point();
    let mut rest = Reading::new(
        open(
            &format!("http://{b}/count?n=10&pause_ms=50"),
            Format::Sse,
            Some(&point),
        )
        .await,
        first.received,
    );
    assert_eq!(rest.read_to_end().await, End::Final);
    let mut all = first.events.clone();
    all.extend(rest.events.clone());
    assert_eq!(all, expected(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_moved_while_a_job_runs_and_a_feed_is_followed_lose_nothing() {
    let _alone = FAILOVER.write().await;
    let ports = ports();
    let url = format!("redis://127.0.0.1:{}", ports[0]);
    let producer = RedisStore::connect(&url).await.expect("the cluster");
    let reader = RedisStore::connect(&url).await.expect("the cluster");
    let a = instance(producer.clone()).await;
    let b = instance(reader.clone()).await;

    // A job on one server, read on the other.
    let n = 60;
    let path = format!("/count?n={n}&pause_ms=50");
    let mut first = Reading::new(
        open(&format!("http://{a}{path}"), Format::Sse, None).await,
        0,
    );
    assert_eq!(first.until(3).await, None);
    let point = first.resume_point();
    let mut rest = Reading::new(
        open(&format!("http://{b}{path}"), Format::Sse, Some(&point)).await,
        first.received,
    );
    let meta = format!("rivulet:{{{}}}:meta", first.stream_id);
    let stream_slot = slot(ports[0], &meta);

    // A feed followed on one server, published on the other.
    let feed_a = Feed::redis(&producer, "resharded").await.unwrap();
    let feed_b = Feed::redis(&reader, "resharded").await.unwrap();
    let addr = serve(app(&feed_b)).await;
    let mut follower = Reader::new(follow(addr, Format::Ndjson, None).await);
    wait_for("the subscriber to join", || async {
        (feed_b.subscribers() == 1).then_some(())
    })
    .await;
    for n in 1..=3 {
        feed_a.publish(json!({ "n": n })).await.unwrap();
    }
    let feed_slot = slot(ports[0], "rivulet:feed:{resharded}:packets");
    // A stream whose notifications a reader is subscribed to.
    let waited = a_waiting_reader_wakes(&producer, &reader).await;
    let waited_slot = slot(ports[0], &format!("rivulet:{{{waited}}}:meta"));

    // The slots move to another master while the job appends: its commands
    // meet ASK, TRYAGAIN, then MOVED.
    let moving = tokio::task::spawn_blocking(move || {
        let cluster = cluster().lock().unwrap_or_else(|e| e.into_inner());
        let mut moved = Vec::new();
        let mut slots = vec![stream_slot, feed_slot, waited_slot];
        slots.sort_unstable();
        slots.dedup();
        for slot in slots {
            let from = cluster.master_of(slot);
            let to = (0..cluster.nodes.len())
                .find(|node| {
                    *node != from
                        && redis_cli(cluster.nodes[*node].port, None, &["role"])
                            .starts_with("master")
                })
                .expect("another master");
            cluster.move_slot(slot, to);
            moved.push((slot, cluster.nodes[to].port));
        }
        moved
    });
    let end = tokio::time::timeout(PATIENCE * 2, rest.read_to_end())
        .await
        .expect("the reader ends: never a hang");
    let moved = moving.await.unwrap();
    assert_eq!(end, End::Final);
    let mut all = first.events.clone();
    all.extend(rest.events.clone());
    assert_eq!(all, expected(n), "every packet once, in order");
    // The slots were moved in their order, not the stream's first.
    let stream_node = moved
        .iter()
        .find_map(|&(slot, port)| (slot == stream_slot).then_some(port))
        .expect("the stream's slot moved");
    let exists = redis_cli(stream_node, None, &["exists", &meta]);
    assert_eq!(exists.trim(), "1", "the stream is on its new node");
    // The old node dropped the subscription with the slot: the reader's
    // server subscribed again on the new node, and a reader waiting far
    // longer than the test is woken by the next append.
    a_waiting_reader_of_wakes(&producer, &reader, waited).await;

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
    assert_eq!(events, want, "every packet once, in order");
}
