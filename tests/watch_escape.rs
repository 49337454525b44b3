//! `rivulet watch` escapes the control characters of server-controlled text,
//! so that a stream cannot move the cursor, clear the screen or set the
//! window title of the terminal it is watched in; `--raw` keeps them.

use axum::response::Response;
use rivulet::{Error, Stream};
use rivulet_testkit::{url, watch};

const HOSTILE: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31mred";

async fn hostile(stream: Stream) -> Response {
    stream
        .run(|tx| async move {
            tx.send(HOSTILE).await?;
            tx.send(serde_json::json!({ "nested": HOSTILE })).await?;
            Err::<(), _>(Error::from_message(HOSTILE))
        })
        .await
}

fn has_controls(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

#[tokio::test]
async fn control_characters_from_the_server_are_printed_escaped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(hostile));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let run = watch(&[&url(addr, "/")]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(!has_controls(&run.stdout), "{:?}", run.stdout);
    assert!(!has_controls(&run.stderr), "{:?}", run.stderr);
    assert_eq!(
        run.lines()[0],
        r"\u001b[2J\u001b]0;pwned\u0007\u009b31mred",
        "{run:?}"
    );
    assert!(run.stderr.contains(r"\u001b[2J"), "{run:?}");

    // --json stays valid JSON and means the same text.
    let run = watch(&["--json", &url(addr, "/")]).await;
    assert!(!has_controls(&run.stdout), "{:?}", run.stdout);
    assert_eq!(run.objects()[0]["data"], HOSTILE);

    // --raw: the text as it came, for pipes; stderr is still escaped.
    let run = watch(&["--raw", &url(addr, "/")]).await;
    assert_eq!(run.lines()[0], HOSTILE);
    assert!(!has_controls(&run.stderr), "{:?}", run.stderr);
}
