//! The link to Redis the shared stores use (feature `redis`): one address
//! syntax for a single node, a Redis Cluster and TLS, one handle for
//! commands, one subscription API for notifications, and an address that
//! never shows a password.
//!
//! | URL | connects to |
//! |-----|-------------|
//! | `redis://[user:password@]host[:port][/db]` | one node; when that node is part of a Redis Cluster, the whole cluster (the others are discovered) |
//! | `rediss://…` | the same over TLS: the system roots, or the CA file named with [`RedisConfig::ca_file`] |
//! | `redis+cluster://[user:password@]host:port,host:port,…` | a Redis Cluster from several seed nodes, any of which may be down at start |
//! | `rediss+cluster://…` | the same over TLS |
//! | `redis+sentinel://[user:password@]host[:port],host[:port],…/master-name[/db]` | the master that Redis Sentinels (port 26379 by default) name `master-name`, followed across failovers; the credentials and database are the master's, [`RedisConfig::sentinel_auth`] gives the sentinels' own |
//! | `rediss+sentinel://…` | the same over TLS, to the sentinels and to the master |
//!
//! Through Sentinel, every new connection asks the sentinels which node is
//! the master. When a connection fails (a failover closes the old master's
//! connections, a killed master refuses them), the next command asks again,
//! and a write refused by a demoted master (`READONLY`) is sent again to the
//! new one. Subscribers and blocking readers reconnect the same way.
//!
//! ```
//! use rivulet::redis_conn::RedisConfig;
//!
//! let config = RedisConfig::parse("rediss://:s3cret@cache.internal:6380/0")?;
//! // Logs, errors and Debug output show where, never the password.
//! assert_eq!(config.to_string(), "rediss://cache.internal:6380");
//! assert!(!format!("{config:?}").contains("s3cret"));
//! # Ok::<(), rivulet::redis_conn::RedisUrlError>(())
//! ```

mod address;
mod config;
mod connection;
mod link;
mod sentinel;
mod subscriber;

pub use address::{RedisAddress, RedisUrlError};
pub use config::{RedisConfig, RedisConnectError};
pub(crate) use connection::RedisConnection;
pub(crate) use link::RedisLink;
