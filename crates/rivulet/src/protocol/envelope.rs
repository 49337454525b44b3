//! The envelopes packets and errors travel in: the NDJSON line, the legacy
//! error envelope and the `{"error": …}` body of an HTTP error.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::messages::LEGACY_ERROR_STATUS;
use crate::error::ErrorPacket;

/// One NDJSON line as a decoder reads it: exactly one of the three keys.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NdjsonLine {
    Progress(Value),
    Done(Value),
    Error(ErrorPacket),
}

/// The body of an HTTP error answered before the stream began:
/// `{"error": <error object>}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorPacket,
}

/// The final error packet of the legacy framing, as the jQuery plugin expects it:
/// `{"ok":false,"error":{"type":<status>,"status":"Stream Error","str":<message>}}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LegacyErrorEnvelope<'a> {
    #[serde(default)]
    ok: bool,
    #[serde(borrow)]
    error: LegacyError<'a>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LegacyError<'a> {
    /// The error object's `status`; 500 when a server left it out.
    #[serde(rename = "type", default = "super::super::error::internal_status")]
    code: u16,
    #[serde(default, borrow)]
    status: Cow<'a, str>,
    /// The error object's `message`.
    #[serde(default, borrow)]
    str: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    error_id: Option<Cow<'a, str>>,
}

impl<'a> LegacyErrorEnvelope<'a> {
    /// The envelope a Rivulet server writes for `packet`.
    pub(crate) fn new(packet: &'a ErrorPacket) -> Self {
        LegacyErrorEnvelope {
            ok: false,
            error: LegacyError {
                code: packet.status,
                status: Cow::Borrowed(LEGACY_ERROR_STATUS),
                str: Cow::Borrowed(&packet.message),
                error_id: packet.error_id.as_deref().map(Cow::Borrowed),
            },
        }
    }

    /// The error object it carries.
    pub(crate) fn into_packet(self) -> ErrorPacket {
        ErrorPacket {
            message: self.error.str.into_owned(),
            status: self.error.code,
            error_id: self.error.error_id.map(Cow::into_owned),
        }
    }
}
