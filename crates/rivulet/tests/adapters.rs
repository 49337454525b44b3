//! The same behaviour on both adapters: every test runs one body against an
//! axum server and an actix-web server, each serving the same handler bodies
//! (module `bodies`) through its own extractors on a loopback port.
//!
//! Formats, final and error packets, an early error as the HTTP status, a
//! client that leaves cancelling the handler, backpressure, resume and
//! cancel of a resumable stream, following a feed, the shutting-down
//! packet, request body rejections, and an upload read with progress, its
//! stream's head held until the upload is read, and the guard on its body.
//! The axum app runs under `rivulet::serve`, which tracks request bodies.

#![cfg(all(feature = "actix", feature = "serve"))]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use rivulet::decode::Event;
use rivulet::feed::Feed;
use rivulet::protocol::{CANCELLED_MESSAGE, SHUTDOWN_MESSAGE};
use rivulet::resume::{MemoryStore, Resume};
use rivulet::{Config, Format, Shutdown};
use rivulet_testkit::{End, PATIENCE, Reader, Reading, cancel, client, get, open, url};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

/// The handler bodies both servers run: nothing in them knows the framework.
mod bodies {
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use futures::{Stream, StreamExt};
    use http::StatusCode;
    use rivulet::ai_sdk::{ChatSender, Part};
    use rivulet::{Error, Sender};
    use serde::Deserialize;
    use serde_json::{Value, json};
    use tokio::sync::Notify;

    /// Sends on its channel when dropped, with the handler's future.
    pub struct Dropped(pub tokio::sync::mpsc::UnboundedSender<()>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }

    /// Five packets, then the final one.
    pub async fn count(tx: Sender) -> Result<Value, Error> {
        for i in 1..=5 {
            tx.send(json!({ "i": i })).await?;
        }
        Ok(json!({ "count": 5 }))
    }

    /// A packet, then the error packet.
    pub async fn fail_late(tx: Sender) -> Result<(), Error> {
        tx.send("Starting risky operation").await?;
        Err(Error::from_message("Something went wrong!"))
    }

