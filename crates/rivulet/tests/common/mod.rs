//! Test support: a real server on loopback and a real HTTP client reading it
//! through the crate's own decoder.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use rivulet::Format;
use rivulet::decode::{DecodeError, Decoder, Event};

/// Every wait in these tests is bounded by this, so a bug fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Serves `app` on an ephemeral loopback port, TCP_NODELAY on, as the demo does.
pub async fn serve(app: Router) -> SocketAddr {
    use axum::serve::ListenerExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = listener.tap_io(|tcp| tcp.set_nodelay(true).unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One client for every test: building one loads TLS roots, which is slow.
/// Without idle pooling, so that no connection outlives its test's runtime.
pub fn client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap()
        })
        .clone()
}

/// Sends a GET asking for `format`.
pub async fn get(addr: SocketAddr, path: &str, format: Format) -> reqwest::Response {
    let mut request = client().get(format!("http://{addr}{path}"));
    for (name, value) in format.request_headers() {
        request = request.header(*name, *value);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("response head in time")
        .unwrap()
}

/// Reads a stream response packet by packet.
pub struct Reader {
    pub response: reqwest::Response,
    decoder: Decoder,
    ready: std::collections::VecDeque<Event>,
    /// A decode error, reported after the packets decoded before it.
    failed: Option<DecodeError>,
    pub raw: Vec<u8>,
    ended: bool,
}

impl Reader {
    pub fn new(response: reqwest::Response) -> Self {
        let format =
            Format::from_response_headers(response.headers()).expect("a stream content type");
        Reader {
            response,
            decoder: Decoder::new(format),
            ready: Default::default(),
            failed: None,
            raw: Vec::new(),
            ended: false,
        }
    }

    /// The next packet; `None` after the end of a complete stream.
    pub async fn next(&mut self) -> Option<Result<Event, DecodeError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if let Some(error) = self.failed.take() {
                return Some(Err(error));
            }
            if self.ended {
                return None;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("a chunk in time")
                .expect("the body reads");
            let mut out = Vec::new();
            let result = match chunk {
                Some(chunk) => {
                    self.raw.extend_from_slice(&chunk);
                    self.decoder.feed(&chunk, &mut out)
                }
                None => {
                    self.ended = true;
                    self.decoder.finish(&mut out)
                }
            };
            self.ready.extend(out);
            if let Err(e) = result {
                self.ended = true;
                self.failed = Some(e);
            }
        }
    }

    /// Every remaining packet, failing on a decode error.
    pub async fn rest(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event.expect("a well-formed stream"));
        }
        events
    }
}

/// GETs `path` in `format` and decodes the whole stream.
pub async fn events(addr: SocketAddr, path: &str, format: Format) -> Vec<Event> {
    let response = get(addr, path, format).await;
    assert_eq!(response.status(), 200, "{path} in {format}");
    Reader::new(response).rest().await
}

/// The value of metric `name` (without labels) in Prometheus text; 0 when absent.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with([' ', '{']))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until `check` holds, polling; panics after [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
