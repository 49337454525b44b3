//! The core's answers as actix-web responses: the core [`Body`] is read as a
//! `MessageBody`, and the head is copied into actix-web's types (it speaks
//! `http` 0.2, the core `http` 1).
//!
//! A client that leaves: actix-web drops the response, and with it the
//! [`Body`], whose drop aborts the handler's task (the same path as under
//! hyper).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::HttpResponse;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use bytes::Bytes;
use http_body::Body as _;

use crate::error::Error;
use crate::response::{Body, Response};

/// The core's answer ([`Stream::respond`](crate::Stream::respond),
/// [`Error::into_http_response`], [`Asset::respond`](crate::assets::Asset::respond))
/// as actix-web's response.
pub fn response(response: Response) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let status =
        StatusCode::from_u16(parts.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut answer = HttpResponse::with_body(status, body);
    let headers = answer.headers_mut();
    for (name, value) in &parts.headers {
        // Both crates accept the same bytes: the copies never fail.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    answer.map_into_boxed_body()
}

impl MessageBody for Body {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        if self.is_end_stream() {
            return BodySize::Sized(0);
        }
        match self.size_hint().exact() {
            Some(length) => BodySize::Sized(length),
            None => BodySize::Stream,
        }
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        // The core's bodies have data frames only.
        loop {
            match std::task::ready!(Pin::new(&mut *self).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Some(Err(never)) => match never {},
            }
        }
    }
}

/// A failed publish's answer: see
/// [`FeedError::into_http_response`](crate::feed::FeedError::into_http_response).
impl actix_web::Responder for crate::feed::FeedError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &actix_web::HttpRequest) -> HttpResponse {
        response(self.into_http_response())
    }
}

/// An error answered as a response of its own: its status and the JSON body
/// `{"error": <error object>}`, as before a stream's first packet.
impl actix_web::Responder for Error {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _request: &actix_web::HttpRequest) -> HttpResponse {
        response(self.into_http_response())
    }
}