    /// Fails before any packet: the answer is an HTTP error.
    pub async fn fail_early(_tx: Sender) -> Result<(), Error> {
        Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "items must be 1..=10",
        ))
    }

    /// Ticks until it is dropped.
    pub async fn endless(tx: Sender, dropped: Dropped) -> Result<(), Error> {
        let _dropped = dropped;
        loop {
            tx.send("tick").await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One packet, then nothing until it is dropped.
    pub async fn silent(tx: Sender, dropped: Dropped) -> Result<(), Error> {
        let _dropped = dropped;
        tx.send("first").await?;
        std::future::pending().await
    }

    pub const FLOOD_PACKETS: usize = 400;
    pub const FLOOD_BYTES: usize = 64 * 1024;

    /// Sends 400 packets of 64 KiB, counting each one the buffer took.
    pub async fn flood(tx: Sender, sent: Arc<AtomicUsize>) -> Result<usize, Error> {
        let packet = "x".repeat(FLOOD_BYTES);
        for _ in 0..FLOOD_PACKETS {
            tx.send(&packet).await?;
            sent.fetch_add(1, Ordering::SeqCst);
        }
        Ok(FLOOD_PACKETS)
    }

    /// Ten packets, 20 ms apart: a resumable job.
    pub async fn durable(tx: Sender) -> Result<Value, Error> {
        for i in 1..=10 {
            tx.send(format!("i={i}")).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(json!({ "processed": 10 }))
    }

    /// Runs for ever, until cancelled.
    pub async fn forever(tx: Sender, dropped: Dropped) -> Result<(), Error> {
        let _dropped = dropped;
        for i in 1u64.. {
            tx.send(json!({ "i": i })).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// A chat's answer: three words, or (asked "forever") words until it is
    /// cancelled.
    pub async fn chat(tx: ChatSender, question: String) -> Result<(), Error> {
        let words = if question == "forever" { 10_000 } else { 3 };
        tx.send(Part::text_start("t")).await?;
        for i in 0..words {
            tx.send(Part::text_delta("t", format!("w{i} "))).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(Part::text_end("t")).await?;
        Ok(())
    }

    /// The JSON body of `POST /job`.
    #[derive(Deserialize)]
    pub struct Job {
        pub items: u32,
    }

    /// A packet per item of a job read from the request body.
    pub fn job(
        body: Result<Job, Error>,
    ) -> impl FnOnce(Sender) -> std::pin::Pin<Box<dyn Future<Output = Result<Value, Error>> + Send>>
    {
        move |tx| {
            Box::pin(async move {
                let job = body?;
                for i in 1..=job.items {
                    tx.send(json!({ "item": i })).await?;
                }
                Ok(json!({ "processed": job.items }))
            })
        }
    }

    /// Reads an upload, a progress packet per 64 KiB (told to `progressed`);
    /// the final packet is its length.
    pub async fn upload<S, E>(tx: Sender, body: S, progressed: Arc<Notify>) -> Result<Value, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        Error: From<E>,
    {
        let mut body = std::pin::pin!(body);
        let mut bytes = 0usize;
        let mut reported = 0usize;
        while let Some(chunk) = body.next().await {
            bytes += chunk?.len();
            if bytes - reported >= 64 * 1024 {
                reported = bytes;
                tx.send(json!({ "bytes": bytes })).await?;
                progressed.notify_one();
            }
        }
        Ok(json!({ "bytes": bytes }))
    }
}

/// What a test's server shares with the test.
#[derive(Clone)]
struct Shared {
    config: Config,
    resume: Resume,
    feed: Feed,
    dropped: mpsc::UnboundedSender<()>,
    sent: Arc<AtomicUsize>,
    progressed: Arc<Notify>,
}

/// A test's view of its server.
struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    feed: Feed,
    drops: mpsc::UnboundedReceiver<()>,
    sent: Arc<AtomicUsize>,
    /// Told when an upload's handler has sent a progress packet.
    progressed: Arc<Notify>,
    /// The actix-web server, for a stop.
    actix: Option<actix_web::dev::ServerHandle>,
}

#[derive(Clone, Copy, Debug)]
enum Server {
    Axum,
    Actix,
}

const SERVERS: [Server; 2] = [Server::Axum, Server::Actix];

impl Server {
    /// Starts this server, with `config` (and a Shutdown of its own), on a
    /// free loopback port.
    async fn start(self, config: Config) -> Running {
        let shutdown = Shutdown::new();
        let (dropped, drops) = mpsc::unbounded_channel();
        let shared = Shared {
            config: config.shutdown(&shutdown),
            resume: Resume::new(MemoryStore::new()).grace(Duration::from_secs(30)),
            feed: Feed::new(),
            dropped,
            sent: Arc::new(AtomicUsize::new(0)),
            progressed: Arc::new(Notify::new()),
        };
        let mut running = Running {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown,
            feed: shared.feed.clone(),
            drops,
            sent: shared.sent.clone(),
            progressed: shared.progressed.clone(),
            actix: None,
        };
        match self {
            Server::Axum => {
                let listener = rivulet::serve::bind(running.addr).unwrap();
                running.addr = listener.local_addr().unwrap();
                let serving = rivulet::serve(listener, axum_app::app(shared));
                tokio::spawn(serving.into_future());
            }
            Server::Actix => {
                let (addr, handle) = actix_app::start(shared);
                running.addr = addr;
                running.actix = Some(handle);
            }
        }
        running
    }
}

mod axum_app {
    use axum::body::Body;
    use axum::extract::Path;
    use axum::extract::rejection::JsonRejection;
    use axum::routing::{get, post};
    use axum::{Extension, Json, Router};
    use rivulet::Stream;
    use rivulet::ai_sdk::{ChatRequest, ChatStream};
    use rivulet::resume::Resumable;

    use super::Shared;
    use super::bodies::{self, Dropped, Job};

    pub fn app(shared: Shared) -> Router {
        Router::new()
            .route("/count", get(|s: Stream| s.run(bodies::count)))
            .route("/fail-late", get(|s: Stream| s.run(bodies::fail_late)))
            .route("/fail-early", get(|s: Stream| s.run(bodies::fail_early)))
            .route(
                "/endless",
                get(|s: Stream, Extension(sh): Extension<Shared>| {
                    s.run(move |tx| bodies::endless(tx, Dropped(sh.dropped)))
                }),
            )
            .route(
                "/silent",
                get(|s: Stream, Extension(sh): Extension<Shared>| {
                    s.run(move |tx| bodies::silent(tx, Dropped(sh.dropped)))
                }),
            )
            .route(
                "/flood",
                get(|s: Stream, Extension(sh): Extension<Shared>| {
                    s.buffer(4).run(move |tx| bodies::flood(tx, sh.sent))
                }),
            )
            .route("/durable", get(|s: Resumable| s.run(bodies::durable)))
            .route("/forever", get(forever).delete(forever))
            .route(
                "/api/chat",
                post(|s: ChatStream, chat: ChatRequest| async move {
                    let question = chat.last_user_text();
                    s.run(&chat.id, move |tx| bodies::chat(tx, question)).await
                }),
            )
            .route(
                "/api/chat/{id}/stream",
                get(chat_stream).delete(chat_stream),
            )
            .route(
                "/ticker",
                get(|s: Stream, Extension(sh): Extension<Shared>| async move {
                    s.follow(&sh.feed).await
                }),
            )
            .route(
                "/job",
                post(|s: Stream, body: Result<Json<Job>, JsonRejection>| {
                    let body = body.map(|Json(job)| job).map_err(rivulet::Error::from);
                    s.run(bodies::job(body))
                }),
            )
            .route(
                "/upload",
                post(|s: Stream, Extension(sh): Extension<Shared>, body: Body| {
                    let body = body.into_data_stream();
                    s.run(move |tx| bodies::upload(tx, body, sh.progressed))
                }),
            )
            .layer(Extension(shared.resume.clone()))
            .layer(Extension(shared.clone()))
            .layer(shared.config)
    }

    async fn forever(s: Resumable, Extension(sh): Extension<Shared>) -> axum::response::Response {
        s.run(move |tx| bodies::forever(tx, Dropped(sh.dropped)))
            .await
    }

    async fn chat_stream(s: ChatStream, Path(id): Path<String>) -> axum::response::Response {
        s.resume(&id).await
    }
}

mod actix_app {
    use std::net::SocketAddr;

    use actix_multipart::Multipart;
    use actix_multipart::form::text::Text;
    use actix_multipart::form::{MultipartForm, MultipartFormConfig};
    use actix_web::dev::ServerHandle;
    use actix_web::{App, HttpResponse, HttpServer, web};
    use futures::TryStreamExt;
    use rivulet::actix::{ChatStream, RequestBody, Resumable, Stream, reject, rejected};
    use rivulet::ai_sdk::ChatRequest;
    use serde_json::json;

    use super::Shared;
    use super::bodies::{self, Dropped, Job};

    /// Serves the app on a thread of its own (actix-web runs its own
    /// runtimes), on a free loopback port.
    pub fn start(shared: Shared) -> (SocketAddr, ServerHandle) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || app(shared.clone()))
                    .workers(1)
                    // As the adapter's docs advise: a client that leaves is
                    // noticed at once, not at the next write.
                    .h1_allow_half_closed(false)
                    .disable_signals()
                    .shutdown_timeout(10)
                    .listen(listener)
                    .unwrap()
                    .run();
                handle_tx.send(server.handle()).unwrap();
                server.await
            })
        });
        (addr, handle_rx.recv().unwrap())
    }

    fn app(
        shared: Shared,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        App::new()
            .app_data(shared.config.clone())
            .app_data(shared.resume.clone())
            .app_data(web::Data::new(shared))
            .route("/count", web::get().to(|s: Stream| s.run(bodies::count)))
            .route(
                "/fail-late",
                web::get().to(|s: Stream| s.run(bodies::fail_late)),
            )
            .route(
                "/fail-early",
                web::get().to(|s: Stream| s.run(bodies::fail_early)),
            )
            .route(
                "/endless",
                web::get().to(|s: Stream, sh: web::Data<Shared>| {
                    let dropped = Dropped(sh.dropped.clone());
                    s.run(move |tx| bodies::endless(tx, dropped))
                }),
            )
            .route(
                "/silent",
                web::get().to(|s: Stream, sh: web::Data<Shared>| {
                    let dropped = Dropped(sh.dropped.clone());
                    s.run(move |tx| bodies::silent(tx, dropped))
                }),
            )
            .route(
                "/flood",
                web::get().to(|s: Stream, sh: web::Data<Shared>| {
                    let sent = sh.sent.clone();
                    s.buffer(4).run(move |tx| bodies::flood(tx, sent))
                }),
            )
            .route(
                "/durable",
                web::get().to(|s: Resumable| s.run(bodies::durable)),
            )
            .route("/forever", web::get().to(forever))
            .route("/forever", web::delete().to(forever))
            .route(
                "/api/chat",
                web::post().to(|s: ChatStream, chat: ChatRequest| async move {
                    let question = chat.last_user_text();
                    s.run(&chat.id, move |tx| bodies::chat(tx, question)).await
                }),
            )
            .route("/api/chat/{id}/stream", web::get().to(chat_stream))
            .route("/api/chat/{id}/stream", web::delete().to(chat_stream))
            .app_data(MultipartFormConfig::default().error_handler(reject))
            .route("/form", web::post().to(form))
            .route("/parts", web::post().to(parts))
            .route(
                "/ticker",
                web::get()
                    .to(|s: Stream, sh: web::Data<Shared>| async move { s.follow(&sh.feed).await }),
            )
            .route(
                "/job",
                web::post().to(
                    |s: Stream, body: Result<web::Json<Job>, actix_web::Error>| {
                        let body = body.map(|web::Json(job)| job).map_err(rejected);
                        s.run(bodies::job(body))
                    },
                ),
            )
            .route(
                "/upload",
                web::post().to(|s: Stream, sh: web::Data<Shared>, body: RequestBody| {
                    let progressed = sh.progressed.clone();
                    s.run(move |tx| bodies::upload(tx, body, progressed))
                }),
            )
    }

    async fn forever(s: Resumable, sh: web::Data<Shared>) -> HttpResponse {
        let dropped = Dropped(sh.dropped.clone());
        s.run(move |tx| bodies::forever(tx, dropped)).await
    }

    async fn chat_stream(s: ChatStream, id: web::Path<String>) -> HttpResponse {
        s.resume(&id).await
    }

    /// A form of one text field, read whole before the handler.
    #[derive(MultipartForm)]
    pub struct Named {
        name: Text<String>,
    }

    /// Taken as a `Result`: actix-multipart refuses a request that is not
    /// multipart before it looks for its config's error handler.
    async fn form(s: Stream, form: Result<MultipartForm<Named>, actix_web::Error>) -> HttpResponse {
        let name = match form {
            Ok(MultipartForm(form)) => form.name.into_inner(),
            Err(error) => return rivulet::actix::response(rejected(error).into_http_response()),
        };
        s.run(move |_tx| async move { Ok(json!({ "name": name })) })
            .await
    }

    /// The names of a multipart body's fields. actix-multipart's reader is
    /// not `Send`: it is read on the worker, before `run`.
    async fn parts(s: Stream, multipart: Multipart) -> HttpResponse {
        async fn names(mut multipart: Multipart) -> Result<Vec<String>, rivulet::Error> {
            let mut names = Vec::new();
            while let Some(mut field) = multipart.try_next().await.map_err(rejected)? {
                names.push(field.name().unwrap_or_default().to_owned());
                while field.try_next().await.map_err(rejected)?.is_some() {}
            }
            Ok(names)
        }
        match names(multipart).await {
            Ok(names) => s.run(move |_tx| async move { Ok(names) }).await,
            Err(error) => rivulet::actix::response(error.into_http_response()),
        }
    }
}

