//! `/stream/durable` of the demo, the real binary run twice as
//! `rivulet demo --redis URL` against one `redis-server` on loopback: a stream
//! started on one server resumes on the other, and `rivulet watch` rides out a
//! connection cut by a proxy.

use rivulet::Format;
use rivulet::decode::Event;
use rivulet_testkit::{
    Demo, End, PATIENCE, Proxy, Reading, RedisServer, binary_command, free_port, next_line, open,
    stdout_lines,
};
use serde_json::json;

/// `rivulet demo` keeping its durable streams in the Redis at `redis`.
async fn demo(redis: &str) -> Demo {
    Demo::start(&["--redis", redis]).await
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
    let output = tokio::time::timeout(
        PATIENCE,
        binary_command(&["demo", "--addr", "127.0.0.1:0"])
            .args(["--redis", &format!("redis://127.0.0.1:{port}")])
            .output(),
    )
    .await
    .expect("the demo exits in time")
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
    let mut watch = binary_command(&["watch", "--json"])
        .args(flags)
        .arg(&url)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = stdout_lines(&mut watch);
    let mut events = Vec::new();
    while let Some(line) = next_line(&mut lines).await {
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

/// Runs `rivulet watch --json FLAGS` on a long durable stream of a demo
/// server, presses Ctrl-C after two packets, and gives the run.
async fn interrupt_a_durable_watch(flags: &[&str]) -> rivulet_testkit::Run {
    let server = Demo::start(&[]).await;
    let url = format!(
        "http://{}/stream/durable?items=100000&every=1&interval_ms=50",
        server.addr
    );
    let mut args = vec!["--json"];
    args.extend_from_slice(flags);
    args.push(&url);
    let mut child = rivulet_testkit::spawn_watch(&args);
    let mut stdout = stdout_lines(&mut child);
    for _ in 0..2 {
        next_line(&mut stdout).await.expect("a packet");
    }
    rivulet_testkit::interrupt(&child);
    while next_line(&mut stdout).await.is_some() {}
    rivulet_testkit::finish(child).await
}

#[tokio::test]
async fn rivulet_watch_cancels_the_job_on_ctrl_c_when_asked() {
    let run = interrupt_a_durable_watch(&["--cancel-on-interrupt"]).await;
    assert_eq!(run.code, Some(130), "{run:?}");
    assert!(
        run.stderr.contains("interrupted: the stream was cancelled"),
        "{run:?}"
    );
}

#[tokio::test]
async fn rivulet_watch_only_disconnects_on_ctrl_c_and_says_how_to_resume() {
    let run = interrupt_a_durable_watch(&[]).await;
    assert_eq!(run.code, Some(130), "{run:?}");
    assert!(run.stderr.contains("the job keeps running"), "{run:?}");
    assert!(run.stderr.contains("--resume "), "{run:?}");
}

#[tokio::test]
async fn a_killed_demo_servers_job_ends_with_the_lost_job_packet_everywhere() {
    let redis = RedisServer::start();
    let a = demo(&redis.url()).await;
    let b = demo(&redis.url()).await;
    let path = "/stream/durable?items=100000&every=1&interval_ms=50";
    let mut on_a = Reading::new(
        open(&format!("http://{}{path}", a.addr), Format::Sse, None).await,
        0,
    );
    assert_eq!(on_a.until(2).await, None);
    let point = on_a.resume_point();
    let mut on_b = Reading::new(
        open(
            &format!("http://{}{path}", b.addr),
            Format::Ndjson,
            Some(&point),
        )
        .await,
        2,
    );
    assert_eq!(on_b.until(1).await, None);

    drop(a); // SIGKILL: no word to the store
    // Within the lease (10 s) and the test's patience, `b` ends the stream.
    assert_eq!(on_b.read_to_end().await, End::Final);
    let lost = |event: Option<&Event>| {
        matches!(event, Some(Event::Error(e))
            if e.message == rivulet::protocol::JOB_LOST_MESSAGE && e.status == 500)
    };
    assert!(lost(on_b.events.last()), "{:?}", on_b.events.last());
    // A later resume gets the same final packet, not a retryable 503.
    let mut later = Reading::new(
        open(
            &format!("http://{}{path}", b.addr),
            Format::Sse,
            Some(&point),
        )
        .await,
        2,
    );
    assert_eq!(later.read_to_end().await, End::Final);
    assert_eq!(later.events, on_b.events);
    // And a cancel finds nothing running.
    let cancel = rivulet_testkit::cancel(&format!("http://{}{path}", b.addr), Some(&point)).await;
    assert_eq!(cancel.status(), 204);
}
