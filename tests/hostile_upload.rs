//! Hostile uploads to the demo's `/stream/upload`, over raw TCP on loopback:
//! a client's broken body is a 400 with a JSON reason, never a 500.

use std::time::Duration;

use rivulet_testkit::{PATIENCE, serve_with};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn demo() -> std::net::SocketAddr {
    serve_with(rivulet_cli::demo::serve_on).await
}

/// Sends `request` whole and reads the answer until the server closes the
/// connection or `PATIENCE` runs out: its status line and its body.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an answer");
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[tokio::test]
async fn a_malformed_chunked_upload_is_a_400_with_a_json_reason() {
    let addr = demo().await;
    let part =
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\nsome bytes";
    let request = format!(
        "POST /stream/upload HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: multipart/form-data; boundary=b\r\ntransfer-encoding: chunked\r\n\r\n\
         {:x}\r\n{part}\r\nzz-not-a-chunk-size\r\n\r\n",
        part.len()
    );
    let (status, body) = exchange(addr, request.as_bytes()).await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request", "{body}");
    // The body may be chunked: the JSON object is its one line of braces.
    let json = body
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("a JSON body");
    let error: Value = serde_json::from_str(json).unwrap();
    assert_eq!(error["error"]["status"], 400);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be read"),
        "{error}"
    );
}

#[tokio::test]
async fn an_upload_without_a_boundary_in_its_first_kibs_is_a_400() {
    let addr = demo().await;
    let preamble = ".".repeat(64 * 1024);
    let request = format!(
        "POST /stream/upload HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: multipart/form-data; boundary=b\r\ncontent-length: 268435456\r\n\r\n{preamble}"
    );
    let started = std::time::Instant::now();
    let (status, body) = exchange(addr, request.as_bytes()).await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request", "{body}");
    assert!(body.contains("no boundary"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