/// The matrix's Config: keep-alives often enough that a silent stream
/// writes, and learns that its client left, within the test's patience.
fn config() -> Config {
    Config::default().keep_alive(Some(Duration::from_millis(200)))
}

async fn next_drop(drops: &mut mpsc::UnboundedReceiver<()>, what: &str) {
    tokio::time::timeout(PATIENCE, drops.recv())
        .await
        .unwrap_or_else(|_| panic!("{what}: the handler's future is dropped"))
        .expect("a drop signal");
}

#[tokio::test]
async fn every_format_gets_the_packets_and_the_final_packet() {
    for server in SERVERS {
        let running = server.start(config()).await;
        for format in Format::ALL {
            let events = rivulet_testkit::events(running.addr, "/count", format).await;
            let mut expected: Vec<Event> = (1..=5)
                .map(|i| Event::Progress(json!({ "i": i })))
                .collect();
            expected.push(Event::Done(json!({ "count": 5 })));
            assert_eq!(events, expected, "{server:?} {format}");
        }
    }
}

#[tokio::test]
async fn an_error_after_a_packet_is_the_error_packet_and_before_one_the_status() {
    for server in SERVERS {
        let running = server.start(config()).await;
        for format in Format::ALL {
            let events = rivulet_testkit::events(running.addr, "/fail-late", format).await;
            match &events[..] {
                [Event::Progress(first), Event::Error(error)] => {
                    assert_eq!(first, &json!("Starting risky operation"));
                    assert_eq!(error.message, "Something went wrong!", "{server:?}");
                    assert_eq!(error.status, 500);
                }
                other => panic!("{server:?} {format}: {other:?}"),
            }

            let early = get(running.addr, "/fail-early", format).await;
            assert_eq!(
                early.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{server:?}"
            );
            assert_eq!(early.headers()["content-type"], "application/json");
            let body: Value = early.json().await.unwrap();
            assert_eq!(
                body,
                json!({ "error": { "message": "items must be 1..=10", "status": 422 } }),
                "{server:?} {format}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_that_leaves_cancels_the_handler() {
    for server in SERVERS {
        let mut running = server.start(config()).await;
        // A handler that keeps sending, and one that went silent.
        for path in ["/endless", "/silent"] {
            let response = get(running.addr, path, Format::Sse).await;
            assert_eq!(response.status(), 200);
            let mut reader = Reader::new(response);
            let first = reader.next().await.expect("a packet").unwrap();
            assert!(matches!(first, Event::Progress(_)), "{first:?}");
            drop(reader);
            next_drop(&mut running.drops, &format!("{server:?} {path}")).await;
        }
    }
}

#[tokio::test]
async fn a_client_that_does_not_read_holds_the_handler_back() {
    use bodies::{FLOOD_BYTES, FLOOD_PACKETS};
    for server in SERVERS {
        let running = server.start(config()).await;
        let response = get(running.addr, "/flood", Format::Ndjson).await;
        assert_eq!(response.status(), 200);
        // Far less than the 25 MiB the handler would send is taken while the
        // client reads nothing: the buffer of 4 packets and the sockets'.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let taken = running.sent.load(Ordering::SeqCst);
        assert!(
            taken < FLOOD_PACKETS / 2,
            "{server:?}: {taken} packets taken"
        );
        let mut reader = Reader::new(response);
        let events = reader.rest().await;
        assert_eq!(events.len(), FLOOD_PACKETS + 1, "{server:?}");
        assert!(
            events[..FLOOD_PACKETS]
                .iter()
                .all(|e| matches!(e, Event::Progress(Value::String(s)) if s.len() == FLOOD_BYTES))
        );
        assert_eq!(events.last(), Some(&Event::Done(json!(FLOOD_PACKETS))));
        assert_eq!(running.sent.load(Ordering::SeqCst), FLOOD_PACKETS);
    }
}

#[tokio::test]
async fn a_resumable_stream_resumes_exactly_once_and_cancels() {
    for server in SERVERS {
        let mut running = server.start(config()).await;
        let durable = url(running.addr, "/durable");
        let mut first = Reading::new(open(&durable, Format::Sse, None).await, 0);
        assert_eq!(first.until(3).await, None, "{server:?}");
        let point = first.resume_point();
        drop(first);
        for format in Format::ALL {
            let mut rest = Reading::new(open(&durable, format, Some(&point)).await, 3);
            assert_eq!(rest.read_to_end().await, End::Final, "{server:?} {format}");
            let mut expected: Vec<Event> = (4..=10)
                .map(|i| Event::Progress(json!(format!("i={i}"))))
                .collect();
            expected.push(Event::Done(json!({ "processed": 10 })));
            assert_eq!(rest.events, expected, "{server:?} {format}");
        }

        let forever = url(running.addr, "/forever");
        let mut reading = Reading::new(open(&forever, Format::Ndjson, None).await, 0);
        assert_eq!(reading.until(1).await, None);
        let answer = cancel(&forever, Some(&reading.resume_point())).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{server:?}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body, json!({ "cancelled": reading.stream_id }));
        next_drop(&mut running.drops, &format!("{server:?} cancel")).await;
        assert_eq!(reading.read_to_end().await, End::Final);
        match reading.events.last() {
            Some(Event::Error(e)) => {
                assert_eq!((e.message.as_str(), e.status), (CANCELLED_MESSAGE, 409));
            }
            other => panic!("{server:?}: {other:?}"),
        }
        let bad = cancel(&forever, Some("not-a-point")).await;
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST, "{server:?}");
    }
}

#[tokio::test]
async fn a_follower_gets_what_the_feed_publishes_then_its_end() {
    for server in SERVERS {
        let running = server.start(config()).await;
        // The head comes once the follower is subscribed.
        let response = get(running.addr, "/ticker", Format::Ndjson).await;
        assert_eq!(response.status(), 200);
        for price in 1..=3 {
            running
                .feed
                .publish(json!({ "price": price }))
                .await
                .unwrap();
        }
        running.feed.close("closed").await.unwrap();
        let events = Reader::new(response).rest().await;
        let mut expected: Vec<Event> = (1..=3)
            .map(|price| Event::Progress(json!({ "price": price })))
            .collect();
        expected.push(Event::Done(json!("closed")));
        assert_eq!(events, expected, "{server:?}");
    }
}

#[tokio::test]
async fn a_stopping_server_ends_its_streams_with_the_shutting_down_packet() {
    for server in SERVERS {
        let mut running = server.start(config()).await;
        let response = get(running.addr, "/endless", Format::Sse).await;
        let mut reader = Reader::new(response);
        assert!(matches!(reader.next().await, Some(Ok(Event::Progress(_)))));
        running.shutdown.end_streams();
        let rest = reader.rest().await;
        match rest.last() {
            Some(Event::Error(e)) => {
                assert_eq!(
                    (e.message.as_str(), e.status),
                    (SHUTDOWN_MESSAGE, 503),
                    "{server:?}"
                );
            }
            other => panic!("{server:?}: {other:?}"),
        }
        next_drop(&mut running.drops, &format!("{server:?} shutdown")).await;
        // New streams are refused.
        let refused = get(running.addr, "/count", Format::Sse).await;
        assert_eq!(
            refused.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{server:?}"
        );
        assert!(refused.headers().contains_key("retry-after"));
    }
}

/// `rivulet::actix::stop`: new streams refused, running ones end with the
/// shutting-down packet after the grace period, then the server stops.
#[tokio::test]
async fn actix_stop_ends_the_streams_then_the_server() {
    let mut running = Server::Actix.start(config()).await;
    let response = get(running.addr, "/silent", Format::Ndjson).await;
    let mut reader = Reader::new(response);
    assert!(matches!(reader.next().await, Some(Ok(Event::Progress(_)))));
    let handle = running.actix.take().unwrap();
    let shutdown = running.shutdown.clone();
    let stopping = tokio::spawn(async move {
        rivulet::actix::stop(&handle, &shutdown, Duration::from_millis(300)).await;
    });
    let rest = reader.rest().await;
    match rest.last() {
        Some(Event::Error(e)) => {
            assert_eq!((e.message.as_str(), e.status), (SHUTDOWN_MESSAGE, 503))
        }
        other => panic!("{other:?}"),
    }
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the server stops")
        .unwrap();
    next_drop(&mut running.drops, "actix stop").await;
}

#[tokio::test]
async fn a_bad_request_body_is_a_4xx_with_its_reason_before_any_packet() {
    for server in SERVERS {
        let running = server.start(config()).await;
        let job = url(running.addr, "/job");
        let good = client()
            .post(&job)
            .header("accept", "application/x-ndjson")
            .json(&json!({ "items": 3 }))
            .send()
            .await
            .unwrap();
        assert_eq!(good.status(), 200, "{server:?}");
        let events = Reader::new(good).rest().await;
        assert_eq!(events.len(), 4, "{server:?}: {events:?}");
        assert_eq!(events[3], Event::Done(json!({ "processed": 3 })));

        for (body, content_type) in [
            ("{\"items\": ", "application/json"),
            ("{\"items\": \"three\"}", "application/json"),
            ("items=3", "text/plain"),
        ] {
            let bad = client()
                .post(&job)
                .header("accept", "application/x-ndjson")
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = bad.status();
            assert!(status.is_client_error(), "{server:?} {body}: {status}");
            assert_eq!(bad.headers()["content-type"], "application/json");
            let error: Value = bad.json().await.unwrap();
            assert_eq!(error["error"]["status"], status.as_u16(), "{server:?}");
            assert!(
                error["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{server:?}: {error}"
            );
        }
    }
}

#[tokio::test]
async fn an_upload_is_read_with_progress() {
    for server in SERVERS {
        let running = server.start(config()).await;
        // 1 MiB in 16 chunks: a chunked request body.
        let chunks = futures::stream::iter(
            (0..16).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![7u8; 64 * 1024]))),
        );
        let response = client()
            .post(url(running.addr, "/upload"))
            .header("accept", "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{server:?}");
        let events = Reader::new(response).rest().await;
        assert_eq!(
            events.last(),
            Some(&Event::Done(json!({ "bytes": 1024 * 1024 }))),
            "{server:?}"
        );
        let progress: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Progress(p) => p["bytes"].as_u64(),
                _ => None,
            })
            .collect();
        assert!(!progress.is_empty(), "{server:?}: progress while reading");
        assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    }
}

