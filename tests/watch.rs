//! `rivulet watch`, the real binary run as a subprocess, against the demo server
//! on loopback: every route, every format, every exit status.

use std::net::SocketAddr;

use rivulet::decode::Event;
use rivulet::{ErrorPacket, Format};
use rivulet_testkit::{
    finish, interrupt, next_line, serve_with, spawn_watch, spawn_watch_with_stdin, stdout_lines,
    url, watch, watch_command,
};
use serde_json::{Value, json};

/// The demo server, in this process, on a free loopback port.
async fn demo() -> SocketAddr {
    serve_with(rivulet_cli::demo::serve_on).await
}

/// A packet as `rivulet watch` prints it for people.
fn human(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Checks a route in every format, for people and with `--json`: the
/// packets, then the exit status.
async fn check_route(addr: SocketAddr, path: &str, expected: &[Event], code: i32) {
    let expected_lines: Vec<String> = expected
        .iter()
        .filter_map(|event| match event {
            Event::Progress(v) | Event::Done(v) => Some(human(v)),
            Event::Error(_) => None,
        })
        .collect();
    for format in ["sse", "ndjson", "legacy"] {
        let run = watch(&["--format", format, &url(addr, path)]).await;
        assert_eq!(run.lines(), expected_lines, "{path} in {format}: {run:?}");
        assert_eq!(run.code, Some(code), "{path} in {format}: {run:?}");

        let run = watch(&["--json", "--format", format, &url(addr, path)]).await;
        assert_eq!(run.events(), expected, "{path} in {format}: {run:?}");
        assert_eq!(run.code, Some(code), "{path} in {format}: {run:?}");
    }
}

fn progress(v: Value) -> Event {
    Event::Progress(v)
}

#[tokio::test]
async fn stream_counts_to_ten() {
    let addr = demo().await;
    let mut expected = vec![progress(json!("Starting stream test"))];
    expected.extend((1..=10).map(|i| progress(json!(format!("i={i}")))));
    expected.push(Event::Done(Value::Null));
    check_route(addr, "/stream?interval_ms=0", &expected, 0).await;
}

#[tokio::test]
async fn status_prints_its_object_as_compact_json() {
    let addr = demo().await;
    let run = watch(&[&url(addr, "/stream/status")]).await;
    assert_eq!(
        run.lines(),
        [
            r#"{"count":3,"items":["alpha","beta","gamma"],"status":"ok"}"#,
            "null"
        ]
    );
    check_route(
        addr,
        "/stream/status",
        &[
            progress(json!({"status": "ok", "count": 3, "items": ["alpha", "beta", "gamma"]})),
            Event::Done(Value::Null),
        ],
        0,
    )
    .await;
}

#[tokio::test]
async fn process_prints_progress_then_the_summary_last() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "legacy"] {
        let path = url(addr, "/stream/process?items=30&interval_ms=0");
        let run = watch(&["--format", format, &path]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let lines = run.lines();
        assert_eq!(
            lines[..4],
            [
                "Starting batch process",
                "Processed 10 items",
                "Processed 20 items",
                "Processed 30 items"
            ]
        );
        let summary: Value = serde_json::from_str(lines[4]).unwrap();
        assert_eq!(summary["success"], true);
        assert_eq!(summary["processed"], 30);
        assert_eq!(lines.len(), 5);

        let run = watch(&["--json", "--format", format, &path]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let objects = run.objects();
        assert_eq!(
            objects[0],
            json!({"type": "progress", "data": "Starting batch process"})
        );
        assert_eq!(objects[4]["type"], "done");
        assert_eq!(objects[4]["data"]["processed"], 30);
        assert_eq!(objects.len(), 5);
    }
}

#[tokio::test]
async fn an_error_packet_exits_1() {
    let addr = demo().await;
    check_route(
        addr,
        "/stream/riskyProcess?fail=1&interval_ms=0",
        &[
            progress(json!("Starting risky operation")),
            Event::Error(ErrorPacket {
                message: "Something went wrong!".into(),
                status: 500,
                error_id: None,
            }),
        ],
        1,
    )
    .await;
    let run = watch(&[&url(addr, "/stream/riskyProcess?fail=1&interval_ms=0")]).await;
    assert!(
        run.stderr.contains("Something went wrong! (status 500)"),
        "{run:?}"
    );

    check_route(
        addr,
        "/stream/riskyProcess?fail=0&interval_ms=0",
        &[
            progress(json!("Starting risky operation")),
            progress(json!("Operation succeeded")),
            Event::Done(json!({"success": true})),
        ],
        0,
    )
    .await;
}

#[tokio::test]
async fn a_panic_is_an_error_packet_with_an_id() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "hazaar"] {
        let run = watch(&[
            "--json",
            "--format",
            format,
            &url(addr, "/stream/panic?interval_ms=0"),
        ])
        .await;
        assert_eq!(run.code, Some(1), "{run:?}");
        let objects = run.objects();
        assert_eq!(
            objects[0],
            json!({"type": "progress", "data": "About to panic"})
        );
        assert_eq!(objects[1]["type"], "error");
        assert_eq!(objects[1]["data"]["message"], "internal error");
        assert_eq!(objects[1]["data"]["status"], 500);
        assert!(objects[1]["data"]["error_id"].is_string(), "{objects:?}");
        assert_eq!(objects.len(), 2);
    }
}

