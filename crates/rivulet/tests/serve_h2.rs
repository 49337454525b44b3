//! HTTP/2 peers that try to hold `rivulet::serve`'s connections open: silent
//! after the preface, silent halfway through a header block, silent after a
//! TLS handshake, or deaf to PINGs while a stream is open. Each is spoken to
//! with hand-built frames over real TCP on loopback.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rivulet_testkit::PATIENCE;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The header block of `GET path` (HPACK: indexed `:method GET` and
/// `:scheme http`, literal `:path` and `:authority` without indexing).
fn get_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, u8::try_from(path.len()).unwrap()];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 0x01, b'x']);
    block
}

/// Serves `app` through `rivulet::serve` set up by `setup` on an ephemeral
/// loopback port; the server runs until the test's runtime ends.
fn start(
    app: Router,
    setup: impl FnOnce(rivulet::serve::Serve) -> rivulet::serve::Serve,
) -> SocketAddr {
    let listener = rivulet::serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(setup(rivulet::serve(listener, app)).into_future());
    addr
}

fn hello() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

/// Reads (and drops) what the server sends until it closes the connection;
/// `false` if it has not within [`PATIENCE`].
async fn closed_by_server(mut io: impl AsyncRead + Unpin) -> bool {
    let mut buf = vec![0; 16 * 1024];
    tokio::time::timeout(PATIENCE, async {
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A fresh client gets its answer while the attackers still hold their
/// sockets: it waits in the listen backlog until a slot is freed.
async fn fresh_client_is_served(addr: SocketAddr) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let answer = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "hello");
}

#[tokio::test]
async fn silent_h2_peers_are_closed_and_a_fresh_client_is_served() {
    let addr = start(hello(), |serve| {
        serve
            .max_connections(3)
            .header_read_timeout(Duration::from_secs(1))
    });
    // The preface, then nothing.
    let mut preface_only = TcpStream::connect(addr).await.unwrap();
    preface_only.write_all(PREFACE).await.unwrap();
    // The preface and settings, then nothing.
    let mut settings_only = TcpStream::connect(addr).await.unwrap();
    settings_only.write_all(PREFACE).await.unwrap();
    settings_only
        .write_all(&frame(SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    // Half a header block: HEADERS without END_HEADERS, and no CONTINUATION.
    let mut half_block = TcpStream::connect(addr).await.unwrap();
    half_block.write_all(PREFACE).await.unwrap();
    half_block
        .write_all(&frame(SETTINGS, 0, 0, &[]))
        .await
        .unwrap();
    let block = get_block("/");
    half_block
        .write_all(&frame(HEADERS, END_STREAM, 1, &block[..3]))
        .await
        .unwrap();

    // Every slot is held: the fourth client waits for one of them.
    fresh_client_is_served(addr).await;
    let (a, b, c) = tokio::join!(
        closed_by_server(&mut preface_only),
        closed_by_server(&mut settings_only),
        closed_by_server(&mut half_block),
    );
    assert!(a, "a peer that sent only the preface was not closed");
    assert!(b, "a peer that sent only its settings was not closed");
    assert!(c, "a peer that sent half a header block was not closed");
}

#[tokio::test]
async fn a_peer_deaf_to_pings_loses_its_connection_and_its_open_stream() {
    // A stream that never ends: the connection is never idle.
    let app = Router::new().route(
        "/forever",
        get(|| async {
            axum::body::Body::from_stream(futures::stream::pending::<
                Result<bytes::Bytes, std::io::Error>,
            >())
        }),
    );
    let addr = start(app, |serve| {
        serve
            .max_connections(1)
            .ping_interval(Duration::from_secs(1))
            .ping_timeout(Duration::from_secs(1))
    });
    let mut deaf = TcpStream::connect(addr).await.unwrap();
    deaf.write_all(PREFACE).await.unwrap();
    deaf.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    deaf.write_all(&frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &get_block("/forever"),
    ))
    .await
    .unwrap();
    // It reads everything, PINGs included, and answers none.
    assert!(
        closed_by_server(&mut deaf).await,
        "a peer that answers no PING kept its connection"
    );
}

/// A certificate for localhost made for the test: its DER and the server's
/// TLS with it.
fn certificate() -> (
    rustls_pki_types::CertificateDer<'static>,
    rivulet::serve::Tls,
) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls = rivulet::serve::Tls::from_pem(
        certified.cert.pem().as_bytes(),
        certified.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    (certified.cert.der().clone(), tls)
}

#[tokio::test]
async fn a_peer_silent_after_the_tls_handshake_is_closed_and_a_fresh_client_is_served() {
    let (cert, tls) = certificate();
    let addr = start(hello(), |serve| {
        serve
            .tls(tls)
            .max_connections(1)
            .header_read_timeout(Duration::from_secs(1))
    });
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut silent = connector.connect(name, tcp).await.unwrap();
    assert_eq!(silent.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    silent.write_all(PREFACE).await.unwrap();
    silent.flush().await.unwrap();

    let client = reqwest::Client::builder()
        .no_proxy()
        .resolve("localhost", addr)
        .tls_certs_only([reqwest::Certificate::from_der(&cert).unwrap()])
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://localhost:{}/", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.version(), http::Version::HTTP_2);
    assert_eq!(answer.text().await.unwrap(), "hello");
    assert!(
        closed_by_server(&mut silent).await,
        "a peer silent after TLS and the preface was not closed"
    );
}
