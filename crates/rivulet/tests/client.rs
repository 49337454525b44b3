//! The Rust client (`rivulet::client`) against a real server on loopback.

#![cfg(feature = "client")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use rivulet::client::{Client, Error, EventStream};
use rivulet::decode::{DecodeError, Event};
use rivulet::{ErrorPacket, Format, Stream};
use rivulet_testkit::{PATIENCE, eventually, serve, url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::timeout;

fn client() -> Client {
    Client::from(rivulet_testkit::client())
}

/// Every event of a stream, each wait bounded.
async fn collect(mut stream: EventStream) -> Vec<Result<Event, Error>> {
    let mut events = Vec::new();
    while let Some(event) = timeout(PATIENCE, stream.next())
        .await
        .expect("an event in time")
    {
        events.push(event);
    }
    events
}

async fn send(request: rivulet::client::RequestBuilder) -> Result<EventStream, Error> {
    timeout(PATIENCE, request.send())
        .await
        .expect("a response head in time")
}

async fn shapes(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send("text").await?;
            tx.send(json!({"k": [1, 2.5, null]})).await?;
            tx.send("naïve café 🌊").await?;
            Ok(json!({"processed": 3}))
        })
        .await
}

fn shapes_events() -> Vec<Event> {
    vec![
        Event::Progress(json!("text")),
        Event::Progress(json!({"k": [1, 2.5, null]})),
        Event::Progress(json!("naïve café 🌊")),
        Event::Done(json!({"processed": 3})),
    ]
}

#[tokio::test]
async fn every_format_gives_the_same_events() {
    let addr = serve(Router::new().route("/", get(shapes))).await;
    for format in Format::ALL {
        let stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        assert_eq!(stream.format(), format);
        assert_eq!(stream.status(), StatusCode::OK);
        let events: Vec<Event> = collect(stream)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(events, shapes_events(), "{format}");
    }
}

#[tokio::test]
async fn a_header_of_the_callers_own_picks_the_format() {
    let addr = serve(Router::new().route("/", get(shapes))).await;
    let stream = send(
        client()
            .get(url(addr, "/"))
            .header("accept", "application/x-ndjson"),
    )
    .await
    .unwrap();
    assert_eq!(stream.format(), Format::Ndjson);
    assert_eq!(collect(stream).await.len(), 4);
}

#[tokio::test]
async fn typed_helpers_read_progress_then_the_final_value() {
    #[derive(Debug, Deserialize, PartialEq)]
    struct Summary {
        processed: u32,
    }
    async fn count(stream: Stream) -> Response {
        stream
            .run(|tx| async move {
                for i in 1..=3 {
                    tx.send(i).await?;
                }
                Ok(json!({"processed": 3}))
            })
            .await
    }
    let addr = serve(Router::new().route("/", get(count))).await;
    for format in Format::ALL {
        let mut stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        let mut seen = Vec::new();
        while let Some(i) = stream.progress::<u32>().await.unwrap() {
            seen.push(i);
        }
        assert_eq!(seen, [1, 2, 3]);
        // Asked again after the end: still nothing.
        assert_eq!(stream.progress::<u32>().await.unwrap(), None);
        assert_eq!(
            stream.done::<Summary>().await.unwrap(),
            Summary { processed: 3 }
        );
    }

    // `done` alone skips the progress packets.
    let stream = send(client().get(url(addr, "/"))).await.unwrap();
    assert_eq!(stream.done::<Value>().await.unwrap()["processed"], 3);

    // A packet of another type than asked for.
    let mut stream = send(client().get(url(addr, "/"))).await.unwrap();
    assert!(matches!(
        stream.progress::<String>().await,
        Err(Error::Deserialize(_))
    ));
    let stream = send(client().get(url(addr, "/"))).await.unwrap();
    assert!(matches!(
        stream.done::<String>().await,
        Err(Error::Deserialize(_))
    ));
}

#[tokio::test]
async fn done_after_reading_the_stream_returns_its_final_packet() {
    let addr = serve(Router::new().route("/", get(shapes))).await;
    let mut stream = send(client().get(url(addr, "/"))).await.unwrap();
    while let Some(event) = stream.next().await {
        event.unwrap();
    }
    assert_eq!(
        stream.done::<Value>().await.unwrap(),
        json!({"processed": 3})
    );
}

async fn risky(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send("Starting risky operation").await?;
            Err::<(), _>(rivulet::Error::from_message("Something went wrong!"))
        })
        .await
}