/// Without keep-alives a silent stream writes nothing: the server notices
/// the client's leaving from the connection itself.
#[tokio::test]
async fn a_client_that_leaves_a_silent_stream_cancels_it_without_keep_alives() {
    for server in SERVERS {
        let mut running = server.start(Config::default().keep_alive(None)).await;
        let response = get(running.addr, "/silent", Format::Sse).await;
        let mut reader = Reader::new(response);
        assert!(matches!(reader.next().await, Some(Ok(Event::Progress(_)))));
        drop(reader);
        next_drop(&mut running.drops, &format!("{server:?} silent")).await;
    }
}

/// Posts the head and the first `first` bytes of an upload of `total`.
async fn start_upload(addr: SocketAddr, total: usize, first: usize) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nhost: x\r\naccept: application/x-ndjson\r\ncontent-length: {total}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&vec![b'x'; first]).await.unwrap();
    tcp
}

/// A proxy stops sending a request body once the response has begun: the
/// stream holds its head, and the packets its handler sends meanwhile,
/// until the handler has read the body.
#[tokio::test]
async fn an_upload_holds_its_stream_head_until_its_body_is_read() {
    const TOTAL: usize = 512 * 1024;
    const FIRST: usize = 192 * 1024;
    for server in SERVERS {
        let running = server.start(config()).await;
        let mut tcp = start_upload(running.addr, TOTAL, FIRST).await;
        tokio::time::timeout(PATIENCE, running.progressed.notified())
            .await
            .unwrap_or_else(|_| panic!("{server:?}: the handler sends while it reads"));
        // Packets sent, the body unread: nothing comes back yet.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut probe = [0u8; 1];
        assert!(
            matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{server:?}: the response began before the request body was read"
        );
        tcp.write_all(&vec![b'x'; TOTAL - FIRST]).await.unwrap();
        let mut answer = Vec::new();
        let done = format!("{{\"done\":{{\"bytes\":{TOTAL}}}}}");
        while !String::from_utf8_lossy(&answer).contains(&done) {
            let mut chunk = vec![0; 64 * 1024];
            let n = tokio::time::timeout(PATIENCE, tcp.read(&mut chunk))
                .await
                .expect("the stream in time")
                .unwrap();
            assert!(
                n > 0,
                "{server:?}: closed early: {}",
                String::from_utf8_lossy(&answer)
            );
            answer.extend_from_slice(&chunk[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{server:?}: {answer}");
        assert!(answer.contains("{\"progress\":"), "{server:?}: {answer}");
    }
}

/// A POST to `/upload` whose body is what `chunks` receives, for as long as
/// it stays open.
async fn upload_streaming(
    addr: SocketAddr,
    chunks: mpsc::Receiver<bytes::Bytes>,
) -> reqwest::Response {
    let body = futures::stream::unfold(chunks, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok::<_, std::io::Error>(chunk), rx))
    });
    let request = client()
        .post(url(addr, "/upload"))
        .header("accept", "application/x-ndjson")
        .body(reqwest::Body::wrap_stream(body));
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("a response in time")
        .expect("a response")
}

