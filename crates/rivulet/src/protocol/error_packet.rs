//! The protocol's error object ([`ErrorPacket`]): the payload of an `error`
//! packet, and the body of an HTTP error answered before a stream begins.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The error object of the protocol: the payload of an `error` packet, and the
/// `{"error": …}` body of an HTTP error answered before the stream began.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPacket {
    /// Text meant for the user (empty when an error object has none).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub message: String,
    /// An HTTP status code classifying the error. A decoder reads an error
    /// object without one (or with `null`) as 500.
    #[serde(default = "internal_status", deserialize_with = "status_or_500")]
    pub status: u16,
    /// For internal errors: the id that also appears in the server's log line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

/// The status of an error object that does not say.
pub(crate) fn internal_status() -> u16 {
    500
}

/// A status that is absent or `null` reads as 500; any other value must be
/// an integer from 0 to 65535 (`docs/protocol.md`, "The error object").
pub(crate) fn status_or_500<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    Ok(Option::<u16>::deserialize(d)?.unwrap_or_else(internal_status))
}

/// A message that is `null` reads as `""`; any other value must be a string.
pub(crate) fn text_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

impl fmt::Display for ErrorPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (status {}", self.message, self.status)?;
        if let Some(id) = &self.error_id {
            write!(f, ", error id {id}")?;
        }
        f.write_str(")")
    }
}
