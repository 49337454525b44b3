//! `/stream/durable` of the demo, the real binary run twice as
//! `rivulet demo --redis URL` against one `redis-server` on loopback: a stream
//! started on one server resumes on the other, and `rivulet watch` rides out a
//! connection cut by a proxy.

#[path = "../crates/rivulet/tests/resume_support/mod.rs"]
mod resume_support;

use std::process::{Child, Command, Stdio};

use resume_support::{End, PATIENCE, Proxy, Reading, RedisServer, open};
use rivulet::Format;
use rivulet::decode::Event;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

/// A `rivulet demo` child process, killed when dropped.
struct Demo {
    addr: String,
    child: Child,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

async fn demo(redis: &str) -> Demo {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(["demo", "--addr", &addr, "--redis", redis])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Demo { addr, child };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(&demo.addr).await.is_err() {
        if let Ok(Some(status)) = demo.child.try_wait() {
            panic!("rivulet demo exited: {status}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "demo never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    demo
}

#[tokio::test]
async fn a_durable_stream_started_on_one_demo_server_resumes_on_another() {
    let redis = RedisServer::start();
    let a = demo(&redis.url()).await;
    let b = demo(&redis.url()).await;
    let path = "/stream/durable?items=40&every=1&interval_ms=10";
    let mut first = Reading::new(
        open(&format!("http://{}{path}", a.addr), Format::Ndjson, None).await,
        0,
    );
    assert_eq!(first.until(4).await, None);
    let point = first.resume_point();
    drop(first.response);

    let mut rest = Reading::new(
        open(
            &format!("http://{}{path}", b.addr),
            Format::Sse,
            Some(&point),
        )
        .await,
        first.received,
    );
    assert_eq!(rest.read_to_end().await, End::Final);
    let mut all = first.events.clone();
    all.extend(rest.events.clone());
    let (last, progress) = all.split_last().unwrap();
    let mut expected = vec![Event::Progress(json!("Starting durable process"))];
    expected.extend((1..=40).map(|i| Event::Progress(json!(format!("Processed {i} items")))));
    assert_eq!(progress, expected, "every packet once, in order");
    match last {
        Event::Done(done) => assert_eq!(done["processed"], 40),
        other => panic!("expected done, got {other:?}"),
    }
}

#[tokio::test]
async fn the_demo_refuses_to_start_without_its_redis() {
    let port = free_port(); // nothing listens there
    let output = Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(["demo", "--addr", "127.0.0.1:0"])
        .args(["--redis", &format!("redis://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot use Redis"), "{stderr}");
}

/// Runs `rivulet watch --json` with `flags` on a durable stream through a proxy
/// that cuts the connection after three packets; gives its exit status, the
/// events it printed, and how many connections went through the proxy.
async fn watch_through_a_cut(flags: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, usize) {
    let redis = RedisServer::start();
    let server = demo(&redis.url()).await;
    let proxy = Proxy::start(server.addr.parse().unwrap()).await;
    let url = format!(
        "http://{}/stream/durable?items=30&every=1&interval_ms=20",
        proxy.addr
    );
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(["watch", "--json"])
        .args(flags)
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    while let Some(line) = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
    {
        events.push(serde_json::from_str(&line).expect("a JSON object per line"));
        if events.len() == 3 {
            proxy.cut();
        }
    }
    let status = tokio::time::timeout(PATIENCE, watch.wait())
        .await
        .expect("watch exits in time")
        .unwrap();
    (status.code(), events, proxy.connections())
}

#[tokio::test]
async fn rivulet_watch_resumes_a_durable_stream_after_a_cut() {
    let (status, events, connections) = watch_through_a_cut(&[]).await;
    assert_eq!(status, Some(0), "exit status of a done stream");
    let events: Vec<Event> = events
        .into_iter()
        .map(|e| serde_json::from_value(e).expect("an event"))
        .collect();
    let (last, progress) = events.split_last().unwrap();
    let mut expected = vec![Event::Progress(json!("Starting durable process"))];
    expected.extend((1..=30).map(|i| Event::Progress(json!(format!("Processed {i} items")))));
    assert_eq!(progress, expected, "every packet once, in order");
    assert!(matches!(last, Event::Done(_)), "{last:?}");
    assert!(connections >= 2, "watch reconnected");
}

#[tokio::test]
async fn rivulet_watch_without_reconnect_exits_2_at_the_cut() {
    let (status, events, connections) = watch_through_a_cut(&["--no-reconnect"]).await;
    assert_eq!(status, Some(2));
    assert_eq!(events.last().unwrap()["type"], "failure", "{events:?}");
    assert_eq!(connections, 1, "no second connection");
}
