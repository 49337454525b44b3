//! Rivulet on actix-web 4: the same handlers as on axum (`stream.run(|tx| …)`,
//! resumable streams, live feeds), with the same guarantees.
//!
//! ```sh
//! cargo run --release -p rivulet-http --features actix --example actix -- --addr 127.0.0.1:3000
//! curl -N http://127.0.0.1:3000/stream
//! curl -N -H 'Accept: application/x-ndjson' -H 'Content-Type: application/json' \
//!     -d '{"items": 30}' 'http://127.0.0.1:3000/stream/process?interval_ms=10'
//! curl -N http://127.0.0.1:3000/stream/ticker &
//! curl -d '{"price": 42}' -H 'Content-Type: application/json' http://127.0.0.1:3000/stream/ticker
//! ```
//!
//! The routes:
//! - `GET /stream`: "Starting stream test", "i=1" … "i=10", then the final packet.
//! - `GET`/`POST /stream/process`: "Starting batch process", "Processed 10
//!   items", … up to `items` (query, or JSON body `{"items": n}`; default
//!   100), then `{"success": true, "processed": items, "duration": …}`. A
//!   malformed JSON body is a 4xx with the JSON error body, before any packet.
//! - `GET /stream/riskyProcess`: fails half of the time (`?fail=1` always)
//!   with the error packet "Something went wrong!".
//! - `GET /stream/feed`: a packet per interval until the client leaves.
//! - `GET /stream/durable`: a resumable job (`Last-Event-ID` or
//!   `?lastEventId=` resumes; `DELETE` with the point cancels).
//! - `GET /stream/ticker` follows a live feed; `POST /stream/ticker` publishes
//!   its JSON body to it (`202 {"published": n}`).
//! - `GET /rivulet/stream.js`: the browser client; `GET /metrics`: the
//!   `rivulet_*` metrics in Prometheus' text format.
//!
//! `?interval_ms=N` paces every stream (default 1000 ms for `/stream` and
//! `/stream/feed`, 100 ms for the batch jobs). Ctrl-C stops the server
//! gracefully: running streams end with the shutting-down packet.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode as ActixStatus;
use actix_web::{HttpResponse, HttpServer, web};
use http::StatusCode;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rivulet::actix::{Resumable, Stream, rejected};
use rivulet::feed::{Feed, FeedError};
use rivulet::resume::{MemoryStore, Resume};
use rivulet::{Config, Error, Shutdown};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::sleep;

/// The query every stream reads: its pace, and what some of them do.
#[derive(Deserialize, Default, Clone, Copy)]
struct Params {
    interval_ms: Option<u64>,
    items: Option<u32>,
    every: Option<u32>,
    fail: Option<u8>,
}

impl Params {
    fn interval(&self, default_ms: u64) -> Duration {
        Duration::from_millis(self.interval_ms.unwrap_or(default_ms).min(10_000))
    }

    /// `items`, from the query or the body, within bounds.
    fn items(&self, body: Option<u32>) -> Result<u32, Error> {
        let items = body.or(self.items).unwrap_or(100);
        match items {
            1..=100_000 => Ok(items),
            _ => Err(Error::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "items must be 1..=100000",
            )),
        }
    }
}

/// `GET /stream`: "Starting stream test", then `i=1` to `i=10`.
async fn test(stream: Stream, params: web::Query<Params>) -> HttpResponse {
    let interval = params.interval(1000);
    stream
        .run(move |tx| async move {
            tx.send("Starting stream test").await?;
            for i in 1..=10 {
                sleep(interval).await;
                tx.send(format!("i={i}")).await?;
            }
            Ok(())
        })
        .await
}

/// The JSON body of `POST /stream/process`.
#[derive(Deserialize)]
struct Job {
    items: Option<u32>,
}

/// `GET /stream/process`: `items` from the query.
async fn process_get(stream: Stream, params: web::Query<Params>) -> HttpResponse {
    process(stream, *params, None).await
}

/// `POST /stream/process`: `items` from the JSON body. The body is taken as
/// a `Result`: a malformed one fails the handler before its first packet, so
/// the client gets its 4xx with the JSON error body.
async fn process_post(
    stream: Stream,
    params: web::Query<Params>,
    body: Result<web::Json<Job>, actix_web::Error>,
) -> HttpResponse {
    // actix-web's error is not `Send`: turned into the stream's error here.
    let body = body.map(|web::Json(job)| job).map_err(rejected);
    process(stream, *params, Some(body)).await
}

