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
mod subscriber;

pub use address::{RedisAddress, RedisUrlError};
pub use config::{RedisConfig, RedisConnectError};
pub(crate) use connection::RedisConnection;
pub(crate) use link::RedisLink;
