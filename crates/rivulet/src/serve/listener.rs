//! Binding a listener with a listen backlog fit for bursts of connections.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The listen backlog of [`bind`]: connections the kernel completes and
/// queues before the server accepts them. The usual 128 is too few for a burst
/// of clients that reconnect at once (a redeploy, a proxy restart): past it the
/// kernel drops SYNs and clients retry after a second or more. The kernel caps
/// it at `net.core.somaxconn` (4096 on current Linux).
pub const DEFAULT_BACKLOG: u32 = 4096;

/// Binds `addr` with the [`DEFAULT_BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    bind_with_backlog(addr, DEFAULT_BACKLOG)
}

/// Binds `addr` with a listen backlog of `backlog` connections (at least 1).
pub fn bind_with_backlog(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restarted server binds its port again at once, though connections of
    // the one before are still in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog.max(1))
}
