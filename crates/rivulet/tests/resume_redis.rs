//! Resumable streams shared through Redis by several server instances, against
//! a real `redis-server` this test starts on a free loopback port (it fails,
//! loudly, without one: `apt-get install redis-server`, or `scripts/setup`).
//!
//! Run with `cargo test -p rivulet-http --features redis --test resume_redis`.

#![cfg(feature = "redis")]

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};
use rivulet::Format;
use rivulet::decode::Event;
use rivulet::history::Packet;
use rivulet::protocol::PacketKind;
use rivulet::protocol::{CANCELLED_MESSAGE, JOB_LOST_MESSAGE};
use rivulet::resume::{RedisStore, Resume, Store, StoreError, StreamId};
use rivulet_testkit::{
    DropSignal, End, Proxy, Reading, RedisServer, cancel, counting, endless, expected, open, serve,
    wait_for,
};
use serde_json::json;
use serde_json::value::RawValue;

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

/// A server instance whose resumable streams live in the Redis at `url`.
async fn instance(url: &str, configure: impl FnOnce(Resume) -> Resume) -> SocketAddr {
    let store = RedisStore::connect(url).await.expect("Redis answers");
    let resume = configure(Resume::new(store));
    serve(
        Router::new()
            .route("/count", get(counting))
            .layer(Extension(resume)),
    )
    .await
}

#[tokio::test]
async fn a_cut_stream_resumes_on_another_instance_exactly_once() {
    let redis = RedisServer::start();
    // A grace period shorter than the stream: the job on `a` survives only
    // because the client, now connected to `b`, is seen through the store.
    let settings = |resume: Resume| resume.grace(Duration::from_secs(1));
    let a = instance(&redis.url(), settings).await;
    let b = instance(&redis.url(), settings).await;
    let proxy = Proxy::start(a).await;
    for format in Format::ALL {
        let path = "/count?n=100&pause_ms=20";
        let mut first = Reading::new(
            open(&format!("http://{}{path}", proxy.addr), format, None).await,
            0,
        );
        assert_eq!(first.until(5).await, None, "{format}");
        proxy.cut();
        assert_eq!(first.read_to_end().await, End::Cut, "{format}");

        let point = first.resume_point();
        let mut rest = Reading::new(
            open(&format!("http://{b}{path}"), format, Some(&point)).await,
            first.received,
        );
        assert_eq!(rest.stream_id, first.stream_id);
        assert_eq!(rest.read_to_end().await, End::Final, "{format}");
        let mut all = first.events.clone();
        all.extend(rest.events.clone());
        assert_eq!(all, expected(100), "{format}: every packet once, in order");

        // Both instances know it has ended.
        for server in [a, b] {
            let url = format!("http://{server}{path}");
            let again = open(&url, format, Some(&rest.resume_point())).await;
            assert_eq!(again.status(), StatusCode::NO_CONTENT, "{format}");
        }
    }
}