/// A progress line every ten items, then a summary as the final packet.
async fn process(stream: Stream, params: Params, body: Option<Result<Job, Error>>) -> HttpResponse {
    stream
        .run(move |tx| async move {
            let from_body = match body {
                Some(body) => body?.items,
                None => None,
            };
            let items = params.items(from_body)?;
            let interval = params.interval(100);
            let started = Instant::now();
            tx.send("Starting batch process").await?;
            for i in 1..=items {
                sleep(interval).await; // the work on item i
                if i % 10 == 0 {
                    tx.send(format!("Processed {i} items")).await?;
                }
            }
            Ok(json!({
                "success": true,
                "processed": items,
                "duration": started.elapsed().as_secs_f64(),
            }))
        })
        .await
}

/// `GET /stream/riskyProcess`: `?fail=1` fails, `?fail=0` succeeds, no
/// `fail` flips a coin.
async fn risky_process(stream: Stream, params: web::Query<Params>) -> HttpResponse {
    let params = *params;
    stream
        .run(move |tx| async move {
            tx.send("Starting risky operation").await?;
            sleep(params.interval(500)).await;
            let fail = params
                .fail
                .map_or_else(rand::random::<bool>, |fail| fail == 1);
            if fail {
                return Err(Error::from_message("Something went wrong!"));
            }
            tx.send("Operation succeeded").await?;
            Ok(json!({ "success": true }))
        })
        .await
}

/// `GET /stream/feed`: a packet per interval until the client leaves (its
/// leaving drops this handler).
async fn feed(stream: Stream, params: web::Query<Params>) -> HttpResponse {
    let interval = params.interval(1000);
    stream
        .run(move |tx| async move {
            for tick in 1u64.. {
                tx.send(json!({ "tick": tick })).await?;
                sleep(interval).await;
            }
            Ok(())
        })
        .await
}

/// `GET /stream/durable`: `/stream/process` as a resumable job; `DELETE`
/// with its resume point cancels it.
async fn durable(stream: Resumable, params: web::Query<Params>) -> HttpResponse {
    let params = *params;
    stream
        .run(move |tx| async move {
            let items = params.items(None)?;
            let every = params.every.unwrap_or(10).max(1);
            let interval = params.interval(100);
            let started = Instant::now();
            tx.send("Starting durable process").await?;
            for i in 1..=items {
                sleep(interval).await; // the work on item i
                if i % every == 0 {
                    tx.send(format!("Processed {i} items")).await?;
                }
            }
            Ok(json!({
                "success": true,
                "processed": items,
                "duration": started.elapsed().as_secs_f64(),
            }))
        })
        .await
}

/// `GET /stream/ticker`: the live feed, from now on (or from a resume point).
async fn follow(stream: Stream, ticker: web::Data<Feed>) -> HttpResponse {
    stream.follow(&ticker).await
}

/// `POST /stream/ticker`: publishes the JSON body to the feed.
async fn publish(
    ticker: web::Data<Feed>,
    body: Result<web::Json<Value>, actix_web::Error>,
) -> HttpResponse {
    let web::Json(value) = match body {
        Ok(body) => body,
        Err(rejection) => {
            return rivulet::actix::response(rejected(rejection).into_http_response());
        }
    };
    match ticker.publish(value).await {
        Ok(seq) => HttpResponse::build(ActixStatus::ACCEPTED).json(json!({ "published": seq })),
        Err(FeedError::Closed) => {
            let closed = Error::new(StatusCode::CONFLICT, "the ticker is closed");
            rivulet::actix::response(closed.into_http_response())
        }
        Err(e) => {
            let error = Error::internal(e).with_status(StatusCode::SERVICE_UNAVAILABLE);
            rivulet::actix::response(error.into_http_response())
        }
    }
}

/// `GET /metrics`: the process's metrics, `rivulet_*` among them.
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics_handle().render())
}

/// The process-wide Prometheus recorder, installed on first use.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// What the app shares between its workers.
#[derive(Clone)]
struct Shared {
    config: Config,
    resume: Resume,
    ticker: web::Data<Feed>,
}

impl Shared {
    fn new(shutdown: &Shutdown) -> Self {
        Shared {
            config: Config::default().shutdown(shutdown),
            resume: Resume::new(MemoryStore::new()),
            ticker: web::Data::new(Feed::new()),
        }
    }
}

/// The routes and the app's data, for `App::configure`.
fn app(shared: Shared) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(shared.config)
            .app_data(shared.resume)
            .app_data(shared.ticker)
            // A bad query is answered 400 with the JSON error body.
            .app_data(web::QueryConfig::default().error_handler(rivulet::actix::reject))
            .route("/stream", web::get().to(test))
            .route("/stream/process", web::get().to(process_get))
            .route("/stream/process", web::post().to(process_post))
            .route("/stream/riskyProcess", web::get().to(risky_process))
            .route("/stream/feed", web::get().to(feed))
            .route("/stream/durable", web::get().to(durable))
            .route("/stream/durable", web::delete().to(durable))
            .route("/stream/ticker", web::get().to(follow))
            .route("/stream/ticker", web::post().to(publish))
            .route("/metrics", web::get().to(metrics))
            .service(rivulet::actix::assets(rivulet::assets::DEFAULT_BASE));
    }
}