#[tokio::test]
async fn types_print_strings_plain_and_the_rest_as_json() {
    let addr = demo().await;
    // The packets recorded from the same route in fixtures/ (checked byte for
    // byte against the server by tests/demo.rs).
    let expected: Vec<Event> =
        serde_json::from_str(include_str!("../fixtures/types.events.json")).unwrap();
    check_route(addr, "/stream/types?interval_ms=0", &expected, 0).await;
    let run = watch(&[&url(addr, "/stream/types?interval_ms=0")]).await;
    assert_eq!(run.lines()[..3], ["Hello, stream", "42", "3.25"]);
    assert_eq!(run.lines()[7], "Grüße, naïve café — 水 🌊");
}

#[tokio::test]
async fn render_and_silent_streams() {
    let addr = demo().await;
    let mut rows: Vec<Event> = (1..=3u64)
        .map(|row| {
            progress(json!({
                "row": row,
                "cells": [format!("Item {row}"), row * row, format!("{:.3}", (row as f64).sqrt())],
            }))
        })
        .collect();
    rows.push(Event::Done(json!({"rows": 3})));
    check_route(addr, "/stream/render?rows=3&interval_ms=0", &rows, 0).await;
    check_route(
        addr,
        "/stream/silent?after_ms=0",
        &[progress(json!("finally")), Event::Done(Value::Null)],
        0,
    )
    .await;
}

