//! Why a guarded request body failed ([`RequestBodyError`]), and how an
//! [`Error`] is found in the error an extractor reports for it.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

use super::Error;

/// Why a request body failed: found by [`Error::from_request_body`] in the
/// error an extractor reports.
#[derive(Debug)]
pub(crate) struct RequestBodyError {
    pub(crate) status: StatusCode,
    pub(crate) message: Cow<'static, str>,
}

impl fmt::Display for RequestBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestBodyError {}

impl Error {
    /// The error a guarded request body failed with, when `error` (or any
    /// error in its chain of sources) is one: its status (400 or 408) and its
    /// reason, for the user. `None` for every other error.
    ///
    /// ```
    /// # use axum::extract::multipart::MultipartError;
    /// fn upload_error(e: MultipartError) -> rivulet::Error {
    ///     rivulet::Error::from_request_body(&e)
    ///         .unwrap_or_else(|| rivulet::Error::new(e.status(), e.body_text()))
    /// }
    /// ```
    pub fn from_request_body(error: &(dyn std::error::Error + 'static)) -> Option<Error> {
        let mut current = Some(error);
        while let Some(error) = current {
            if let Some(body) = error.downcast_ref::<RequestBodyError>() {
                return Some(Error::new(body.status, body.message.clone()));
            }
            current = error.source();
        }
        None
    }
}
