//! Request bodies a stream handler cannot read: each kind of rejection reaches
//! the client as a 4xx with the JSON error body (before the first packet) or as
//! an error packet with the same status (after it), with axum's reason — never
//! a 500 "internal error".

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{Form, Json, Multipart, Query, multipart::MultipartRejection};
use axum::response::Response;
use axum::{Router, routing::post};
use rivulet::decode::Event;
use rivulet::{Format, Stream};
use rivulet_testkit::{PATIENCE, Reader, client, serve};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Job {
    items: u32,
}

/// Counts to `job.items`: the stream a valid body gets.
async fn count(
    stream: Stream,
    job: impl FnOnce() -> Result<Job, rivulet::Error> + Send + 'static,
) -> Response {
    stream
        .run(|tx| async move {
            let job = job()?;
            for i in 1..=job.items {
                tx.send(json!({ "current": i, "total": job.items })).await?;
            }
            Ok(json!({ "processed": job.items }))
        })
        .await
}

fn app() -> Router {
    Router::new()
        .route(
            "/json",
            post(|stream: Stream, body: Result<Json<Job>, JsonRejection>| {
                count(stream, move || Ok(body?.0))
            }),
        )
        .route(
            "/form",
            post(|stream: Stream, body: Result<Form<Job>, FormRejection>| {
                count(stream, move || Ok(body?.0))
            }),
        )
        .route(
            "/query",
            post(
                |stream: Stream, query: Result<Query<Job>, QueryRejection>| {
                    count(stream, move || Ok(query?.0))
                },
            ),
        )
        .route(
            "/multipart",
            post(
                |stream: Stream, multipart: Result<Multipart, MultipartRejection>| async move {
                    stream
                        .run(|tx| async move {
                            let mut multipart = multipart?;
                            tx.send("reading the upload").await?;
                            let mut bytes = 0;
                            while let Some(mut field) = multipart.next_field().await? {
                                while let Some(chunk) = field.chunk().await? {
                                    bytes += chunk.len();
                                }
                            }
                            Ok(json!({ "bytes": bytes }))
                        })
                        .await
                },
            ),
        )
}

async fn send(path: &str, content_type: &str, body: &'static str) -> reqwest::Response {
    let addr = serve(app()).await;
    let request = client()
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("accept", Format::Ndjson.content_type())
        .body(body);
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("an answer in time")
        .unwrap()
}

/// The status and `{"error": …}` body of an early error.
async fn early_error(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "an error body in JSON"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], status, "{body}");
    assert!(
        body["error"].get("error_id").is_none(),
        "not an internal error: {body}"
    );
    (status, body["error"].clone())
}

#[tokio::test]
async fn a_good_json_body_streams() {
    let response = send("/json", "application/json", r#"{"items":2}"#).await;
    assert_eq!(response.status(), 200);
    let events = Reader::new(response).rest().await;
    assert_eq!(
        events,
        vec![
            Event::Progress(json!({ "current": 1, "total": 2 })),
            Event::Progress(json!({ "current": 2, "total": 2 })),
            Event::Done(json!({ "processed": 2 })),
        ]
    );
}

#[tokio::test]
async fn bad_json_is_a_422_with_the_reason() {
    let (status, error) =
        early_error(send("/json", "application/json", r#"{"items":"ten"}"#).await).await;
    assert_eq!(status, 422);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("items"), "names the field: {message}");
}

#[tokio::test]
async fn broken_json_is_a_400() {
    let (status, error) =
        early_error(send("/json", "application/json", r#"{"items":"#).await).await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("parse"),
        "{error}"
    );
}

#[tokio::test]
async fn json_without_its_content_type_is_a_415() {
    let (status, error) = early_error(send("/json", "text/plain", r#"{"items":1}"#).await).await;
    assert_eq!(status, 415);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{error}"
    );
}

#[tokio::test]
async fn a_bad_form_is_a_422_with_the_reason() {
    let (status, error) =
        early_error(send("/form", "application/x-www-form-urlencoded", "items=ten").await).await;
    assert_eq!(status, 422);
    assert!(
        error["message"].as_str().unwrap().contains("items"),
        "{error}"
    );
    let ok = send("/form", "application/x-www-form-urlencoded", "items=1").await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_bad_query_is_a_400_with_the_reason() {
    let (status, error) = early_error(send("/query?items=-1", "text/plain", "").await).await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("query string"),
        "{error}"
    );
}

#[cfg(feature = "multipart")]
#[tokio::test]
async fn multipart_without_a_boundary_is_a_400() {
    let (status, error) = early_error(send("/multipart", "multipart/form-data", "").await).await;
    assert_eq!(status, 400);
    assert!(
        error["message"].as_str().unwrap().contains("boundary"),
        "{error}"
    );
}

#[cfg(feature = "multipart")]
#[tokio::test]
async fn a_multipart_body_broken_mid_stream_is_an_error_packet() {
    // The body ends inside its first part: the handler has sent a packet by
    // then, so the rejection travels as the final error packet.
    let body = "--XyZ\r\ncontent-disposition: form-data; name=\"file\"\r\n\r\nsome bytes";
    let response = send("/multipart", "multipart/form-data; boundary=XyZ", body).await;
    assert_eq!(response.status(), 200);
    let events = Reader::new(response).rest().await;
    assert_eq!(events[0], Event::Progress(json!("reading the upload")));
    let Event::Error(error) = &events[1] else {
        panic!("an error packet: {events:?}");
    };
    assert_eq!(error.status, 400, "{error:?}");
    assert_eq!(error.error_id, None, "{error:?}");
    assert!(error.message.contains("incomplete"), "{error:?}");
}
