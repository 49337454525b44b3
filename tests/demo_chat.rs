//! The demo's `/api/chat`: its stand-in model answers the same conversation
//! the same way, in at least 30 text deltas; a bad `delta_ms` is a 422 with a
//! JSON reason; the chat page and its bundle are served.

use std::net::SocketAddr;

use rivulet_cli::demo::{Options, serve_with};
use rivulet_testkit::{client, url};
use serde_json::{Value, json};

async fn demo() -> SocketAddr {
    rivulet_testkit::serve_with(move |listener| {
        serve_with(listener, Options::default(), std::future::pending())
    })
    .await
}

/// The text deltas of the answer to `messages` in chat `id`.
async fn answer(addr: SocketAddr, id: &str, messages: &Value) -> Vec<String> {
    let body = json!({ "id": id, "messages": messages, "trigger": "submit-message" });
    let response = client()
        .post(url(addr, "/api/chat?delta_ms=0"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-vercel-ai-ui-message-stream"], "v1");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    text.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: {"))
        .map(|json| serde_json::from_str::<Value>(&format!("{{{json}")).unwrap())
        .filter(|part| part["type"] == "text-delta")
        .map(|part| part["delta"].as_str().unwrap().to_owned())
        .collect()
}

fn user(text: &str) -> Value {
    json!([{ "id": "m1", "role": "user", "parts": [{ "type": "text", "text": text }] }])
}

#[tokio::test]
async fn the_stand_in_model_is_deterministic_and_long_enough() {
    let addr = demo().await;
    let first = answer(addr, "a", &user("What is Rivulet?")).await;
    assert!(first.len() >= 30, "{first:?}");
    assert!(first.concat().starts_with("You asked: “What is Rivulet?”."));
    assert_eq!(answer(addr, "b", &user("What is Rivulet?")).await, first);
    assert_ne!(answer(addr, "c", &user("Something else")).await, first);
}

#[tokio::test]
async fn a_bad_pace_is_a_422_and_the_page_is_served() {
    let addr = demo().await;
    let response = client()
        .post(url(addr, "/api/chat?delta_ms=fast"))
        .json(&json!({ "id": "x", "messages": user("hi") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("delta_ms"),
        "{error}"
    );
    for (path, kind) in [
        ("/chat", "text/html"),
        ("/assets/chat.js", "text/javascript"),
    ] {
        let response = client().get(url(addr, path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
    }
}
