//! `rivulet::serve` over real HTTP/2 (prior knowledge and TLS with ALPN) and
//! HTTP/1.1 on loopback: packets, cancellation, flow control, limits and the
//! graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use rivulet::decode::Event;
use rivulet::protocol::SHUTDOWN_MESSAGE;
use rivulet::{Config, Format, Shutdown, Stream};
use rivulet_testkit::{PATIENCE, Reader, eventually};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Stops the server and waits until it has returned.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(PATIENCE, self.served)
            .await
            .expect("the server stops in time")
            .unwrap()
            .unwrap();
    }
}

/// Serves `app` (with `config` for its streams) through `rivulet::serve` set
/// up by `setup`, on an ephemeral loopback port.
async fn start(
    app: Router,
    config: Config,
    setup: impl FnOnce(rivulet::serve::Serve) -> rivulet::serve::Serve,
) -> Server {
    let shutdown = Shutdown::new();
    // No `.shutdown(…)` on the Config: `serve` hands every request its own.
    let app = app.layer(config);
    let listener = rivulet::serve::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = setup(rivulet::serve(listener, app)).with_graceful_shutdown(&shutdown, async {
        let _ = stopped.await;
    });
    Server {
        addr,
        stop: Some(stop),
        served: tokio::spawn(server.into_future()),
    }
}

/// An HTTP/2 client with prior knowledge: its requests share one connection.
fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

async fn get_stream(client: &reqwest::Client, url: String, format: Format) -> reqwest::Response {
    let mut request = client.get(url);
    for (name, value) in format.request_headers() {
        request = request.header(*name, *value);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("a response head in time")
        .unwrap()
}

/// Counts the handlers whose future was dropped (their client went).
struct Gone(Arc<AtomicUsize>);

impl Drop for Gone {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sends the peer's address, then counts up every 20 ms until the client
/// goes; counts the handlers cancelled in `gone`.
fn counting_app(gone: Arc<AtomicUsize>) -> Router {
    Router::new().route(
        "/count",
        get(
            move |stream: Stream, ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                stream
                    .run(move |tx| async move {
                        let _gone = Gone(gone);
                        tx.send(peer.to_string()).await?;
                        let mut i = 0u64;
                        loop {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            i += 1;
                            tx.send(i).await?;
                        }
                        #[allow(unreachable_code)]
                        Ok::<(), rivulet::Error>(())
                    })
                    .await
            },
        ),
    )
}

fn progress(event: Option<Result<Event, rivulet::decode::DecodeError>>) -> serde_json::Value {
    match event {
        Some(Ok(Event::Progress(value))) => value,
        other => panic!("expected a progress packet, got {other:?}"),
    }
}

#[tokio::test]
async fn h2c_packets_arrive_at_once_and_the_peer_address_is_known() {
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let release = Arc::new(std::sync::Mutex::new(Some(release_rx)));
    let app = Router::new().route(
        "/held",
        get(
            move |stream: Stream, ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                let release = release.lock().unwrap().take().unwrap();
                async move {
                    stream
                        .run(move |tx| async move {
                            tx.send(json!({ "peer": peer.to_string() })).await?;
                            // The second packet only once the first has arrived.
                            let _ = release.await;
                            Ok("done")
                        })
                        .await
                }
            },
        ),
    );
    let server = start(app, Config::default(), |s| s).await;
    let client = h2_client();
    let response = get_stream(&client, format!("http://{}/held", server.addr), Format::Sse).await;
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let mut reader = Reader::new(response);
    let first = progress(reader.next().await);
    let peer: SocketAddr = first["peer"].as_str().unwrap().parse().unwrap();
    assert!(peer.ip().is_loopback(), "{peer}");
    release_tx.send(()).unwrap();
    assert_eq!(reader.rest().await, vec![Event::Done(json!("done"))]);
    server.stop().await;
}

