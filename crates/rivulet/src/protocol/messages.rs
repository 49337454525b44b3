//! Texts of the protocol that more than one part of Rivulet says: a client
//! reading them, a server writing them, or both.

/// What every client reports for a stream that ended without a final packet.
pub const TRUNCATED_MESSAGE: &str = "the stream ended without a final packet";

/// The error packet of a resumable stream whose job ended without one (its
/// task was stopped from outside, as when the runtime shuts down).
pub(crate) const ENDED_UNEXPECTEDLY_MESSAGE: &str = "the stream ended unexpectedly";

/// A resuming client whose missed packets were evicted from the store.
pub(crate) const EVICTED_MESSAGE: &str =
    "the packets this client missed are no longer kept: the stream cannot be resumed";
/// A resumable stream that left the store while a client read it.
pub(crate) const EXPIRED_MESSAGE: &str = "the stream has expired";
/// A resumable stream whose producer's lease ran out.
pub(crate) const PRODUCER_GONE_MESSAGE: &str = "the server running this stream stopped";
/// Reading a resumable stream from its store kept failing.
pub(crate) const STORE_FAILED_MESSAGE: &str = "the stream store failed";
/// The `503` answer when the store of resumable streams cannot be reached.
pub(crate) const STORE_UNAVAILABLE_MESSAGE: &str =
    "resumable streams are unavailable: their store cannot be reached";

/// The `status` field of the legacy error envelope, always this text.
pub(super) const LEGACY_ERROR_STATUS: &str = "Stream Error";
