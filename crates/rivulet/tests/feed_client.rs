//! The Rust client (`rivulet::client`) on live feeds: a feed answer names its
//! epoch and the point it starts after, so the client resumes a feed as it
//! resumes a job, in every format, with nothing lost or doubled; a subscriber
//! that comes back too late counts the skip marker as the packets it stands
//! for.

#![cfg(feature = "client")]

use std::time::Duration;

use futures::StreamExt;
use http::StatusCode;
use rivulet::client::{Client, Error, EventStream, Reconnect};
use rivulet::decode::Event;
use rivulet::feed::{Feed, OnLag};
use rivulet::protocol::{RESUME_POINT_HEADER, STREAM_ID_HEADER};
use rivulet::{Format, resume::ResumePoint};
use rivulet_testkit::feed::{app, follow};
use rivulet_testkit::{PATIENCE, Proxy, eventually, serve};
use serde_json::json;

async fn next(stream: &mut EventStream) -> Option<Result<Event, Error>> {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("an event in time")
}

fn quick() -> Reconnect {
    Reconnect::default()
        .delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
}

fn value(n: u64) -> Event {
    Event::Progress(json!({ "n": n }))
}

#[tokio::test]
async fn a_feed_answer_names_its_epoch_and_where_it_starts() {
    let feed = Feed::new();
    let addr = serve(app(&feed)).await;
    for n in 1..=3 {
        feed.publish(json!({ "n": n })).await.unwrap();
    }
    for format in Format::ALL {
        let response = follow(addr, format, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let epoch = response.headers()[STREAM_ID_HEADER].to_str().unwrap();
        let point: ResumePoint = response.headers()[RESUME_POINT_HEADER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(point.stream.to_string(), epoch, "{format}");
        assert_eq!(
            point.received, 3,
            "{format}: a live join starts after the last"
        );
        let resumed = follow(addr, format, Some(&format!("{epoch}.1"))).await;
        assert_eq!(
            resumed.headers()[RESUME_POINT_HEADER].to_str().unwrap(),
            format!("{epoch}.1"),
            "{format}"
        );
    }
}

#[tokio::test]
async fn the_client_resumes_a_feed_after_a_cut_in_every_format() {
    let feed = Feed::new();
    let proxy = Proxy::start(serve(app(&feed)).await).await;
    for format in Format::ALL {
        let before = feed.subscribers();
        let mut stream = Client::new()
            .get(format!("http://{}/feed", proxy.addr))
            .format(format)
            .reconnect(quick())
            .send()
            .await
            .unwrap();
        eventually("the subscriber to join", || {
            feed.subscribers() == before + 1
        })
        .await;
        let base = match stream.resume_point() {
            Some(point) => point.received,
            None => panic!("{format}: a feed answer is resumable"),
        };
        let mut events = Vec::new();
        for n in base + 1..=base + 5 {
            feed.publish(json!({ "n": n })).await.unwrap();
        }
        while events.len() < 5 {
            events.push(next(&mut stream).await.unwrap().unwrap());
        }
        proxy.cut();
        // Published while the client is away: it gets them from the window.
        for n in base + 6..=base + 10 {
            feed.publish(json!({ "n": n })).await.unwrap();
        }
        events.push(next(&mut stream).await.unwrap().unwrap());
        assert_eq!(
            stream.resume_point().map(|p| p.received),
            Some(base + 6),
            "{format}"
        );
        let expected: Vec<Event> = (base + 1..=base + 10).map(value).collect();
        while events.len() < 10 {
            events.push(next(&mut stream).await.unwrap().unwrap());
        }
        assert_eq!(events, expected, "{format}: every packet once, in order");
        drop(stream);
        eventually("the subscriber to leave", || feed.subscribers() == before).await;
    }
}

#[tokio::test]
async fn a_client_back_too_late_counts_the_skip_marker_as_what_it_missed() {
    let feed = Feed::new().window_packets(3).on_lag(OnLag::SkipAhead);
    let proxy = Proxy::start(serve(app(&feed)).await).await;
    for format in Format::ALL {
        let before = feed.subscribers();
        let mut stream = Client::new()
            .get(format!("http://{}/feed", proxy.addr))
            .format(format)
            .reconnect(quick())
            .send()
            .await
            .unwrap();
        eventually("the subscriber to join", || {
            feed.subscribers() == before + 1
        })
        .await;
        let base = stream.resume_point().unwrap().received;
        feed.publish(json!({ "n": base + 1 })).await.unwrap();
        assert_eq!(next(&mut stream).await.unwrap().unwrap(), value(base + 1));
        proxy.cut();
        // The client reconnects when next polled: by then the window has
        // let the first of these go.
        for n in base + 2..=base + 10 {
            feed.publish(json!({ "n": n })).await.unwrap();
        }
        let marker = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(
            marker,
            Event::Progress(json!({ "rivulet": "skipped", "missed": 9 })),
            "{format}"
        );
        assert_eq!(
            stream.resume_point().unwrap().received,
            base + 10,
            "{format}: the marker counts as the nine packets it stands for"
        );
        feed.publish(json!({ "n": base + 11 })).await.unwrap();
        assert_eq!(next(&mut stream).await.unwrap().unwrap(), value(base + 11));
        assert_eq!(stream.resume_point().unwrap().received, base + 11);
        drop(stream);
        eventually("the subscriber to leave", || feed.subscribers() == before).await;
    }
}
