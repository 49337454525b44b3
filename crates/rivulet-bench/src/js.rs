//! Scenario 5: the browser client's parser. `js-parser` records a stream from
//! the Rivulet server and times `js/parser.js` against `eventsource-parser` on
//! it in Node (js/bench/parser.bench.js); `js-heap` streams a large response
//! into `createStream` in headless Chromium and reads the JS heap around it
//! (js/bench/heap.bench.js).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Query;
use axum::response::{Html, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::peers::{Peer, Servers};
use crate::wire::{Response as HttpResponse, connect};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bench-only routes of the browser check: the page, the client's modules
/// and a stream of ~1 KiB packets that runs to `mb` megabytes.
pub fn routes() -> Router {
    Router::new()
        .route("/heap", get(Html(PAGE)))
        .route("/bulk", get(bulk))
        .merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE))
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>rivulet heap check</title>
<script type="module">
import { createStream } from '/rivulet/stream.js';
window.runStream = (url) => new Promise((resolve, reject) => {
  let packets = 0;
  createStream(url)
    .progress(() => { packets += 1; })
    .done(() => resolve(packets))
    .error((xhr, type, message) => reject(new Error(`${type}: ${message}`)))
    .start();
});
window.ready = true;
</script>
"#;

#[derive(Deserialize)]
struct Bulk {
    mb: u64,
}

#[derive(Serialize)]
struct Chunk {
    seq: u64,
    text: &'static str,
}

fn filler() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| "rivulet ".repeat(125))
}

async fn bulk(stream: rivulet::Stream, Query(q): Query<Bulk>) -> Response {
    let packets = q.mb * 1_000_000 / 1_024;
    stream
        .run(move |tx| async move {
            for seq in 0..packets {
                tx.send(Chunk {
                    seq,
                    text: filler(),
                })
                .await?;
            }
            Ok(packets)
        })
        .await
}

/// Records `n` packets from the Rivulet server (the response body, de-chunked).
async fn record(servers: &Servers, n: u64) -> Vec<u8> {
    let (addr, path) = servers.target(Peer::Rivulet, "", &format!("n={n}"));
    let stream = connect(addr, 0).await.expect("connect");
    let mut response = HttpResponse::get(stream, &path, 256 * 1024)
        .await
        .expect("response");
    let mut body = Vec::new();
    response
        .read_to_end(&mut |bytes| body.extend_from_slice(bytes))
        .await
        .expect("read");
    body
}

fn node(script: &str, args: &[String]) {
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("js/bench").join(script))
        .args(args)
        .current_dir(repo_root().join("js"));
    crate::sys::unpin_on_exec(&mut command);
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("node {script} failed: {status}"),
        Err(e) => panic!("node {script} did not start: {e} (is Node installed?)"),
    }
}

pub async fn run_parser(servers: &Servers, quick: bool) {
    let n = if quick { 20_000 } else { 200_000 };
    let body = record(servers, n).await;
    let path = std::env::temp_dir().join(format!("rivulet-bench-{}.sse", std::process::id()));
    std::fs::write(&path, &body).expect("write the recorded stream");
    println!(
        "== js-parser: a recorded Rivulet SSE stream ({n} packets, {:.1} MB) in Node",
        body.len() as f64 / 1e6
    );
    let mut args = vec![path.display().to_string()];
    if quick {
        args.push("--quick".into());
    }
    node("parser.bench.js", &args);
    let _ = std::fs::remove_file(&path);
}

pub async fn run_heap(servers: &Servers, quick: bool) {
    let mb = if quick { 20 } else { 200 };
    let (addr, _) = servers.target(Peer::Rivulet, "", "");
    println!("== js-heap: {mb} MB through createStream() in headless Chromium");
    node("heap.bench.js", &[format!("http://{addr}"), mb.to_string()]);
}
