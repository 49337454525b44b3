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
/// The final packet of a resumable stream whose producer's lease ran out
/// before its job ended: the server running it stopped (status 500). Not
/// retryable: every later resume gets the same packet.
pub const JOB_LOST_MESSAGE: &str = "the job was lost: the server running this stream stopped";
/// The final packet of a resumable stream a client cancelled (status 409).
pub const CANCELLED_MESSAGE: &str = "the stream was cancelled";
/// The error packet of a reader whose stream's history its store lost
/// (status 500): a Redis restarted empty, a key evicted. A new feed epoch, or
/// no stream at all, follows; never a silent gap.
pub const HISTORY_LOST_MESSAGE: &str = "the stream's history was lost: its store lost the packets (Redis restarted empty or evicted them)";
/// Reading a resumable stream from its store kept failing.
pub(crate) const STORE_FAILED_MESSAGE: &str = "the stream store failed";
/// The `503` answer when the store of resumable streams cannot be reached.
pub(crate) const STORE_UNAVAILABLE_MESSAGE: &str =
    "resumable streams are unavailable: their store cannot be reached";

/// A live feed's subscriber that fell too far behind and was cut off
/// (status 410).
pub const FELL_BEHIND_MESSAGE: &str =
    "this client fell too far behind the feed and was cut off: reconnect to resume";
/// A client resuming a live feed from a point the feed no longer keeps
/// (status 410).
pub const WINDOW_PASSED_MESSAGE: &str =
    "the packets this client missed are no longer kept: the feed cannot be resumed from there";
/// A live feed whose Redis cannot be reached (status 503).
pub const FEED_STORE_FAILED_MESSAGE: &str = "the feed's store cannot be reached";
/// Packets of a live feed were lost while its Redis was unreachable (status 503).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) const FEED_GAP_MESSAGE: &str =
    "packets of the feed were lost while its store was unreachable";

/// The `status` field of the legacy error envelope, always this text.
pub(super) const LEGACY_ERROR_STATUS: &str = "Stream Error";
/// The answer when a bounded store is full of running streams.
pub(crate) const FULL_MESSAGE: &str = "too many resumable streams are in use: retry later";

/// The error packet of streams ended by a graceful shutdown, and the `503`
/// answer to streams asked for while the server shuts down.
pub const SHUTDOWN_MESSAGE: &str = "the server is shutting down";
/// The generic message a client sees for an internal error or a panic, unless
/// the application opted in with [`Config::expose_internal_errors`](crate::Config::expose_internal_errors).
pub const INTERNAL_ERROR_MESSAGE: &str = "internal error";
/// The `503` answer when [`Config::max_streams`](crate::Config::max_streams) streams already run.
pub(crate) const BUSY_MESSAGE: &str = "too many streams are running: retry later";
/// The `409` answer to a start under the id of a stream whose job still runs
/// (a named stream, such as a chat's answer).
pub const RUNNING_MESSAGE: &str = "a stream with this id is running";
