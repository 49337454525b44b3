//! Request rejections as stream errors: an axum extractor's rejection turned
//! into an [`Error`] with `?` keeps its status and its reason, so a bad request
//! body reaches the client as a 4xx with the JSON error body every other early
//! error has (`{"error": {"message": …, "status": …}}`), or as an error packet
//! once the stream has begun — not as a 500 "internal error".
//!
//! Take the extractor as a `Result` and open it inside [`Stream::run`](crate::Stream::run):
//!
//! ```
//! use axum::extract::rejection::JsonRejection;
//! use axum::{Json, Router, routing::post};
//! use rivulet::Stream;
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Job {
//!     items: u32,
//! }
//!
//! async fn process(stream: Stream, body: Result<Json<Job>, JsonRejection>) -> axum::response::Response {
//!     stream
//!         .run(|tx| async move {
//!             // Bad JSON: 400 or 422 `{"error":{"message":"Failed to parse …","status":422}}`;
//!             // no JSON Content-Type: 415.
//!             let Json(job) = body?;
//!             for i in 1..=job.items {
//!                 tx.send(serde_json::json!({ "current": i, "total": job.items })).await?;
//!             }
//!             Ok(serde_json::json!({ "processed": job.items }))
//!         })
//!         .await
//! }
//!
//! let app: Router = Router::new().route("/stream/process", post(process));
//! ```
//!
//! The same holds for `Form`, `Query`, `Path`, `Bytes`, `String` and (with the
//! `multipart` feature) `Multipart` and its field errors. An extractor taken
//! bare (`Json(job): Json<Job>`) is rejected by axum itself, before the handler
//! runs, with axum's plain-text body.
//!
//! A rejection with a 5xx status (a missing `Extension`, say) is the server's
//! fault, not the request's: it is treated as an internal error, logged under an
//! error id, and the client gets the generic message.

use std::error::Error as StdError;

#[cfg(any(feature = "axum", feature = "actix"))]
use http::StatusCode;

use crate::error::Error;

pub(crate) type Boxed = Box<dyn StdError + Send + Sync>;

/// The [`Error`] for `error` when it is one of the rejections of a framework
/// the crate adapts to, or `error` back when it is not.
pub(crate) fn from_rejection(error: Boxed) -> Result<Error, Boxed> {
    #[cfg(feature = "axum")]
    let error = match from_axum(error) {
        Ok(known) => return Ok(known),
        Err(other) => other,
    };
    #[cfg(feature = "actix")]
    let error = match from_actix(error) {
        Ok(known) => return Ok(known),
        Err(other) => other,
    };
    Err(error)
}

/// The [`Error`] for one of axum's rejections.
#[cfg(feature = "axum")]
fn from_axum(error: Boxed) -> Result<Error, Boxed> {
    macro_rules! rejections {
        ($error:ident: $($(#[$cfg:meta])* $ty:ty),+ $(,)?) => {
            $(
                $(#[$cfg])*
                let $error = match $error.downcast::<$ty>() {
                    Ok(rejection) => return Ok(classify(rejection.status(), rejection.body_text(), rejection)),
                    Err(other) => other,
                };
            )+
        };
    }
    use axum::extract::rejection::*;
    rejections!(error:
        JsonRejection,
        FormRejection,
        QueryRejection,
        RawFormRejection,
        PathRejection,
        RawPathParamsRejection,
        BytesRejection,
        StringRejection,
        ExtensionRejection,
        #[cfg(feature = "multipart")] axum::extract::multipart::MultipartRejection,
        #[cfg(feature = "multipart")] axum::extract::multipart::MultipartError,
    );
    Err(error)
}

/// The [`Error`] for one of actix-web's payload errors, or `error` back.
#[cfg(feature = "actix")]
fn from_actix(error: Boxed) -> Result<Error, Boxed> {
    use actix_web::ResponseError as _;
    macro_rules! rejections {
        ($error:ident: $($ty:ty),+ $(,)?) => {
            $(
                let $error = match $error.downcast::<$ty>() {
                    Ok(rejection) => {
                        let status = actix_status(rejection.status_code());
                        return Ok(classify(status, rejection.to_string(), *rejection));
                    }
                    Err(other) => other,
                };
            )+
        };
    }
    rejections!(error:
        actix_web::error::JsonPayloadError,
        actix_web::error::UrlencodedError,
        actix_web::error::QueryPayloadError,
        actix_web::error::PathError,
        actix_web::error::PayloadError,
    );
    Err(error)
}

/// The reason of an error, with the reasons of the errors under it: the
/// message of actix-multipart's is often only a heading ("Error during
/// field parsing", "Payload error").
#[cfg(feature = "actix")]
pub(crate) fn actix_reason(error: &(dyn StdError + 'static)) -> String {
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let told = cause.to_string();
        if !reason.contains(&told) {
            reason.push_str(": ");
            reason.push_str(&told);
        }
        source = cause.source();
    }
    reason
}

/// actix-web's status as the `http` crate's (actix-web 4 has its own `http` 0.2).
#[cfg(feature = "actix")]
pub(crate) fn actix_status(status: actix_web::http::StatusCode) -> StatusCode {
    StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A client error keeps its status and reason; any other is internal.
#[cfg(any(feature = "axum", feature = "actix"))]
pub(crate) fn classify(status: StatusCode, reason: String, rejection: impl Into<Boxed>) -> Error {
    if status.is_client_error() {
        Error::new(status, reason)
    } else {
        Error::internal(rejection).with_status(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_rejections_keep_status_and_reason() {
        let rejection = QueryRejectionForTest::query("n=x");
        let error: Error = rejection.into();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        let packet = error.into_packet(false);
        assert!(
            packet
                .message
                .starts_with("Failed to deserialize query string"),
            "{packet:?}"
        );
        assert_eq!(packet.error_id, None);
    }

    #[tokio::test]
    async fn server_rejections_stay_internal() {
        use axum::extract::FromRequestParts;
        let (mut parts, ()) = http::Request::new(()).into_parts();
        let rejection = axum::Extension::<u8>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        let packet = Error::from(rejection).into_packet(false);
        assert_eq!(packet.status, 500);
        assert_eq!(packet.message, crate::protocol::INTERNAL_ERROR_MESSAGE);
        assert!(packet.error_id.is_some());
    }

    /// A real `QueryRejection`, made by the `Query` extractor.
    struct QueryRejectionForTest;
    impl QueryRejectionForTest {
        fn query(query: &str) -> axum::extract::rejection::QueryRejection {
            #[derive(Debug, serde::Deserialize)]
            #[allow(dead_code)]
            struct Q {
                n: u32,
            }
            let uri: http::Uri = format!("/?{query}").parse().unwrap();
            axum::extract::Query::<Q>::try_from_uri(&uri).unwrap_err()
        }
    }
}