#[tokio::test]
async fn an_upload_from_a_data_file() {
    use sha2::{Digest, Sha256};
    let addr = demo().await;
    let content: Vec<u8> = (0..600 * 1024u32).map(|i| (i % 251) as u8).collect();
    let sha256: String = Sha256::digest(&content)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    body.extend_from_slice(&content);
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    let file =
        std::env::temp_dir().join(format!("rivulet-watch-upload-{}.bin", std::process::id()));
    std::fs::write(&file, &body).unwrap();
    for format in ["sse", "ndjson", "legacy"] {
        // A body without -X is a POST.
        let run = watch(&[
            "--json",
            "--format",
            format,
            "-H",
            "Content-Type: multipart/form-data; boundary=XyZ",
            "--data-file",
            file.to_str().unwrap(),
            &url(addr, "/stream/upload"),
        ])
        .await;
        assert_eq!(run.code, Some(0), "{run:?}");
        // Progress comes as the server's chunks arrive: counts that grow.
        let mut events = run.events();
        assert_eq!(
            events.pop(),
            Some(Event::Done(
                json!({"bytes": content.len(), "sha256": sha256})
            )),
            "{format}"
        );
        let counts: Vec<u64> = events
            .iter()
            .map(|event| match event {
                Event::Progress(p) => p["bytes"].as_u64().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(!counts.is_empty(), "{format}: {run:?}");
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
        // The server holds its packets until the body is read, so the handler
        // reads at its own pace: its last report may come at the very end.
        assert!(
            *counts.last().unwrap() <= content.len() as u64,
            "{format}: {counts:?}"
        );
    }
    std::fs::remove_file(&file).unwrap();
}

#[tokio::test]
async fn method_headers_and_body_are_sent_as_given() {
    use axum::http::{HeaderMap, Method};
    use axum::response::Response;
    use rivulet::Stream;

    async fn echo(method: Method, headers: HeaderMap, stream: Stream, body: String) -> Response {
        stream
            .run(move |tx| async move {
                tx.send(method.as_str()).await?;
                for name in ["x-job", "content-type"] {
                    tx.send(headers.get(name).and_then(|v| v.to_str().ok()))
                        .await?;
                }
                Ok(body)
            })
            .await
    }
    let addr =
        rivulet_testkit::serve(axum::Router::new().route("/", axum::routing::any(echo))).await;

    let run = watch(&["-H", "X-Job: 7", "-d", r#"{"items":30}"#, &url(addr, "/")]).await;
    assert_eq!(
        run.lines(),
        ["POST", "7", "application/json", r#"{"items":30}"#],
        "{run:?}"
    );
    let run = watch(&[
        "-X",
        "PUT",
        "--header",
        "content-type: text/plain",
        "--data",
        "two\nlines",
        &url(addr, "/"),
    ])
    .await;
    // A string with a line break is printed as JSON, to keep one line per packet.
    assert_eq!(
        run.lines(),
        ["PUT", "null", "text/plain", r#""two\nlines""#],
        "{run:?}"
    );
    let run = watch(&[&url(addr, "/")]).await;
    assert_eq!(run.lines(), ["GET", "null", "null", ""], "{run:?}");

    // `--data-file -` reads standard input.
    let mut child = spawn_watch_with_stdin(&["--data-file", "-", &url(addr, "/")]);
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stdin, b"[1,2]")
        .await
        .unwrap();
    drop(stdin);
    let run = finish(child).await;
    assert_eq!(
        run.lines(),
        ["POST", "null", "application/json", "[1,2]"],
        "{run:?}"
    );
}

#[tokio::test]
async fn a_truncated_stream_exits_2() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "legacy"] {
        let path = url(addr, "/stream/truncated");
        let run = watch(&["--format", format, &path]).await;
        assert_eq!(run.code, Some(2), "{run:?}");
        assert_eq!(run.lines(), ["partial"]);
        assert!(
            run.stderr.contains("ended without a final packet"),
            "{run:?}"
        );

        let run = watch(&["--json", "--format", format, &path]).await;
        assert_eq!(run.code, Some(2), "{run:?}");
        let objects = run.objects();
        assert_eq!(objects[0], json!({"type": "progress", "data": "partial"}));
        assert_eq!(objects[1]["type"], "failure");
        assert_eq!(objects[1]["reason"], "truncated");
        assert_eq!(objects.len(), 2);
    }
}

#[tokio::test]
async fn a_422_before_the_stream_exits_2_with_the_reason() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "legacy"] {
        let path = url(addr, "/stream/process?items=-1");
        let run = watch(&["--format", format, &path]).await;
        assert_eq!(run.code, Some(2), "{run:?}");
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains("HTTP 422"), "{run:?}");
        assert!(
            run.stderr
                .contains("`items` must be a number from 1 to 100000, not `-1`"),
            "{run:?}"
        );

        let run = watch(&["--json", "--format", format, &path]).await;
        assert_eq!(run.code, Some(2), "{run:?}");
        let objects = run.objects();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0]["type"], "failure");
        assert_eq!(objects[0]["reason"], "http_status");
        assert_eq!(objects[0]["status"], 422);
        assert_eq!(objects[0]["error"]["status"], 422);
        assert_eq!(
            objects[0]["error"]["message"],
            "`items` must be a number from 1 to 100000, not `-1`"
        );
    }
}

