//! The AI SDK chat stream (`rivulet::ai_sdk`) over real TCP: the UI message
//! stream's bytes and header, the request extractor's 4xx answers, and the
//! chat's answer as a resumable job named after the chat id: resume from the
//! first part, 204 when none runs, cancel ending readers with `abort`, on the
//! memory store and on Redis across two servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures::StreamExt;
use rivulet::Error;
use rivulet::ai_sdk::{ChatRequest, ChatStream, Part};
use rivulet::resume::{MemoryStore, Resume};
use rivulet_testkit::{client, serve, url};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// The words of every answer.
const WORDS: usize = 5;

/// Lets the test release the answer's words one by one.
#[derive(Clone)]
struct Gate(Arc<Semaphore>);

async fn chat(stream: ChatStream, Extension(gate): Extension<Gate>, chat: ChatRequest) -> Response {
    let fail = chat.last_user_text() == "fail";
    stream
        .run(&chat.id, move |tx| async move {
            if fail {
                return Err(Error::new(StatusCode::BAD_GATEWAY, "the model failed"));
            }
            tx.send(Part::text_start("t")).await?;
            for i in 0..WORDS {
                gate.0.acquire().await.expect("open").forget();
                tx.send(Part::text_delta("t", format!("w{i} "))).await?;
            }
            tx.send(Part::text_end("t")).await?;
            Ok(())
        })
        .await
}

async fn running(stream: ChatStream, Path(id): Path<String>) -> Response {
    stream.resume(&id).await
}

fn app(resume: Resume, gate: &Gate) -> Router {
    Router::new()
        .route("/api/chat", post(chat))
        .route("/api/chat/{id}/stream", get(running).delete(running))
        .layer(Extension(resume))
        .layer(Extension(gate.clone()))
}

async fn memory_app() -> (SocketAddr, Gate) {
    let gate = Gate(Arc::new(Semaphore::new(0)));
    let addr = serve(app(Resume::new(MemoryStore::new()), &gate)).await;
    (addr, gate)
}

fn body(id: &str, text: &str) -> Value {
    json!({
        "id": id,
        "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}],
        "trigger": "submit-message",
        "messageId": null,
    })
}

async fn post_chat(addr: SocketAddr, id: &str, text: &str) -> reqwest::Response {
    client()
        .post(url(addr, "/api/chat"))
        .json(&body(id, text))
        .send()
        .await
        .unwrap()
}

async fn get_stream(addr: SocketAddr, id: &str) -> reqwest::Response {
    client()
        .get(url(addr, &format!("/api/chat/{id}/stream")))
        .send()
        .await
        .unwrap()
}

async fn delete_stream(addr: SocketAddr, id: &str) -> reqwest::Response {
    client()
        .delete(url(addr, &format!("/api/chat/{id}/stream")))
        .send()
        .await
        .unwrap()
}

/// A response body read as it comes.
struct Body {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    text: String,
}

