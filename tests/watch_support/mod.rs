//! Test support: the demo server on loopback, and the real `rivulet watch`
//! binary run as a subprocess.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use rivulet::decode::Event;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

/// Every wait is bounded by this, so a bug fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The demo server on an ephemeral loopback port.
pub async fn demo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(rivulet_cli::demo::serve_on(listener));
    addr
}

pub fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// `rivulet watch ARGS...` with no proxy settings and no terminal, output piped.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rivulet"));
    command.arg("watch").args(args);
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

/// Starts `rivulet watch ARGS...`; its stdin is a pipe when `stdin` is set.
pub fn spawn_with(args: &[&str], stdin: bool) -> Child {
    let mut command = command(args);
    if stdin {
        command.stdin(Stdio::piped());
    }
    command.spawn().expect("the rivulet binary starts")
}

pub fn spawn(args: &[&str]) -> Child {
    spawn_with(args, false)
}

/// What a finished `rivulet watch` printed, and its exit status.
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
        .expect("rivulet watch exits in time")
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 output"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 output"),
    }
}

/// Runs `rivulet watch ARGS...` to its end.
pub async fn watch(args: &[&str]) -> Run {
    finish(spawn(args)).await
}

/// Reads a running watch's stdout line by line.
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