/// `--addr HOST:PORT` (default 127.0.0.1:3000).
fn addr() -> std::io::Result<std::net::SocketAddr> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3000".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().unwrap_or_default(),
            other => {
                let message =
                    format!("unknown argument {other:?}; usage: actix [--addr HOST:PORT]");
                return Err(std::io::Error::other(message));
            }
        }
    }
    addr.parse()
        .map_err(|e| std::io::Error::other(format!("--addr {addr:?}: {e}")))
}

fn main() -> std::io::Result<()> {
    let addr = addr()?;
    metrics_handle();
    actix_web::rt::System::new().block_on(async move {
        let shutdown = Shutdown::new();
        let shared = Shared::new(&shutdown);
        let server = HttpServer::new(move || actix_web::App::new().configure(app(shared.clone())))
            // A client that leaves is noticed at once (its handler is
            // dropped), not at the stream's next write.
            .h1_allow_half_closed(false)
            .disable_signals()
            .shutdown_timeout(30)
            .bind(addr)?;
        println!("listening on http://{}/", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Streams get 10 s to finish, then end with the shutting-down packet.
            rivulet::actix::stop(&handle, &shutdown, Duration::from_secs(10)).await;
        });
        server.await
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rivulet::Format;
    use rivulet::decode::Event;
    use rivulet_testkit::{client, events, get, url};
    use serde_json::{Value, json};

    use super::{Shared, Shutdown, app};

    /// Serves the example's app on a free loopback port, on a thread of its
    /// own (actix-web runs its own runtimes).
    fn start() -> SocketAddr {
        // Installed before any stream runs, as `main` does.
        super::metrics_handle();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let shared = Shared::new(&Shutdown::new());
                super::HttpServer::new(move || actix_web::App::new().configure(app(shared.clone())))
                    .workers(1)
                    .disable_signals()
                    .listen(listener)
                    .unwrap()
                    .run()
                    .await
            })
        });
        addr
    }

    #[tokio::test]
    async fn the_routes_answer_as_the_docs_say() {
        let addr = start();
        for format in Format::ALL {
            let mut counting = vec![Event::Progress(json!("Starting stream test"))];
            counting.extend((1..=10).map(|i| Event::Progress(json!(format!("i={i}")))));
            counting.push(Event::Done(Value::Null));
            assert_eq!(
                events(addr, "/stream?interval_ms=0", format).await,
                counting
            );

            let process = events(addr, "/stream/process?items=30&interval_ms=0", format).await;
            assert_eq!(process[0], Event::Progress(json!("Starting batch process")));
            assert_eq!(process[3], Event::Progress(json!("Processed 30 items")));
            match &process[4..] {
                [Event::Done(done)] => assert_eq!(
                    (done["success"].clone(), done["processed"].clone()),
                    (json!(true), json!(30))
                ),
                other => panic!("{other:?}"),
            }

            let risky = events(addr, "/stream/riskyProcess?fail=1&interval_ms=0", format).await;
            assert_eq!(risky[0], Event::Progress(json!("Starting risky operation")));
            assert!(
                matches!(&risky[1..], [Event::Error(e)] if e.message == "Something went wrong!")
            );
        }

        let posted = client()
            .post(url(addr, "/stream/process?interval_ms=0"))
            .header("accept", "application/x-ndjson")
            .json(&json!({ "items": 20 }))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 200);
        let malformed = client()
            .post(url(addr, "/stream/process"))
            .header("content-type", "application/json")
            .body("{\"items\": ")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);
        let body: Value = malformed.json().await.unwrap();
        assert_eq!(body["error"]["status"], 400, "{body}");

        let feed = get(addr, "/stream/feed?interval_ms=10", Format::Ndjson).await;
        let mut feed = rivulet_testkit::Reader::new(feed);
        assert_eq!(
            feed.next().await.unwrap().unwrap(),
            Event::Progress(json!({ "tick": 1 }))
        );
        drop(feed);

        let published = client()
            .post(url(addr, "/stream/ticker"))
            .json(&json!({ "price": 1 }))
            .send()
            .await
            .unwrap();
        assert_eq!(published.status(), 202);

        let script = client()
            .get(url(addr, "/rivulet/stream.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(script.status(), 200);
        assert!(
            script
                .text()
                .await
                .unwrap()
                .contains("export function createStream")
        );
        let metrics = client().get(url(addr, "/metrics")).send().await.unwrap();
        assert!(
            metrics
                .text()
                .await
                .unwrap()
                .contains("rivulet_streams_total")
        );
    }
}
