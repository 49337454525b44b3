//! Append notifications reach only the servers that read the stream: each
//! stream has its own channel, which a `RedisStore` subscribes to while it
//! reads that stream. Two stores (two servers) share a real `redis-server`
//! started on a free loopback port.

#![cfg(feature = "redis")]

use std::time::Duration;

use rivulet::history::Packet;
use rivulet::protocol::PacketKind;
use rivulet::resume::{RedisStore, Store, StreamId};
use rivulet_testkit::{PATIENCE, RedisServer, eventually, wait_for};

fn packet(seq: u64, last: bool) -> Packet {
    let kind = if last {
        PacketKind::Done
    } else {
        PacketKind::Progress
    };
    let data = serde_json::value::RawValue::from_string(seq.to_string()).expect("a number is JSON");
    Packet::new(seq, kind, data)
}

/// How many channels have a subscriber, as the server counts them.
fn subscribed_channels(redis: &RedisServer) -> usize {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "PUBSUB", "CHANNELS"])
        .output()
        .expect("redis-cli runs (apt-get install redis-tools, or scripts/setup)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

#[tokio::test]
async fn a_server_receives_the_notifications_of_the_streams_it_reads_only() {
    let redis = RedisServer::start();
    let a = RedisStore::connect(&redis.url()).await.unwrap();
    let b = RedisStore::connect(&redis.url()).await.unwrap();
    let lease = Duration::from_secs(30);
    let read_on_a = StreamId::random();
    let read_on_b = StreamId::random();
    for stream in [read_on_a, read_on_b] {
        a.create(stream, Some("a"), lease, lease).await.unwrap();
    }
    let reader = |store: RedisStore, stream: StreamId| {
        tokio::spawn(async move {
            let mut after = 0;
            loop {
                for packet in store.read(stream, after, 16, PATIENCE).await.unwrap() {
                    after = packet.seq;
                    if packet.is_final() {
                        return after;
                    }
                }
            }
        })
    };
    let on_a = reader(a.clone(), read_on_a);
    let on_b = reader(b.clone(), read_on_b);
    // Both readers wait (subscribed) before the appends: Redis itself says
    // when both channels have their subscriber.
    wait_for("both readers subscribed", || async {
        (subscribed_channels(&redis) >= 2).then_some(())
    })
    .await;
    const PACKETS: u64 = 50;
    for seq in 1..=PACKETS {
        for stream in [read_on_a, read_on_b] {
            a.append(stream, packet(seq, seq == PACKETS)).await.unwrap();
        }
    }
    for reader in [on_a, on_b] {
        let last = tokio::time::timeout(PATIENCE, reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(last, PACKETS);
    }
    // Each server got the notifications of its own stream, none of the other.
    // (With one channel for every stream, each got all 100.) The reader saw
    // the last packet, but its notification may still be on the way.
    eventually("each server's own notifications", || {
        a.notifications_received() >= PACKETS && b.notifications_received() >= PACKETS
    })
    .await;
    assert_eq!(a.notifications_received(), PACKETS);
    assert_eq!(b.notifications_received(), PACKETS);
}
