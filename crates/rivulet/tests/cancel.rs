//! Cancelling a resumable stream: `DELETE` on the stream's own URL with its
//! resume point stops the job (its future is dropped), every reader gets the
//! final packet "the stream was cancelled", and later resumes get that packet
//! or `204`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};
use rivulet::Format;
use rivulet::decode::Event;
use rivulet::protocol::CANCELLED_MESSAGE;
use rivulet::resume::{MemoryStore, Resume};
use rivulet_testkit::{DropSignal, End, PATIENCE, Reading, cancel, endless, open, serve};
use serde_json::json;
use tokio::sync::mpsc;

/// The app the tests serve: one route for both GET and DELETE.
fn app(resume: Resume, dropped: mpsc::UnboundedSender<()>) -> Router {
    Router::new()
        .route("/job", get(endless).delete(endless))
        .layer(Extension(resume))
        .layer(Extension(DropSignal(dropped)))
}

fn is_cancelled(event: Option<&Event>) -> bool {
    matches!(event, Some(Event::Error(e)) if e.message == CANCELLED_MESSAGE && e.status == 409)
}

async fn server() -> (SocketAddr, mpsc::UnboundedReceiver<()>) {
    let (dropped, drops) = mpsc::unbounded_channel();
    let resume = Resume::new(MemoryStore::new()).grace(Duration::from_secs(30));
    (serve(app(resume, dropped)).await, drops)
}

#[tokio::test]
async fn a_delete_stops_the_job_and_every_reader_gets_the_cancelled_packet() {
    let (addr, mut drops) = server().await;
    let url = format!("http://{addr}/job");
    let mut first = Reading::new(open(&url, Format::Sse, None).await, 0);
    assert_eq!(first.until(2).await, None);
    let early = first.resume_point();
    // A second reader of the same stream, in another format.
    let mut second = Reading::new(open(&url, Format::Ndjson, Some(&early)).await, 2);
    assert_eq!(second.until(1).await, None);

    let answer = cancel(&url, Some(&early)).await;
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body, json!({ "cancelled": first.stream_id }));

    tokio::time::timeout(Duration::from_secs(5), drops.recv())
        .await
        .expect("the job's future is dropped soon after the cancel")
        .expect("a drop signal");
    for reading in [&mut first, &mut second] {
        assert_eq!(reading.read_to_end().await, End::Final);
        assert!(
            is_cancelled(reading.events.last()),
            "{:?}",
            reading.events.last()
        );
    }

    // A later resume from before the end gets the rest and the same final packet.
    for format in Format::ALL {
        let mut later = Reading::new(open(&url, format, Some(&early)).await, 2);
        assert_eq!(later.read_to_end().await, End::Final, "{format}");
        assert!(is_cancelled(later.events.last()), "{format}");
        assert_eq!(later.received, first.received, "{format}: the same stream");
    }
    // One that has the final packet, and a second cancel, get 204.
    let done = open(&url, Format::Sse, Some(&first.resume_point())).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let again = cancel(&url, Some(&early)).await;
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_cancel_of_nothing_running_is_204_and_a_bad_point_400() {
    let (addr, _drops) = server().await;
    let url = format!("http://{addr}/job");
    let unknown = cancel(&url, Some("0123456789abcdef0123456789abcdef.3")).await;
    assert_eq!(unknown.status(), StatusCode::NO_CONTENT);

    for point in [
        None,
        Some("not-a-point"),
        Some("0123456789abcdef0123456789abcdef.x"),
    ] {
        let answer = cancel(&url, point).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{point:?}");
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["status"], 400, "{point:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("resume point"))
        );
    }

    // The point may come as the lastEventId query parameter too.
    let mut reading = Reading::new(open(&url, Format::Sse, None).await, 0);
    assert_eq!(reading.until(1).await, None);
    let query = format!("{url}?lastEventId={}", reading.resume_point());
    assert_eq!(cancel(&query, None).await.status(), StatusCode::ACCEPTED);
    assert_eq!(
        tokio::time::timeout(PATIENCE, reading.read_to_end())
            .await
            .unwrap(),
        End::Final
    );
    assert!(is_cancelled(reading.events.last()));
}

#[tokio::test]
async fn a_cancel_is_authorised_like_a_resume() {
    let (dropped, _drops) = mpsc::unbounded_channel();
    let resume = Resume::new(MemoryStore::new()).authorize(|request| {
        match request.headers().get("authorization") {
            Some(v) if v == "yes" => Ok(()),
            _ => Err(rivulet::Error::new(StatusCode::FORBIDDEN, "no")),
        }
    });
    let addr = serve(app(resume, dropped)).await;
    let url = format!("http://{addr}/job");
    let mut reading = Reading::new(open(&url, Format::Sse, None).await, 0);
    assert_eq!(reading.until(1).await, None);
    let point = reading.resume_point();
    assert_eq!(
        cancel(&url, Some(&point)).await.status(),
        StatusCode::FORBIDDEN
    );
    let allowed = rivulet_testkit::client()
        .delete(&url)
        .header("last-event-id", &point)
        .header("authorization", "yes")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::ACCEPTED);
    assert_eq!(reading.read_to_end().await, End::Final);
    assert!(is_cancelled(reading.events.last()));
}

/// The Rust client: dropping a stream only disconnects (the job goes on and
/// resumes), `cancel` disconnects and stops the job.
#[cfg(feature = "client")]
#[tokio::test]
async fn the_rust_client_cancels_and_its_drop_only_disconnects() {
    use futures::StreamExt;
    use rivulet::client::{Cancelled, Client};

    let (addr, mut drops) = server().await;
    let url = format!("http://{addr}/job");
    let client = Client::new();
    let mut stream = client.get(&url).send().await.unwrap();
    for _ in 0..2 {
        assert!(matches!(stream.next().await, Some(Ok(Event::Progress(_)))));
    }
    let point = stream.resume_point().expect("a resumable stream");
    drop(stream);
    // The job was not dropped: the stream goes on from where it was left.
    let mut resumed = client.get(&url).resume_from(point).send().await.unwrap();
    assert!(matches!(resumed.next().await, Some(Ok(Event::Progress(v))) if v["i"] == 3));
    assert!(drops.try_recv().is_err(), "the job still runs");

    let id = resumed.headers()["rivulet-stream-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(resumed.cancel().await.unwrap(), Cancelled::Stopped);
    tokio::time::timeout(Duration::from_secs(5), drops.recv())
        .await
        .expect("the job's future is dropped soon after the cancel")
        .expect("a drop signal");
    // Its stream has ended: a resume from the start gets the cancelled packet
    // last, and a second cancel finds nothing running.
    let point = format!("{id}.0");
    let all: Vec<_> = client
        .get(&url)
        .resume_from(point.parse().unwrap())
        .send()
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert!(is_cancelled(all.last()), "{:?}", all.last());
    let again = client
        .get(&url)
        .resume_from(point.parse().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(again.cancel().await.unwrap(), Cancelled::NotRunning);
}
