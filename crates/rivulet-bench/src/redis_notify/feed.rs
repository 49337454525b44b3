//! One feed followed through Redis by two servers, with its subscribers
//! spread over them: the commands each node runs per publish, for a few
//! hundred subscribers and for thousands. Each server reads the feed from
//! Redis once (one `XRANGE` per server per packet, on its append
//! notification) and fans it out itself, so the figure must not move with
//! the number of subscribers.
//!
//! Each server is `rivulet::serve` on a loopback port, its feed
//! `Feed::redis`; the subscribers are SSE streams over HTTP/2, sharing a few
//! connections per server as they would behind a proxy. The feed publishes
//! one packet at a time, from each server in turn, and the next only once
//! every subscriber has parsed the last: the commands counted are those of
//! one publish each, and the time from a publish to its last subscriber is a
//! by-product.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rivulet::Format;
use rivulet::decode::{Decoder, Event};
use rivulet::feed::Feed;
use rivulet::resume::RedisStore;
use tokio::sync::Notify;

use super::servers::{PATIENCE, cli, print_commands};
use crate::stats::percentile;

/// Streams per HTTP/2 connection (`rivulet::serve` allows 1,000).
const STREAMS_PER_CONNECTION: usize = 500;

async fn follow(stream: rivulet::Stream, State(feed): State<Feed>) -> Response {
    stream.follow(&feed).await
}

/// The packets every subscriber has parsed, summed, and a signal at each.
#[derive(Default)]
struct Deliveries {
    count: AtomicU64,
    changed: Notify,
}

impl Deliveries {
    /// Waits (bounded) until `count` packets are in.
    async fn reach(&self, count: u64) {
        let wait = async {
            loop {
                let changed = self.changed.notified();
                if self.count.load(Ordering::Acquire) >= count {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("every subscriber gets every packet in time");
    }
}

/// Opens `count` SSE streams of `/feed` on the server at `addr`, sharing
/// HTTP/2 connections; each counts the packets it parses into `deliveries`
/// until its stream ends. Returns once every response head is in (every
/// subscriber is registered).
async fn subscribe(addr: SocketAddr, count: usize, deliveries: &Arc<Deliveries>) {
    let connections = count.div_ceil(STREAMS_PER_CONNECTION).max(1);
    let senders = crate::h2_client::connections_to(addr, connections).await;
    let opening = (0..count).map(|i| {
        let mut sender = senders[i % connections].clone();
        let deliveries = deliveries.clone();
        async move {
            let request = http::Request::get(format!("http://{addr}/feed"))
                .header("accept", "text/event-stream")
                .body(Empty::<Bytes>::new())
                .expect("a request");
            sender.ready().await.expect("the connection is open");
            let response = sender.send_request(request).await.expect("a response");
            assert_eq!(response.status(), http::StatusCode::OK, "following refused");
            tokio::spawn(async move {
                let mut body = response.into_body();
                let mut decoder = Decoder::new(Format::Sse);
                let mut events = Vec::new();
                while let Some(Ok(frame)) = body.frame().await {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    decoder
                        .feed(&data, &mut events)
                        .expect("a well-formed stream");
                    let parsed = events
                        .drain(..)
                        .filter(|e| matches!(e, Event::Progress(_)))
                        .count() as u64;
                    if parsed > 0 {
                        deliveries.count.fetch_add(parsed, Ordering::AcqRel);
                        deliveries.changed.notify_waiters();
                    }
                }
            });
        }
    });
    futures::future::join_all(opening).await;
}

/// Runs the feed scenario on the Redis at `url`, whose nodes listen on
/// `ports`: two servers, `subscribers` spread over them, `publishes`
/// packets.
pub(super) async fn measure(
    deployment: &str,
    url: &str,
    ports: &[u16],
    subscribers: usize,
    publishes: u64,
) {
    let name = format!("bench-{}", rivulet::protocol::StreamId::random());
    let mut feeds = Vec::new();
    let mut servers = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(url).await.expect("Redis answers");
        let feed = Feed::redis(&store, &name).await.expect("the feed loads");
        let listener = rivulet::serve::bind("127.0.0.1:0".parse().expect("an address"))
            .expect("a loopback port");
        addrs.push(listener.local_addr().expect("its address"));
        let app = Router::new()
            .route("/feed", get(follow))
            .with_state(feed.clone());
        servers.push(tokio::spawn(rivulet::serve(listener, app).into_future()));
        feeds.push(feed);
    }
    let deliveries = Arc::new(Deliveries::default());
    for (i, addr) in addrs.iter().enumerate() {
        // Server A gets the odd one out.
        let count = (subscribers + 1 - i) / 2;
        subscribe(*addr, count, &deliveries).await;
    }
    assert_eq!(
        feeds.iter().map(Feed::subscribers).sum::<usize>(),
        subscribers,
        "every subscriber is registered"
    );
    for port in ports {
        cli(*port, &["config", "resetstat"]);
    }
    let started = Instant::now();
    let mut spreads: Vec<u64> = Vec::with_capacity(publishes as usize);
    for seq in 1..=publishes {
        let published = Instant::now();
        feeds[(seq % 2) as usize]
            .publish(serde_json::json!({ "n": seq }))
            .await
            .expect("published");
        deliveries.reach(subscribers as u64 * seq).await;
        spreads.push(published.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed();
    spreads.sort_unstable();
    println!(
        "  redis-notify feed, {deployment}: 2 servers, {subscribers} subscribers over HTTP/2, {publishes} publishes, each parsed by every subscriber before the next, in {:.2} s (publish -> last subscriber: median {:.1} ms, max {:.1} ms)",
        elapsed.as_secs_f64(),
        percentile(&spreads, 50.0) as f64 / 1e3,
        percentile(&spreads, 100.0) as f64 / 1e3,
    );
    print_commands(ports, publishes, "publish");
    for server in servers {
        server.abort();
    }
    // Let the aborted servers' connections and the feeds' readers go.
    drop(feeds);
    tokio::time::sleep(Duration::from_millis(100)).await;
}