#[tokio::test]
async fn an_error_packet_is_an_event_and_the_outcome_of_done() {
    let addr = serve(Router::new().route("/", get(risky))).await;
    let expected = ErrorPacket {
        message: "Something went wrong!".into(),
        status: 500,
        error_id: None,
    };
    for format in Format::ALL {
        let stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        let events: Vec<Event> = collect(stream)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            events,
            [
                Event::Progress(json!("Starting risky operation")),
                Event::Error(expected.clone())
            ],
            "{format}"
        );

        let mut stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        assert_eq!(
            stream.progress::<String>().await.unwrap().as_deref(),
            Some("Starting risky operation")
        );
        assert_eq!(stream.progress::<String>().await.unwrap(), None);
        match stream.done::<Value>().await {
            Err(Error::Server(packet)) => assert_eq!(packet, expected),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn an_http_error_carries_the_servers_error_object() {
    async fn reject(stream: Stream) -> Response {
        stream
            .run(|_tx| async move {
                Err::<(), _>(rivulet::Error::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "items must be 1..=10000",
                ))
            })
            .await
    }
    let addr = serve(Router::new().route("/", get(reject))).await;
    for format in Format::ALL {
        match send(client().get(url(addr, "/")).format(format)).await {
            Err(Error::Status {
                status,
                error: Some(error),
                ..
            }) => {
                assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
                assert_eq!(error.message, "items must be 1..=10000");
                assert_eq!(error.status, 422);
            }
            other => panic!("{format}: {other:?}"),
        }
    }

    // A status without an error object: the body is kept as text.
    let error = send(client().get(url(addr, "/missing"))).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::Status {
                status: StatusCode::NOT_FOUND,
                error: None,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "HTTP 404 Not Found");
}

#[tokio::test]
async fn a_response_that_is_not_a_stream_is_refused() {
    let app = Router::new().route("/", get(|| async { "just text" }));
    let addr = serve(app).await;
    match send(client().get(url(addr, "/"))).await {
        Err(Error::NotAStream {
            status,
            content_type,
        }) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(content_type.as_deref(), Some("text/plain; charset=utf-8"));
        }
        other => panic!("{other:?}"),
    }
}

/// A response in `format` made of `bytes`, as a broken server would send it.
fn raw(format: Format, bytes: &'static [u8]) -> Response {
    ([(header::CONTENT_TYPE, format.content_type())], bytes).into_response()
}

#[tokio::test]
async fn a_stream_without_a_final_packet_is_truncated() {
    async fn truncated(headers: HeaderMap) -> Response {
        let format = Format::negotiate(&headers);
        raw(
            format,
            match format {
                Format::Sse => b"id: 1\ndata: \"partial\"\n\nid: 2\ndata: {\"cut\":",
                Format::Ndjson => b"{\"progress\":\"partial\"}\n{\"progress\":{\"cut\":",
                Format::Legacy => b"7\0spartialc\0a{\"cut\":",
            },
        )
    }
    let addr = serve(Router::new().route("/", get(truncated))).await;
    for format in Format::ALL {
        let stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        let mut events = collect(stream).await.into_iter();
        assert_eq!(
            events.next().unwrap().unwrap(),
            Event::Progress(json!("partial")),
            "{format}"
        );
        assert!(
            matches!(events.next(), Some(Err(Error::Truncated))),
            "{format}"
        );
        assert!(events.next().is_none(), "the stream ends after the error");

        let stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        assert!(matches!(
            stream.done::<Value>().await,
            Err(Error::Truncated)
        ));
    }
}

#[tokio::test]
async fn bytes_that_break_the_format_are_a_decode_error() {
    let app = Router::new()
        .route(
            "/ndjson",
            get(|| async { raw(Format::Ndjson, b"{\"progress\":1}\n{\"unknown\":2}\n") }),
        )
        .route(
            "/legacy",
            get(|| async { raw(Format::Legacy, b"zz\0s12\0anull") }),
        );
    let addr = serve(app).await;
    let mut events = collect(send(client().get(url(addr, "/ndjson"))).await.unwrap())
        .await
        .into_iter();
    assert_eq!(events.next().unwrap().unwrap(), Event::Progress(json!(1)));
    assert!(matches!(events.next(), Some(Err(Error::Decode(_)))));
    assert!(events.next().is_none());

    let events = collect(send(client().get(url(addr, "/legacy"))).await.unwrap()).await;
    assert!(matches!(events[..], [Err(Error::Decode(_))]), "{events:?}");
}

#[tokio::test]
async fn packets_over_the_limit_are_refused() {
    let addr = serve(Router::new().route("/", get(shapes))).await;
    for format in Format::ALL {
        let stream = send(
            client()
                .get(url(addr, "/"))
                .format(format)
                .max_packet_bytes(12),
        )
        .await
        .unwrap();
        let events = collect(stream).await;
        assert!(
            matches!(
                events.last(),
                Some(Err(Error::Decode(DecodeError::TooLarge { limit: 12 })))
            ),
            "{format}: {events:?}"
        );
    }
}

