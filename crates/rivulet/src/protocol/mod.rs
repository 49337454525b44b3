//! The protocol's vocabulary, defined once: the packet kinds, the envelopes a
//! packet or an error travels in, the header names, the resume point and the
//! messages every side of the protocol shares. Encoders, decoders, the client,
//! the response body and the resumable path all take their words from here;
//! `docs/protocol.md` says what they mean on the wire.
//!
//! ```
//! use rivulet::protocol::{PacketKind, ResumePoint, STREAM_ID_HEADER};
//!
//! assert_eq!(PacketKind::Done.name(), "done");
//! assert!(PacketKind::Error.is_final());
//! let point: ResumePoint = "0123456789abcdef0123456789abcdef.2".parse().unwrap();
//! assert_eq!(point.received, 2);
//! assert_eq!(STREAM_ID_HEADER, "rivulet-stream-id");
//! ```

mod envelope;
pub(crate) mod error_packet;
pub(crate) mod format;
mod kind;
mod messages;
mod resume_point;
mod skip_marker;

pub(crate) use envelope::{ErrorBody, LegacyErrorEnvelope, NdjsonLine};
pub(crate) use error_packet::ErrorPacket;
pub(crate) use format::Format;
pub use kind::PacketKind;
pub(crate) use messages::BUSY_MESSAGE;
#[cfg(feature = "redis")]
pub(crate) use messages::FEED_GAP_MESSAGE;
pub use messages::{
    CANCELLED_MESSAGE, FEED_STORE_FAILED_MESSAGE, FELL_BEHIND_MESSAGE, HISTORY_LOST_MESSAGE,
    INTERNAL_ERROR_MESSAGE, JOB_LOST_MESSAGE, RUNNING_MESSAGE, SHUTDOWN_MESSAGE, TRUNCATED_MESSAGE,
    WINDOW_PASSED_MESSAGE,
};
pub(crate) use messages::{
    ENDED_UNEXPECTEDLY_MESSAGE, EVICTED_MESSAGE, EXPIRED_MESSAGE, FULL_MESSAGE,
    STORE_FAILED_MESSAGE, STORE_UNAVAILABLE_MESSAGE,
};
pub use resume_point::{InvalidId, ResumePoint, StreamId};
pub(crate) use skip_marker::SkipMarker;

/// The request header a browser `EventSource` sends when it reconnects, and
/// every Rivulet client sends to resume: its value is a resume point.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// The query parameter that may carry a resume point instead of the
/// `Last-Event-ID` header, for clients that cannot set headers (a browser
/// `EventSource` opened anew after a page reload).
pub const LAST_EVENT_ID_PARAM: &str = "lastEventId";

/// The response header that names a resumable stream, or a feed's epoch.
pub const STREAM_ID_HEADER: &str = "rivulet-stream-id";

/// The response header that gives the resume point a stream's (or a feed's)
/// response starts after: a client that reads no ids (NDJSON, legacy) adds
/// the packets it decodes to its count.
pub const RESUME_POINT_HEADER: &str = "rivulet-resume-point";

/// The header the original jQuery `$.stream` plugin sends with every request
/// (`X-Request-Type: stream`): it asks for the legacy framing.
pub const LEGACY_REQUEST_HEADER: &str = "x-request-type";
