//! Resumable streams: the job outlives its connection, and a client that comes
//! back with `Last-Event-ID` gets every packet it missed, then the live ones,
//! each exactly once and in order, then the final packet.
//!
//! A handler opts in by taking [`Resumable`] instead of [`Stream`](crate::Stream):
//!
//! ```
//! use axum::{Extension, Router, response::Response, routing::get};
//! use rivulet::resume::{MemoryStore, Resumable, Resume};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! async fn durable(stream: Resumable) -> Response {
//!     stream
//!         .run(|tx| async move {
//!             for i in 1..=100 {
//!                 tokio::time::sleep(Duration::from_millis(100)).await;
//!                 tx.send(format!("item {i}")).await?;
//!             }
//!             Ok(json!({ "processed": 100 }))
//!         })
//!         .await
//! }
//!
//! let resume = Resume::new(MemoryStore::new()).grace(Duration::from_secs(30));
//! let app: Router = Router::new()
//!     // DELETE with a resume point cancels the job (see below).
//!     .route("/stream/durable", get(durable).delete(durable))
//!     .layer(Extension(resume));
//! ```
//!
//! How it works:
//!
//! * The handler runs on a task of its own, detached from the connection. Its
//!   packets go to a [`Store`], numbered 1, 2, 3, … and kept as JSON, so that
//!   a connection in any wire format can replay them.
//! * Every connection reads the stream from the store. SSE events carry the id
//!   `<stream id>.<number>`; every response carries the headers
//!   `Rivulet-Stream-Id` and `Rivulet-Resume-Point` (the point it starts
//!   after), from which NDJSON and legacy clients build the same resume point
//!   (`<stream id>.<packets received>`). A browser `EventSource` resumes on
//!   its own.
//! * When no client has been connected for the grace period, the job is stopped
//!   (its future dropped, as for a plain stream whose client left) and the
//!   stream ends with an error packet saying so.
//! * A finished stream stays in the store for a TTL: a client that missed the
//!   end still gets it. After that, and for a client that already has the final
//!   packet, a resume is answered `204 No Content`.
//! * With a store shared by several servers (`RedisStore`, feature `redis`),
//!   any of them can serve a resume. The server running the job holds a lease;
//!   if it dies, the first reader to find the lease run out ends the stream
//!   with a stored error packet saying the job was lost, which every later
//!   resume gets too.
//! * A `DELETE` on the same route carrying a resume point cancels the stream,
//!   on whichever server runs its job: [`Resumable::run`] answers it
//!   (`202`, or `204` when nothing runs) without calling the handler; the job
//!   is dropped within a second and every reader gets the final packet "the
//!   stream was cancelled". Closing a connection never cancels.
//! * A stream may be named after something its clients know (a chat's id):
//!   [`Resumable::id`] with [`StreamId::named`] starts the job under that
//!   name (`409` while a job runs under it; an ended one is replaced), and
//!   [`Resumable::resume_from`] lets a route whose URL holds the name resume
//!   or cancel it. [`Resumable::encoding`] writes it in another SSE dialect
//!   ([`Encoding`]); [`ai_sdk`](crate::ai_sdk) does all three for the AI
//!   SDK's chat.
//! * Resuming (and cancelling) checks that the client may: the owner given with
//!   [`Resumable::owner`] must match, or the hook set with
//!   [`Resume::authorize`] decides.
//!
//! The wire side is specified in `docs/protocol.md` ("Resumable streams").

mod connection;
mod encoding;
mod memory;
mod producer;
#[cfg(feature = "redis")]
mod redis;
mod request;
mod resumable;
mod settings;
mod store;

pub use crate::protocol::{
    InvalidId, LAST_EVENT_ID_PARAM, ResumePoint, STREAM_ID_HEADER, StreamId,
};
pub use encoding::Encoding;
pub use memory::{
    DEFAULT_MAX_BYTES, DEFAULT_MAX_PACKETS_PER_STREAM, DEFAULT_MAX_STREAMS, MemoryStore,
};
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use request::ResumeRequest;
pub use resumable::Resumable;
pub use settings::{DEFAULT_LEASE, DEFAULT_RECONNECT_GRACE, DEFAULT_TTL, Resume};
pub use store::{Status, Store, StoreError};

use settings::Settings;
