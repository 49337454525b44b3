//! A feed subscriber that stops reading is cut off with its error packet
//! while the others go on, and the server keeps nothing for it beyond its
//! buffer. A test binary of its own, so that the resident memory it measures
//! is not moved by other tests.

use rivulet::Format;
use rivulet::decode::Event;
use rivulet::feed::{FELL_BEHIND_MESSAGE, Feed};
use rivulet_testkit::feed::app;
use rivulet_testkit::{PATIENCE, Reader, client, eventually, serve};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_cut_off_while_the_others_go_on() {
    const PACKETS: u64 = 4000;
    let feed = Feed::new().buffer(16).window_packets(16);
    let addr = serve(app(&feed)).await;
    // The stalled client reads the response head, then nothing.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /feed HTTP/1.1\r\nHost: x\r\nAccept: application/x-ndjson\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let _ = tokio::time::timeout(PATIENCE, stalled.read(&mut head))
        .await
        .unwrap();
    let response = client()
        .get(format!("http://{addr}/feed"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut reading = Reader::new(response);
    assert_eq!(
        reading.response.headers()["content-type"],
        Format::Sse.content_type()
    );
    eventually("both to join", || feed.subscribers() == 2).await;

    let rss_before = rivulet_testkit::rss_bytes();
    let blob = "x".repeat(8 * 1024);
    // In step with the reading client, which thus never falls behind; the
    // stalled one does, whatever the pace.
    for n in 1..=PACKETS {
        feed.publish(json!({ "n": n, "blob": blob })).await.unwrap();
        let Some(Ok(Event::Progress(value))) = reading.next().await else {
            panic!("packet {n} missing");
        };
        assert_eq!(value["n"], json!(n));
        reading.raw.clear();
    }
    let growth = rivulet_testkit::rss_bytes().saturating_sub(rss_before);
    assert_eq!(feed.subscribers(), 1, "the stalled subscriber was let go");
    // 4000 packets of 8 KiB went out: 32 MiB, none of it kept for the
    // stalled client beyond its buffer and its socket.
    assert!(growth < 16 << 20, "RSS grew by {growth} bytes");

    // When it reads at last: what its socket held, then its error packet.
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stalled.read_to_end(&mut raw))
        .await
        .expect("the stalled response ends")
        .unwrap();
    assert!(raw.len() < 8 << 20, "{} bytes were kept for it", raw.len());
    let text = String::from_utf8_lossy(&raw);
    let tail = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a packet");
    let error: Value = serde_json::from_str(tail).expect("the last line is a whole packet");
    assert_eq!(error["error"]["status"], json!(410), "{tail}");
    assert_eq!(error["error"]["message"], json!(FELL_BEHIND_MESSAGE));
}