#[tokio::test]
async fn a_quiet_server_trips_the_idle_timeout() {
    let addr = demo().await;
    // The timeout is far longer than a loaded machine needs to deliver the first
    // packet, and far shorter than the server stays quiet: the test checks which
    // comes first, not how fast.
    for format in ["sse", "ndjson", "legacy"] {
        // Nothing at all: not even the response head.
        let run = watch(&[
            "--timeout",
            "2",
            "--format",
            format,
            &url(addr, "/stream/silent?after_ms=600000"),
        ])
        .await;
        assert_eq!(run.code, Some(2), "{run:?}");
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains("nothing received for 2 s"), "{run:?}");

        // Quiet after the first packet.
        let run = watch(&[
            "--json",
            "--timeout",
            "2",
            "--format",
            format,
            &url(addr, "/stream?interval_ms=60000"),
        ])
        .await;
        assert_eq!(run.code, Some(2), "{run:?}");
        let objects = run.objects();
        assert_eq!(
            objects[0],
            json!({"type": "progress", "data": "Starting stream test"})
        );
        assert_eq!(objects[1]["reason"], "idle_timeout");
        assert_eq!(objects.len(), 2);
    }
}

#[tokio::test]
async fn ctrl_c_aborts_and_exits_130() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "legacy"] {
        let mut child = spawn_watch(&[
            "--json",
            "--format",
            format,
            &url(addr, "/stream/feed?interval_ms=10"),
        ]);
        let mut stdout = stdout_lines(&mut child);
        // Packets are arriving: the watch is under way.
        for seq in 1..=2 {
            let line = next_line(&mut stdout).await.expect("a packet");
            let object: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(object["type"], "progress");
            assert_eq!(object["data"]["seq"], seq);
        }
        interrupt(&child);
        let mut last = None;
        while let Some(line) = next_line(&mut stdout).await {
            last = Some(line);
        }
        let run = finish(child).await;
        assert_eq!(run.code, Some(130), "{run:?}");
        assert!(run.stderr.contains("interrupted"), "{run:?}");
        let last: Value = serde_json::from_str(&last.unwrap()).unwrap();
        assert_eq!(last["type"], "failure");
        assert_eq!(last["reason"], "interrupted");
    }
}

