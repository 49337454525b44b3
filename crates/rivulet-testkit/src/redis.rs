//! A real `redis-server` on a free loopback port.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::PATIENCE;

/// A `redis-server` on a free loopback port, killed when dropped. Fails the
/// test loudly when there is none: these tests must not skip silently.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = TempDir::new();
        // Redis needs an explicit port: take a free one from the kernel and
        // hand it over. Another process could take it in between; the start
        // is then retried on a new port.
        for _ in 0..5 {
            let port = crate::free_port();
            let child = Command::new(&binary)
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", dir.0.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(e) => panic!(
                    "cannot start `{binary}` ({e}): the Redis tests need redis-server \
                     (apt-get install redis-server, or scripts/setup; REDIS_SERVER=path overrides)"
                ),
            };
            let deadline = std::time::Instant::now() + PATIENCE;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: the port was taken; try another
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return RedisServer {
                        port,
                        child,
                        _dir: dir,
                    };
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "redis-server did not listen on port {port}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("redis-server would not start on a free port");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "rivulet-redis-{}-{:x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
