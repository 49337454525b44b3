//! Subscribers that stop reading, beside one that reads: the feed keeps no
//! more than its byte bound for them, cuts them off once they are that far
//! behind, and they leave the subscriber count and free their stream slots
//! at once, while their connections are still open. Real server on loopback,
//! raw TCP connections that never read.

use rivulet::Config;
use rivulet::decode::Event;
use rivulet::feed::Feed;
use rivulet::{Format, feed::FELL_BEHIND_MESSAGE};
use rivulet_testkit::feed::{app, follow, take};
use rivulet_testkit::{Reader, eventually, serve};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

const STALLED: usize = 8;
const BOUND: usize = 256 * 1024;
const PACKET: usize = 16 * 1024;

/// Follows the feed at `addr` and never reads; the receive buffer is small so
/// that the connection stalls soon.
async fn stalled(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(addr).await.unwrap();
    let request = "GET /feed HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscribers_are_bounded_in_bytes_and_cut_off_freeing_their_slots_at_once() {
    let feed = Feed::new().buffer_bytes(BOUND);
    let addr = serve(app(&feed).layer(Config::default().max_streams(STALLED + 1))).await;
    let mut live = Reader::new(follow(addr, Format::Ndjson, None).await);
    let mut idle = Vec::new();
    for _ in 0..STALLED {
        idle.push(stalled(addr).await);
    }
    eventually("every subscriber to join", || {
        feed.subscribers() == STALLED + 1
    })
    .await;
    let refused = follow(addr, Format::Sse, None).await;
    assert_eq!(refused.status(), 503, "every slot is taken");

    let text = "x".repeat(PACKET);
    let mut published = 0;
    // A stalled connection absorbs a few MiB in socket buffers before its
    // body stops taking packets; 4,000 packets are 64 MiB.
    while feed.subscribers() > 1 {
        published += 1;
        assert!(
            published <= 4000,
            "the stalled subscribers were not cut off"
        );
        feed.publish(json!({ "n": published, "text": text }))
            .await
            .unwrap();
        let got = take(&mut live, 1).await;
        assert!(matches!(&got[..], [Event::Progress(v)] if v["n"] == published));
        assert!(
            feed.buffered_bytes() <= BOUND + 2 * PACKET,
            "the feed keeps {} bytes",
            feed.buffered_bytes()
        );
    }
    assert_eq!(feed.subscribers(), 1, "only the reader follows");
    // The stalled connections are still open, yet their slots are free.
    let admitted = follow(addr, Format::Sse, None).await;
    assert_eq!(admitted.status(), 200);
    drop(admitted);
    // The reader carries on.
    feed.publish(json!({ "n": "last" })).await.unwrap();
    let got = take(&mut live, 1).await;
    assert_eq!(got, vec![Event::Progress(json!({ "n": "last" }))]);
    // A stalled subscriber that reads now gets its error packet at the end.
    let mut first = idle.swap_remove(0);
    let mut raw = Vec::new();
    // The connection stays open (keep-alive): read until the error packet.
    let read = tokio::time::timeout(rivulet_testkit::PATIENCE, async {
        use tokio::io::AsyncReadExt;
        let mut chunk = vec![0; 64 * 1024];
        while !String::from_utf8_lossy(&raw).contains(FELL_BEHIND_MESSAGE) {
            let n = first.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before the error packet");
            raw.extend_from_slice(&chunk[..n]);
        }
    });
    read.await.expect("the error packet comes");
}
