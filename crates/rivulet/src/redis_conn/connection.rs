//! [`RedisConnection`]: the one handle the stores send commands through,
//! whatever the deployment.

use redis::aio::{ConnectionLike, ConnectionManager, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::sentinel::MasterConnection;

/// A connection to a single node (reconnecting, or dedicated to blocking
/// reads) or to a Redis Cluster, where the redis crate routes each command
/// to the node of its key's slot and follows MOVED and ASK, or to the
/// master the sentinels name.
#[derive(Clone)]
pub(crate) enum RedisConnection {
    /// One node, reconnecting on failure: the shared command handle.
    Single(ConnectionManager),
    /// One node, for the blocking reads of one task.
    Dedicated(MultiplexedConnection),
    /// A cluster.
    Cluster(ClusterConnection),
    /// The master the sentinels name, asked again after a failure.
    Sentinel(MasterConnection),
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConnection::Single(c) => c.req_packed_command(cmd),
            RedisConnection::Dedicated(c) => c.req_packed_command(cmd),
            RedisConnection::Cluster(c) => c.req_packed_command(cmd),
            RedisConnection::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConnection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Dedicated(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConnection::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(c) => c.get_db(),
            RedisConnection::Dedicated(c) => c.get_db(),
            RedisConnection::Cluster(c) => c.get_db(),
            RedisConnection::Sentinel(c) => c.get_db(),
        }
    }
}
