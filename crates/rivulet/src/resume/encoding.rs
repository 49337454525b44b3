//! [`Encoding`]: a resumable stream written in an SSE dialect other than
//! Rivulet's own.

use bytes::Bytes;
use http::HeaderMap;

use crate::history::Packet;

/// Writes a resumable stream's stored packets in an SSE dialect other than
/// Rivulet's own, such as the AI SDK's UI message stream
/// ([`ai_sdk`](crate::ai_sdk)). A connection given one with
/// [`Resumable::encoding`](super::Resumable::encoding) answers
/// `text/event-stream` with keep-alive comments as any SSE stream does, and
/// writes each packet as the bytes [`frame`](Encoding::frame) makes of it:
/// no Rivulet event ids, no `event:` names. The packets themselves, their
/// store, resume and cancel are the same as for every resumable stream.
///
/// Errors the connection meets itself (the stream expired, the server is
/// stopping) come to `frame` as a final `error` packet numbered 0.
///
/// ```
/// use bytes::Bytes;
/// use rivulet::history::Packet;
/// use rivulet::protocol::PacketKind;
/// use rivulet::resume::Encoding;
///
/// /// Every packet's JSON as a bare `data:` line.
/// struct DataOnly;
///
/// impl Encoding for DataOnly {
///     fn frame(&self, packet: &Packet) -> Bytes {
///         match packet.kind {
///             PacketKind::Progress => format!("data: {}\n\n", packet.data.get()).into(),
///             _ => Bytes::from_static(b"data: end\n\n"),
///         }
///     }
/// }
/// ```
pub trait Encoding: Send + Sync + 'static {
    /// The bytes of `packet`: whole SSE events (`data: …\n\n`), or none. For
    /// a final `error` packet, `packet.data` is the error object
    /// (`{"message": …, "status": …}`, an [`ErrorPacket`](crate::ErrorPacket)).
    fn frame(&self, packet: &Packet) -> Bytes;

    /// Adds the dialect's response headers; none by default.
    fn headers(&self, headers: &mut HeaderMap) {
        let _ = headers;
    }
}

/// An [`Encoding`] chosen for one request.
#[derive(Clone)]
pub(super) struct Dialect(pub(super) std::sync::Arc<dyn Encoding>);

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dialect")
    }
}
