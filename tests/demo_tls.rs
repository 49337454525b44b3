//! `rivulet demo` over TLS and its serving options, the real binary on
//! loopback: `--tls-self-signed` serves HTTP/2 by ALPN, bad options are usage
//! errors that name the option.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

/// A `rivulet demo` child process, killed when dropped.
struct Demo {
    port: u16,
    child: Child,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

async fn demo(args: &[&str]) -> Demo {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(["demo", "--addr", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Demo { port, child };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Ok(Some(status)) = demo.child.try_wait() {
            panic!("rivulet demo exited: {status}");
        }
        assert!(tokio::time::Instant::now() < deadline, "never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    demo
}

#[tokio::test]
async fn tls_self_signed_serves_streams_over_h2() {
    let demo = demo(&["--tls-self-signed", "--max-connections", "100"]).await;
    // The certificate is made at start and trusted by nobody: this client
    // accepts it, as a developer does past the browser's warning.
    let url = format!(
        "https://localhost:{}/stream/process?items=20&interval_ms=1",
        demo.port
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_danger_accept_invalid_certs(true)
        .resolve("localhost", ([127, 0, 0, 1], demo.port).into())
        .build()
        .unwrap();
    let response = tokio::time::timeout(
        PATIENCE,
        client
            .get(&url)
            .header("accept", "application/x-ndjson")
            .send(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let body = tokio::time::timeout(PATIENCE, response.text())
        .await
        .unwrap()
        .unwrap();
    assert!(body.contains("\"done\""), "{body}");
}

#[test]
fn bad_serving_options_are_usage_errors_that_name_the_option() {
    for (args, option) in [
        (&["--backlog", "0"][..], "--backlog"),
        (&["--max-connections", "0"][..], "--max-connections"),
        (&["--max-header-bytes", "100"][..], "--max-header-bytes"),
        (&["--tls-cert", "/nonexistent/cert.pem"][..], "--tls-key"),
        (
            &[
                "--tls-cert",
                "/nonexistent/cert.pem",
                "--tls-key",
                "/nonexistent/key.pem",
            ][..],
            "--tls-cert",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_rivulet"))
            .args(["demo", "--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(option), "{args:?}: {stderr}");
    }
}
