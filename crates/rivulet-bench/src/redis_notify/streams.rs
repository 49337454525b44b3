//! 1,000 resumable streams appended by two servers, each reading half of
//! them: the notifications each server receives, the commands each node runs.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::history::Packet;
use rivulet::protocol::PacketKind;
use rivulet::resume::{RedisStore, Store, StreamId};

use super::servers::{PATIENCE, cli, print_commands};

fn record(seq: u64, last: bool) -> Packet {
    let kind = if last {
        PacketKind::Done
    } else {
        PacketKind::Progress
    };
    let data = serde_json::value::RawValue::from_string(seq.to_string()).expect("a number is JSON");
    Packet::new(seq, kind, data)
}

/// Reads `stream` to its last packet, as a resumed connection would.
async fn read_to_end(store: RedisStore, stream: StreamId) {
    let mut after = 0;
    loop {
        let packets = store
            .read(stream, after, 64, Duration::from_secs(5))
            .await
            .expect("a read");
        for packet in packets {
            after = packet.seq;
            if packet.is_final() {
                return;
            }
        }
    }
}

/// Runs the scenario on the Redis at `url`, whose nodes listen on `ports`.
pub(super) async fn measure(
    deployment: &str,
    url: &str,
    ports: &[u16],
    streams: usize,
    packets: u64,
) {
    let servers = [
        RedisStore::connect(url).await.expect("Redis answers"),
        RedisStore::connect(url).await.expect("Redis answers"),
    ];
    let ids: Vec<StreamId> = (0..streams).map(|_| StreamId::random()).collect();
    let lease = Duration::from_secs(60);
    for port in ports {
        cli(*port, &["config", "resetstat"]);
    }
    for (i, id) in ids.iter().enumerate() {
        servers[i % 2]
            .create(*id, Some("bench"), lease, lease)
            .await
            .expect("created");
    }
    // Server i % 2 runs the job of stream i, and server i / (streams / 2)
    // reads it: half of the readers read a stream the other server produces.
    let readers: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| tokio::spawn(read_to_end(servers[i * 2 / streams].clone(), *id)))
        .collect();
    // Let the readers start waiting before the appends begin.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    for seq in 1..=packets {
        futures::stream::iter(ids.iter().enumerate())
            .for_each_concurrent(64, |(i, id)| {
                let store = &servers[i % 2];
                async move {
                    store
                        .append(*id, record(seq, seq == packets))
                        .await
                        .expect("appended")
                }
            })
            .await;
    }
    for reader in readers {
        tokio::time::timeout(PATIENCE, reader)
            .await
            .expect("every reader gets its last packet in time")
            .expect("the reader ran");
    }
    let elapsed = started.elapsed();
    // Notifications still on their way are counted too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let appends = (streams as u64) * packets;
    println!(
        "  redis-notify, {deployment}: 2 servers, {streams} streams x {packets} packets = {appends} appends, each server reading {} streams, in {:.2} s",
        streams / 2,
        elapsed.as_secs_f64()
    );
    for (name, server) in ["A", "B"].iter().zip(&servers) {
        let received = server.notifications_received();
        println!(
            "    server {name}: {received} notifications received = {:.2} of all appends ({} needed for the streams it reads)",
            received as f64 / appends as f64,
            appends / 2
        );
    }
    // Creating, appending, reading and waiting, as each node counted them.
    print_commands(ports, appends, "append");
}
