//! [`Subscriber`]: notifications from Redis, on a cluster through sharded
//! pub/sub.
//!
//! On a single node a notification is a plain `PUBLISH` and the subscriber
//! one `SUBSCRIBE` connection. On a cluster a plain `PUBLISH` is copied to
//! every node over the cluster bus, whoever listens; a sharded `SPUBLISH`
//! stays on the node of its channel's slot, and the channels carry their
//! stream's hash tag, so the notification of an append goes from the node
//! that holds the stream to the servers subscribed there, and nowhere else.
//! When a channel's slot moves to another node, the old node drops its
//! subscribers (`SUNSUBSCRIBE` from the server): the messages then end, as
//! after a lost connection, so that the subscriber subscribes again, on the
//! channel's new node, and its readers look again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use futures::stream::BoxStream;
use redis::aio::PubSubSink;
use redis::cluster_async::ClusterConnection;
use redis::{PushKind, RedisResult, Value};

/// Subscribes and unsubscribes channels; their messages' payloads arrive on
/// the stream handed out with it.
pub(crate) enum Subscriber {
    /// `SUBSCRIBE` on one node.
    Single(PubSubSink),
    /// `SSUBSCRIBE` on a cluster: the redis crate sends each to the node of
    /// the channel's slot and subscribes again after a reconnection.
    Cluster {
        connection: ClusterConnection,
        wanted: Wanted,
    },
}

/// The channels a cluster subscriber asked for and has not given up: a
/// `SUNSUBSCRIBE` for one of them came from the server, not from us.
pub(super) type Wanted = Arc<Mutex<HashSet<Vec<u8>>>>;

/// The payloads of the messages received.
pub(crate) type Payloads = BoxStream<'static, Vec<u8>>;

impl Subscriber {
    pub(crate) async fn subscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.subscribe(channels).await,
            Subscriber::Cluster { connection, wanted } => {
                // One command per channel: channels of different slots live
                // on different nodes.
                for channel in channels {
                    lock(wanted).insert(channel.clone().into_bytes());
                    connection.ssubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.unsubscribe(channels).await,
            Subscriber::Cluster { connection, wanted } => {
                for channel in channels {
                    lock(wanted).remove(channel.as_bytes());
                    connection.sunsubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }
}

fn lock(wanted: &Wanted) -> std::sync::MutexGuard<'_, HashSet<Vec<u8>>> {
    wanted.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The payloads of the (sharded) messages among a cluster's pushes, until
/// the server drops a channel in `wanted` (its slot moved).
pub(super) fn cluster_payloads(
    pushes: tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
    wanted: Wanted,
) -> Payloads {
    futures::stream::unfold(pushes, move |mut pushes| {
        let wanted = wanted.clone();
        async move {
            loop {
                let push = pushes.recv().await?;
                let mut data = push.data.into_iter();
                match push.kind {
                    PushKind::SMessage | PushKind::Message => {
                        if let Some(Value::BulkString(payload)) = data.nth(1) {
                            return Some((payload, pushes));
                        }
                    }
                    PushKind::SUnsubscribe => {
                        if let Some(Value::BulkString(channel)) = data.next()
                            && lock(&wanted).contains(&channel)
                        {
                            tracing::info!(
                                channel = %String::from_utf8_lossy(&channel),
                                "Redis dropped a notification channel (its slot moved): subscribing again"
                            );
                            return None;
                        }
                    }
                    _ => {}
                }
            }
        }
    })
    .boxed()
}

/// The payloads of a single node's messages.
pub(super) fn single_payloads(messages: redis::aio::PubSubStream) -> Payloads {
    messages
        .map(|message| message.get_payload_bytes().to_vec())
        .boxed()
}