/// The guard on an upload's body: one that stalls is a 408, one that goes
/// over `max_request_bytes` a 413, with their JSON reasons (as the HTTP
/// status before the first packet, as the error packet after it).
#[tokio::test]
async fn an_upload_that_stalls_or_goes_over_its_limit_is_a_4xx() {
    let config = config()
        .request_body_timeout(Some(Duration::from_millis(500)))
        .max_request_bytes(256 * 1024);
    for server in SERVERS {
        let running = server.start(config.clone()).await;
        let (chunks, rx) = mpsc::channel(16);
        chunks
            .send(bytes::Bytes::from(vec![1u8; 1000]))
            .await
            .unwrap();
        let stalled = upload_streaming(running.addr, rx).await;
        assert_eq!(stalled.status(), StatusCode::REQUEST_TIMEOUT, "{server:?}");
        assert_eq!(stalled.headers()["content-type"], "application/json");
        let error: Value = stalled.json().await.unwrap();
        assert_eq!(error["error"]["status"], 408, "{server:?}: {error}");
        drop(chunks);

        let (chunks, rx) = mpsc::channel(16);
        for _ in 0..5 {
            chunks
                .send(bytes::Bytes::from(vec![1u8; 64 * 1024]))
                .await
                .unwrap();
        }
        drop(chunks);
        let over = upload_streaming(running.addr, rx).await;
        assert_eq!(over.status(), 200, "{server:?}");
        let events = Reader::new(over).rest().await;
        match events.last() {
            Some(Event::Error(e)) => {
                assert_eq!(e.status, 413, "{server:?}: {e:?}");
                assert!(e.message.contains("limit"), "{server:?}: {e:?}");
            }
            other => panic!("{server:?}: {other:?}"),
        }
    }
}

