//! [`RedisAddress`]: an operator's Redis URL, parsed, with a display that
//! names the hosts and ports and never the password.

use std::fmt;

/// A parsed Redis URL (see the [module docs](super) for the forms). Its
/// `Display` and `Debug` show the scheme, hosts and ports only:
/// `redis://127.0.0.1:6379`.
///
/// ```
/// use rivulet::redis_conn::RedisAddress;
///
/// let address: RedisAddress = "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7000".parse()?;
/// assert_eq!(address.to_string(), "redis+cluster://10.0.0.1:7000,10.0.0.2:7000");
/// assert!(address.is_tls() == false && address.is_cluster());
/// # Ok::<(), rivulet::redis_conn::RedisUrlError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RedisAddress {
    tls: bool,
    cluster: bool,
    /// `user:password@`, or empty.
    userinfo: String,
    /// `host:port` of each node given.
    nodes: Vec<String>,
    /// `/db?query`, or empty.
    rest: String,
    password: Option<String>,
}

/// A Redis URL that cannot be used. Its message never holds the URL itself
/// (it may carry a password).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisUrlError {
    /// The scheme is none of `redis`, `rediss`, `redis+cluster`, `rediss+cluster`.
    Scheme,
    /// No host is given.
    NoHost,
    /// Several hosts are given without the `+cluster` scheme.
    SeveralHosts,
    /// A port is not a number.
    Port,
}

impl fmt::Display for RedisUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedisUrlError::Scheme => {
                "the Redis URL's scheme must be redis://, rediss://, redis+cluster:// or rediss+cluster://"
            }
            RedisUrlError::NoHost => "the Redis URL names no host",
            RedisUrlError::SeveralHosts => {
                "the Redis URL names several hosts: use redis+cluster:// for a cluster's seed nodes"
            }
            RedisUrlError::Port => "a port in the Redis URL is not a number",
        })
    }
}

impl std::error::Error for RedisUrlError {}

impl std::str::FromStr for RedisAddress {
    type Err = RedisUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = url.split_once("://").ok_or(RedisUrlError::Scheme)?;
        let (tls, cluster) = match scheme.to_ascii_lowercase().as_str() {
            "redis" => (false, false),
            "rediss" => (true, false),
            "redis+cluster" => (false, true),
            "rediss+cluster" => (true, true),
            _ => return Err(RedisUrlError::Scheme),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, hosts) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let password = userinfo
            .trim_end_matches('@')
            .split_once(':')
            .map(|(_, password)| password.to_owned())
            .filter(|password| !password.is_empty());
        let mut nodes = Vec::new();
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            nodes.push(with_port(host)?);
        }
        if nodes.is_empty() {
            return Err(RedisUrlError::NoHost);
        }
        if nodes.len() > 1 && !cluster {
            return Err(RedisUrlError::SeveralHosts);
        }
        Ok(RedisAddress {
            tls,
            cluster,
            userinfo: userinfo.to_owned(),
            nodes,
            rest: tail.to_owned(),
            password,
        })
    }
}

/// `host:port`, with Redis's port 6379 when none is given.
fn with_port(host: &str) -> Result<String, RedisUrlError> {
    // `[::1]:6379`, `[::1]`, `host:6379`, `host`.
    let port = match host.rfind(':') {
        Some(colon) if !host[colon..].contains(']') => Some(&host[colon + 1..]),
        _ => None,
    };
    match port {
        Some(port) => {
            port.parse::<u16>().map_err(|_| RedisUrlError::Port)?;
            Ok(host.to_owned())
        }
        None => Ok(format!("{host}:6379")),
    }
}

impl RedisAddress {
    /// Whether the connection uses TLS (`rediss`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether the URL names a cluster explicitly (`+cluster`); a plain URL
    /// may still lead to one, found at connection time.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The URL of each node as the redis crate takes it, password included:
    /// for connecting only, never for display.
    pub(crate) fn node_urls(&self) -> Vec<String> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        self.nodes
            .iter()
            .map(|node| format!("{scheme}://{}{node}{}", self.userinfo, self.rest))
            .collect()
    }

    /// `text` with the password, if any, replaced by `***`: for messages of
    /// errors that might quote what they were given.
    pub(crate) fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(password) => text.replace(password.as_str(), "***"),
            None => text.to_owned(),
        }
    }
}

impl fmt::Display for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match (self.tls, self.cluster) {
            (false, false) => "redis",
            (true, false) => "rediss",
            (false, true) => "redis+cluster",
            (true, true) => "rediss+cluster",
        };
        write!(f, "{scheme}://{}", self.nodes.join(","))
    }
}

impl fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisAddress({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_names_hosts_and_ports_and_never_the_password() {
        for url in [
            "redis://:hunter2@127.0.0.1:6379/0",
            "redis://admin:hunter2@127.0.0.1",
            "rediss://default:hunter2@[::1]:6380?protocol=resp3",
            "redis+cluster://:hunter2@a:7000,b:7001",
        ] {
            let address: RedisAddress = url.parse().unwrap();
            let shown = format!("{address} {address:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(!shown.contains('@'), "{shown}");
        }
        let address: RedisAddress = "redis://admin:hunter2@127.0.0.1".parse().unwrap();
        assert_eq!(address.to_string(), "redis://127.0.0.1:6379");
        assert_eq!(
            address.node_urls(),
            ["redis://admin:hunter2@127.0.0.1:6379"]
        );
        assert_eq!(address.scrub("bad hunter2 here"), "bad *** here");
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        for (url, error) in [
            ("http://:hunter2@h:1", RedisUrlError::Scheme),
            ("redis://:hunter2@", RedisUrlError::NoHost),
            ("redis://:hunter2@a:1,b:2", RedisUrlError::SeveralHosts),
            ("redis://:hunter2@a:port", RedisUrlError::Port),
        ] {
            let got = url.parse::<RedisAddress>().unwrap_err();
            assert_eq!(got, error);
            assert!(!got.to_string().contains("hunter2"));
        }
    }
}