/// A handler that sends `first` packets, then waits until the client leaves,
/// and says when it is dropped (cancelled).
#[derive(Clone, Default)]
struct Watched {
    dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn quiet_after(first: usize, keep_alive: Option<Duration>) -> (Router, Watched) {
    let watched = Watched::default();
    let dropped = watched.dropped.clone();
    let handler = move |stream: Stream| {
        let dropped = dropped.clone();
        async move {
            stream
                .keep_alive(keep_alive)
                .run(move |tx| async move {
                    let _guard = SetOnDrop(dropped);
                    for i in 0..first {
                        tx.send(i).await?;
                    }
                    std::future::pending::<()>().await;
                    Ok(())
                })
                .await
        }
    };
    (Router::new().route("/", get(handler)), watched)
}

#[tokio::test]
async fn a_quiet_server_trips_the_idle_timeout() {
    // Quiet after one packet: the timeout ends the stream.
    let (app, watched) = quiet_after(1, None);
    let addr = serve(app).await;
    let stream = send(
        client()
            .get(url(addr, "/"))
            .idle_timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let events = collect(stream).await;
    assert!(
        matches!(
            events[..],
            [Ok(Event::Progress(_)), Err(Error::IdleTimeout(after))] if after == Duration::from_secs(1)
        ),
        "{events:?}"
    );
    // The connection is closed: the server cancels the handler.
    eventually("the handler to be cancelled", || {
        watched.dropped.load(Ordering::SeqCst)
    })
    .await;

    // Quiet from the start, no keep-alive: not even a response head.
    let (app, _) = quiet_after(0, None);
    let addr = serve(app).await;
    let error = send(
        client()
            .get(url(addr, "/"))
            .idle_timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::IdleTimeout(_)), "{error:?}");
}

#[tokio::test]
async fn keep_alives_hold_the_idle_timeout_off() {
    async fn slow(stream: Stream) -> Response {
        stream
            .keep_alive(Some(Duration::from_millis(20)))
            .run(|tx| async move {
                tx.send("started").await?;
                // Quiet for twice the client's idle timeout, with keep-alives.
                tokio::time::sleep(Duration::from_secs(4)).await;
                Ok("finished")
            })
            .await
    }
    let addr = serve(Router::new().route("/", get(slow))).await;
    let stream = send(
        client()
            .get(url(addr, "/"))
            .format(Format::Ndjson)
            .idle_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    assert_eq!(stream.done::<String>().await.unwrap(), "finished");
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_handler() {
    for format in Format::ALL {
        let (app, watched) = quiet_after(2, None);
        let addr = serve(app).await;
        let mut stream = send(client().get(url(addr, "/")).format(format))
            .await
            .unwrap();
        assert_eq!(stream.progress::<u32>().await.unwrap(), Some(0));
        assert!(!watched.dropped.load(Ordering::SeqCst));
        drop(stream);
        eventually("the handler to be cancelled", || {
            watched.dropped.load(Ordering::SeqCst)
        })
        .await;
    }
}

#[tokio::test]
async fn requests_carry_method_headers_and_body() {
    async fn echo(method: Method, headers: HeaderMap, stream: Stream, body: String) -> Response {
        stream
            .run(move |tx| async move {
                tx.send(method.as_str()).await?;
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                tx.send(header("x-job")).await?;
                tx.send(header("content-type")).await?;
                Ok(body)
            })
            .await
    }
    let addr = serve(Router::new().route("/", post(echo).put(echo))).await;
    let stream = send(
        client()
            .post(url(addr, "/"))
            .header("x-job", "7")
            .json(&json!({"items": 30})),
    )
    .await
    .unwrap();
    let events: Vec<Event> = collect(stream)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        events,
        [
            Event::Progress(json!("POST")),
            Event::Progress(json!("7")),
            Event::Progress(json!("application/json")),
            Event::Done(json!(r#"{"items":30}"#)),
        ]
    );

    let stream = send(
        client()
            .request(Method::PUT, url(addr, "/"))
            .body("raw bytes"),
    )
    .await
    .unwrap();
    let events = collect(stream).await;
    assert!(matches!(&events[0], Ok(Event::Progress(m)) if m == "PUT"));
    assert!(matches!(events.last(), Some(Ok(Event::Done(b))) if b == "raw bytes"));
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = send(client().get(url(addr, "/"))).await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");

    let error = send(client().get("not a url")).await.unwrap_err();
    assert!(matches!(error, Error::Transport(_)), "{error:?}");
}