/// actix-multipart's errors are the crate's JSON 4xx: `reject` as
/// `MultipartFormConfig`'s error handler, and `?` on a `Multipart` read
/// field by field.
#[tokio::test]
async fn actix_multipart_errors_are_json_4xx() {
    let running = Server::Actix.start(config()).await;
    let post = |path: &str| {
        client()
            .post(url(running.addr, path))
            .header("accept", "application/x-ndjson")
    };
    let form = || {
        reqwest::multipart::Form::new()
            .text("name", "rivulet")
            .text("other", "x")
    };
    let good = post("/form").multipart(form()).send().await.unwrap();
    assert_eq!(good.status(), 200);
    let events = Reader::new(good).rest().await;
    assert_eq!(events, [Event::Done(json!({ "name": "rivulet" }))]);
    let good = post("/parts").multipart(form()).send().await.unwrap();
    assert_eq!(good.status(), 200);
    let events = Reader::new(good).rest().await;
    assert_eq!(events, [Event::Done(json!(["name", "other"]))]);

    let truncated = "--b\r\ncontent-disposition: form-data; name=\"name\"\r\n\r\nriv";
    for (path, content_type, body, status, reason) in [
        ("/form", "text/plain", "name=x", 415, "multipart"),
        ("/parts", "text/plain", "name=x", 415, "multipart"),
        (
            "/form",
            "multipart/form-data; boundary=b",
            "--b--\r\n",
            400,
            "\"name\"",
        ),
        (
            "/parts",
            "multipart/form-data; boundary=b",
            truncated,
            400,
            "incomplete",
        ),
    ] {
        let bad = post(path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            bad.status().as_u16(),
            status,
            "{path} {content_type} {body}"
        );
        assert_eq!(bad.headers()["content-type"], "application/json");
        let error: Value = bad.json().await.unwrap();
        assert_eq!(error["error"]["status"], status, "{error}");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{path} {body}: {message}");
    }
}

