//! A chat backend for the AI SDK's `useChat`: `POST /api/chat` answers in the
//! UI message stream protocol, `GET /api/chat/{id}/stream` resumes a running
//! answer (what `useChat({ resume: true })` asks on mount), `DELETE` on that
//! URL stops it (what `RivuletChatTransport` from `rivulet-client/ai-sdk`
//! sends on stop). The "model" echoes the question word by word.
//!
//! ```sh
//! cargo run -p rivulet-http --example chat
//! # in another terminal:
//! curl -N http://127.0.0.1:3000/api/chat -H 'content-type: application/json' \
//!   -d '{"id":"c1","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"hello there"}]}]}'
//! curl -N http://127.0.0.1:3000/api/chat/c1/stream      # while it runs: from its first part
//! curl -X DELETE http://127.0.0.1:3000/api/chat/c1/stream
//! ```
//!
//! What to look at:
//! - `chat`: the body `useChat` posts is the `ChatRequest` extractor (a bad
//!   body is a 4xx with a JSON reason); the answer is a job of its own, named
//!   after the chat id, so a client that leaves does not stop it.
//! - `running`: one handler for `GET` (resume, 204 when nothing runs) and
//!   `DELETE` (cancel: readers get an `abort` part, then `[DONE]`).
//! - `?delta_ms=N` paces the words (the tests run at full speed).

use std::time::Duration;

use axum::extract::{Path, Query};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use rivulet::ai_sdk::{ChatRequest, ChatStream, Part};
use rivulet::resume::{MemoryStore, Resume};
use serde::Deserialize;
use tokio::time::sleep;

/// `?delta_ms=N`: the pause before each word.
#[derive(Deserialize)]
struct Pace {
    delta_ms: Option<u64>,
}

async fn chat(stream: ChatStream, Query(pace): Query<Pace>, chat: ChatRequest) -> Response {
    let pause = Duration::from_millis(pace.delta_ms.unwrap_or(200).min(10_000));
    let question = chat.last_user_text();
    stream
        .run(&chat.id, move |tx| async move {
            tx.send(Part::text_start("t1")).await?;
            tx.send(Part::text_delta("t1", "You said:")).await?;
            for word in question.split_whitespace() {
                sleep(pause).await;
                tx.send(Part::text_delta("t1", format!(" {word}"))).await?;
            }
            tx.send(Part::text_end("t1")).await?;
            Ok(())
        })
        .await
}

async fn running(stream: ChatStream, Path(chat_id): Path<String>) -> Response {
    stream.resume(&chat_id).await
}

fn app() -> Router {
    Router::new()
        .route("/api/chat", post(chat))
        .route("/api/chat/{chat_id}/stream", get(running).delete(running))
        .layer(Extension(Resume::new(MemoryStore::new())))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let addr = addr.parse().map_err(std::io::Error::other)?;
    let listener = rivulet::serve::bind(addr)?;
    println!("POST http://{}/api/chat", listener.local_addr()?);
    let shutdown = rivulet::Shutdown::new();
    rivulet::serve(listener, app())
        .with_graceful_shutdown(&shutdown, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(test)]
mod tests {
    use rivulet_testkit::{client, serve, url};
    use serde_json::{Value, json};

    use super::app;

    #[tokio::test]
    async fn the_answer_echoes_the_question_and_ends_with_done() {
        let addr = serve(app()).await;
        let body = json!({
            "id": "c1",
            "messages": [{"id": "m1", "role": "user", "parts": [{"type": "text", "text": "hello there"}]}],
            "trigger": "submit-message",
        });
        let response = client()
            .post(url(addr, "/api/chat?delta_ms=0"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-vercel-ai-ui-message-stream"], "v1");
        let text = response.text().await.unwrap();
        let events: Vec<&str> = text
            .split("\n\n")
            .filter_map(|event| event.strip_prefix("data: "))
            .collect();
        assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
        let parts: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        let said: String = parts
            .iter()
            .filter(|part| part["type"] == "text-delta")
            .map(|part| part["delta"].as_str().unwrap())
            .collect();
        assert_eq!(said, "You said: hello there");
        assert_eq!(parts.first().unwrap()["type"], "start");
        assert_eq!(
            parts.last().unwrap(),
            &json!({"type": "finish", "finishReason": "stop"})
        );
        // Finished: nothing to resume.
        let resumed = client()
            .get(url(addr, "/api/chat/c1/stream"))
            .send()
            .await
            .unwrap();
        assert_eq!(resumed.status(), 204);
    }
}
