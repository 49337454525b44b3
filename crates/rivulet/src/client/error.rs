//! Why a stream could not be read to its end.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::decode::DecodeError;
use crate::protocol::ErrorPacket;

/// Why a request did not give a complete stream.
///
/// Each variant is one thing a caller may want to handle on its own: an HTTP
/// error before the stream began (the 422 of a handler that rejected its
/// input), a stream the server ended with an error packet, a network failure, a
/// stream cut short, bytes that are not a Rivulet stream, or a server that went
/// quiet.
///
/// ```
/// use rivulet::client::Error;
///
/// fn exit_code(error: &Error) -> u8 {
///     match error {
///         Error::Server(_) => 1,
///         _ => 2,
///     }
/// }
/// assert_eq!(exit_code(&Error::Truncated), 2);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an HTTP error status instead of a stream.
    ///
    /// A Rivulet handler that fails before its first packet answers with its
    /// error's status and the body `{"error": <error object>}`: `error` holds
    /// that object. For any other body (a proxy's 502 page, a 404 from a route
    /// that does not exist) `error` is `None` and `body` holds the text, cut at
    /// 64 KiB.
    Status {
        /// The response's status.
        status: StatusCode,
        /// The protocol's error object, when the body holds one.
        error: Option<ErrorPacket>,
        /// The response body as text (lossy UTF-8), empty when it held an error object.
        body: String,
    },
    /// A successful response that is not a Rivulet stream: its `Content-Type`
    /// is none of the three wire formats (an HTML page, or the `204 No Content`
    /// a server answers to a `Last-Event-ID` it cannot resume).
    NotAStream {
        /// The response's status.
        status: StatusCode,
        /// The response's `Content-Type`, if it had one.
        content_type: Option<String>,
    },
    /// The stream ended with an error packet.
    ///
    /// Only the helpers that return the outcome ([`EventStream::done`](super::EventStream::done))
    /// report it this way; the stream itself yields it as
    /// [`Event::Error`](crate::decode::Event::Error), a packet like any other.
    Server(ErrorPacket),
    /// The request could not be sent or the response could not be read: DNS,
    /// connection refused or reset, TLS, an invalid URL or header.
    Transport(reqwest::Error),
    /// The response ended without a final packet.
    Truncated,
    /// The bytes do not follow the wire format (bad framing, a packet that is
    /// not JSON, a packet over the size limit).
    Decode(DecodeError),
    /// Nothing arrived for this long (not even a keep-alive).
    IdleTimeout(Duration),
    /// A resumable stream whose server dropped this many connections in a row
    /// after one new packet each: the client stopped reconnecting.
    Unsteady {
        /// The connections in a row that dropped.
        connections: u32,
    },
    /// [`EventStream::cancel`](super::EventStream::cancel) of a stream that
    /// is not resumable: its response named no stream (`Rivulet-Stream-Id`).
    NotResumable,
    /// A packet is not of the type the caller asked for
    /// ([`EventStream::progress`](super::EventStream::progress),
    /// [`EventStream::done`](super::EventStream::done)).
    Deserialize(serde_json::Error),
}

impl Error {
    /// The protocol's error object, for an error packet or an HTTP error that
    /// carried one.
    pub fn error_packet(&self) -> Option<&ErrorPacket> {
        match self {
            Error::Server(packet) => Some(packet),
            Error::Status { error, .. } => error.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Status {
                status,
                error: Some(error),
                ..
            } => write!(f, "HTTP {status}: {}", error.message),
            Error::Status { status, body, .. } => {
                write!(f, "HTTP {status}")?;
                let body = body.trim();
                if !body.is_empty() {
                    let cut: String = body.chars().take(200).collect();
                    write!(f, ": {cut}")?;
                }
                Ok(())
            }
            Error::NotAStream {
                status,
                content_type,
            } => write!(
                f,
                "HTTP {status} is not a stream (Content-Type: {})",
                content_type.as_deref().unwrap_or("none")
            ),
            Error::Server(packet) => write!(f, "the stream failed: {packet}"),
            Error::Transport(e) => f.write_str(&transport_words(e)),
            Error::Truncated => f.write_str(crate::protocol::TRUNCATED_MESSAGE),
            Error::Decode(e) => write!(f, "{e}"),
            Error::IdleTimeout(after) => {
                write!(f, "nothing received for {} s", after.as_secs_f64())
            }
            Error::Deserialize(e) => write!(f, "a packet is not of the expected type: {e}"),
            Error::NotResumable => {
                f.write_str("the stream is not resumable: it cannot be cancelled")
            }
            Error::Unsteady { connections } => write!(
                f,
                "the server dropped {connections} connections in a row after one packet each: gave up reconnecting"
            ),
        }
    }
}

