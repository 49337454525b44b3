//! Errors: what a handler returns ([`Error`]) and what a failed send reports
//! ([`SendError`]). What travels on the wire is the protocol's
//! [`ErrorPacket`](crate::protocol::ErrorPacket).

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

use crate::protocol::{ErrorBody, ErrorPacket, INTERNAL_ERROR_MESSAGE};
use crate::response::{IntoResponse, Response, json};

pub(crate) mod refusal;
pub mod rejection;
mod request_body;

pub(crate) use request_body::RequestBodyError;

/// The error a stream handler returns: it becomes the stream's final `error`
/// packet, or the HTTP response itself when no packet was sent yet.
///
/// Two kinds, told apart by how they are made:
///
/// * **For the user** — [`Error::new`] and [`Error::from_message`]: the message is sent
///   as it is (a validation message, "Something went wrong!").
/// * **Internal** — any `std::error::Error` converted with `?` or
///   [`Error::internal`]: logged with `tracing` under a fresh error id; the client
///   gets a generic message and that id.
///
/// ```
/// use rivulet::Error;
/// use http::StatusCode;
///
/// let invalid = Error::new(StatusCode::UNPROCESSABLE_ENTITY, "items must be 1..=10000");
/// assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
///
/// let io: Error = std::io::Error::other("disk on fire").into();
/// assert_eq!(io.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// ```
pub struct Error {
    status: StatusCode,
    kind: Kind,
}

enum Kind {
    Public(Cow<'static, str>),
    Internal(Box<dyn std::error::Error + Send + Sync>),
    Panic(String),
    /// The client went away: nobody is left to tell.
    ClientGone,
}

impl Error {
    /// An error for the user, with the status it is answered with before the
    /// first packet (and reported with after it).
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            status,
            kind: Kind::Public(message.into()),
        }
    }

    /// An error for the user, with status 500.
    pub fn from_message(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An internal error: its detail is logged, not sent.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Error {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: Kind::Internal(error.into()),
        }
    }

    pub(crate) fn panic(message: String) -> Self {
        Error {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: Kind::Panic(message),
        }
    }

    /// Changes the status an error is reported with.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// True when the error only says that the client has gone away.
    pub fn is_client_gone(&self) -> bool {
        matches!(self.kind, Kind::ClientGone)
    }

    /// Turns the error into what the client sees. Internal details are logged
    /// here, once, under a fresh error id.
    pub(crate) fn into_packet(self, expose_internal: bool) -> ErrorPacket {
        let status = self.status.as_u16();
        let (detail, what) = match self.kind {
            Kind::Public(message) => {
                return ErrorPacket {
                    message: message.into_owned(),
                    status,
                    error_id: None,
                };
            }
            Kind::ClientGone => ("the client went away".to_owned(), "cancelled"),
            Kind::Internal(error) => (error_chain(&*error), "failed"),
            Kind::Panic(message) => (message, "panicked"),
        };
        let error_id = new_error_id();
        tracing::error!(error_id = %error_id, status, detail = %detail, "stream handler {what}");
        ErrorPacket {
            message: if expose_internal {
                detail
            } else {
                INTERNAL_ERROR_MESSAGE.to_owned()
            },
            status,
            error_id: Some(error_id),
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// 64 random bits in hex: enough to find one log line among many.
pub(crate) fn new_error_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("status", &self.status);
        match &self.kind {
            Kind::Public(m) => s.field("message", m),
            Kind::Internal(e) => s.field("internal", e),
            Kind::Panic(m) => s.field("panic", m),
            Kind::ClientGone => s.field("client_gone", &true),
        };
        s.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Public(m) => f.write_str(m),
            Kind::Internal(e) => fmt::Display::fmt(e, f),
            Kind::Panic(m) => write!(f, "handler panicked: {m}"),
            Kind::ClientGone => f.write_str("the client went away"),
        }
    }
}

/// An error answered as a response of its own: its status and a JSON body
/// `{"error": <error object>}`. Lets a handler reject a request before it starts
/// streaming, in the same shape as an error inside the stream. (The adapters
/// answer an [`Error`] a handler returns with this.)
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // The embedding app decides about exposure for streams; here, never.
        error_response(self.into_packet(false))
    }
}

impl Error {
    /// The answer for this error before any packet: its status and the JSON
    /// body `{"error": <error object>}`.
    pub fn into_http_response(self) -> Response {
        self.into_response()
    }
}

/// The response for an error answered before any packet.
pub(crate) fn error_response(packet: ErrorPacket) -> Response {
    let status = StatusCode::from_u16(packet.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json(status, &ErrorBody { error: packet })
}

/// Any standard error converts with `?`, as an internal error, except the
/// failure of a guarded request body (see [`Error::from_request_body`]) and
/// axum's extractor rejections (see [`rejection`](crate::error::rejection)), which keep
/// their 4xx status and reason. A [`SendError`]
/// saying the client left stays recognisable, so a handler that ends with `?` on
/// a failed send is counted as cancelled rather than failed.
impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        // A failed request body is the client's doing: its own status and reason.
        if let Some(body) = Error::from_request_body(&error) {
            return body;
        }
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(error);
        match boxed.downcast::<SendError>() {
            Ok(send) if matches!(*send, SendError::Closed) => Error {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                kind: Kind::ClientGone,
            },
            Ok(send) => Error::internal(send),
            Err(other) => {
                crate::error::rejection::from_rejection(other).unwrap_or_else(Error::internal)
            }
        }
    }
}

/// Why [`Sender::send`](crate::Sender::send) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The client went away (or the stream already ended): nothing more can be sent.
    Closed,
    /// The value could not be written as JSON (a map with non-string keys, say).
    Serialize(serde_json::Error),
    /// The packet is larger than [`Config::max_packet_bytes`](crate::Config::max_packet_bytes).
    TooLarge {
        /// Size of the encoded packet.
        size: usize,
        /// The configured maximum.
        limit: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the stream is closed: the client went away"),
            SendError::Serialize(e) => write!(f, "packet is not serializable as JSON: {e}"),
            SendError::TooLarge { size, limit } => {
                write!(
                    f,
                    "packet of {size} bytes exceeds the limit of {limit} bytes"
                )
            }
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Serialize(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_errors_keep_their_message() {
        let packet = Error::new(StatusCode::UNPROCESSABLE_ENTITY, "bad items").into_packet(false);
        assert_eq!(
            packet,
            ErrorPacket {
                message: "bad items".into(),
                status: 422,
                error_id: None
            }
        );
    }

    #[test]
    fn internal_errors_hide_detail_unless_exposed() {
        let hidden: Error = std::io::Error::other("secret path /etc/x").into();
        let packet = hidden.into_packet(false);
        assert_eq!(packet.message, INTERNAL_ERROR_MESSAGE);
        assert_eq!(packet.status, 500);
        assert_eq!(packet.error_id.as_deref().map(str::len), Some(16));

        let shown: Error = std::io::Error::other("secret path /etc/x").into();
        assert_eq!(shown.into_packet(true).message, "secret path /etc/x");
    }

    #[test]
    fn closed_send_is_client_gone() {
        let error: Error = SendError::Closed.into();
        assert!(error.is_client_gone());
        let error: Error = SendError::TooLarge { size: 2, limit: 1 }.into();
        assert!(!error.is_client_gone());
    }
}
