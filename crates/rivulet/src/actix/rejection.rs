//! actix-web's request rejections as stream errors: a bad body, query or
//! path keeps its 4xx status and its reason, answered with the JSON error
//! body every early error has (`{"error": {"message": …, "status": …}}`).
//! How a handler uses them: the [module docs](super).

use std::any::Any;

use actix_multipart::MultipartError;
use actix_web::{HttpRequest, ResponseError};

use super::response::response;
use crate::error::Error;
use crate::error::rejection::{actix_reason, actix_status};

/// An extractor's error as a stream [`Error`]: a client error keeps its
/// status and reason; any other is internal (logged under an error id).
///
/// Takes actix-web's `Error` and any error that converts into it, such as
/// actix-multipart's `MultipartError` (which is not `Send`, so `?` cannot
/// convert it by itself):
///
/// ```
/// use actix_multipart::Multipart;
/// use futures::TryStreamExt;
/// use rivulet::actix::rejected;
///
/// async fn field_names(mut multipart: Multipart) -> Result<Vec<String>, rivulet::Error> {
///     let mut names = Vec::new();
///     while let Some(field) = multipart.try_next().await.map_err(rejected)? {
///         names.push(field.name().unwrap_or_default().to_owned());
///     }
///     Ok(names)
/// }
/// ```
pub fn rejected(error: impl Into<actix_web::Error>) -> Error {
    let error = error.into();
    let reason = match error.as_error::<MultipartError>() {
        Some(multipart) => actix_reason(multipart),
        None => error.to_string(),
    };
    stream_error(error.as_response_error().status_code(), reason)
}

/// An error handler for actix-web's extractor configs (`JsonConfig`,
/// `FormConfig`, `QueryConfig`, `PathConfig`, and actix-multipart's
/// `MultipartFormConfig`): the rejection is answered with its status and the
/// JSON error body.
///
/// ```
/// use actix_multipart::form::MultipartFormConfig;
/// use actix_web::{App, web};
///
/// let app = App::new()
///     .app_data(web::JsonConfig::default().error_handler(rivulet::actix::reject))
///     .app_data(web::QueryConfig::default().error_handler(rivulet::actix::reject))
///     .app_data(MultipartFormConfig::default().error_handler(rivulet::actix::reject));
/// ```
///
/// actix-multipart refuses a request that is not `multipart/form-data`
/// before it looks for its config: take the `MultipartForm` as a
/// `Result<MultipartForm<T>, actix_web::Error>` and answer its error through
/// [`rejected`] for that one to be JSON too.
pub fn reject<E>(error: E, _request: &HttpRequest) -> actix_web::Error
where
    E: ResponseError + 'static,
{
    let reason = match (&error as &dyn Any).downcast_ref::<MultipartError>() {
        Some(multipart) => actix_reason(multipart),
        None => error.to_string(),
    };
    let answer = stream_error(error.status_code(), reason).into_http_response();
    actix_web::error::InternalError::from_response(error, response(answer)).into()
}

/// `error` as actix-web's error, answered with its status and JSON body.
pub(crate) fn refusal(error: Error) -> actix_web::Error {
    let reason = error.to_string();
    let answer = response(error.into_http_response());
    actix_web::error::InternalError::from_response(reason, answer).into()
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
