//! The demo server, started for real on loopback, read by a real HTTP client.

use std::net::SocketAddr;

use rivulet::decode::{DecodeError, Event};
use rivulet::{ErrorPacket, Format};
use rivulet_testkit::{Reader, events, get, serve_with};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn demo() -> SocketAddr {
    serve_with(rivulet_cli::demo::serve_on).await
}

fn progress(v: Value) -> Event {
    Event::Progress(v)
}

#[tokio::test]
async fn stream_counts_to_ten_in_every_format() {
    let addr = demo().await;
    let mut expected = vec![progress(json!("Starting stream test"))];
    expected.extend((1..=10).map(|i| progress(json!(format!("i={i}")))));
    expected.push(Event::Done(Value::Null));
    for format in Format::ALL {
        assert_eq!(
            events(addr, "/stream?interval_ms=0", format).await,
            expected,
            "{format}"
        );
    }
}

#[tokio::test]
async fn status_sends_one_object() {
    let addr = demo().await;
    assert_eq!(
        events(addr, "/stream/status", Format::Sse).await,
        [
            progress(json!({"status": "ok", "count": 3, "items": ["alpha", "beta", "gamma"]})),
            Event::Done(Value::Null)
        ]
    );
}

#[tokio::test]
async fn process_reports_every_ten_items_and_a_summary() {
    let addr = demo().await;
    for format in Format::ALL {
        let got = events(addr, "/stream/process?items=30&interval_ms=1", format).await;
        assert_eq!(
            &got[..4],
            [
                progress(json!("Starting batch process")),
                progress(json!("Processed 10 items")),
                progress(json!("Processed 20 items")),
                progress(json!("Processed 30 items")),
            ]
        );
        let Event::Done(done) = &got[4] else {
            panic!("{got:?}")
        };
        assert_eq!(done["success"], json!(true));
        assert_eq!(done["processed"], json!(30));
        assert!(done["duration"].is_f64(), "duration is a float: {done}");
        assert_eq!(got.len(), 5);
    }
}

#[tokio::test]
async fn invalid_parameters_are_422_before_any_packet() {
    let addr = demo().await;
    for path in [
        "/stream/process?items=-1",
        "/stream/process?items=abc",
        "/stream/process?items=0",
        "/stream?interval_ms=soon",
        "/stream/riskyProcess?fail=2",
        "/stream/render?rows=0",
    ] {
        for format in Format::ALL {
            let response = get(addr, path, format).await;
            assert_eq!(response.status(), 422, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["status"], json!(422), "{path}: {body}");
            assert!(body["error"]["message"].is_string(), "{path}: {body}");
        }
    }
}

#[tokio::test]
async fn risky_process_fails_or_succeeds_as_asked() {
    let addr = demo().await;
    for format in Format::ALL {
        assert_eq!(
            events(addr, "/stream/riskyProcess?fail=1&interval_ms=0", format).await,
            [
                progress(json!("Starting risky operation")),
                Event::Error(ErrorPacket {
                    message: "Something went wrong!".into(),
                    status: 500,
                    error_id: None
                })
            ]
        );
        assert_eq!(
            events(addr, "/stream/riskyProcess?fail=0&interval_ms=0", format).await,
            [
                progress(json!("Starting risky operation")),
                progress(json!("Operation succeeded")),
                Event::Done(json!({"success": true}))
            ]
        );
    }
    // Without `fail` it is a coin toss; both outcomes are well-formed streams.
    let got = events(addr, "/stream/riskyProcess?interval_ms=0", Format::Sse).await;
    assert!(got.last().unwrap().is_final());
}

#[tokio::test]
async fn types_keep_their_shapes() {
    let addr = demo().await;
    for format in Format::ALL {
        let got = events(addr, "/stream/types?interval_ms=0", format).await;
        let shapes: Vec<&Value> = got
            .iter()
            .map(|e| match e {
                Event::Progress(v) | Event::Done(v) => v,
                Event::Error(e) => panic!("{e}"),
            })
            .collect();
        assert!(shapes[0].is_string());
        assert!(shapes[1].is_u64());
        assert!(shapes[2].is_f64());
        assert!(shapes[3].is_array());
        assert!(shapes[4].is_object());
        assert_eq!(shapes[5], &json!(true));
        assert!(shapes[6].is_null());
        assert_eq!(shapes[7], &json!("Grüße, naïve café — 水 🌊"));
        let Event::Done(all) = &got[8] else { panic!() };
        assert_eq!(all["unicode"], *shapes[7]);
        assert_eq!(all["float"], *shapes[2]);
    }
}

#[tokio::test]
async fn panic_becomes_a_generic_error_packet() {
    let addr = demo().await;
    for format in Format::ALL {
        let got = events(addr, "/stream/panic?interval_ms=0", format).await;
        assert_eq!(got[0], progress(json!("About to panic")));
        let Event::Error(error) = &got[1] else {
            panic!("{got:?}")
        };
        assert_eq!(error.message, rivulet::protocol::INTERNAL_ERROR_MESSAGE);
        assert!(error.error_id.is_some());
    }
}

