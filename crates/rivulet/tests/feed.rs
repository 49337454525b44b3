//! Live feeds on one server: fan-out to many subscribers, a subscriber that
//! stops reading, resume within and beyond the window, closing, authorization.
//! Real servers on loopback, real HTTP clients.

use http::StatusCode;
use rivulet::decode::Event;
use rivulet::feed::{Feed, OnLag, WINDOW_PASSED_MESSAGE};
use rivulet::{Error, Format};
use rivulet_testkit::feed::{app, follow, last_id, take};
use rivulet_testkit::{PATIENCE, Reader, client, eventually, serve};
use serde_json::{Value, json};

async fn server(feed: &Feed) -> std::net::SocketAddr {
    serve(app(feed)).await
}

fn progress(values: impl IntoIterator<Item = u64>) -> Vec<Event> {
    values
        .into_iter()
        .map(|n| Event::Progress(json!({ "n": n })))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_subscribers_get_every_packet_in_order_in_their_own_format() {
    const SUBSCRIBERS: usize = 1000;
    const PACKETS: u64 = 50;
    let feed = Feed::new();
    let addr = server(&feed).await;
    let mut readers = Vec::new();
    for i in 0..SUBSCRIBERS {
        let format = Format::ALL[i % 3];
        readers.push(tokio::spawn(async move {
            let response = follow(addr, format, None).await;
            assert_eq!(response.status(), StatusCode::OK);
            Reader::new(response).rest().await
        }));
    }
    eventually("every subscriber to join", || {
        feed.subscribers() == SUBSCRIBERS
    })
    .await;
    for n in 1..=PACKETS {
        feed.publish(json!({ "n": n })).await.unwrap();
    }
    feed.close(json!({ "total": PACKETS })).await.unwrap();
    let mut expected = progress(1..=PACKETS);
    expected.push(Event::Done(json!({ "total": PACKETS })));
    for (i, reader) in readers.into_iter().enumerate() {
        let events = tokio::time::timeout(PATIENCE, reader)
            .await
            .expect("the stream ends in time")
            .unwrap();
        assert_eq!(events, expected, "subscriber {i} ({})", Format::ALL[i % 3]);
    }
    eventually("subscribers to be let go", || feed.subscribers() == 0).await;
}

#[tokio::test]
async fn an_event_source_that_comes_back_gets_what_it_missed_once_then_the_live_packets() {
    let feed = Feed::new();
    let addr = server(&feed).await;
    let mut first = Reader::new(follow(addr, Format::Sse, None).await);
    eventually("the subscriber to join", || feed.subscribers() == 1).await;
    for n in 1..=5 {
        feed.publish(json!({ "n": n })).await.unwrap();
    }
    assert_eq!(take(&mut first, 5).await, progress(1..=5));
    let point = last_id(&first.raw);
    drop(first);
    eventually("the subscriber to leave", || feed.subscribers() == 0).await;
    for n in 6..=9 {
        feed.publish(json!({ "n": n })).await.unwrap();
    }
    for format in Format::ALL {
        let mut again = Reader::new(follow(addr, format, Some(&point)).await);
        assert_eq!(take(&mut again, 4).await, progress(6..=9), "{format}");
        if format == Format::Sse {
            assert!(
                last_id(&again.raw).ends_with(".9"),
                "{}",
                last_id(&again.raw)
            );
        }
        let n = feed.publish(json!({ "n": 100 })).await.unwrap();
        assert_eq!(
            take(&mut again, 1).await,
            progress([100]),
            "{format}: live after"
        );
        assert_eq!(
            n,
            10 + Format::ALL.iter().position(|f| *f == format).unwrap() as u64
        );
    }
}

#[tokio::test]
async fn a_resume_point_beyond_the_window_is_answered_gone() {
    let feed = Feed::new().window_packets(3);
    let addr = server(&feed).await;
    let mut reader = Reader::new(follow(addr, Format::Sse, None).await);
    eventually("the subscriber to join", || feed.subscribers() == 1).await;
    feed.publish(1).await.unwrap();
    take(&mut reader, 1).await;
    let point = last_id(&reader.raw);
    drop(reader);
    for n in 2..=10 {
        feed.publish(n).await.unwrap();
    }
    // Kept no more: 410.
    let response = follow(addr, Format::Ndjson, Some(&point)).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], json!(WINDOW_PASSED_MESSAGE));
    // Another feed's point, or a number this feed has not reached: nothing
    // to resume here, as for a resumable stream.
    for id in [
        "0123456789abcdef0123456789abcdef.1".to_owned(),
        point.replace(".1", ".99"),
    ] {
        let response = follow(addr, Format::Ndjson, Some(&id)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{id}");
    }
    // Not a resume point at all (a bare epoch included): 400.
    let epoch = point.split('.').next().unwrap().to_owned();
    for id in ["12", epoch.as_str()] {
        let response = follow(addr, Format::Ndjson, Some(id)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["status"], json!(400), "{id}");
    }
    // Within the window it still works.
    let within = point.replace(".1", ".8");
    let mut reader = Reader::new(follow(addr, Format::Sse, Some(&within)).await);
    assert_eq!(
        take(&mut reader, 2).await,
        vec![Event::Progress(json!(9)), Event::Progress(json!(10))]
    );
}

