//! The envelopes packets and errors travel in: the NDJSON line, the legacy
//! error envelope and the `{"error": …}` body of an HTTP error.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error_packet::{ErrorPacket, internal_status, status_or_500, text_or_empty};
use super::messages::LEGACY_ERROR_STATUS;

/// One NDJSON line: exactly one of the three keys. A decoder reads the values
/// (`NdjsonLine`); tests of the resumable path write stored packets as lines
/// and keep their values as raw JSON (`NdjsonLine<Box<RawValue>, Box<RawValue>>`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NdjsonLine<V = Value, E = ErrorPacket> {
    Progress(V),
    Done(V),
    Error(E),
}

#[cfg(test)]
impl<T> NdjsonLine<T, T> {
    /// The packet's kind and its JSON.
    pub(crate) fn into_parts(self) -> (super::PacketKind, T) {
        match self {
            NdjsonLine::Progress(v) => (super::PacketKind::Progress, v),
            NdjsonLine::Done(v) => (super::PacketKind::Done, v),
            NdjsonLine::Error(e) => (super::PacketKind::Error, e),
        }
    }
}

/// The body of an HTTP error answered before the stream began:
/// `{"error": <error object>}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorPacket,
}

/// The final error packet of the legacy framing, as the jQuery plugin expects it:
/// `{"ok":false,"error":{"type":<status>,"status":"Stream Error","str":<message>}}`.
#[derive(Debug, Serialize)]
pub(crate) struct LegacyErrorEnvelope<'a> {
    ok: bool,
    error: LegacyError<'a>,
}

#[derive(Debug, Serialize)]
struct LegacyError<'a> {
    /// The error object's `status`.
    #[serde(rename = "type")]
    code: u16,
    status: &'static str,
    /// The error object's `message`.
    str: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_id: Option<&'a str>,
}

impl<'a> LegacyErrorEnvelope<'a> {
    /// The envelope a Rivulet server writes for `packet`.
    pub(crate) fn new(packet: &'a ErrorPacket) -> Self {
        LegacyErrorEnvelope {
            ok: false,
            error: LegacyError {
                code: packet.status,
                status: LEGACY_ERROR_STATUS,
                str: &packet.message,
                error_id: packet.error_id.as_deref(),
            },
        }
    }

    /// Reads the error object out of an envelope. Servers other than Rivulet
    /// may leave fields out: a missing `type` reads as 500, a missing `str` as
    /// `""`, as for the error object itself.
    pub(crate) fn decode(text: &str) -> Result<ErrorPacket, serde_json::Error> {
        #[derive(Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            #[serde(
                rename = "type",
                default = "internal_status",
                deserialize_with = "status_or_500"
            )]
            code: u16,
            #[serde(default, deserialize_with = "text_or_empty")]
            str: String,
            #[serde(default)]
            error_id: Option<String>,
        }
        let envelope: Envelope = serde_json::from_str(text)?;
        Ok(ErrorPacket {
            message: envelope.error.str,
            status: envelope.error.code,
            error_id: envelope.error.error_id,
        })
    }
}
