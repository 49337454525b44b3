//! [`Sentinels`]: the master a set of Redis Sentinels names, followed
//! across failovers.
//!
//! A task asks a sentinel every [`WATCH_PERIOD`] which node is the master.
//! When the answer changes, connections to the old master are done with:
//! the shared command handle ([`MasterConnection::shared`]) reconnects to the
//! new master before its next command, a connection for blocking reads
//! ([`MasterConnection::dedicated`]) fails its next command so that its
//! reader reconnects (and checks what the new master holds), and a
//! subscriber's messages end so that it subscribes again there. A command
//! connection that fails (a killed master refuses connections) asks the
//! sentinels again too, and a write refused by a demoted master
//! (`READONLY`: it ran nothing) is sent again to the new one at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ErrorKind, Pipeline, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, TlsCertificates, TlsMode, Value,
};
use tokio::sync::{Mutex, watch};

use super::address::RedisAddress;

/// How often the sentinels are asked which node is the master.
const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// `host:port` of a node.
type NodeAddr = (String, u16);

/// How long asking the sentinels for the master (and checking with the
/// master that it is one) may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The sentinels of one master, asked for its address on every new
/// connection and watched for a change of master.
pub(crate) struct Sentinels {
    client: Mutex<SentinelClient>,
    db: i64,
    /// The master as the sentinels named it last.
    named: watch::Sender<Option<NodeAddr>>,
}

/// Credentials for the sentinels themselves, when they ask for some
/// (`requirepass` in sentinel.conf).
#[derive(Clone)]
pub(crate) struct SentinelAuth {
    pub(crate) username: Option<String>,
    pub(crate) password: String,
}

impl Sentinels {
    /// The sentinels of `address` (a `+sentinel` URL): its credentials and
    /// database are the master's, `auth` the sentinels' own.
    pub(super) fn new(
        address: &RedisAddress,
        certs: Option<TlsCertificates>,
        auth: Option<&SentinelAuth>,
    ) -> RedisResult<Arc<Sentinels>> {
        let master = address.sentinel_master().unwrap_or_default();
        let nodes = address.nodes().iter().map(|node| {
            let (host, port) = node.rsplit_once(':').unwrap_or((node, "26379"));
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = port.parse().unwrap_or(26379);
            match address.is_tls() {
                true => ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure: false,
                    tls_params: None,
                },
                false => ConnectionAddr::Tcp(host, port),
            }
        });
        let mut builder = SentinelClientBuilder::new(
            nodes.collect::<Vec<_>>(),
            master,
            SentinelServerType::Master,
        )?;
        let (username, password) = address.credentials();
        if let Some(username) = username {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = password {
            builder = builder.set_client_to_redis_password(password);
        }
        let db = address.db().ok().flatten().unwrap_or(0);
        builder = builder.set_client_to_redis_db(db);
        if let Some(auth) = auth {
            if let Some(username) = &auth.username {
                builder = builder.set_client_to_sentinel_username(username);
            }
            builder = builder.set_client_to_sentinel_password(&auth.password);
        }
        if address.is_tls() {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
            if let Some(certs) = certs {
                builder = builder
                    .set_client_to_redis_certificates(certs.clone())
                    .set_client_to_sentinel_certificates(certs);
            }
        }
        let sentinels = Arc::new(Sentinels {
            client: Mutex::new(builder.build()?),
            db,
            named: watch::Sender::new(None),
        });
        tokio::spawn(watch_master(Arc::downgrade(&sentinels), master.to_owned()));
        Ok(sentinels)
    }

    /// Completes once the sentinels name a master other than `node`.
    pub(crate) fn moved_from(&self, node: NodeAddr) -> impl Future<Output = ()> + Send + 'static {
        let mut named = self.named.subscribe();
        async move {
            let _ = named
                .wait_for(|named| named.as_ref().is_some_and(|named| *named != node))
                .await;
        }
    }

    /// Whether the sentinels named a master other than `node` since.
    fn moved(&self, node: &NodeAddr) -> bool {
        self.named
            .borrow()
            .as_ref()
            .is_some_and(|named| named != node)
    }

    /// A client for the node the sentinels name as master now, and its
    /// address.
    pub(crate) async fn master(&self) -> RedisResult<(Client, NodeAddr)> {
        let mut client = self.client.lock().await;
        let client = match tokio::time::timeout(LOOKUP_TIMEOUT, client.async_get_client()).await {
            Ok(found) => found?,
            Err(_) => return Err(io_error("the sentinels did not name a master in time")),
        };
        let node = match client.get_connection_info().addr().clone() {
            ConnectionAddr::Tcp(host, port) => (host, port),
            ConnectionAddr::TcpTls { host, port, .. } => (host, port),
            _ => (String::new(), 0),
        };
        Ok((client, node))
    }

    /// A connection to the master of now, and its address.
    async fn connect(
        &self,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<(MultiplexedConnection, NodeAddr)> {
        let (client, node) = self.master().await?;
        let connection = client
            .get_multiplexed_async_connection_with_config(config)
            .await?;
        Ok((connection, node))
    }
}

fn io_error(message: &'static str) -> RedisError {
    RedisError::from((ErrorKind::Io, message))
}

