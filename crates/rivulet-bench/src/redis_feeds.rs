//! Scenario `redis-feeds`: what a server's feeds cost its Redis, and how
//! soon a publish on one server reaches a subscriber on another. Two servers
//! (two `RedisStore`s, each with its own connections and subscription)
//! follow the same [`FEEDS`] feeds through one `redis-server` on loopback,
//! then a 3-master Redis Cluster; server B has one subscriber per feed (an
//! SSE response read in process, its router called as a tower service).
//! Server A publishes one packet at a time, to each feed in turn, and the
//! next only once B's subscriber has parsed it.
//!
//! Printed: the clients connected to each node (`INFO clients`, the bench's
//! own `redis-cli` left out), the commands each node ran per publish
//! (`INFO commandstats`, reset before the publishes), and publish → parsed
//! on the other server (p50, p99). This is how the one wake-up scheme of
//! Redis histories was chosen: a blocking `XREAD` per feed costs a
//! connection per feed on every server, a notification costs one
//! subscription per server.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use rivulet::Format;
use rivulet::decode::{Decoder, Event};
use rivulet::feed::Feed;
use rivulet::resume::RedisStore;
use serde_json::json;
use tower::ServiceExt;

use crate::redis_notify::servers::{PATIENCE, RedisServer, cli, cluster, print_commands};
use crate::stats::percentile;

/// Feeds each server follows.
const FEEDS: usize = 200;

async fn follow(stream: rivulet::Stream, State(feed): State<Feed>) -> Response {
    stream.follow(&feed).await
}

/// One subscriber of a feed: its response body and what it parsed.
struct Subscriber {
    body: Body,
    decoder: Decoder,
    events: Vec<Event>,
}

impl Subscriber {
    async fn open(feed: &Feed) -> Subscriber {
        let app = Router::new()
            .route("/feed", get(follow))
            .with_state(feed.clone());
        let mut request = Request::get("/feed");
        for (name, value) in Format::Sse.request_headers() {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("a request");
        let response = app.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), http::StatusCode::OK, "following refused");
        Subscriber {
            body: response.into_body(),
            decoder: Decoder::new(Format::Sse),
            events: Vec::new(),
        }
    }

    /// Reads until a progress packet is parsed.
    async fn next_packet(&mut self) {
        let read = async {
            loop {
                if let Some(i) = self
                    .events
                    .iter()
                    .position(|e| matches!(e, Event::Progress(_)))
                {
                    self.events.drain(..=i);
                    return;
                }
                let frame = self
                    .body
                    .frame()
                    .await
                    .expect("the feed goes on")
                    .expect("a frame");
                if let Ok(data) = frame.into_data() {
                    self.decoder
                        .feed(&data, &mut self.events)
                        .expect("a well-formed stream");
                }
            }
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the other server delivers the packet in time");
    }
}

/// Clients connected to the node at `port`, `redis-cli` included.
fn clients(port: u16) -> u64 {
    cli(port, &["info", "clients"])
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

pub async fn run(quick: bool) {
    let (feeds, rounds) = if quick { (20, 3) } else { (FEEDS, 10) };
    let node = RedisServer::start();
    measure(
        "one node",
        &format!("redis://127.0.0.1:{}", node.port),
        &[node.port],
        feeds,
        rounds,
    )
    .await;
    drop(node);
    let nodes = cluster();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    measure(
        "3-master cluster",
        &format!("redis://127.0.0.1:{}", ports[0]),
        &ports,
        feeds,
        rounds,
    )
    .await;
}

async fn measure(deployment: &str, url: &str, ports: &[u16], feeds: usize, rounds: usize) {
    let before: u64 = ports.iter().map(|p| clients(*p)).sum();
    let a = RedisStore::connect(url).await.expect("Redis answers");
    let b = RedisStore::connect(url).await.expect("Redis answers");
    let mut pairs = Vec::with_capacity(feeds);
    for i in 0..feeds {
        let name = format!("bench-{i}-{}", rivulet::protocol::StreamId::random());
        let on_a = Feed::redis(&a, &name).await.expect("the feed loads");
        let on_b = Feed::redis(&b, &name).await.expect("the feed loads");
        pairs.push((on_a, on_b));
    }
    let mut subscribers = Vec::with_capacity(feeds);
    for (_, on_b) in &pairs {
        subscribers.push(Subscriber::open(on_b).await);
    }
    // Each feed's reader has looked once and waits.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let connected: u64 = ports.iter().map(|p| clients(*p)).sum::<u64>() - before;
    for port in ports {
        cli(*port, &["config", "resetstat"]);
    }
    let mut latencies = Vec::with_capacity(feeds * rounds);
    let started = Instant::now();
    for round in 0..rounds {
        for ((on_a, _), subscriber) in pairs.iter().zip(&mut subscribers) {
            let at = Instant::now();
            on_a.publish(json!({ "round": round }))
                .await
                .expect("published");
            subscriber.next_packet().await;
            latencies.push(at.elapsed().as_nanos() as u64);
        }
    }
    let elapsed = started.elapsed();
    let publishes = (feeds * rounds) as u64;
    latencies.sort_unstable();
    println!(
        "  redis-feeds, {deployment}: 2 servers x {feeds} feeds, {publishes} publishes on A in {:.2} s, each parsed by a subscriber on B",
        elapsed.as_secs_f64()
    );
    println!("    Redis connections of the two servers: {connected} (with {feeds} feeds each)");
    println!(
        "    publish on A -> parsed on B: p50 {:.0} us, p99 {:.0} us",
        percentile(&latencies, 50.0) as f64 / 1e3,
        percentile(&latencies, 99.0) as f64 / 1e3
    );
    print_commands(ports, publishes, "publish");
}
