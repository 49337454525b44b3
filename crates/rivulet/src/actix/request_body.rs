//! A request body a stream's handler can read: actix-web's `Payload` lives
//! on its worker's thread (it is not `Send`), and a handler runs on a task
//! of its own. [`body`] hands the payload's chunks over, one at a time: the
//! worker reads the next chunk only once the handler has taken the last, so
//! at most two chunks wait between the client and the handler.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::web;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::error::Error;

/// The chunks of a request body, for a stream's handler: a
/// `futures::Stream` of `Result<Bytes, rivulet::Error>` (a broken body is a
/// 4xx with its reason). Dropped (the handler ended, or its client left),
/// it stops reading the body.
#[derive(Debug)]
pub struct RequestBody {
    chunks: mpsc::Receiver<Result<Bytes, Error>>,
}

/// The request body `payload`, readable from a stream's handler:
///
/// ```
/// use actix_web::{HttpResponse, web};
/// use futures::StreamExt;
/// use rivulet::actix::Stream;
///
/// async fn upload(stream: Stream, payload: web::Payload) -> HttpResponse {
///     let mut body = rivulet::actix::body(payload);
///     stream
///         .run(|tx| async move {
///             let mut bytes = 0;
///             while let Some(chunk) = body.next().await {
///                 bytes += chunk?.len();
///                 tx.send(serde_json::json!({ "bytes": bytes })).await?;
///             }
///             Ok(bytes)
///         })
///         .await
/// }
/// ```
pub fn body(payload: web::Payload) -> RequestBody {
    let (tx, chunks) = mpsc::channel(1);
    actix_web::rt::spawn(async move {
        let mut payload = payload;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(Error::from);
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    RequestBody { chunks }
}

impl futures::Stream for RequestBody {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.poll_recv(cx)
    }
}
