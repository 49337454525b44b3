//! [`RedisLink`]: a connected Redis deployment, single node or cluster,
//! that hands out command connections and subscribers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink, PubSubStream};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::{AsyncConnectionConfig, Client, ProtocolVersion, RedisResult, TlsCertificates};

use super::address::RedisAddress;
use super::connection::RedisConnection;
use super::sentinel::{MasterConnection, SentinelAuth, Sentinels};
use super::subscriber::{Payloads, Subscriber, Wanted, cluster_payloads, single_payloads};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command that does not block may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis deployment: one node, a cluster found from its seeds, or the
/// master that sentinels name.
#[derive(Clone)]
pub(crate) struct RedisLink {
    address: RedisAddress,
    deployment: Deployment,
}

#[derive(Clone)]
enum Deployment {
    Single(Client),
    Cluster {
        seeds: Vec<String>,
        certs: Option<TlsCertificates>,
    },
    Sentinel(Arc<Sentinels>),
}

impl fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisLink({})", self.address)
    }
}

impl fmt::Display for RedisLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.address.fmt(f)
    }
}

impl RedisLink {
    /// Connects to `address`; a plain URL whose node says
    /// `cluster_enabled:1` leads to its whole cluster.
    pub(super) async fn connect(
        address: RedisAddress,
        certs: Option<TlsCertificates>,
        sentinel_auth: Option<&SentinelAuth>,
    ) -> RedisResult<RedisLink> {
        if address.is_tls() {
            // The redis crate builds its rustls configuration with the
            // process's default provider: the aws-lc-rs one, as elsewhere in
            // this crate, unless the application chose one.
            if rustls::crypto::CryptoProvider::get_default().is_none() {
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            }
        }
        let seeds = address.node_urls();
        let deployment = if address.sentinel_master().is_some() {
            Deployment::Sentinel(Sentinels::new(&address, certs, sentinel_auth)?)
        } else if address.is_cluster() {
            Deployment::Cluster { seeds, certs }
        } else {
            let client = match &certs {
                Some(certs) => Client::build_with_tls(seeds[0].as_str(), certs.clone())?,
                None => Client::open(seeds[0].as_str())?,
            };
            let mut probe = client
                .get_multiplexed_async_connection_with_config(&config(RESPONSE_TIMEOUT))
                .await?;
            let info: String = redis::cmd("INFO")
                .arg("cluster")
                .query_async(&mut probe)
                .await?;
            if info.contains("cluster_enabled:1") {
                Deployment::Cluster { seeds, certs }
            } else {
                Deployment::Single(client)
            }
        };
        let link = RedisLink {
            address,
            deployment,
        };
        // Fails now, not at the first command, when the cluster (or the
        // sentinels, or their master) cannot be reached.
        if let Deployment::Cluster { .. } | Deployment::Sentinel(_) = link.deployment {
            link.dedicated(RESPONSE_TIMEOUT).await?;
        }
        Ok(link)
    }

    /// Whether this is a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.deployment, Deployment::Cluster { .. })
    }

    /// The command that notifies a channel: `SPUBLISH` on a cluster (see
    /// [`Subscriber`]), `PUBLISH` on a single node.
    pub(crate) fn publish_command(&self) -> &'static str {
        match self.is_cluster() {
            true => "SPUBLISH",
            false => "PUBLISH",
        }
    }

    fn cluster(
        seeds: &[String],
        certs: &Option<TlsCertificates>,
        response_timeout: Duration,
    ) -> ClusterClientBuilder {
        let mut builder = ClusterClientBuilder::new(seeds.iter().map(String::as_str))
            .retries(2)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(response_timeout);
        if let Some(certs) = certs {
            builder = builder.certs(certs.clone());
        }
        builder
    }

    /// The shared handle for commands that do not block: reconnects (a
    /// single node) or follows the cluster's topology.
    pub(crate) async fn commands(&self) -> RedisResult<RedisConnection> {
        match &self.deployment {
            Deployment::Single(client) => {
                // Few, quick reconnection attempts: a command waits for them,
                // and the callers have their own retries and deadlines.
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500))
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                let manager = ConnectionManager::new_with_config(client.clone(), config).await?;
                Ok(RedisConnection::Single(manager))
            }
            Deployment::Cluster { .. } => self.dedicated(RESPONSE_TIMEOUT).await,
            Deployment::Sentinel(sentinels) => {
                let connection =
                    MasterConnection::shared(sentinels.clone(), config(RESPONSE_TIMEOUT)).await?;
                Ok(RedisConnection::Sentinel(connection))
            }
        }
    }

    /// A connection of its own, for blocking reads that answer within
    /// `response_timeout`.
    pub(crate) async fn dedicated(
        &self,
        response_timeout: Duration,
    ) -> RedisResult<RedisConnection> {
        match &self.deployment {
            Deployment::Single(client) => {
                let connection = client
                    .get_multiplexed_async_connection_with_config(&config(response_timeout))
                    .await?;
                Ok(RedisConnection::Dedicated(connection))
            }
            Deployment::Cluster { seeds, certs } => {
                let client: ClusterClient =
                    RedisLink::cluster(seeds, certs, response_timeout).build()?;
                Ok(RedisConnection::Cluster(
                    client.get_async_connection().await?,
                ))
            }
            Deployment::Sentinel(sentinels) => {
                let connection =
                    MasterConnection::dedicated(sentinels.clone(), config(response_timeout))
                        .await?;
                Ok(RedisConnection::Sentinel(connection))
            }
        }
    }

    /// A subscriber, and the payloads of the messages of the channels it
    /// subscribes.
    pub(crate) async fn subscriber(&self) -> RedisResult<(Subscriber, Payloads)> {
        match &self.deployment {
            Deployment::Single(client) => {
                let (sink, messages) = RedisLink::pubsub(client).await?;
                Ok((Subscriber::Single(sink), single_payloads(messages)))
            }
            Deployment::Sentinel(sentinels) => {
                // The messages end when the sentinels name another master:
                // the subscriber then subscribes again there.
                let (client, node) = sentinels.master().await?;
                let (sink, messages) = RedisLink::pubsub(&client).await?;
                let messages = single_payloads(messages)
                    .take_until(sentinels.moved_from(node))
                    .boxed();
                Ok((Subscriber::Single(sink), messages))
            }
            Deployment::Cluster { seeds, certs } => {
                let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
                let client = RedisLink::cluster(seeds, certs, RESPONSE_TIMEOUT)
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(pushes)
                    .build()?;
                let connection = client.get_async_connection().await?;
                let wanted = Wanted::default();
                let messages = cluster_payloads(received, wanted.clone());
                Ok((Subscriber::Cluster { connection, wanted }, messages))
            }
        }
    }
}

impl RedisLink {
    /// A pub/sub connection to the node of `client`.
    async fn pubsub(client: &Client) -> RedisResult<(PubSubSink, PubSubStream)> {
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Io, "connecting timed out"))
            })??;
        Ok(pubsub.split())
    }
}

fn config(response_timeout: Duration) -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(response_timeout))
}
