//! [`RedisConfig`]: where Redis is and how to trust it, as the operator says.

use std::fmt;
use std::path::{Path, PathBuf};

use redis::{ClientTlsConfig, TlsCertificates};

use super::address::{RedisAddress, RedisUrlError};
use super::link::RedisLink;
use super::sentinel::SentinelAuth;

/// How to reach Redis: its [`RedisAddress`], for `rediss://` the CA file to
/// trust instead of the system roots and a client certificate, and for
/// `redis+sentinel://` the sentinels' own credentials. Displays (and debugs)
/// as the address without any password.
///
/// ```
/// use rivulet::redis_conn::RedisConfig;
///
/// let config = RedisConfig::parse("rediss://:pw@127.0.0.1:6380")?.ca_file("/etc/redis/ca.pem");
/// assert_eq!(format!("{config:?}"), r#"RedisConfig { address: rediss://127.0.0.1:6380, ca_file: Some("/etc/redis/ca.pem"), client_cert: None, sentinel_auth: None }"#);
/// # Ok::<(), rivulet::redis_conn::RedisUrlError>(())
/// ```
#[derive(Clone)]
pub struct RedisConfig {
    address: RedisAddress,
    ca_file: Option<PathBuf>,
    client_cert: Option<(PathBuf, PathBuf)>,
    sentinel_auth: Option<SentinelAuth>,
}

impl RedisConfig {
    /// The configuration for the Redis URL `url` (see the
    /// [module docs](super) for its forms), trusting the system roots.
    pub fn parse(url: &str) -> Result<RedisConfig, RedisUrlError> {
        Ok(RedisConfig {
            address: url.parse()?,
            ca_file: None,
            client_cert: None,
            sentinel_auth: None,
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

    /// Authenticates to the sentinels of a `redis+sentinel://` URL with
    /// `password` (and `username`, for an ACL user): for sentinels that set
    /// `requirepass`. The URL's own credentials are the master's.
    ///
    /// ```
    /// use rivulet::redis_conn::RedisConfig;
    ///
    /// let config = RedisConfig::parse("redis+sentinel://:master-pw@10.0.0.1,10.0.0.2/cache")?
    ///     .sentinel_auth(None, "sentinel-pw");
    /// let shown = format!("{config} {config:?}");
    /// assert!(!shown.contains("master-pw") && !shown.contains("sentinel-pw"));
    /// # Ok::<(), rivulet::redis_conn::RedisUrlError>(())
    /// ```
    pub fn sentinel_auth(mut self, username: Option<&str>, password: &str) -> RedisConfig {
        self.sentinel_auth = Some(SentinelAuth {
            username: username.map(str::to_owned),
            password: password.to_owned(),
        });
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
        RedisLink::connect(self.address.clone(), certs, self.sentinel_auth.as_ref())
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
            message: self.scrub(&e.to_string()),
        }
    }

    /// `text` with every password of this configuration replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let text = self.address.scrub(text);
        match &self.sentinel_auth {
            Some(auth) if !auth.password.is_empty() => text.replace(auth.password.as_str(), "***"),
            _ => text,
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
            .field(
                "sentinel_auth",
                &self.sentinel_auth.as_ref().map(|_| format_args!("***")),
            )
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