#[tokio::test]
async fn a_dead_producer_ends_the_stream_with_an_error_after_its_lease() {
    let redis = RedisServer::start();
    let lease = Duration::from_millis(1000);
    let settings = move |resume: Resume| resume.lease(lease);

    // Instance `a` runs in a runtime of its own, on its own thread: shutting
    // that runtime down stops its tasks without a word, as a crash would.
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let url = redis.url();
    let a_thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let _ = addr_tx.send(instance(&url, settings).await);
            let _ = kill_rx.await;
        });
        runtime.shutdown_background();
    });
    let a = addr_rx.await.unwrap();
    let b = instance(&redis.url(), settings).await;

    // An endless job on `a`, followed from `b`.
    let path = "/count?n=1000000&pause_ms=10";
    let mut on_a = Reading::new(
        open(&format!("http://{a}{path}"), Format::Sse, None).await,
        0,
    );
    assert_eq!(on_a.until(3).await, None);
    let point = on_a.resume_point();
    let mut on_b = Reading::new(
        open(&format!("http://{b}{path}"), Format::Sse, Some(&point)).await,
        3,
    );
    assert_eq!(on_b.until(3).await, None);

    kill_tx.send(()).unwrap();
    a_thread.join().unwrap();
    assert_eq!(on_a.read_to_end().await, End::Cut);

    // `b` goes on with what `a` stored, then ends with an error.
    assert_eq!(on_b.read_to_end().await, End::Final);
    let (last, packets) = on_b.events.split_last().unwrap();
    for (n, event) in packets.iter().enumerate() {
        assert_eq!(event, &Event::Progress(json!({ "i": n as u64 + 4 })));
    }
    match last {
        Event::Error(error) => {
            // Final, not the retryable 503.
            assert_eq!(error.status, 500);
            assert_eq!(error.message, JOB_LOST_MESSAGE);
        }
        other => panic!("expected an error packet, got {other:?}"),
    }
    // So does a client that comes back later, with the same packet stored
    // as the stream's last: its SSE id goes on from the others'.
    let mut late = Reading::new(
        open(&format!("http://{b}{path}"), Format::Ndjson, Some(&point)).await,
        3,
    );
    assert_eq!(late.read_to_end().await, End::Final);
    assert_eq!(late.events, on_b.events);
    let before_end = format!("{}.{}", on_b.stream_id, on_b.received - 1);
    // One missing only the final packet gets it as the whole answer: an
    // error before any packet is an HTTP error with the same object.
    let last_only = open(&format!("http://{b}{path}"), Format::Sse, Some(&before_end)).await;
    assert_eq!(last_only.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = last_only.json().await.unwrap();
    assert_eq!(body["error"]["message"], JOB_LOST_MESSAGE, "{body}");
    // A client that has it gets 204.
    let done = open(
        &format!("http://{b}{path}"),
        Format::Sse,
        Some(&on_b.resume_point()),
    )
    .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_cancel_sent_to_one_server_stops_the_job_on_another() {
    let redis = RedisServer::start();
    let (dropped, mut drops) = tokio::sync::mpsc::unbounded_channel();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(&redis.url())
            .await
            .expect("Redis answers");
        let app = Router::new()
            .route("/job", get(endless).delete(endless))
            .layer(Extension(Resume::new(store)))
            .layer(Extension(DropSignal(dropped.clone())));
        servers.push(serve(app).await);
    }
    let (a, b) = (servers[0], servers[1]);
    let mut on_a = Reading::new(open(&format!("http://{a}/job"), Format::Sse, None).await, 0);
    assert_eq!(on_a.until(2).await, None);
    let point = on_a.resume_point();
    let mut on_b = Reading::new(
        open(&format!("http://{b}/job"), Format::Ndjson, Some(&point)).await,
        2,
    );
    assert_eq!(on_b.until(1).await, None);

    let answer = cancel(&format!("http://{b}/job"), Some(&point)).await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body, json!({ "cancelled": on_a.stream_id }));
    tokio::time::timeout(Duration::from_secs(5), drops.recv())
        .await
        .expect("the job on the other server is dropped soon after")
        .expect("a drop signal");

    let cancelled = |event: Option<&Event>| matches!(event, Some(Event::Error(e)) if e.message == CANCELLED_MESSAGE && e.status == 409);
    for reading in [&mut on_a, &mut on_b] {
        assert_eq!(reading.read_to_end().await, End::Final);
        assert!(
            cancelled(reading.events.last()),
            "{:?}",
            reading.events.last()
        );
    }
    // Later: the same final packet from either server, or 204 with it in hand.
    for server in [a, b] {
        let mut later = Reading::new(
            open(&format!("http://{server}/job"), Format::Sse, Some(&point)).await,
            2,
        );
        assert_eq!(later.read_to_end().await, End::Final);
        assert!(cancelled(later.events.last()));
        let done = open(
            &format!("http://{server}/job"),
            Format::Sse,
            Some(&later.resume_point()),
        )
        .await;
        assert_eq!(done.status(), StatusCode::NO_CONTENT);
        let again = cancel(&format!("http://{server}/job"), Some(&point)).await;
        assert_eq!(again.status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test]
async fn redis_keys_expire_and_a_bounded_stream_reports_eviction() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url())
        .await
        .unwrap()
        .max_packets_per_stream(3);
    let id = StreamId::random();
    let ttl = Duration::from_secs(60);
    store
        .create(id, Some("owner"), Duration::from_secs(5), ttl)
        .await
        .unwrap();
    for seq in 1..=10 {
        let packet = if seq == 10 {
            Packet::new(seq, PacketKind::Done, raw("null"))
        } else {
            Packet::new(seq, PacketKind::Progress, raw(&seq.to_string()))
        };
        store.append(id, packet.clone()).await.unwrap();
        // A retried append is stored once.
        store.append(id, packet).await.unwrap();
    }
    let kept = store.read(id, 7, 100, Duration::ZERO).await.unwrap();
    assert_eq!(kept.iter().map(|p| p.seq).collect::<Vec<_>>(), [8, 9, 10]);
    assert!(kept[2].is_final() && !kept[1].is_final());
    assert_eq!(kept[1].kind, PacketKind::Progress);
    assert_eq!(kept[1].data.get(), "9");
    assert_eq!(
        (kept[2].kind, kept[2].data.get()),
        (PacketKind::Done, "null")
    );
    match store.read(id, 2, 100, Duration::ZERO).await {
        Err(StoreError::Evicted { first_kept: 8 }) => {}
        other => panic!("expected eviction, got {other:?}"),
    }
    let status = store.status(id).await.unwrap().unwrap();
    assert!(status.finished);
    assert_eq!(status.last, 10);
    assert_eq!(status.owner.as_deref(), Some("owner"));
    assert!(store.status(StreamId::random()).await.unwrap().is_none());

    // Every key of the stream expires.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("rivulet:{{{id}}}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    for key in keys {
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl_ms > 0, "{key} has no expiry ({ttl_ms})");
    }
}

