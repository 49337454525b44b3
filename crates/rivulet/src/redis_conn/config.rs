//! [`RedisConfig`]: where Redis is and how to trust it, as the operator says.

use std::fmt;
use std::path::{Path, PathBuf};

use redis::{ClientTlsConfig, TlsCertificates};

use super::address::{RedisAddress, RedisUrlError};
use super::link::RedisLink;

/// How to reach Redis: its [`RedisAddress`], and for `rediss://` the CA
/// file to trust instead of the system roots, and a client certificate.
/// Displays (and debugs) as the address without its password.
///
/// ```
/// use rivulet::redis_conn::RedisConfig;
///
/// let config = RedisConfig::parse("rediss://:pw@127.0.0.1:6380")?.ca_file("/etc/redis/ca.pem");
/// assert_eq!(format!("{config:?}"), r#"RedisConfig { address: rediss://127.0.0.1:6380, ca_file: Some("/etc/redis/ca.pem"), client_cert: None }"#);
/// # Ok::<(), rivulet::redis_conn::RedisUrlError>(())
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    address: RedisAddress,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
}

impl RedisConfig {
    /// The configuration for the Redis URL `url` (see the
    /// [module docs](super) for its forms), trusting the system roots.
    pub fn parse(url: &str) -> Result<RedisConfig, RedisUrlError> {
        Ok(RedisConfig {
            address: url.parse()?,
            ca_file: None,
            client_cert: None,
        })
    }

    /// Trusts the CA certificates in the PEM file at `path` (and only
    /// those) for `rediss://`.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> RedisConfig {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents the client certificate in the PEM file `cert`, with its
    /// private key in `key`, to a Redis that asks for one (`tls-auth-clients`).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> RedisConfig {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// The address, for display: no password.
    pub fn address(&self) -> &RedisAddress {
        &self.address
    }

    /// Connects: finds out whether the node is part of a cluster, and
    /// checks that Redis answers.
    pub(crate) async fn connect(&self) -> Result<RedisLink, RedisConnectError> {
        let certs = self.certificates()?;
        RedisLink::connect(self.address.clone(), certs)
            .await
            .map_err(|e| self.error(&e))
    }

    fn certificates(&self) -> Result<Option<TlsCertificates>, RedisConnectError> {
        if self.ca_file.is_none() && self.client_cert.is_none() {
            return Ok(None);
        }
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| RedisConnectError {
                at: self.address.to_string(),
                message: format!("cannot read {}: {e}", path.display()),
            })
        };
        let root_cert = self.ca_file.as_deref().map(read).transpose()?;
        let client_tls = match &self.client_cert {
            Some((cert, key)) => Some(ClientTlsConfig {
                client_cert: read(cert)?,
                client_key: read(key)?,
            }),
            None => None,
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }

    /// An error of the redis crate as this address's connection failure,
    /// with any password scrubbed from its message.
    pub(crate) fn error(&self, e: &redis::RedisError) -> RedisConnectError {
        RedisConnectError {
            at: self.address.to_string(),
            message: self.address.scrub(&e.to_string()),
        }
    }
}

impl fmt::Display for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.address.fmt(f)
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("address", &format_args!("{}", self.address))
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// Redis could not be reached or used: says where (host and port, never a
/// password) and why.
///
/// ```
/// # async fn demo() {
/// use rivulet::resume::RedisStore;
///
/// let e = RedisStore::connect("redis://:s3cret@127.0.0.1:1").await.unwrap_err();
/// assert!(e.to_string().contains("127.0.0.1:1"));
/// assert!(!e.to_string().contains("s3cret"));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisConnectError {
    at: String,
    message: String,
}

impl fmt::Display for RedisConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis at {}: {}", self.at, self.message)
    }
}

impl std::error::Error for RedisConnectError {}