#[tokio::test]
async fn responses_that_are_not_streams_exit_2() {
    let addr = demo().await;
    let run = watch(&["--json", &url(addr, "/")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.objects()[0]["reason"], "not_a_stream");
    assert!(run.stderr.contains("is not a stream"), "{run:?}");

    let run = watch(&["--json", &url(addr, "/no/such/route")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.objects()[0]["reason"], "http_status");
    assert_eq!(run.objects()[0]["status"], 404);
}

#[tokio::test]
async fn an_unreachable_server_exits_2() {
    let (listener, addr) = rivulet_testkit::listen().await;
    drop(listener);
    let run = watch(&["--json", &url(addr, "/stream")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.objects()[0]["reason"], "transport");
    let run = watch(&[&url(addr, "/stream")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("rivulet watch: "), "{run:?}");
}

#[tokio::test]
async fn bad_arguments_exit_2() {
    for args in [
        &["-d", "x", "--data-file", "y", "http://127.0.0.1:1/"][..],
        &["--format", "xml", "http://127.0.0.1:1/"],
        &["--timeout", "0", "http://127.0.0.1:1/"],
        &["--timeout", "soon", "http://127.0.0.1:1/"],
        &["-H", "no colon", "http://127.0.0.1:1/"],
        &["--data-file", "/no/such/file", "http://127.0.0.1:1/"],
        &[],
    ] {
        let run = watch(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[tokio::test]
async fn help_explains_every_flag_with_an_example() {
    let run = watch(&["--help"]).await;
    assert_eq!(run.code, Some(0));
    for needle in [
        "-X, --request <METHOD>",
        "-H, --header <NAME: VALUE>",
        "-d, --data <BODY>",
        "--data-file <FILE>",
        "--format <FORMAT>",
        "[possible values: sse, ndjson, legacy, hazaar]",
        "--json",
        "--timeout <SECS>",
        "--no-reconnect",
        "--resume <POINT>",
        "Exit status:",
        "Progress bar:",
        "{\"done\": k, \"total\": n}",
    ] {
        assert!(run.stdout.contains(needle), "{needle} in:\n{}", run.stdout);
    }
    // Every flag's paragraph ends with an example.
    assert!(
        run.stdout.matches("Example: ").count() >= 8,
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn every_format_name_is_accepted() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "legacy", "hazaar", "NDJSON"] {
        let run = watch(&["--format", format, &url(addr, "/stream/status")]).await;
        assert_eq!(run.code, Some(0), "{format}: {run:?}");
        assert_eq!(run.lines().len(), 2);
    }
    // Every name parses to a format of the library.
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>(), Ok(format));
    }
}

#[tokio::test]
async fn broken_framing_exits_2() {
    let addr = demo().await;
    for format in ["sse", "ndjson", "legacy"] {
        let path = url(addr, "/stream/garbage");
        let run = watch(&["--format", format, &path]).await;
        assert_eq!(run.code, Some(2), "{format}: {run:?}");
        assert_eq!(run.lines(), ["fine"], "{format}");

        let run = watch(&["--json", "--format", format, &path]).await;
        assert_eq!(run.code, Some(2), "{format}: {run:?}");
        let objects = run.objects();
        assert_eq!(objects[0], json!({"type": "progress", "data": "fine"}));
        assert_eq!(objects[1]["type"], "failure");
        assert_eq!(objects[1]["reason"], "malformed");
        assert_eq!(objects.len(), 2);
    }
}

#[tokio::test]
async fn a_proxy_error_page_and_a_wrong_content_type_exit_2() {
    let addr = demo().await;
    let run = watch(&["--json", &url(addr, "/stream/html-error")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    let objects = run.objects();
    assert_eq!(objects[0]["reason"], "http_status");
    assert_eq!(objects[0]["status"], 502);
    assert_eq!(objects[0].get("error"), None, "no error object in HTML");
    assert!(run.stderr.contains("HTTP 502 Bad Gateway"), "{run:?}");

    let run = watch(&["--json", &url(addr, "/stream/wrong-type")]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert_eq!(run.objects()[0]["reason"], "not_a_stream");
    assert!(run.stderr.contains("text/plain"), "{run:?}");
}

#[tokio::test]
async fn logs_stay_off_stdout() {
    let addr = demo().await;
    let child = watch_command(&["--json", &url(addr, "/stream/status")])
        .env("RUST_LOG", "trace")
        .spawn()
        .unwrap();
    let run = finish(child).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert_eq!(run.events().len(), 2, "{run:?}");
}

/// `--resume` continues a resumable stream from a point another client reached:
/// the packets after it, once each, then the final packet.
#[tokio::test]
async fn resume_continues_a_durable_stream_where_another_client_left_it() {
    let addr = demo().await;
    let path = "/stream/durable?items=20&every=1&interval_ms=20";
    // A first client reads three packets and leaves; the job runs on.
    let mut first = reqwest::Client::new()
        .get(url(addr, path))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let mut raw = String::new();
    while raw.matches("\n\n").count() < 3 {
        let chunk = first.chunk().await.unwrap().expect("three packets");
        raw.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    drop(first);
    let point = raw
        .split("\n\n")
        .nth(2)
        .and_then(|event| event.lines().find_map(|l| l.strip_prefix("id: ")))
        .expect("the third event's id")
        .to_owned();

    let run = watch(&["--json", "--resume", &point, &url(addr, path)]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let objects = run.objects();
    let (last, progress) = objects.split_last().unwrap();
    let expected: Vec<Value> = (3..=20)
        .map(|i| json!({"type": "progress", "data": format!("Processed {i} items")}))
        .collect();
    assert_eq!(progress, expected, "packets 4 and on, once each");
    assert_eq!(last["type"], "done");
}