/// A transport failure said in words: what failed (connecting to which
/// host, the TLS handshake, reading the response) and why, from the
/// operating system's error kind ("connection refused") rather than the
/// chain of library messages.
fn transport_words(error: &reqwest::Error) -> String {
    let target = error
        .url()
        .map(|url| {
            let host = url.host_str().unwrap_or("the server");
            match url.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }
        })
        .unwrap_or_else(|| "the server".to_owned());
    let why = cause_in_words(error);
    if error.is_builder() {
        return format!("cannot build the request: {}", error_chain(error));
    }
    if error.is_timeout() {
        return format!("{target} did not answer in time");
    }
    if let Some(why) = certificate_refused(error) {
        return format!(
            "the TLS handshake with {target} failed: {why}; trust its CA or certificate \
             explicitly (`rivulet watch --ca-file CA.pem`, or a client's root certificates)"
        );
    }
    if error.is_connect() {
        return match why {
            Some(why) => format!("cannot connect to {target}: {why}"),
            None => format!("cannot connect to {target}: {}", error_chain(error)),
        };
    }
    if error.is_body() || error.is_decode() {
        return match why {
            Some(why) => format!("the connection to {target} broke off: {why}"),
            None => format!("the connection to {target} broke off"),
        };
    }
    match why {
        Some(why) => format!("the request to {target} failed: {why}"),
        None => format!("the request to {target} failed: {}", error_chain(error)),
    }
}

/// The first cause of type `T` in `error`'s chain.
fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(found) = cause.downcast_ref::<T>() {
            return Some(found);
        }
        next = cause.source();
    }
    None
}

/// Why, from the operating system's error in the chain, if there is one.
fn cause_in_words(error: &reqwest::Error) -> Option<String> {
    use std::io::ErrorKind;
    let io = find_cause::<std::io::Error>(error)?;
    let words = match io.kind() {
        ErrorKind::ConnectionRefused => "connection refused (nothing listens on that port)",
        ErrorKind::ConnectionReset => "the connection was reset",
        ErrorKind::ConnectionAborted => "the connection was aborted",
        ErrorKind::NotConnected | ErrorKind::BrokenPipe => "the connection was closed",
        ErrorKind::UnexpectedEof => "the server closed the connection",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::HostUnreachable => "the host is unreachable",
        ErrorKind::NetworkUnreachable => "the network is unreachable",
        ErrorKind::AddrNotAvailable => "the address is not available",
        ErrorKind::PermissionDenied => "permission denied",
        // Name resolution failures come as `Other` with the resolver's text.
        _ => return Some(format!("{io}")),
    };
    Some(words.to_owned())
}

/// The TLS library's reason when it refused the server's certificate
/// (rustls says "invalid peer certificate: …"); the TLS library is reqwest's,
/// so its error is recognised by its text rather than its type.
fn certificate_refused(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string();
        if text.starts_with("invalid peer certificate") {
            return Some(text);
        }
        next = cause.source();
    }
    None
}

/// reqwest's own message is terse ("error sending request"); the causes say why.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Transport errors already print their causes (see `error_chain`).
        match self {
            Error::Decode(e) => Some(e),
            Error::Deserialize(e) => Some(e),
            _ => None,
        }
    }
}

impl From<DecodeError> for Error {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::Truncated => Error::Truncated,
            other => Error::Decode(other),
        }
    }
}
