//! The demo behind the proxies people deploy, each started by the test on a
//! free loopback port with the configuration of `tests/proxies/` and a
//! certificate made at run time: TLS and HTTP/2 to the client, HTTP/1.1 to
//! the app. Streams flow packet by packet, uploads complete, streams resume.
//!
//! The proxies must be installed (`scripts/setup` does): these tests fail
//! rather than skip without them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rivulet::Format;
use rivulet::decode::Event;
use rivulet_testkit::{End, PATIENCE, Reader, Reading, free_port};
use serde_json::json;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Caddy,
}

/// A proxy process in front of a demo server, killed when dropped.
struct Proxy {
    port: u16,
    child: Child,
    dir: PathBuf,
    cert: String,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A demo server in this process, on an ephemeral loopback port.
async fn demo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = rivulet_cli::demo::Options::default();
    tokio::spawn(rivulet_cli::demo::serve_with(
        listener,
        options,
        std::future::pending(),
    ));
    addr
}

/// Writes a certificate for localhost into `dir`; returns its PEM text.
fn certificate(dir: &Path) -> String {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.pem();
    std::fs::write(dir.join("cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("key.pem"), certified.signing_key.serialize_pem()).unwrap();
    cert
}

/// Starts `kind` in front of `upstream` and waits until it listens. The
/// port is picked free but bound by the proxy later, so another process on
/// the machine may take it in between: the proxy then starts again on
/// another.
async fn proxy(kind: Kind, upstream: SocketAddr) -> Proxy {
    for _ in 0..4 {
        if let Some(proxy) = start(kind, upstream).await {
            return proxy;
        }
    }
    start(kind, upstream)
        .await
        .unwrap_or_else(|| panic!("{kind:?} found no free port in five tries"))
}

/// [`proxy`] on one port; `None` when the port was taken meanwhile.
async fn start(kind: Kind, upstream: SocketAddr) -> Option<Proxy> {
    let dir = std::env::temp_dir().join(format!(
        "rivulet-{kind:?}-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = certificate(&dir);
    let port = free_port();
    let (template, config_name) = match kind {
        Kind::Nginx => (include_str!("proxies/nginx.conf"), "nginx.conf"),
        Kind::Caddy => (include_str!("proxies/Caddyfile"), "Caddyfile"),
    };
    let config = template
        .replace("@DIR@", dir.to_str().unwrap())
        .replace("@UPSTREAM@", &upstream.to_string())
        .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
        .replace("@PORT@", &port.to_string());
    let config_path = dir.join(config_name);
    std::fs::write(&config_path, config).unwrap();
    let mut command = match kind {
        Kind::Nginx => {
            let mut command = Command::new("nginx");
            command.arg("-p").arg(&dir).arg("-c").arg(&config_path);
            command
        }
        Kind::Caddy => {
            let mut command = Command::new("caddy");
            command
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&config_path)
                .env("HOME", &dir)
                .env("XDG_DATA_HOME", dir.join("data"))
                .env("XDG_CONFIG_HOME", dir.join("config"));
            command
        }
    };
    // nginx lives in /usr/sbin, which a plain user's PATH may lack.
    let path = std::env::var("PATH").unwrap_or_default();
    command.env("PATH", format!("{path}:/usr/sbin:/usr/local/sbin"));
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {kind:?} (scripts/setup installs it): {e}"));
    let mut proxy = Proxy {
        port,
        child,
        dir,
        cert,
    };
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if let Ok(Some(status)) = proxy.child.try_wait() {
            let log = std::fs::read_to_string(proxy.dir.join("error.log")).unwrap_or_default();
            if log.contains("Address already in use") {
                return None;
            }
            panic!("{kind:?} exited: {status}\n{log}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind:?} never listened"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(proxy)
}

impl Proxy {
    /// A client that trusts the proxy's certificate and speaks HTTP/2 to it.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], self.port)))
            .tls_certs_only([reqwest::Certificate::from_pem(self.cert.as_bytes()).unwrap()])
            .build()
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    async fn get(
        &self,
        path: &str,
        format: Format,
        last_event_id: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client().get(self.url(path));
        for (name, value) in format.request_headers() {
            request = request.header(*name, *value);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = tokio::time::timeout(PATIENCE, request.send())
            .await
            .expect("a response head in time")
            .unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        response
    }
}

/// A feed whose second packet comes a minute after its first: the first
/// arrives alone, so the proxy does not buffer.
async fn packets_pass_one_by_one(kind: Kind) {
    let proxy = proxy(kind, demo().await).await;
    for format in [Format::Sse, Format::Ndjson] {
        let response = proxy
            .get("/stream/feed?interval_ms=60000", format, None)
            .await;
        assert_eq!(response.status(), 200);
        match Reader::new(response).next().await {
            Some(Ok(Event::Progress(value))) => assert_eq!(value["seq"], 1, "{kind:?} {format}"),
            other => panic!("{kind:?} {format}: {other:?}"),
        }
    }
}

/// A 64 MiB upload whose handler reports progress while it reads.
async fn a_64_mib_upload_completes(kind: Kind) {
    let proxy = proxy(kind, demo().await).await;
    let data: Vec<u8> = (0..64 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let digest: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(data.clone()).file_name("data.bin"),
    );
    let mut request = proxy
        .client()
        .post(proxy.url("/stream/upload"))
        .multipart(form);
    for (name, value) in Format::Ndjson.request_headers() {
        request = request.header(*name, *value);
    }
    let response = tokio::time::timeout(PATIENCE * 3, request.send())
        .await
        .expect("the upload is answered in time")
        .unwrap();
    assert_eq!(response.status(), 200);
    // Keep-alives would keep a stalled upload's stream open for ever: the whole
    // stream has a deadline.
    let events = tokio::time::timeout(PATIENCE * 3, Reader::new(response).rest())
        .await
        .expect("the upload's stream ends in time");
    assert_eq!(
        events.last(),
        Some(&Event::Done(
            json!({ "bytes": data.len(), "sha256": digest })
        )),
        "{kind:?}"
    );
}

/// A resumable stream cut after a few packets resumes through the proxy with
/// each packet once.
async fn a_stream_resumes(kind: Kind) {
    let proxy = proxy(kind, demo().await).await;
    let path = "/stream/durable?items=20&every=1&interval_ms=30";
    let mut first = Reading::new(proxy.get(path, Format::Sse, None).await, 0);
    assert_eq!(first.until(4).await, None);
    let point = first.resume_point();
    let received = first.received;
    let mut events = std::mem::take(&mut first.events);
    drop(first);
    let mut second = Reading::new(proxy.get(path, Format::Sse, Some(&point)).await, received);
    assert_eq!(second.read_to_end().await, End::Final);
    events.extend(second.events);
    let progress: Vec<_> = events
        .iter()
        .filter_map(|event| match event {
            Event::Progress(value) => Some(value.clone()),
            _ => None,
        })
        .collect();
    let mut expected = vec![json!("Starting durable process")];
    expected.extend((1..=20).map(|i| json!(format!("Processed {i} items"))));
    assert_eq!(progress, expected, "{kind:?}");
    assert!(matches!(events.last(), Some(Event::Done(_))), "{events:?}");
}

#[tokio::test]
async fn nginx_passes_packets_one_by_one() {
    packets_pass_one_by_one(Kind::Nginx).await;
}

#[tokio::test]
async fn nginx_completes_a_64_mib_upload_that_streams_progress() {
    a_64_mib_upload_completes(Kind::Nginx).await;
}

#[tokio::test]
async fn nginx_resumes_a_stream() {
    a_stream_resumes(Kind::Nginx).await;
}

#[tokio::test]
async fn caddy_passes_packets_one_by_one() {
    packets_pass_one_by_one(Kind::Caddy).await;
}

#[tokio::test]
async fn caddy_completes_a_64_mib_upload_that_streams_progress() {
    a_64_mib_upload_completes(Kind::Caddy).await;
}

#[tokio::test]
async fn caddy_resumes_a_stream() {
    a_stream_resumes(Kind::Caddy).await;
}
