//! An incremental decoder for every wire format: feed it the response in chunks
//! of any size, get each packet as soon as its last byte is in.
//!
//! The same decoder serves the tests, the Rust client and `rivulet watch`.
//!
//! ```
//! use rivulet::decode::{Decoder, Event};
//! use rivulet::Format;
//! use serde_json::json;
//!
//! let mut decoder = Decoder::new(Format::Sse);
//! let mut events = Vec::new();
//! decoder.feed(b"id: 1\ndata: \"hel", &mut events)?;
//! assert!(events.is_empty());
//! decoder.feed(b"lo\"\n\nid: 2\nevent: done\ndata: {\"ok\":true}\n\n", &mut events)?;
//! decoder.finish(&mut events)?;
//! assert_eq!(events, [Event::Progress(json!("hello")), Event::Done(json!({"ok": true}))]);
//! # Ok::<(), rivulet::decode::DecodeError>(())
//! ```

mod legacy;
mod lines;
mod ndjson;
mod sse;
mod text;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::DEFAULT_MAX_PACKET_BYTES;
use crate::protocol::ErrorPacket;
use crate::protocol::Format;
use crate::protocol::TRUNCATED_MESSAGE;

/// One packet of a stream, as a client sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "lowercase")]
pub enum Event {
    /// A progress packet.
    Progress(Value),
    /// The final packet of a stream that succeeded.
    Done(Value),
    /// The final packet of a stream that failed.
    Error(ErrorPacket),
}

impl Event {
    /// True for `Done` and `Error`: nothing follows them.
    pub fn is_final(&self) -> bool {
        !matches!(self, Event::Progress(_))
    }
}

/// Why a stream could not be decoded.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stream ended without a final packet.
    Truncated,
    /// A packet's payload is not valid JSON (or not the expected shape).
    Json(serde_json::Error),
    /// The bytes do not follow the format.
    Malformed(String),
    /// A packet is larger than the decoder's maximum.
    TooLarge {
        /// The configured maximum, in bytes.
        limit: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str(TRUNCATED_MESSAGE),
            DecodeError::Json(e) => write!(f, "a packet is not valid JSON: {e}"),
            DecodeError::Malformed(why) => write!(f, "malformed stream: {why}"),
            DecodeError::TooLarge { limit } => {
                write!(f, "a packet exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::Json(e) => Some(e),
            _ => None,
        }
    }
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        DecodeError::Json(e)
    }
}

/// Decodes one stream in any [`Format`].
#[derive(Debug)]
pub struct Decoder {
    state: State,
    finished: bool,
    failed: bool,
}

#[derive(Debug)]
enum State {
    Sse(sse::Sse),
    Ndjson(ndjson::Ndjson),
    Legacy(legacy::Legacy),
}

impl Decoder {
    /// A decoder for `format` that refuses packets over 16 MiB.
    pub fn new(format: Format) -> Self {
        Decoder::with_max_packet_bytes(format, DEFAULT_MAX_PACKET_BYTES)
    }

    /// A decoder for `format` that refuses packets over `limit` bytes.
    pub fn with_max_packet_bytes(format: Format, limit: usize) -> Self {
        let state = match format {
            Format::Sse => State::Sse(sse::Sse::new(limit)),
            Format::Ndjson => State::Ndjson(ndjson::Ndjson::new(limit)),
            Format::Legacy => State::Legacy(legacy::Legacy::new(limit)),
        };
        Decoder {
            state,
            finished: false,
            failed: false,
        }
    }

    /// Decodes `chunk`, pushing every packet it completes onto `out`.
    ///
    /// After an error the decoder stays failed: later calls return
    /// [`DecodeError::Malformed`]. After the final packet, input is ignored
    /// (`docs/protocol.md`: nothing follows the final packet).
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.guard()?;
        if self.finished {
            return Ok(());
        }
        let start = out.len();
        let result = match &mut self.state {
            State::Sse(s) => s.feed(chunk, out),
            State::Ndjson(s) => s.feed(chunk, out),
            State::Legacy(s) => s.feed(chunk, out),
        };
        self.check(start, out, result)
    }

    /// Ends the input. Delivers a legacy final packet, and fails with
    /// [`DecodeError::Truncated`] if the stream had no final packet.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.guard()?;
        if self.finished {
            return Ok(());
        }
        let start = out.len();
        // Only the legacy final packet runs to the end of the response. An SSE
        // event or NDJSON line still unterminated here was cut off: like
        // EventSource, the decoder drops it, and the stream is truncated.
        let result = match &mut self.state {
            State::Legacy(s) => s.finish(out),
            State::Sse(_) | State::Ndjson(_) => Ok(()),
        };
        self.check(start, out, result)?;
        if self.finished {
            Ok(())
        } else {
            self.failed = true;
            Err(DecodeError::Truncated)
        }
    }

    /// True once the final packet has been decoded.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The id of the last SSE event, which a client sends back as `Last-Event-ID`
    /// to resume.
    pub fn last_event_id(&self) -> Option<&str> {
        match &self.state {
            State::Sse(s) => s.last_event_id(),
            _ => None,
        }
    }

    /// Records the packet numbers that SSE event ids carry in a resumable
    /// stream, for a client that drops packets it already has.
    #[cfg(feature = "client")]
    pub(crate) fn number_packets(&mut self) {
        if let State::Sse(s) = &mut self.state {
            s.number_packets();
        }
    }

    /// The packet numbers of the packets decoded since the last call (see
    /// [`number_packets`](Self::number_packets)); empty unless asked for.
    #[cfg(feature = "client")]
    pub(crate) fn take_numbers(&mut self) -> Vec<Option<u64>> {
        match &mut self.state {
            State::Sse(s) => s.take_numbers(),
            _ => Vec::new(),
        }
    }

    /// Decodes a whole recorded stream.
    pub fn decode_all(format: Format, bytes: &[u8]) -> Result<Vec<Event>, DecodeError> {
        let mut decoder = Decoder::new(format);
        let mut events = Vec::new();
        decoder.feed(bytes, &mut events)?;
        decoder.finish(&mut events)?;
        Ok(events)
    }

    fn guard(&self) -> Result<(), DecodeError> {
        if self.failed {
            Err(DecodeError::Malformed("the decoder already failed".into()))
        } else {
            Ok(())
        }
    }

    /// Marks the decoder finished after a final packet, failed after an error.
    /// Whatever followed a final packet within the same chunk (more packets,
    /// or an error found in bytes after it) is dropped: the final packet ends
    /// the stream.
    fn check(
        &mut self,
        start: usize,
        out: &mut Vec<Event>,
        result: Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if let Some(pos) = out[start..].iter().position(Event::is_final) {
            self.finished = true;
            out.truncate(start + pos + 1);
            return Ok(());
        }
        if result.is_err() {
            self.failed = true;
        }
        result
    }
}
