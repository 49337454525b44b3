//! `/stream/ticker` of the demo: `GET` follows the shared feed, `POST` with a
//! JSON body publishes to it. In one demo server, and across two real
//! `rivulet demo --redis URL` processes sharing one `redis-server`.

use std::net::SocketAddr;

use rivulet::Format;
use rivulet::decode::Event;
use rivulet_testkit::{Demo, Reader, RedisServer, client, get};
use serde_json::{Value, json};

async fn publish(addr: &str, body: &str) -> reqwest::Response {
    client()
        .post(format!("http://{addr}/stream/ticker"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn next(reader: &mut Reader) -> Event {
    reader.next().await.expect("a packet").expect("well-formed")
}

#[tokio::test]
async fn a_post_reaches_every_follower_in_its_own_format() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(rivulet_cli::demo::serve_on(listener));
    let mut readers = Vec::new();
    for format in Format::ALL {
        let response = get(addr, "/stream/ticker", format).await;
        assert_eq!(response.status(), 200, "{format}");
        readers.push(Reader::new(response));
    }
    // Followers are streams like any other in the metrics (this is the only
    // in-process demo of this test binary).
    let text = rivulet_testkit::scrape(addr).await;
    assert_eq!(
        rivulet_testkit::metric(&text, "rivulet_streams_active"),
        Format::ALL.len() as f64,
        "{text}"
    );
    // A follower is registered by the time its response head arrives.
    let accepted = publish(&addr.to_string(), r#"{"price": 101.25}"#).await;
    assert_eq!(accepted.status(), 202);
    let body: Value = accepted.json().await.unwrap();
    assert!(body["published"].as_u64().is_some(), "{body}");
    for (reader, format) in readers.iter_mut().zip(Format::ALL) {
        assert_eq!(
            next(reader).await,
            Event::Progress(json!({ "price": 101.25 })),
            "{format}"
        );
    }

    for bad in ["{not json", ""] {
        let refused = publish(&addr.to_string(), bad).await;
        assert!(
            refused.status().is_client_error(),
            "{bad:?}: {}",
            refused.status()
        );
        let body: Value = refused.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn demo_servers_on_one_redis_share_the_ticker() {
    let redis = RedisServer::start();
    let a = Demo::start(&["--redis", &redis.url()]).await;
    let b = Demo::start(&["--redis", &redis.url()]).await;
    let b_addr: SocketAddr = b.addr.parse().unwrap();
    let mut on_b = Reader::new(get(b_addr, "/stream/ticker", Format::Sse).await);
    for n in 1..=3 {
        assert_eq!(
            publish(&a.addr, &format!("{{\"n\": {n}}}")).await.status(),
            202
        );
    }
    for n in 1..=3 {
        assert_eq!(next(&mut on_b).await, Event::Progress(json!({ "n": n })));
    }
    // An EventSource that comes back to the other server resumes there.
    let point = String::from_utf8_lossy(&on_b.raw)
        .lines()
        .filter_map(|line| line.strip_prefix("id: "))
        .nth(1)
        .expect("the id of packet 2")
        .to_owned();
    let resumed = client()
        .get(format!("http://{}/stream/ticker", a.addr))
        .header("last-event-id", point)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let mut resumed = Reader::new(resumed);
    assert_eq!(next(&mut resumed).await, Event::Progress(json!({ "n": 3 })));
}

/// The `n` of the progress packet `rivulet watch --json` printed as `line`.
fn progress_n(line: &str) -> Value {
    match serde_json::from_str::<Event>(line) {
        Ok(Event::Progress(value)) => value["n"].clone(),
        other => panic!("expected a progress packet, got {other:?} from {line}"),
    }
}

/// `rivulet watch` follows the ticker through a proxy that cuts its
/// connection, in each format: it comes back from its resume point (NDJSON
/// and legacy counting from the answer's `Rivulet-Resume-Point`) and prints
/// every value once, in order.
#[tokio::test]
async fn rivulet_watch_resumes_the_ticker_after_a_cut_in_every_format() {
    use rivulet_testkit::{Proxy, next_line, stdout_lines};

    let server = Demo::start(&[]).await;
    let proxy = Proxy::start(server.addr.parse().unwrap()).await;
    let url = format!("http://{}/stream/ticker", proxy.addr);
    for format in Format::ALL {
        let mut watch = rivulet_testkit::binary_command(&["watch", "--json"])
            .args(["--format", format.name()])
            .arg(&url)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = stdout_lines(&mut watch);
        rivulet_testkit::wait_for("watch to follow the ticker", || async {
            let text = rivulet_testkit::scrape(server.addr.parse().unwrap()).await;
            (rivulet_testkit::metric(&text, "rivulet_feed_subscribers") == 1.0).then_some(())
        })
        .await;
        let mut values = Vec::new();
        for n in 1..=6 {
            if n == 4 {
                proxy.cut();
            }
            let accepted = publish(&server.addr, &format!(r#"{{"n": {n}}}"#)).await;
            assert_eq!(accepted.status(), 202, "{format}");
            if n <= 3 {
                let line = next_line(&mut lines).await.expect("a packet");
                values.push(progress_n(&line));
            }
        }
        while values.len() < 6 {
            let line = next_line(&mut lines).await.expect("a packet");
            values.push(progress_n(&line));
        }
        assert_eq!(
            values,
            (1..=6).map(|n| json!(n)).collect::<Vec<_>>(),
            "{format}"
        );
        assert!(proxy.connections() >= 2, "{format}: watch reconnected");
        let _ = watch.start_kill();
        let _ = watch.wait().await;
        rivulet_testkit::wait_for("watch to leave", || async {
            let text = rivulet_testkit::scrape(server.addr.parse().unwrap()).await;
            (rivulet_testkit::metric(&text, "rivulet_feed_subscribers") == 0.0).then_some(())
        })
        .await;
    }
}
