//! [`Subscriber`]: notifications from Redis, on a cluster through sharded
//! pub/sub.
//!
//! On a single node a notification is a plain `PUBLISH` and the subscriber
//! one `SUBSCRIBE` connection. On a cluster a plain `PUBLISH` is copied to
//! every node over the cluster bus, whoever listens; a sharded `SPUBLISH`
//! stays on the node of its channel's slot, and the channels carry their
//! stream's hash tag, so the notification of an append goes from the node
//! that holds the stream to the servers subscribed there, and nowhere else.

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
    Cluster(ClusterConnection),
}

/// The payloads of the messages received.
pub(crate) type Payloads = BoxStream<'static, Vec<u8>>;

impl Subscriber {
    pub(crate) async fn subscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.subscribe(channels).await,
            Subscriber::Cluster(connection) => {
                // One command per channel: channels of different slots live
                // on different nodes.
                for channel in channels {
                    connection.ssubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channels: Vec<String>) -> RedisResult<()> {
        match self {
            Subscriber::Single(sink) => sink.unsubscribe(channels).await,
            Subscriber::Cluster(connection) => {
                for channel in channels {
                    connection.sunsubscribe(channel).await?;
                }
                Ok(())
            }
        }
    }
}

/// The payloads of the (sharded) messages among a cluster's pushes.
pub(super) fn cluster_payloads(
    pushes: tokio::sync::mpsc::UnboundedReceiver<redis::PushInfo>,
) -> Payloads {
    futures::stream::unfold(pushes, |mut pushes| async move {
        loop {
            let push = pushes.recv().await?;
            if matches!(push.kind, PushKind::SMessage | PushKind::Message)
                && let Some(Value::BulkString(payload)) = push.data.into_iter().nth(1)
            {
                return Some((payload, pushes));
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
