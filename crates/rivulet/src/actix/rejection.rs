//! actix-web's request rejections as stream errors: a bad body, query or
//! path keeps its 4xx status and its reason, answered with the JSON error
//! body every early error has (`{"error": {"message": …, "status": …}}`).
//! How a handler uses them: the [module docs](super).

use actix_web::error::{
    JsonPayloadError, PathError, PayloadError, QueryPayloadError, UrlencodedError,
};
use actix_web::{HttpRequest, ResponseError};
use http::StatusCode;

use super::response::response;
use crate::error::Error;
use crate::error::rejection::{Boxed, classify};

/// The [`Error`] for one of actix-web's payload errors, or `error` back.
pub(crate) fn from_actix(error: Boxed) -> Result<Error, Boxed> {
    macro_rules! rejections {
        ($error:ident: $($ty:ty),+ $(,)?) => {
            $(
                let $error = match $error.downcast::<$ty>() {
                    Ok(rejection) => {
                        let status = status(rejection.status_code());
                        return Ok(classify(status, rejection.to_string(), *rejection));
                    }
                    Err(other) => other,
                };
            )+
        };
    }
    rejections!(error:
        JsonPayloadError,
        UrlencodedError,
        QueryPayloadError,
        PathError,
        PayloadError,
    );
    Err(error)
}

fn status(status: actix_web::http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

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
    let status = self::status(status);
    if status.is_client_error() {
        Error::new(status, reason)
    } else {
        Error::internal(reason).with_status(status)
    }
}
