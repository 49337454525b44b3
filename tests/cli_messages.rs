//! Error messages of the `rivulet` command that say what went wrong and what
//! to do: a point that cannot be resumed, a URL that is not one, a busy port;
//! and a server log without colour codes when it is not written to a terminal.

use std::net::SocketAddr;
use std::process::Stdio;

use rivulet_testkit::{PATIENCE, binary_command, finish, serve_with, url, watch};

async fn demo() -> SocketAddr {
    serve_with(rivulet_cli::demo::serve_on).await
}

#[tokio::test]
async fn a_point_that_cannot_be_resumed_says_so_and_why() {
    let addr = demo().await;
    let point = "0123456789abcdef0123456789abcdef.3";
    let run = watch(&["--resume", point, &url(addr, "/stream/durable?items=3")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("the stream cannot be resumed from {point}")),
        "{run:?}"
    );
    assert!(run.stderr.contains("expired"), "{run:?}");
    assert!(!run.stderr.contains("is not a stream"), "{run:?}");
}

#[tokio::test]
async fn a_malformed_resume_point_is_refused_before_sending() {
    let run = watch(&["--resume", "42", "http://127.0.0.1:9/stream/durable"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("`42` is not a resume point"), "{run:?}");
}

#[tokio::test]
async fn a_refused_connection_is_said_in_words() {
    let (listener, addr) = rivulet_testkit::listen().await;
    drop(listener);
    let run = watch(&[&url(addr, "/stream")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("cannot connect to {addr}: connection refused")),
        "{run:?}"
    );
    for raw in ["tcp connect error", "os error", "error sending request"] {
        assert!(!run.stderr.contains(raw), "{raw}: {run:?}");
    }
}

/// With `--no-reconnect`, a resumable stream cut short says where it stopped,
/// and `--resume` goes on from there to the final packet.
#[tokio::test]
async fn a_cut_stream_prints_its_resume_point_for_resume() {
    let addr = demo().await;
    let proxy = rivulet_testkit::Proxy::start(addr).await;
    let path = "/stream/durable?items=40&every=1&interval_ms=20";
    let mut child =
        rivulet_testkit::spawn_watch(&["--json", "--no-reconnect", &url(proxy.addr, path)]);
    let mut lines = rivulet_testkit::stdout_lines(&mut child);
    for _ in 0..3 {
        rivulet_testkit::next_line(&mut lines)
            .await
            .expect("a packet");
    }
    proxy.cut();
    let mut last = String::new();
    while let Some(line) = rivulet_testkit::next_line(&mut lines).await {
        last = line;
    }
    let run = finish(child).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    let failure: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(failure["type"], "failure", "{last}");
    let point = failure["resume_point"]
        .as_str()
        .expect("a resume point")
        .to_owned();
    assert!(run.stderr.contains(&format!("--resume {point}")), "{run:?}");

    let rest = watch(&["--json", "--resume", &point, &url(addr, path)]).await;
    assert_eq!(rest.code, Some(0), "{rest:?}");
    assert_eq!(rest.objects().last().unwrap()["type"], "done", "{rest:?}");
}

#[tokio::test]
async fn a_relative_url_names_the_argument_and_shows_a_url() {
    let run = watch(&["/stream/process"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr
            .contains("the URL argument `/stream/process` is not a URL"),
        "{run:?}"
    );
    assert!(run.stderr.contains("http://127.0.0.1:8080/"), "{run:?}");
    assert!(!run.stderr.contains("builder error"), "{run:?}");
}

#[tokio::test]
async fn a_busy_port_names_the_address_and_addr() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let child = binary_command(&["demo", "--addr", &addr.to_string()])
        .spawn()
        .unwrap();
    let run = finish(child).await;
    drop(taken);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains(&format!("cannot listen on {addr}")),
        "{run:?}"
    );
    assert!(run.stderr.contains("--addr"), "{run:?}");
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no colour codes off a terminal: {run:?}"
    );
}

#[tokio::test]
async fn the_server_log_has_no_colour_codes_off_a_terminal() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = binary_command(&["demo", "--addr", "127.0.0.1:0"])
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(PATIENCE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("rivulet demo on") {
                return line;
            }
        }
        panic!("the server exited before logging its address");
    })
    .await
    .expect("the address logged in time");
    assert!(!line.contains('\u{1b}'), "{line:?}");
    child.kill().await.unwrap();
}
