//! The actix-web 4 adapter (feature `actix`): the same handlers, with the
//! same guarantees, on actix-web.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use rivulet::actix::Stream;
//!
//! async fn test(stream: Stream) -> HttpResponse {
//!     stream
//!         .run(|tx| async move {
//!             tx.send("Starting stream test").await?;
//!             for i in 1..=10 {
//!                 tx.send(format!("i={i}")).await?;
//!             }
//!             Ok("finished")
//!         })
//!         .await
//! }
//!
//! let app = App::new()
//!     .app_data(rivulet::Config::default())
//!     .route("/stream", web::get().to(test))
//!     .service(rivulet::actix::assets(rivulet::assets::DEFAULT_BASE));
//! ```
//!
//! What each piece is:
//!
//! * [`Stream`] and [`Resumable`]: extractors, with `run` (and `follow` for
//!   a [`Feed`](crate::feed::Feed)) answering an `HttpResponse`. The app's
//!   [`Config`](crate::Config), [`Resume`](crate::resume::Resume) and
//!   [`Shutdown`](crate::Shutdown) are found in its data
//!   (`App::app_data`).
//! * A client that leaves cancels the handler: actix-web drops the
//!   response's body, and the body's drop aborts the handler's task (its
//!   `Sender` starts failing), as under hyper. actix-web notices the leaving
//!   at the stream's next write (a packet, or a keep-alive: see
//!   [`Config::keep_alive`](crate::Config::keep_alive)); serve with
//!   `HttpServer::h1_allow_half_closed(false)` and it notices at once, even
//!   on a stream that writes nothing (by default actix-web takes a client's
//!   closed connection for a half-close and waits for the response).
//! * Rejections, as JSON 4xx: [`reject`] as the error handler of
//!   actix-web's extractor configs (`web::JsonConfig::default()
//!   .error_handler(rivulet::actix::reject)`, the same for `FormConfig`,
//!   `QueryConfig`, `PathConfig` and actix-multipart's
//!   `MultipartFormConfig`) refuses a bad request before the handler
//!   runs; for an extractor taken as a `Result<web::Json<T>,
//!   actix_web::Error>`, [`rejected`] turns the error into the stream's
//!   (before `run`: actix-web's error is not `Send`), and `?` inside `run`
//!   answers it with its 4xx before the first packet, or as an error packet
//!   after it. actix-web's payload errors (`JsonPayloadError`,
//!   `UrlencodedError`, `QueryPayloadError`, `PathError`, `PayloadError`)
//!   convert with `?` as they are; actix-multipart's `MultipartError` (a
//!   `Multipart` read field by field) through `map_err(rejected)?`.
//! * [`RequestBody`]: the request body, read from inside `run` (uploads
//!   with progress), under the guard `Config`'s layer puts on axum's bodies
//!   (a read timeout, a byte bound, bounded multipart heads: a JSON 4xx when
//!   broken); the stream holds its head until the body is read, as under
//!   `rivulet::serve`.
//! * [`ChatStream`] and [`ChatRequest`](crate::ai_sdk::ChatRequest): the
//!   AI SDK's chat (see [`ai_sdk`](crate::ai_sdk)), the same answers,
//!   resume and cancel as on axum.
//! * [`stop`]: a graceful stop that ends the streams with the
//!   shutting-down packet.
//!
//! Bodies that actix-web's own extractors read whole (`web::Json`,
//! `web::Form`, `web::Bytes`) are read before the handler runs, under
//! actix-web's payload limits and `client_request_timeout`.

mod ai_sdk;
mod assets;
pub(crate) mod rejection;
mod request;
mod request_body;
mod response;
mod shutdown;

pub use ai_sdk::ChatStream;
pub use assets::assets;
pub use rejection::{reject, rejected};
pub use request::{Resumable, Stream, StreamFuture};
pub use request_body::RequestBody;
pub use response::response;
pub use shutdown::stop;
