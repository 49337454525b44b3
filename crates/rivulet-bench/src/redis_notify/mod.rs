//! Scenario `redis-notify`: the Redis traffic of a group of servers sharing
//! one Redis, per server and per Redis node, on a `redis-server` started on a
//! free loopback port and then on a 3-master Redis Cluster. Each node's
//! `INFO commandstats` (reset before each measurement) gives the commands it
//! ran.
//!
//! * Streams ([`streams`]): two `RedisStore`s (two servers: each has its own
//!   connections and subscription) append 1,000 resumable streams of 20
//!   packets, and each server reads half of them to their end. A server
//!   needs the notifications of the streams it reads; every other one it
//!   receives is work it does for nothing, and with N servers that work
//!   grows N-fold.
//! * One feed ([`feed`]): two servers follow one `Feed::redis`, with 500 and
//!   then 5,000 subscribers spread over them. The commands per publish are
//!   per server per feed and must not grow with the subscribers.
//!
//! Needs `redis-server` and `redis-cli` (scripts/setup installs them;
//! `REDIS_SERVER=path`, `REDIS_CLI=path` override).

mod feed;
pub(crate) mod servers;
mod streams;

use servers::{RedisServer, cluster};

pub async fn run(quick: bool) {
    let (streams, packets) = if quick { (200, 5) } else { (1000, 20) };
    // (subscribers, publishes): the same publishes for a few subscribers and
    // for ten times more.
    let feeds: &[(usize, u64)] = if quick {
        &[(50, 5), (500, 5)]
    } else {
        &[(500, 20), (5000, 20)]
    };
    let node = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}", node.port);
    streams::measure("one node", &url, &[node.port], streams, packets).await;
    for &(subscribers, publishes) in feeds {
        feed::measure("one node", &url, &[node.port], subscribers, publishes).await;
    }
    drop(node);
    let nodes = cluster();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let url = format!("redis://127.0.0.1:{}", ports[0]);
    streams::measure("3-master cluster", &url, &ports, streams, packets).await;
    for &(subscribers, publishes) in feeds {
        feed::measure("3-master cluster", &url, &ports, subscribers, publishes).await;
    }
}
