//! # Rivulet
//!
//! Stream packets from an axum handler to a browser over one long HTTP response:
//! progress, partial results and log lines as they happen, then a final packet
//! (the handler's return value) or an error.
//!
//! ```
//! use axum::{Router, routing::get};
//! use rivulet::Stream;
//! use std::time::Duration;
//!
//! async fn test(stream: Stream) -> axum::response::Response {
//!     stream
//!         .run(|tx| async move {
//!             tx.send("Starting stream test").await?;
//!             for i in 1..=10 {
//!                 tx.send(format!("i={i}")).await?;
//!                 tokio::time::sleep(Duration::from_secs(1)).await;
//!             }
//!             Ok(())
//!         })
//!         .await
//! }
//!
//! let app: Router = Router::new().route("/stream", get(test));
//! ```
//!
//! In the browser: `createStream('/stream').progress(p => …).done(f => …).start()`
//! with the module that [`assets::router`] serves (the npm package
//! `rivulet-client` holds the same files).
//!
//! Request bodies: take `Result<Json<T>, JsonRejection>` (or `Form`, `Query`,
//! `Multipart`) and write `let Json(body) = body?;` inside `run`; a bad body is
//! then a 4xx with its reason, in the protocol's error shape ([`rejection`]).
//!
//! Frameworks: axum through the default feature `axum` (the extractors above),
//! actix-web 4 through the feature `actix` (`rivulet::actix`), and any
//! hyper or tower service through the core itself ([`response`]).
//!
//! The data path, one file per step: handler → [`Sender`] (encodes each packet
//! in the stream's [`Format`]) → a bounded buffer (backpressure) → the response
//! body (joins ready packets, writes keep-alives, cancels the handler when the
//! client leaves) → hyper. The wire formats are specified in `docs/protocol.md`;
//! [`decode`] reads all of them back.
//!
//! Resumable streams ([`resume`]: a job that outlives its connection) and
//! live feeds ([`feed`]: one producer, many subscribers) keep their packets
//! in one kind of [`history`], in memory or in Redis; one replay path turns
//! its stored packets into frames in every wire format.

#![forbid(unsafe_code)]
#![warn(unreachable_pub, missing_debug_implementations, missing_docs)]

#[cfg(feature = "actix")]
pub mod actix;
#[cfg(any(feature = "axum", feature = "actix"))]
pub mod ai_sdk;
pub mod assets;
#[cfg(feature = "axum")]
mod axum;
#[cfg(feature = "client")]
pub mod client;
mod config;
pub mod decode;
mod error;
pub mod feed;
pub mod history;
pub mod metrics;
pub mod protocol;
#[cfg(feature = "redis")]
pub mod redis_conn;
mod replay;
mod request;
pub mod response;
pub mod resume;
#[cfg(feature = "serve")]
pub mod serve;
mod shutdown;
mod stream;

#[cfg(feature = "axum")]
pub use config::RequestGuard;
pub use config::{
    Config, DEFAULT_BUFFER, DEFAULT_FIRST_PACKET_WAIT, DEFAULT_KEEP_ALIVE,
    DEFAULT_MAX_PACKET_BYTES, DEFAULT_REQUEST_BODY_TIMEOUT,
};
pub use error::{Error, SendError, rejection};
pub use protocol::error_packet::ErrorPacket;
pub use protocol::format::{Format, UnknownFormat};
pub use request::MAX_MULTIPART_HEAD;
#[cfg(feature = "serve")]
pub use serve::serve;
pub use shutdown::Shutdown;
pub use stream::Stream;
pub use stream::sender::Sender;

/// The crate README's quick start, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