/// A response body read as it comes.
struct Text {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    text: String,
}

impl Text {
    fn new(response: reqwest::Response) -> Self {
        use futures::StreamExt;
        Text {
            body: response.bytes_stream().boxed(),
            text: String::new(),
        }
    }

    /// Reads until `needle` has arrived.
    async fn until(&mut self, needle: &str) {
        use futures::StreamExt;
        let read = async {
            while !self.text.contains(needle) {
                match self.body.next().await {
                    Some(chunk) => self
                        .text
                        .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
                    None => panic!("the body ended without {needle:?}: {}", self.text),
                }
            }
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", self.text));
    }

    /// Reads to the end, and gives the `data:` payloads of its SSE events
    /// (keep-alive comments left out).
    async fn events(mut self) -> Vec<String> {
        use futures::StreamExt;
        let read = async {
            while let Some(chunk) = self.body.next().await {
                self.text
                    .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            }
        };
        tokio::time::timeout(PATIENCE, read)
            .await
            .expect("the body ends");
        self.text
            .split("\n\n")
            .filter(|event| !event.is_empty() && !event.starts_with(':'))
            .map(|event| {
                event
                    .strip_prefix("data: ")
                    .expect("a data event")
                    .to_owned()
            })
            .collect()
    }
}

/// The `type`s of an answer's parts, checking that `[DONE]` comes last.
fn part_types(events: &[String]) -> Vec<String> {
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    events[..events.len() - 1]
        .iter()
        .map(|data| {
            let part: Value = serde_json::from_str(data).expect("a part is JSON");
            part["type"].as_str().expect("a type").to_owned()
        })
        .collect()
}

fn chat_body(id: &str, text: &str) -> Value {
    json!({
        "id": id,
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}],
        "trigger": "submit-message",
    })
}

