//! Scenario `allocations`: heap allocations per packet on the resumable
//! path, in process, with no socket in the way: a `Resumable` job of
//! [`PACKETS`] packets on a `MemoryStore`, read by the client that starts it
//! (live: the producer appends while the connection reads), then replayed to
//! [`READERS`] clients resuming from `.0` (each reads every packet back from
//! the store). The axum router is called as a tower service and each
//! response body is read to its end; every allocation made meanwhile on the
//! thread is counted by the bench's global allocator ([`Counting`]).
//!
//! What it shows is what the engine costs per packet beyond the value's own
//! serialization: clones in the producer, a boxed future per store call, a
//! copy of each stored packet per reader.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use http::Request;
use http_body_util::BodyExt;
use rivulet::Format;
use rivulet::resume::{MemoryStore, Resumable, Resume, STREAM_ID_HEADER};
use serde_json::json;
use tower::ServiceExt;

use crate::stats::{Table, median};

/// Packets of the measured job: with its final one, within what a
/// `MemoryStore` keeps of a stream by default, so that it replays whole.
const PACKETS: u64 = 5_000;
/// Clients that replay the finished job.
const READERS: u64 = 10;

/// The system allocator, counting the allocations of the threads that ask
/// for it ([`count`]): the scenario runs on one thread, so nothing else
/// (another scenario's server, a helper thread) adds to its figures.
pub struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

fn record(size: usize) {
    // `try_with`: an allocation while the thread's locals are torn down is
    // not counted rather than a panic.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            BYTES.with(|n| n.set(n.get() + size as u64));
        }
    });
}

// SAFETY: every call goes to `System` unchanged; counting touches only
// thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as the caller's contract with `GlobalAlloc::alloc`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as the caller's contract with `GlobalAlloc::alloc_zeroed`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations and bytes allocated on this thread while `work` runs.
async fn count<T>(work: impl std::future::Future<Output = T>) -> (T, u64, u64) {
    ALLOCATIONS.with(|n| n.set(0));
    BYTES.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let out = work.await;
    COUNTING.with(|on| on.set(false));
    (out, ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get))
}

async fn job(stream: Resumable) -> Response {
    stream
        .run(|tx| async move {
            for i in 1..=PACKETS {
                tx.send(json!({ "i": i })).await?;
            }
            Ok(json!({ "total": PACKETS }))
        })
        .await
}

/// Reads `GET /job` (resuming after `point` when given) to its end: the
/// stream's id and the bytes read.
async fn read(app: &Router, point: Option<&str>) -> (String, usize) {
    let mut request = Request::get("/job");
    for (name, value) in Format::Sse.request_headers() {
        request = request.header(*name, *value);
    }
    if let Some(point) = point {
        request = request.header("last-event-id", point);
    }
    let request = request.body(Body::empty()).expect("a request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let id = response
        .headers()
        .get(STREAM_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a resumable stream's id: {response:?}"))
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body reads to its end");
    (id, body.to_bytes().len())
}

pub async fn run(quick: bool) {
    println!(
        "allocations: a resumable job of {PACKETS} packets on a MemoryStore, in process (no socket)"
    );
    let rounds = if quick { 2 } else { 5 };
    let app = Router::new()
        .route("/job", get(job))
        .layer(Extension(Resume::new(MemoryStore::new())));
    // Lazily built statics are built
    // before anything is counted.
    let (id, _) = read(&app, None).await;
    read(&app, Some(&format!("{id}.0"))).await;

    let (mut live, mut live_bytes, mut replay, mut replay_bytes) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let ((id, _), allocations, bytes) = count(read(&app, None)).await;
        live.push(allocations as f64 / PACKETS as f64);
        live_bytes.push(bytes as f64 / PACKETS as f64);
        let point = format!("{id}.0");
        let ((), allocations, bytes) = count(async {
            for _ in 0..READERS {
                read(&app, Some(&point)).await;
            }
        })
        .await;
        replay.push(allocations as f64 / (PACKETS * READERS) as f64);
        replay_bytes.push(bytes as f64 / (PACKETS * READERS) as f64);
    }
    let mut table = Table::new(["path", "allocations / packet", "bytes / packet"]);
    table.row(vec![
        "live: job + store + one reader".into(),
        format!("{:.2}", median(&live)),
        format!("{:.0}", median(&live_bytes)),
    ]);
    table.row(vec![
        format!("replay: per reader ({READERS} readers)"),
        format!("{:.2}", median(&replay)),
        format!("{:.0}", median(&replay_bytes)),
    ]);
    table.print();
}