#[tokio::test]
async fn render_sends_a_row_per_packet() {
    let addr = demo().await;
    let got = events(addr, "/stream/render?rows=5&interval_ms=0", Format::Ndjson).await;
    assert_eq!(got.len(), 6);
    for (i, event) in got[..5].iter().enumerate() {
        let Event::Progress(row) = event else {
            panic!()
        };
        assert_eq!(row["row"], json!(i + 1));
        assert_eq!(row["cells"].as_array().unwrap().len(), 3);
    }
    assert_eq!(got[5], Event::Done(json!({"rows": 5})));
}

#[tokio::test]
async fn upload_streams_its_hashing_and_the_digest() {
    let addr = demo().await;
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let digest: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let form = reqwest::multipart::Form::new()
        .text("note", "ignored")
        .part(
            "file",
            reqwest::multipart::Part::bytes(data.clone()).file_name("data.bin"),
        );
    let response = rivulet_testkit::client()
        .post(format!("http://{addr}/stream/upload"))
        .header("accept", "application/x-ndjson")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let got = Reader::new(response).rest().await;
    let (last, reports) = got.split_last().unwrap();
    assert!(!reports.is_empty(), "progress while hashing");
    let mut previous = 0;
    for report in reports {
        let Event::Progress(report) = report else {
            panic!()
        };
        let bytes = report["bytes"].as_u64().unwrap();
        assert!(bytes > previous && bytes <= data.len() as u64);
        previous = bytes;
    }
    assert_eq!(
        *last,
        Event::Done(json!({"bytes": data.len(), "sha256": digest}))
    );

    // Not multipart at all: a 4xx with a JSON reason, before any packet.
    let response = rivulet_testkit::client()
        .post(format!("http://{addr}/stream/upload"))
        .body("plain")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn a_truncated_stream_is_an_error_for_the_decoder() {
    let addr = demo().await;
    for format in Format::ALL {
        let mut reader = Reader::new(get(addr, "/stream/truncated", format).await);
        assert_eq!(
            reader.next().await.unwrap().unwrap(),
            progress(json!("partial"))
        );
        assert!(
            matches!(reader.next().await, Some(Err(DecodeError::Truncated))),
            "{format}"
        );
    }
}

#[tokio::test]
async fn the_client_files_are_served_with_etags() {
    let addr = demo().await;
    let client = rivulet_testkit::client();
    for name in [
        "stream.js",
        "parser.js",
        "transport.js",
        "resume.js",
        "callbacks.js",
        "share.js",
        "jquery.stream.js",
        "stream.d.ts",
    ] {
        let url = format!("http://{addr}/rivulet/{name}");
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let etag = response.headers()["etag"].clone();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with(if name.ends_with(".d.ts") {
                "application/typescript"
            } else {
                "text/javascript"
            }),
            "{name}: {content_type}"
        );
        let again = client
            .get(&url)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{name}");
    }
    let page = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("/rivulet/stream.js"));
}

/// The recorded streams in `fixtures/` are exactly what the server sends, so the
/// decoders tested against them (Rust and JavaScript) decode the real thing.
/// `RIVULET_RECORD=1 cargo test --test demo fixtures` records them anew.
#[tokio::test]
async fn fixtures_are_what_the_server_sends() {
    let addr = demo().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let record = std::env::var_os("RIVULET_RECORD").is_some();
    for (name, path) in FIXTURES {
        let mut expected_events = None;
        for format in Format::ALL {
            let mut reader = Reader::new(get(addr, path, format).await);
            let got = reader.rest().await;
            let file = dir.join(format!("{name}.{}", format.name()));
            if record {
                std::fs::write(&file, &reader.raw).unwrap();
            } else {
                let recorded =
                    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                assert!(
                    recorded == reader.raw,
                    "{} differs from the server's stream",
                    file.display()
                );
            }
            match &expected_events {
                None => expected_events = Some(got),
                Some(first) => assert_eq!(first, &got, "{name}: {format} decodes like SSE"),
            }
        }
        let events_file = dir.join(format!("{name}.events.json"));
        let events = expected_events.unwrap();
        if record {
            let mut text = serde_json::to_string_pretty(&events).unwrap();
            text.push('\n');
            std::fs::write(&events_file, text).unwrap();
        } else {
            let recorded: Vec<Event> =
                serde_json::from_slice(&std::fs::read(&events_file).unwrap()).unwrap();
            assert_eq!(recorded, events, "{}", events_file.display());
        }
    }
}

const FIXTURES: &[(&str, &str)] = &[
    ("stream", "/stream?interval_ms=0"),
    ("status", "/stream/status"),
    ("types", "/stream/types?interval_ms=0"),
    ("risky-fail", "/stream/riskyProcess?fail=1&interval_ms=0"),
    ("risky-ok", "/stream/riskyProcess?fail=0&interval_ms=0"),
    ("render", "/stream/render?rows=3&interval_ms=0"),
];
