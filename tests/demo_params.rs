//! The demo routes take their parameters from the query string or from a form
//! or JSON body, and answer GET and POST alike, as Hazaar actions do.

use std::net::SocketAddr;

use rivulet::Format;
use rivulet::decode::Event;
use rivulet_testkit::{PATIENCE, Reader, client, events, serve_with};
use serde_json::{Value, json};

async fn demo() -> SocketAddr {
    serve_with(rivulet_cli::demo::serve_on).await
}

async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &str) -> reqwest::Response {
    let request = client()
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .header("accept", Format::Ndjson.content_type())
        .body(body.to_owned());
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("an answer in time")
        .unwrap()
}

fn final_packet(events: &[Event]) -> &Value {
    match events.last() {
        Some(Event::Done(value)) => value,
        other => panic!("a done packet, not {other:?}"),
    }
}

#[tokio::test]
async fn process_takes_a_form_body() {
    let addr = demo().await;
    let response = post(
        addr,
        "/stream/process",
        "application/x-www-form-urlencoded",
        "items=20&interval_ms=1",
    )
    .await;
    assert_eq!(response.status(), 200);
    let events = Reader::new(response).rest().await;
    assert_eq!(final_packet(&events)["processed"], 20);
}

#[tokio::test]
async fn process_takes_a_json_body_over_the_query() {
    let addr = demo().await;
    let response = post(
        addr,
        "/stream/process?items=50",
        "application/json",
        r#"{"items": 20, "interval_ms": 1}"#,
    )
    .await;
    let events = Reader::new(response).rest().await;
    assert_eq!(final_packet(&events)["processed"], 20, "the body wins");
}

#[tokio::test]
async fn bad_bodies_are_422_with_a_json_reason() {
    let addr = demo().await;
    for (content_type, body, reason) in [
        ("application/json", "{\"items\":", "not valid JSON"),
        ("application/json", "[1, 2]", "must be an object"),
        (
            "application/x-www-form-urlencoded",
            "items=none",
            "`items` must be",
        ),
    ] {
        let response = post(addr, "/stream/process", content_type, body).await;
        assert_eq!(response.status(), 422, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{body}: {message}");
        assert_eq!(error["error"]["status"], 422);
    }
}

#[tokio::test]
async fn job_reports_current_and_total() {
    let addr = demo().await;
    for format in Format::ALL {
        let got = events(addr, "/stream/job?items=3&interval_ms=0", format).await;
        let progress: Vec<_> = got[..3].to_vec();
        assert_eq!(
            progress,
            (1..=3)
                .map(|k| Event::Progress(json!({ "current": k, "total": 3 })))
                .collect::<Vec<_>>(),
            "{format}"
        );
        assert_eq!(final_packet(&got)["processed"], 3);
    }
}