impl Body {
    fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        Body {
            stream: response.bytes_stream().boxed(),
            text: String::new(),
        }
    }

    /// Reads until `needle` has arrived, for up to 10 s.
    async fn until(&mut self, needle: &str) {
        let read = async {
            while !self.text.contains(needle) {
                match self.stream.next().await {
                    Some(chunk) => self
                        .text
                        .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
                    None => panic!("the body ended without {needle:?}: {}", self.text),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", self.text));
    }

    /// Reads to the end, for up to 10 s.
    async fn rest(mut self) -> String {
        let read = async {
            while let Some(chunk) = self.stream.next().await {
                self.text
                    .push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("the body ends");
        self.text
    }
}

/// The `data:` payloads of an SSE body (keep-alive comments left out); every
/// event must be a single `data:` line.
fn events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|event| !event.is_empty() && !event.starts_with(':'))
        .map(|event| {
            assert!(!event.contains('\n'), "one line per event: {event:?}");
            event
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("a data event: {event:?}"))
                .to_owned()
        })
        .collect()
}

/// The parts of a finished body, checking that `[DONE]` comes last, once.
fn parts(text: &str) -> Vec<Value> {
    let events = events(text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    events[..events.len() - 1]
        .iter()
        .map(|data| serde_json::from_str(data).expect("a part is JSON"))
        .collect()
}

fn types(parts: &[Value]) -> Vec<&str> {
    parts.iter().map(|p| p["type"].as_str().unwrap()).collect()
}

fn said(parts: &[Value]) -> String {
    parts
        .iter()
        .filter(|p| p["type"] == "text-delta")
        .map(|p| p["delta"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_answer_is_a_ui_message_stream_that_ends_with_done() {
    let (addr, gate) = memory_app().await;
    gate.0.add_permits(WORDS);
    let response = post_chat(addr, "plain", "hi").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-vercel-ai-ui-message-stream"], "v1");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let parts = parts(&response.text().await.unwrap());
    assert_eq!(
        types(&parts),
        [
            "start",
            "text-start",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-delta",
            "text-end",
            "finish"
        ]
    );
    assert!(parts[0]["messageId"].as_str().unwrap().starts_with("msg-"));
    assert_eq!(parts[1], json!({"type": "text-start", "id": "t"}));
    assert_eq!(said(&parts), "w0 w1 w2 w3 w4 ");
    assert_eq!(parts[8], json!({"type": "finish", "finishReason": "stop"}));
}

#[tokio::test]
async fn a_failed_answer_ends_with_an_error_part_then_done() {
    let (addr, _gate) = memory_app().await;
    let response = post_chat(addr, "failing", "fail").await;
    assert_eq!(response.status(), 200);
    let parts = parts(&response.text().await.unwrap());
    assert_eq!(
        parts,
        [
            parts[0].clone(),
            json!({"type": "error", "errorText": "the model failed"})
        ]
    );
    assert_eq!(parts[0]["type"], "start");
}

#[tokio::test]
async fn a_bad_body_is_a_4xx_with_a_json_reason() {
    let (addr, _gate) = memory_app().await;
    let cases: [(Option<&str>, String, u16); 5] = [
        (None, body("c", "hi").to_string(), 415),
        (Some("application/json"), "{not json".to_owned(), 400),
        (
            Some("application/json"),
            json!({"messages": []}).to_string(),
            422,
        ),
        (Some("application/json"), body("", "hi").to_string(), 422),
        (
            Some("application/json"),
            body(&"x".repeat(257), "hi").to_string(),
            422,
        ),
    ];
    for (content_type, text, status) in cases {
        let mut request = client().post(url(addr, "/api/chat")).body(text.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{text}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["status"], status, "{error}");
        assert!(error["error"]["message"].is_string(), "{error}");
    }
}

#[tokio::test]
async fn resume_is_204_when_no_answer_runs() {
    let (addr, gate) = memory_app().await;
    assert_eq!(get_stream(addr, "never").await.status(), 204);
    gate.0.add_permits(WORDS);
    let done = post_chat(addr, "finished", "hi")
        .await
        .text()
        .await
        .unwrap();
    parts(&done);
    assert_eq!(get_stream(addr, "finished").await.status(), 204);
    assert_eq!(delete_stream(addr, "finished").await.status(), 204);
}

#[tokio::test]
async fn a_running_answer_resumes_from_its_first_part_after_a_disconnect() {
    let (addr, gate) = memory_app().await;
    gate.0.add_permits(2);
    let mut first = Body::new(post_chat(addr, "cut", "hi").await);
    first.until("w1 ").await;
    // The client leaves (a reload): the job runs on.
    drop(first);
    let mut resumed = Body::new(get_stream(addr, "cut").await);
    resumed.until("w1 ").await;
    gate.0.add_permits(WORDS - 2);
    let parts = parts(&resumed.rest().await);
    assert_eq!(types(&parts)[..2], ["start", "text-start"]);
    assert_eq!(said(&parts), "w0 w1 w2 w3 w4 ");
    assert_eq!(parts.last().unwrap()["type"], "finish");
}

#[tokio::test]
async fn a_cancel_ends_every_reader_with_abort_then_done() {
    let (addr, gate) = memory_app().await;
    gate.0.add_permits(1);
    let mut first = Body::new(post_chat(addr, "stopped", "hi").await);
    first.until("w0 ").await;
    let mut second = Body::new(get_stream(addr, "stopped").await);
    second.until("w0 ").await;
    // A second answer while this one runs is refused.
    let again = post_chat(addr, "stopped", "hi").await;
    assert_eq!(again.status(), 409);
    let error: Value = again.json().await.unwrap();
    assert_eq!(error["error"]["status"], 409);

    let cancel = delete_stream(addr, "stopped").await;
    assert_eq!(cancel.status(), 202);
    let cancelled: Value = cancel.json().await.unwrap();
    assert!(cancelled["cancelled"].is_string(), "{cancelled}");
    for reader in [first, second] {
        let parts = parts(&reader.rest().await);
        assert_eq!(
            parts.last().unwrap(),
            &json!({"type": "abort", "reason": rivulet::protocol::CANCELLED_MESSAGE})
        );
        assert_eq!(said(&parts), "w0 ");
    }
    assert_eq!(get_stream(addr, "stopped").await.status(), 204);
    assert_eq!(delete_stream(addr, "stopped").await.status(), 204);

    // The chat's next answer replaces the cancelled one.
    gate.0.add_permits(WORDS);
    let next = post_chat(addr, "stopped", "hi").await;
    let parts = parts(&next.text().await.unwrap());
    assert_eq!(said(&parts), "w0 w1 w2 w3 w4 ");
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn on_redis_an_answer_resumes_and_cancels_from_another_server() {
    use rivulet::resume::RedisStore;
    use rivulet_testkit::RedisServer;

    let redis = RedisServer::start();
    let gate = Gate(Arc::new(Semaphore::new(0)));
    let mut servers = Vec::new();
    for _ in 0..2 {
        let store = RedisStore::connect(&redis.url())
            .await
            .expect("Redis answers");
        servers.push(serve(app(Resume::new(store), &gate)).await);
    }
    let (a, b) = (servers[0], servers[1]);
    gate.0.add_permits(1);
    let mut first = Body::new(post_chat(a, "shared", "hi").await);
    first.until("w0 ").await;
    let mut other = Body::new(get_stream(b, "shared").await);
    other.until("w0 ").await;
    assert_eq!(post_chat(b, "shared", "hi").await.status(), 409);
    assert_eq!(delete_stream(b, "shared").await.status(), 202);
    for reader in [first, other] {
        let parts = parts(&reader.rest().await);
        assert_eq!(parts.last().unwrap()["type"], "abort");
    }
    assert_eq!(get_stream(a, "shared").await.status(), 204);

    // The next answer of the chat, started on `b`, replaces it in Redis.
    gate.0.add_permits(WORDS);
    let next = post_chat(b, "shared", "hi").await;
    assert_eq!(said(&parts(&next.text().await.unwrap())), "w0 w1 w2 w3 w4 ");
}
