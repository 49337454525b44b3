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
    /// The master's name, for `+sentinel`: then `nodes` are the sentinels.
    master: Option<String>,
    /// `user:password@`, or empty.
    userinfo: String,
    /// `host:port` of each node given.
    nodes: Vec<String>,
    /// `/db?query`, or empty (for `+sentinel`, the part after the master's name).
    rest: String,
    password: Option<String>,
}

/// A Redis URL that cannot be used. Its message never holds the URL itself
/// (it may carry a password).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisUrlError {
    /// The scheme is none of `redis`, `rediss`, `redis+cluster`,
    /// `rediss+cluster`, `redis+sentinel`, `rediss+sentinel`.
    Scheme,
    /// No host is given.
    NoHost,
    /// Several hosts are given without the `+cluster` scheme.
    SeveralHosts,
    /// A port is not a number.
    Port,
    /// A `+sentinel` URL names no master (`/<master-name>` after the hosts).
    MasterName,
    /// The database number is not a number.
    Db,
}

impl fmt::Display for RedisUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedisUrlError::Scheme => {
                "the Redis URL's scheme must be redis://, rediss://, redis+cluster://, \
                 rediss+cluster://, redis+sentinel:// or rediss+sentinel://"
            }
            RedisUrlError::NoHost => "the Redis URL names no host",
            RedisUrlError::SeveralHosts => {
                "the Redis URL names several hosts: use redis+cluster:// for a cluster's seed \
                 nodes, redis+sentinel:// for sentinels"
            }
            RedisUrlError::Port => "a port in the Redis URL is not a number",
            RedisUrlError::MasterName => {
                "the redis+sentinel:// URL names no master: add /<master-name> after the sentinels"
            }
            RedisUrlError::Db => "the database in the Redis URL is not a number",
        })
    }
}

impl std::error::Error for RedisUrlError {}

impl std::str::FromStr for RedisAddress {
    type Err = RedisUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = url.split_once("://").ok_or(RedisUrlError::Scheme)?;
        let (tls, cluster, sentinel) = match scheme.to_ascii_lowercase().as_str() {
            "redis" => (false, false, false),
            "rediss" => (true, false, false),
            "redis+cluster" => (false, true, false),
            "rediss+cluster" => (true, true, false),
            "redis+sentinel" => (false, false, true),
            "rediss+sentinel" => (true, false, true),
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
        // Sentinels listen on 26379 by default, Redis on 6379.
        let default_port = if sentinel { 26379 } else { 6379 };
        let mut nodes = Vec::new();
        for host in hosts.split(',').filter(|h| !h.is_empty()) {
            nodes.push(with_port(host, default_port)?);
        }
        if nodes.is_empty() {
            return Err(RedisUrlError::NoHost);
        }
        if nodes.len() > 1 && !(cluster || sentinel) {
            return Err(RedisUrlError::SeveralHosts);
        }
        let (master, rest) = match sentinel {
            false => (None, tail.to_owned()),
            true => {
                // `/<master-name>[/db][?query]`
                let path = tail.strip_prefix('/').unwrap_or_default();
                let end = path.find(['/', '?']).unwrap_or(path.len());
                let (name, rest) = path.split_at(end);
                if name.is_empty() {
                    return Err(RedisUrlError::MasterName);
                }
                (Some(name.to_owned()), rest.to_owned())
            }
        };
        let address = RedisAddress {
            tls,
            cluster,
            master,
            userinfo: userinfo.to_owned(),
            nodes,
            rest,
            password,
        };
        address.db()?;
        Ok(address)
    }
}

/// `host:port`, with `default_port` when none is given.
fn with_port(host: &str, default_port: u16) -> Result<String, RedisUrlError> {
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
        None => Ok(format!("{host}:{default_port}")),
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

    /// The name of the master the sentinels watch, for `+sentinel`.
    pub fn sentinel_master(&self) -> Option<&str> {
        self.master.as_deref()
    }

    /// The `host:port` of each node named: the seeds of a cluster, the
    /// sentinels of a `+sentinel` URL.
    pub(crate) fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The username and password of the URL, if any.
    pub(crate) fn credentials(&self) -> (Option<&str>, Option<&str>) {
        let userinfo = self.userinfo.trim_end_matches('@');
        let (user, _) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let user = Some(user).filter(|user| !user.is_empty());
        (user, self.password.as_deref())
    }

    /// The database number the path names (`/db`), if any.
    pub(crate) fn db(&self) -> Result<Option<i64>, RedisUrlError> {
        let path = self.rest.split('?').next().unwrap_or_default();
        match path.trim_matches('/') {
            "" => Ok(None),
            db => db.parse().map(Some).map_err(|_| RedisUrlError::Db),
        }
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
        let scheme = match (self.tls, self.cluster, &self.master) {
            (false, _, Some(_)) => "redis+sentinel",
            (true, _, Some(_)) => "rediss+sentinel",
            (false, false, None) => "redis",
            (true, false, None) => "rediss",
            (false, true, None) => "redis+cluster",
            (true, true, None) => "rediss+cluster",
        };
        write!(f, "{scheme}://{}", self.nodes.join(","))?;
        match &self.master {
            Some(master) => write!(f, "/{master}"),
            None => Ok(()),
        }
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
            "redis+sentinel://admin:hunter2@a:26379,b/mymaster/2",
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
    fn a_sentinel_url_names_the_sentinels_the_master_and_the_db() {
        let address: RedisAddress = "redis+sentinel://admin:hunter2@10.0.0.1,10.0.0.2:5000/cache/3"
            .parse()
            .unwrap();
        assert_eq!(
            address.to_string(),
            "redis+sentinel://10.0.0.1:26379,10.0.0.2:5000/cache"
        );
        assert_eq!(address.sentinel_master(), Some("cache"));
        assert_eq!(address.nodes(), ["10.0.0.1:26379", "10.0.0.2:5000"]);
        assert_eq!(address.credentials(), (Some("admin"), Some("hunter2")));
        assert_eq!(address.db(), Ok(Some(3)));
        let address: RedisAddress = "rediss+sentinel://s:1/cache".parse().unwrap();
        assert!(address.is_tls());
        assert_eq!(address.credentials(), (None, None));
        assert_eq!(address.db(), Ok(None));
    }

    #[test]
    fn bad_urls_are_refused_without_quoting_them() {
        for (url, error) in [
            ("http://:hunter2@h:1", RedisUrlError::Scheme),
            ("redis://:hunter2@", RedisUrlError::NoHost),
            ("redis://:hunter2@a:1,b:2", RedisUrlError::SeveralHosts),
            ("redis://:hunter2@a:port", RedisUrlError::Port),
            (
                "redis+sentinel://:hunter2@a:1,b:2",
                RedisUrlError::MasterName,
            ),
            ("redis+sentinel://:hunter2@a:1/", RedisUrlError::MasterName),
            ("redis+sentinel://:hunter2@a:1/m/zero", RedisUrlError::Db),
            ("redis://:hunter2@a:1/zero", RedisUrlError::Db),
        ] {
            let got = url.parse::<RedisAddress>().unwrap_err();
            assert_eq!(got, error);
            assert!(!got.to_string().contains("hunter2"));
        }
    }
}
