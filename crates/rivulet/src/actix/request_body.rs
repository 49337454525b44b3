//! A request body a stream's handler can read: actix-web's `Payload` lives
//! on its worker's thread (it is not `Send`), and a handler runs on a task
//! of its own. [`RequestBody`] hands the payload's chunks over, one at a
//! time: the worker reads the next chunk only once the handler has taken the
//! last, so at most two chunks wait between the client and the handler.
//!
//! The body is read under the same guard as on axum (see
//! [`request`](crate::request)): [`Config::request_body_timeout`] and
//! [`Config::max_request_bytes`] from the app's [`Config`], and bounded
//! multipart heads. And it is tracked as under `rivulet::serve`: the
//! [`Stream`](super::Stream) of the same request holds its response head
//! until the handler has read the body to its end, or dropped it (see
//! [`Config::full_duplex`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use bytes::Bytes;
use futures::StreamExt;
use http_body::{Body, Frame};
use tokio::sync::mpsc;

use super::request::parts;
use crate::config::Config;
use crate::error::{Error, RequestBodyError};
use crate::request::guard::guard;
use crate::request::tracked::{TrackedBody, track};

/// Extractor for the body of a request, read from a stream's handler (an
/// upload with progress): a `futures::Stream` of `Result<Bytes,
/// rivulet::Error>`. A body that stalls, goes over its limit or breaks is a
/// 4xx with its reason, which `?` answers as the HTTP status before the
/// first packet, or as an error packet after it. Dropped (the handler ended,
/// or its client left), it stops reading the body.
///
/// ```
/// use actix_web::HttpResponse;
/// use futures::StreamExt;
/// use rivulet::actix::{RequestBody, Stream};
///
/// async fn upload(stream: Stream, body: RequestBody) -> HttpResponse {
///     stream
///         .run(|tx| async move {
///             let mut body = body;
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
///
/// The stream's head and packets wait until the body has been read (see
/// [`Config::full_duplex`]): move the body into the handler, which reads or
/// drops it.
pub struct RequestBody {
    chunks: TrackedBody<Chunks>,
}

impl std::fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody").finish_non_exhaustive()
    }
}

impl FromRequest for RequestBody {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let head = parts(request);
        let config = Config::of_request(&head);
        let payload = payload.take();
        let empty = matches!(payload, Payload::None);
        let guarded = guard(PayloadBody(payload), &head.headers, config.allowance());
        let (tx, rx) = mpsc::channel(1);
        actix_web::rt::spawn(pump(guarded, tx));
        let (chunks, read) = track(Chunks(rx));
        // Found by the request's `Stream`, which is made after every
        // extractor of the handler has been (see `Stream::from_request`).
        // A request without a body has nothing to wait for.
        if !empty {
            request.extensions_mut().insert(read);
        }
        std::future::ready(Ok(RequestBody { chunks }))
    }
}

/// Reads `body` on the worker, a chunk at a time, until it ends, fails, or
/// the handler drops its end.
async fn pump<B>(body: B, tx: mpsc::Sender<Result<Bytes, Error>>)
where
    B: Body<Data = Bytes, Error = RequestBodyError>,
{
    let mut body = std::pin::pin!(body);
    loop {
        let frame = tokio::select! {
            frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)) => frame,
            () = tx.closed() => return,
        };
        let chunk = match frame {
            None => return,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => Ok(data),
                Err(_trailers) => continue,
            },
            Some(Err(error)) => Err(Error::new(error.status, error.message)),
        };
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

/// actix-web's payload as a body, for the guard.
struct PayloadBody(Payload);

impl Body for PayloadBody {
    type Data = Bytes;
    type Error = actix_web::error::PayloadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_next_unpin(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }
}

/// The chunks the worker hands over, as a body, for the tracking.
struct Chunks(mpsc::Receiver<Result<Bytes, Error>>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| chunk.map(Frame::data)))
    }
}

impl futures::Stream for RequestBody {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let frame = std::task::ready!(Pin::new(&mut self.chunks).poll_frame(cx));
        // The chunks are data frames only.
        Poll::Ready(frame.map(|frame| frame.map(|frame| frame.into_data().unwrap_or_default())))
    }
}
