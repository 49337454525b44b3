//! `/api/chat`: the AI SDK's chat protocol, answered by a scripted stand-in
//! for a model (no LLM: the same conversation always gets the same answer),
//! as a resumable job named after the chat id; and `/chat`, a page that
//! talks to it with React and `useChat`.

use std::time::Duration;

use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rivulet::Error;
use rivulet::ai_sdk::{ChatRequest, ChatStream, Part, UiMessage};
use sha2::{Digest, Sha256};
use tokio::time::sleep;

/// The pause before each text delta unless `?delta_ms=` says otherwise.
const DEFAULT_DELTA: Duration = Duration::from_millis(100);

/// `POST /api/chat[?delta_ms=N]`: answers the conversation in the body, one
/// word per text delta, `delta_ms` apart.
pub async fn answer(stream: ChatStream, RawQuery(query): RawQuery, chat: ChatRequest) -> Response {
    let delta = match delta(query.as_deref()) {
        Ok(delta) => delta,
        Err(error) => return error.into_response(),
    };
    let words = script(&chat.messages);
    stream
        .run(&chat.id, move |tx| async move {
            tx.send(Part::text_start("text-1")).await?;
            for word in words {
                sleep(delta).await;
                tx.send(Part::text_delta("text-1", word)).await?;
            }
            tx.send(Part::text_end("text-1")).await?;
            Ok(())
        })
        .await
}

/// `GET /api/chat/{chatId}/stream`: the chat's running answer from its first
/// part (204 when none runs). `DELETE`: stops it.
pub async fn running(stream: ChatStream, Path(chat_id): Path<String>) -> Response {
    stream.resume(&chat_id).await
}

/// `?delta_ms=N`, 0 to 10 000.
fn delta(query: Option<&str>) -> Result<Duration, Error> {
    let Some((_, raw)) =
        form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(name, _)| name == "delta_ms")
    else {
        return Ok(DEFAULT_DELTA);
    };
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms <= 10_000 => Ok(Duration::from_millis(ms)),
        _ => Err(Error::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`delta_ms` must be a number from 0 to 10000, not `{raw}`"),
        )),
    }
}

/// What the stand-in model says, word by word (each with the space after
/// it): the question echoed, then four sentences picked by a hash of the
/// whole conversation.
pub fn script(messages: &[UiMessage]) -> Vec<String> {
    const SENTENCES: [&str; 8] = [
        "Rivulet keeps every part of this answer in its store as it is written.",
        "A reload of the page picks the answer up again from its first part.",
        "The stop button cancels the job on the server, wherever it runs.",
        "Streams that several servers share live in Redis instead of memory.",
        "Each part travels as one server-sent event with a line of JSON.",
        "Closing the connection alone never stops the job that writes the answer.",
        "The same conversation always gets the same answer from this stand-in model.",
        "A real model would sit here, and nothing else in the route would change.",
    ];
    let mut hash = Sha256::new();
    for message in messages {
        hash.update(format!("{:?}\0{}\0", message.role, message.text()));
    }
    let seed = usize::from(hash.finalize()[0]);
    let question = messages
        .iter()
        .rev()
        .find(|m| m.role == rivulet::ai_sdk::Role::User)
        .map(UiMessage::text)
        .unwrap_or_default();
    let question: String = question.chars().take(80).collect();
    let mut text = format!("You asked: “{}”.", question.trim());
    for i in 0..4 {
        text.push(' ');
        text.push_str(SENTENCES[(seed + 3 * i) % SENTENCES.len()]);
    }
    text.split_inclusive(' ').map(str::to_owned).collect()
}