#[tokio::test]
async fn the_window_keeps_what_fits_its_bytes() {
    // Each packet counts its JSON (a 1,000-character string: 1,002 bytes)
    // and 64 bytes of bookkeeping: three fit in 3,500 bytes, four do not.
    let feed = Feed::new().window_bytes(3_500);
    let addr = server(&feed).await;
    let mut reader = Reader::new(follow(addr, Format::Sse, None).await);
    eventually("the subscriber to join", || feed.subscribers() == 1).await;
    let big = |n: u32| format!("{n}{}", "x".repeat(999));
    feed.publish(big(1)).await.unwrap();
    take(&mut reader, 1).await;
    let point = last_id(&reader.raw);
    drop(reader);
    for n in 2..=6 {
        feed.publish(big(n)).await.unwrap();
    }
    let response = follow(addr, Format::Ndjson, Some(&point)).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let within = point.replace(".1", ".3");
    let mut reader = Reader::new(follow(addr, Format::Sse, Some(&within)).await);
    assert_eq!(
        take(&mut reader, 3).await,
        (4..=6)
            .map(|n| Event::Progress(json!(big(n))))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_feed_that_skips_ahead_marks_the_gap_instead_of_refusing() {
    let feed = Feed::new().window_packets(2).on_lag(OnLag::SkipAhead);
    let addr = server(&feed).await;
    let mut reader = Reader::new(follow(addr, Format::Sse, None).await);
    eventually("the subscriber to join", || feed.subscribers() == 1).await;
    feed.publish(1).await.unwrap();
    take(&mut reader, 1).await;
    let point = last_id(&reader.raw);
    drop(reader);
    for n in 2..=10 {
        feed.publish(n).await.unwrap();
    }
    let mut again = Reader::new(follow(addr, Format::Sse, Some(&point)).await);
    assert_eq!(
        take(&mut again, 1).await,
        vec![Event::Progress(
            json!({ "rivulet": "skipped", "missed": 9 })
        )]
    );
    feed.publish(11).await.unwrap();
    assert_eq!(take(&mut again, 1).await, vec![Event::Progress(json!(11))]);
}

#[tokio::test]
async fn closing_a_feed_ends_every_subscriber_with_its_final_packet() {
    let feed = Feed::new();
    let addr = server(&feed).await;
    let mut readers = Vec::new();
    for format in Format::ALL {
        readers.push(Reader::new(follow(addr, format, None).await));
    }
    eventually("every subscriber to join", || feed.subscribers() == 3).await;
    feed.publish("last words").await.unwrap();
    feed.close(json!({ "bye": true })).await.unwrap();
    let expected = vec![
        Event::Progress(json!("last words")),
        Event::Done(json!({ "bye": true })),
    ];
    for mut reader in readers {
        assert_eq!(reader.rest().await, expected);
    }
    assert!(matches!(
        feed.publish(1).await,
        Err(rivulet::feed::FeedError::Closed)
    ));
    // A latecomer gets the final packet; one that has it gets nothing.
    let mut late = Reader::new(follow(addr, Format::Sse, None).await);
    assert_eq!(late.rest().await, vec![Event::Done(json!({ "bye": true }))]);
    let done_id = last_id(&late.raw);
    let response = follow(addr, Format::Sse, Some(&done_id)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_authorization_hook_decides_who_may_follow() {
    let feed = Feed::new().authorize(|request| {
        if request.headers().get("x-user").is_some_and(|u| u == "ann") {
            Ok(())
        } else {
            Err(Error::new(StatusCode::FORBIDDEN, "not your feed"))
        }
    });
    let addr = server(&feed).await;
    let refused = follow(addr, Format::Sse, None).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["message"], json!("not your feed"));
    let allowed = client()
        .get(format!("http://{addr}/feed"))
        .header("x-user", "ann")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(feed.subscribers(), 1);
}

#[tokio::test]
async fn a_subscriber_that_leaves_is_let_go_without_a_publish() {
    let feed = Feed::new();
    let addr = server(&feed).await;
    let response = follow(addr, Format::Ndjson, None).await;
    eventually("the subscriber to join", || feed.subscribers() == 1).await;
    drop(response);
    eventually("the subscriber to be let go", || feed.subscribers() == 0).await;
}

#[tokio::test]
async fn a_shutdown_ends_every_subscriber_with_its_error_packet() {
    let shutdown = rivulet::Shutdown::new();
    let feed = Feed::new();
    let config = rivulet::Config::default().shutdown(&shutdown);
    let addr = serve(app(&feed).layer(config)).await;
    let mut readers = Vec::new();
    for format in Format::ALL {
        readers.push(Reader::new(follow(addr, format, None).await));
    }
    eventually("every subscriber to join", || feed.subscribers() == 3).await;
    shutdown.end_streams();
    for mut reader in readers {
        let Some(Ok(Event::Error(error))) = reader.next().await else {
            panic!("an error packet");
        };
        assert_eq!(error.status, 503);
        assert_eq!(error.message, rivulet::protocol::SHUTDOWN_MESSAGE);
        assert!(reader.next().await.is_none());
    }
    eventually("subscribers to be let go", || feed.subscribers() == 0).await;
    let refused = follow(addr, Format::Sse, None).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
}
