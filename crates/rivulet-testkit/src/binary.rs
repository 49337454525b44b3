//! The `rivulet` binary run as a child process: `rivulet watch` to its end or
//! line by line, and `rivulet demo` as a server on a free loopback port.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rivulet::decode::Event;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

use crate::{PATIENCE, free_port};

/// The `rivulet` binary cargo built beside the running test (the tests of the
/// package that owns it: cargo builds a package's binaries before its
/// integration tests, into the directory above the test's own `deps/`).
pub fn binary() -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    let dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary in target/<profile>/deps");
    let binary = dir.join(format!("rivulet{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "no {} (the rivulet binary is built for the rivulet-cli tests only)",
        binary.display()
    );
    binary
}

/// `rivulet ARGS...` with no proxy settings, no stdin, output piped, killed
/// when dropped.
pub fn binary_command(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(args);
    for proxy in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(proxy);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What a finished child printed, and its exit status.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// `--json` output, parsed back: one object per line.
    pub fn objects(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
            .collect()
    }

    /// `--json` output as the library's events, a `failure` line left out.
    pub fn events(&self) -> Vec<Event> {
        self.objects()
            .into_iter()
            .filter(|o| o["type"] != "failure")
            .map(|o| serde_json::from_value(o).unwrap())
            .collect()
    }
}

/// Waits for `child` to exit and collects what it printed.
pub async fn finish(child: Child) -> Run {
    let output = timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("the child exits in time")
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 output"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 output"),
    }
}

/// Reads a running child's stdout line by line.
pub fn stdout_lines(child: &mut Child) -> Lines<BufReader<ChildStdout>> {
    BufReader::new(child.stdout.take().expect("stdout is piped")).lines()
}

/// The next line of stdout, `None` at its end.
pub async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Option<String> {
    timeout(PATIENCE, lines.next_line())
        .await
        .expect("a line in time")
        .unwrap()
}

/// Sends SIGINT (Ctrl-C) to a running child.
pub fn interrupt(child: &Child) {
    let pid = child.id().expect("still running") as libc::pid_t;
    // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
}

/// A `rivulet demo` child process on a free loopback port, killed when dropped.
#[derive(Debug)]
pub struct Demo {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
}

impl Demo {
    /// Starts `rivulet demo --addr 127.0.0.1:PORT ARGS...` and waits until it
    /// listens; panics if it exits first.
    pub async fn start(args: &[&str]) -> Demo {
        Demo::start_with_env(args, &[]).await
    }

    /// [`Demo::start`] with the environment variables `env` set.
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Demo {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = binary_command(&["demo", "--addr", &addr])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the rivulet binary starts");
        let mut demo = Demo { addr, child };
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(&demo.addr).await.is_err() {
            if let Ok(Some(status)) = demo.child.try_wait() {
                panic!("rivulet demo exited: {status}");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "demo never listened"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        demo
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // tokio reaps the killed child in the background.
        let _ = self.child.start_kill();
    }
}

/// `rivulet watch ARGS...`, see [`binary_command`].
pub fn watch_command(args: &[&str]) -> Command {
    let mut command = binary_command(&["watch"]);
    command.args(args);
    command
}

/// Starts `rivulet watch ARGS...`.
pub fn spawn_watch(args: &[&str]) -> Child {
    watch_command(args)
        .spawn()
        .expect("the rivulet binary starts")
}

/// Starts `rivulet watch ARGS...` with a pipe for its stdin.
pub fn spawn_watch_with_stdin(args: &[&str]) -> Child {
    watch_command(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("the rivulet binary starts")
}

/// Runs `rivulet watch ARGS...` to its end.
pub async fn watch(args: &[&str]) -> Run {
    finish(spawn_watch(args)).await
}
