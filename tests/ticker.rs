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