#[tokio::test]
async fn a_reader_wakes_on_appends_from_another_instance() {
    let redis = RedisServer::start();
    let producer = RedisStore::connect(&redis.url()).await.unwrap();
    let reader = RedisStore::connect(&redis.url()).await.unwrap();
    let id = StreamId::random();
    producer
        .create(id, None, Duration::from_secs(5), Duration::from_secs(60))
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        // Far longer than the test waits: it returns because of the append.
        reader.read(id, 0, 10, Duration::from_secs(3600)).await
    });
    // Appends until the reader has what it waited for (the subscription may
    // not be up for the first ones; a later one wakes it).
    let got = wait_for("the waiting reader to wake", || {
        let producer = producer.clone();
        let waiting = &waiting;
        async move {
            if waiting.is_finished() {
                return Some(());
            }
            let status = producer.status(id).await.unwrap().unwrap();
            let seq = status.last + 1;
            let packet = Packet::new(seq, PacketKind::Progress, raw(&seq.to_string()));
            producer.append(id, packet).await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    })
    .await;
    let () = got;
    let packets = waiting.await.unwrap().unwrap();
    assert_eq!(packets.first().map(|p| p.seq), Some(1));
}

#[tokio::test]
async fn a_redis_that_goes_away_ends_the_stream_with_an_error_not_a_hang() {
    let redis = RedisServer::start();
    let lease = Duration::from_millis(600);
    let server = instance(&redis.url(), move |resume| resume.lease(lease)).await;
    let url = format!("http://{server}/count?n=1000000&pause_ms=10");
    let mut reading = Reading::new(open(&url, Format::Ndjson, None).await, 0);
    assert_eq!(reading.until(3).await, None);
    drop(redis);
    // Every read and check now fails; the connection ends with an error
    // packet instead of waiting forever.
    assert_eq!(reading.read_to_end().await, End::Final);
    match reading.events.last() {
        Some(Event::Error(error)) => assert_eq!(error.status, 503, "{error:?}"),
        other => panic!("expected an error packet, got {other:?}"),
    }
}

#[tokio::test]
async fn an_entry_the_store_did_not_write_is_a_corrupt_entry_error() {
    use rivulet::history::CorruptEntry;

    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url()).await.unwrap();
    let id = StreamId::random();
    let lease = Duration::from_secs(5);
    store
        .create(id, None, lease, Duration::from_secs(60))
        .await
        .unwrap();
    store
        .append(id, Packet::new(1, PacketKind::Progress, raw("1")))
        .await
        .unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg(format!("rivulet:{{{id}}}:packets"))
        .arg("0-2")
        .arg("k")
        .arg("gossip")
        .arg("d")
        .arg("2")
        .query_async(&mut connection)
        .await
        .unwrap();
    match store.read(id, 1, 10, Duration::ZERO).await {
        Err(StoreError::Backend(e)) => assert_eq!(
            e.downcast_ref::<CorruptEntry>(),
            Some(&CorruptEntry::NotAPacket { id: "0-2".into() })
        ),
        other => panic!("expected a corrupt entry, got {other:?}"),
    }
}