/// Asks a sentinel every [`WATCH_PERIOD`] which node is `master`, until
/// the sentinels are dropped.
async fn watch_master(sentinels: std::sync::Weak<Sentinels>, master: String) {
    let mut period = tokio::time::interval(WATCH_PERIOD);
    period.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut connection: Option<MultiplexedConnection> = None;
    loop {
        period.tick().await;
        let Some(sentinels) = sentinels.upgrade() else {
            return;
        };
        if connection.is_none() {
            let client = sentinels
                .client
                .lock()
                .await
                .async_get_sentinel_client()
                .await;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(WATCH_PERIOD * 4))
                .set_response_timeout(Some(WATCH_PERIOD * 4));
            connection = match client {
                Ok(client) => client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .ok(),
                Err(_) => None,
            };
        }
        let Some(sentinel) = connection.as_mut() else {
            continue;
        };
        let named: RedisResult<Option<(String, u16)>> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(&master)
            .query_async(sentinel)
            .await;
        match named {
            Ok(Some(node)) => {
                sentinels.named.send_if_modified(|named| {
                    let changed = named.as_ref() != Some(&node);
                    if changed {
                        if named.is_some() {
                            tracing::info!(master = %master, host = %node.0, port = node.1, "the sentinels name a new Redis master");
                        }
                        *named = Some(node);
                    }
                    changed
                });
            }
            Ok(None) => {}
            // Another sentinel at the next tick.
            Err(_) => connection = None,
        }
    }
}

/// A command connection to the master the sentinels name. Cheap to clone;
/// clones share one connection.
#[derive(Clone)]
pub(crate) struct MasterConnection {
    sentinels: Arc<Sentinels>,
    config: AsyncConnectionConfig,
    /// Whether it reconnects to the new master (the shared handle) rather
    /// than failing (a connection for blocking reads).
    follows: bool,
    /// The connection of now, with its number and node, or none after a
    /// failure.
    current: Arc<Mutex<Option<Current>>>,
    opened: Arc<AtomicU64>,
}

#[derive(Clone)]
struct Current {
    number: u64,
    node: NodeAddr,
    connection: MultiplexedConnection,
}

/// Whether `e` means the node may no longer be the master (or is gone):
/// the connection is dropped and the sentinels asked again.
fn lost_master(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
        || demoted(e)
}

/// A write refused by a node that is a replica now: it ran nothing, so it
/// may be sent again to the new master.
fn demoted(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

impl MasterConnection {
    /// The shared handle: follows the master from one connection to the next.
    pub(crate) async fn shared(
        sentinels: Arc<Sentinels>,
        config: AsyncConnectionConfig,
    ) -> RedisResult<MasterConnection> {
        MasterConnection::open(sentinels, config, true).await
    }

    /// A connection for blocking reads: fails every command once the
    /// master changed, so that its reader reconnects and looks again.
    pub(crate) async fn dedicated(
        sentinels: Arc<Sentinels>,
        config: AsyncConnectionConfig,
    ) -> RedisResult<MasterConnection> {
        MasterConnection::open(sentinels, config, false).await
    }

    async fn open(
        sentinels: Arc<Sentinels>,
        config: AsyncConnectionConfig,
        follows: bool,
    ) -> RedisResult<MasterConnection> {
        let connection = MasterConnection {
            sentinels,
            config,
            follows,
            current: Arc::default(),
            opened: Arc::default(),
        };
        *connection.current.lock().await = Some(connection.connect().await?);
        Ok(connection)
    }

    async fn connect(&self) -> RedisResult<Current> {
        let (connection, node) = self.sentinels.connect(&self.config).await?;
        Ok(Current {
            number: self.opened.fetch_add(1, Ordering::Relaxed),
            node,
            connection,
        })
    }

    /// The connection of now, opened (after asking the sentinels) if there
    /// is none or the master changed.
    async fn get(&self) -> RedisResult<Current> {
        let mut current = self.current.lock().await;
        match &*current {
            Some(now) if !self.sentinels.moved(&now.node) => return Ok(now.clone()),
            Some(_) if !self.follows => {
                *current = None;
                return Err(io_error("the Redis master changed"));
            }
            None if !self.follows => return Err(io_error("the Redis master changed")),
            _ => {}
        }
        *current = None;
        let now = self.connect().await?;
        if self.sentinels.moved(&now.node) {
            // The sentinel asked does not name the master the others do
            // yet: the next command asks again.
            return Err(io_error(
                "the sentinels do not agree on the Redis master yet",
            ));
        }
        *current = Some(now.clone());
        Ok(now)
    }

    /// Drops connection `number` after `e`, when `e` says the master may
    /// have changed; true when the command may be sent again at once.
    async fn failed(&self, number: u64, e: &RedisError) -> bool {
        if !lost_master(e) {
            return false;
        }
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|now| now.number == number) {
            *current = None;
        }
        self.follows && demoted(e)
    }
}

impl ConnectionLike for MasterConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut resent = false;
            loop {
                let Current {
                    number,
                    mut connection,
                    ..
                } = self.get().await?;
                let result = connection.req_packed_command(cmd).await;
                if let Err(e) = &result
                    && self.failed(number, e).await
                    && !resent
                {
                    resent = true;
                    continue;
                }
                return result;
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut resent = false;
            loop {
                let Current {
                    number,
                    mut connection,
                    ..
                } = self.get().await?;
                let result = connection
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                if let Err(e) = &result
                    && self.failed(number, e).await
                    && !resent
                {
                    resent = true;
                    continue;
                }
                return result;
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.sentinels.db
    }
}