/// The AI SDK's chat: a POST is answered with the UI message stream,
/// `[DONE]` last; a bad body is a 415, 400 or 422 with its JSON reason; the
/// running answer resumes from its first part, and a cancel ends every
/// reader with `abort`.
#[tokio::test]
async fn a_chat_answers_in_the_ui_message_stream_resumes_and_cancels() {
    for server in SERVERS {
        let running = server.start(config()).await;
        let chat = url(running.addr, "/api/chat");
        let stream_url = |id: &str| url(running.addr, &format!("/api/chat/{id}/stream"));

        let answer = client()
            .post(&chat)
            .json(&chat_body("c1", "hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{server:?}");
        assert_eq!(answer.headers()["x-vercel-ai-ui-message-stream"], "v1");
        let types = part_types(&Text::new(answer).events().await);
        assert_eq!(
            types,
            [
                "start",
                "text-start",
                "text-delta",
                "text-delta",
                "text-delta",
                "text-end",
                "finish"
            ],
            "{server:?}"
        );
        let after = client().get(stream_url("c1")).send().await.unwrap();
        assert_eq!(after.status(), StatusCode::NO_CONTENT, "{server:?}");

        for (content_type, body, status) in [
            (None, chat_body("c", "hi").to_string(), 415),
            (Some("application/json"), "{not json".to_owned(), 400),
            (
                Some("application/json"),
                json!({ "messages": [] }).to_string(),
                422,
            ),
            (
                Some("application/json"),
                chat_body("", "hi").to_string(),
                422,
            ),
        ] {
            let mut request = client().post(&chat).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let bad = request.send().await.unwrap();
            assert_eq!(bad.status().as_u16(), status, "{server:?} {body}");
            assert_eq!(bad.headers()["content-type"], "application/json");
            let error: Value = bad.json().await.unwrap();
            assert_eq!(error["error"]["status"], status, "{server:?}: {error}");
            assert!(error["error"]["message"].is_string(), "{error}");
        }

        let answer = client()
            .post(&chat)
            .json(&chat_body("c2", "forever"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{server:?}");
        let mut first = Text::new(answer);
        first.until("text-delta").await;
        let resumed = client().get(stream_url("c2")).send().await.unwrap();
        assert_eq!(resumed.status(), 200, "{server:?}");
        let mut resumed = Text::new(resumed);
        resumed.until("text-delta").await;
        let cancel = client().delete(stream_url("c2")).send().await.unwrap();
        assert_eq!(cancel.status(), StatusCode::ACCEPTED, "{server:?}");
        for reader in [first, resumed] {
            let types = part_types(&reader.events().await);
            assert_eq!(
                types.first().map(String::as_str),
                Some("start"),
                "{server:?}"
            );
            assert_eq!(
                types.last().map(String::as_str),
                Some("abort"),
                "{server:?}"
            );
        }
        let after = client().get(stream_url("c2")).send().await.unwrap();
        assert_eq!(after.status(), StatusCode::NO_CONTENT, "{server:?}");
    }
}