#[tokio::test]
async fn resetting_one_h2_stream_cancels_its_handler_and_not_its_neighbours() {
    let gone = Arc::new(AtomicUsize::new(0));
    let server = start(counting_app(gone.clone()), Config::default(), |s| s).await;
    let client = h2_client();
    let url = format!("http://{}/count", server.addr);
    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(Reader::new(
            get_stream(&client, url.clone(), Format::Ndjson).await,
        ));
    }
    let mut peers = Vec::new();
    for reader in &mut readers {
        peers.push(progress(reader.next().await));
    }
    // One connection for the three streams.
    assert!(peers.windows(2).all(|w| w[0] == w[1]), "{peers:?}");
    // Dropping a response body resets its stream (RST_STREAM).
    drop(readers.remove(1));
    eventually("the reset stream's handler saw its client go", || {
        gone.load(Ordering::SeqCst) == 1
    })
    .await;
    for reader in &mut readers {
        let a = progress(reader.next().await);
        let b = progress(reader.next().await);
        assert!(b.as_u64() > a.as_u64(), "{a} then {b}");
    }
    assert_eq!(gone.load(Ordering::SeqCst), 1);
    drop(readers);
    eventually("every handler saw its client go", || {
        gone.load(Ordering::SeqCst) == 3
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_reader_that_stops_holds_its_handler_back_through_h2_flow_control() {
    const PACKET: usize = 1024;
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let app = Router::new().route(
        "/flood",
        get(move |stream: Stream| async move {
            stream
                .run(move |tx| async move {
                    let packet = "x".repeat(PACKET);
                    loop {
                        tx.send(packet.as_str()).await?;
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), rivulet::Error>(())
                })
                .await
        }),
    );
    let server = start(app, Config::default(), |s| s).await;
    let client = h2_client();
    let mut reader = Reader::new(
        get_stream(
            &client,
            format!("http://{}/flood", server.addr),
            Format::Ndjson,
        )
        .await,
    );
    progress(reader.next().await);
    // The reader stops: the handler runs until the client's receive window
    // (reqwest's: 2 MiB per stream), the server's send buffer (400 KiB) and
    // the stream buffer are full, then waits.
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
        assert!(
            now < 4_000,
            "{now} packets of {PACKET} bytes sent to a reader that stopped"
        );
    }
    // The connection is not stuck: reading again lets the handler go on.
    for _ in 0..4_000 {
        progress(reader.next().await);
    }
    assert!(sent.load(Ordering::SeqCst) > last);
    drop(reader);
    server.stop().await;
}

#[tokio::test]
async fn keep_alives_flow_over_h2_while_the_handler_is_silent() {
    let app = Router::new().route(
        "/silent",
        get(|stream: Stream| async move {
            stream
                .run(|tx| async move {
                    tx.send("start").await?;
                    tx.closed().await;
                    Ok(())
                })
                .await
        }),
    );
    let config = Config::default().keep_alive(Some(Duration::from_millis(100)));
    let server = start(app, config, |s| s).await;
    let client = h2_client();
    let mut response = get_stream(
        &client,
        format!("http://{}/silent", server.addr),
        Format::Sse,
    )
    .await;
    let mut raw = Vec::new();
    const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";
    while raw
        .windows(KEEP_ALIVE.len())
        .filter(|w| w == &KEEP_ALIVE)
        .count()
        < 3
    {
        let chunk = tokio::time::timeout(PATIENCE, response.chunk())
            .await
            .expect("a keep-alive in time")
            .unwrap()
            .expect("the stream goes on");
        raw.extend_from_slice(&chunk);
    }
    drop(response);
    server.stop().await;
}

#[tokio::test]
async fn compression_leaves_h2_streams_alone() {
    let app = Router::new()
        .route(
            "/stream",
            get(|stream: Stream| async move {
                stream
                    .run(|tx| async move {
                        tx.send("x".repeat(2000)).await?;
                        Ok(())
                    })
                    .await
            }),
        )
        .layer(tower_http::compression::CompressionLayer::new());
    let server = start(app, Config::default(), |s| s).await;
    let response = h2_client()
        .get(format!("http://{}/stream", server.addr))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.headers()["content-encoding"], "identity");
    let events = Reader::new(response).rest().await;
    assert_eq!(events.len(), 2, "{events:?}");
    server.stop().await;
}

/// A certificate for localhost made for the test: its PEM text and the
/// server's TLS with it.
fn certificate() -> (String, rivulet::serve::Tls) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.pem();
    let key = certified.signing_key.serialize_pem();
    let tls = rivulet::serve::Tls::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    (cert, tls)
}

/// A client that trusts only `cert` and finds localhost at `addr`.
fn tls_client(cert: &str, addr: SocketAddr, http1_only: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .no_proxy()
        .resolve("localhost", addr)
        .tls_certs_only([reqwest::Certificate::from_pem(cert.as_bytes()).unwrap()]);
    let builder = if http1_only {
        builder.http1_only()
    } else {
        builder
    };
    builder.build().unwrap()
}

