//! actix-web's request rejections as stream errors: a bad body, query or
//! path keeps its 4xx status and its reason, answered with the JSON error
//! body every early error has (`{"error": {"message": …, "status": …}}`).
//! How a handler uses them: the [module docs](super).

use actix_web::{HttpRequest, ResponseError};

use super::response::response;
use crate::error::Error;
use crate::error::rejection::actix_status;

/// An extractor's error as a stream [`Error`]: a client error keeps its
/// status and reason; any other is internal (logged under an error id).
pub fn rejected(error: actix_web::Error) -> Error {
    stream_error(error.as_response_error().status_code(), error.to_string())
}

/// An error handler for actix-web's extractor configs (`JsonConfig`,
/// `FormConfig`, `QueryConfig`, `PathConfig`): the rejection is answered with
/// its status and the JSON error body.
///
/// ```
/// use actix_web::{App, web};
///
/// let app = App::new()
///     .app_data(web::JsonConfig::default().error_handler(rivulet::actix::reject))
///     .app_data(web::QueryConfig::default().error_handler(rivulet::actix::reject));
/// ```
pub fn reject<E>(error: E, _request: &HttpRequest) -> actix_web::Error
where
    E: ResponseError + 'static,
{
    let answer = stream_error(error.status_code(), error.to_string()).into_http_response();
    actix_web::error::InternalError::from_response(error, response(answer)).into()
}

/// A client error keeps its status and reason; any other is internal.
fn stream_error(status: actix_web::http::StatusCode, reason: String) -> Error {
    let status = actix_status(status);
    if status.is_client_error() {
        Error::new(status, reason)
    } else {
        Error::internal(reason).with_status(status)
    }
}
