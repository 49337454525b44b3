//! The one way a request is refused before its stream begins: the error
//! object as the body, and `Retry-After` on a `503` so that clients (and
//! proxies) know when to come back.

use std::borrow::Cow;

use crate::response::{IntoResponse, Response};
use http::header::RETRY_AFTER;
use http::{HeaderValue, StatusCode};

use super::Error;

/// What a client refused with `503` is told to wait, in seconds.
const RETRY_AFTER_SECS: &str = "5";

/// Refuses a request with `status` and `message`; a `503` carries
/// `Retry-After`.
pub(crate) fn refuse(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Response {
    let mut response = Error::new(status, message).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    }
    response
}

/// A `503` with `Retry-After`: the server is busy or a store cannot be
/// reached, and the same request may succeed later.
pub(crate) fn retry_later(message: impl Into<Cow<'static, str>>) -> Response {
    refuse(StatusCode::SERVICE_UNAVAILABLE, message)
}