#[tokio::test]
async fn tls_offers_h2_by_alpn_and_http1_to_clients_that_ask() {
    let gone = Arc::new(AtomicUsize::new(0));
    let (cert, tls) = certificate();
    let server = start(counting_app(gone.clone()), Config::default(), |s| {
        s.tls(tls)
    })
    .await;
    let url = format!("https://localhost:{}/count", server.addr.port());
    for (http1_only, version) in [
        (false, reqwest::Version::HTTP_2),
        (true, reqwest::Version::HTTP_11),
    ] {
        let client = tls_client(&cert, server.addr, http1_only);
        let response = get_stream(&client, url.clone(), Format::Sse).await;
        assert_eq!(response.version(), version);
        let mut reader = Reader::new(response);
        progress(reader.next().await);
        assert_eq!(progress(reader.next().await), json!(1));
    }
    // A client that does not trust the certificate fails; the server goes on.
    let (other, _) = certificate();
    let distrusting = tls_client(&other, server.addr, false);
    assert!(distrusting.get(&url).send().await.is_err());
    eventually("both streams' handlers saw their client go", || {
        gone.load(Ordering::SeqCst) == 2
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_head_over_the_limit_is_431() {
    let server = start(Router::new(), Config::default(), |s| {
        s.max_header_bytes(16 * 1024)
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    // The server may answer before it has read all of it.
    let _ = tcp.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut answer))
        .await
        .expect("an answer in time");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn a_stream_asked_for_during_the_grace_period_is_refused_503() {
    let gone = Arc::new(AtomicUsize::new(0));
    let server = start(counting_app(gone), Config::default(), |s| {
        s.grace(Duration::from_secs(30))
    })
    .await;
    // Accepted before the stop signal, its head completes after it.
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /count HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // A running stream keeps the server in its grace period.
    let running = Reader::new(
        get_stream(
            &h2_client(),
            format!("http://{}/count", server.addr),
            Format::Sse,
        )
        .await,
    );
    let Server {
        addr: _,
        mut stop,
        served,
    } = server;
    stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tcp.write_all(b"accept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    assert!(answer.contains(SHUTDOWN_MESSAGE), "{answer}");
    drop(running);
    drop(tcp);
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("the server stops once its streams are gone")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_sends_goaway_and_ends_running_h2_streams_with_a_packet() {
    let gone = Arc::new(AtomicUsize::new(0));
    let server = start(counting_app(gone), Config::default(), |s| {
        s.grace(Duration::from_millis(300))
    })
    .await;
    let addr = server.addr;
    let client = h2_client();
    let url = format!("http://{addr}/count");
    let mut readers = Vec::new();
    for format in Format::ALL {
        let mut reader = Reader::new(get_stream(&client, url.clone(), format).await);
        progress(reader.next().await);
        readers.push(reader);
    }
    let Server {
        addr: _,
        mut stop,
        served,
    } = server;
    stop.take().unwrap().send(()).unwrap();
    for mut reader in readers {
        let rest = reader.rest().await;
        match rest.last() {
            Some(Event::Error(e)) => {
                assert_eq!(e.message, SHUTDOWN_MESSAGE);
                assert_eq!(e.status, 503);
            }
            other => panic!("expected a final error packet, got {other:?}"),
        }
    }
    tokio::time::timeout(PATIENCE, served)
        .await
        .expect("the server stops in time")
        .unwrap()
        .unwrap();
    // GOAWAY told the client not to use the connection again, and nothing
    // listens any more.
    assert!(client.get(&url).send().await.is_err());
}

/// Reads the request body, sending a packet per 1 KiB read and telling
/// `sent` about the first; answers the bytes read.
fn upload_app(sent: Arc<tokio::sync::Notify>) -> Router {
    use http_body_util::BodyExt;
    Router::new().route(
        "/upload",
        axum::routing::post(move |stream: Stream, body: axum::body::Body| async move {
            stream
                .run(move |tx| async move {
                    let mut body = body;
                    let mut bytes = 0usize;
                    let mut reported = 0usize;
                    while let Some(frame) = body.frame().await {
                        let frame =
                            frame.map_err(|e| rivulet::Error::from_message(e.to_string()))?;
                        bytes += frame.data_ref().map_or(0, |data| data.len());
                        while reported + 1024 <= bytes {
                            reported += 1024;
                            tx.send(reported).await?;
                            sent.notify_one();
                        }
                    }
                    Ok(bytes)
                })
                .await
        }),
    )
}

/// Posts the head and the first `first` bytes of a body of `total` bytes.
async fn start_upload(addr: SocketAddr, total: usize, first: usize) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: x\r\naccept: application/x-ndjson\r\ncontent-length: {total}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&vec![b'x'; first]).await.unwrap();
    tcp
}

#[tokio::test]
async fn a_stream_holds_its_head_until_its_request_body_is_read() {
    const TOTAL: usize = 300 * 1024;
    let sent = Arc::new(tokio::sync::Notify::new());
    let server = start(upload_app(sent.clone()), Config::default(), |s| s).await;
    let mut tcp = start_upload(server.addr, TOTAL, 64 * 1024).await;
    tokio::time::timeout(PATIENCE, sent.notified())
        .await
        .expect("the handler sends while it reads");
    // The handler has sent packets, but the body is not read: nothing comes
    // back yet (a proxy would stop sending the body once it did).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut probe = [0u8; 1];
    assert!(
        matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the response began before the request body was read"
    );
    // The rest of the body: 300 packets, more than the stream's buffer, held
    // without stopping the handler, then the head and every packet.
    tcp.write_all(&vec![b'x'; TOTAL - 64 * 1024]).await.unwrap();
    let mut answer = Vec::new();
    let done = format!("{{\"done\":{TOTAL}}}");
    while !String::from_utf8_lossy(&answer).contains(&done) {
        let mut chunk = vec![0; 64 * 1024];
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut chunk))
            .await
            .expect("the stream in time")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&chunk[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("{\"progress\":").count(), TOTAL / 1024);
    server.stop().await;
}

#[tokio::test]
async fn a_full_duplex_stream_answers_while_its_body_is_read() {
    let sent = Arc::new(tokio::sync::Notify::new());
    let config = Config::default().full_duplex(true);
    let server = start(upload_app(sent), config, |s| s).await;
    let mut tcp = start_upload(server.addr, 300 * 1024, 64 * 1024).await;
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(PATIENCE, tcp.read(&mut answer))
        .await
        .expect("the head before the body is whole")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}
