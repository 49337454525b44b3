//! Stream ids and resume points (`<stream id>.<count>`): what `Last-Event-ID`
//! carries, and the one parser of it.

use std::fmt;
use std::str::FromStr;

/// The id of a resumable stream: 128 random bits, written as 32 lowercase hex
/// digits. It is the only thing a client needs to resume, so it is drawn from
/// a cryptographically secure generator and cannot be guessed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(u128);

impl StreamId {
    /// A fresh random id.
    pub fn random() -> Self {
        // `rand`'s thread generator is a CSPRNG seeded from the OS.
        StreamId(rand::random())
    }

    /// The id of the stream named `name`: a name the app chooses, such as a
    /// chat's id, so that a request that knows the name (from its URL) finds
    /// the stream without a resume point. The same name gives the same id on
    /// every server (the first 128 bits of a SHA-256 of the name), and two
    /// names do not share an id. Unlike a random id, a name may be known to
    /// others: tie such a stream to its user with
    /// [`Resumable::owner`](crate::resume::Resumable::owner).
    ///
    /// ```
    /// use rivulet::resume::StreamId;
    ///
    /// assert_eq!(StreamId::named("chat-1"), StreamId::named("chat-1"));
    /// assert_ne!(StreamId::named("chat-1"), StreamId::named("chat-2"));
    /// ```
    pub fn named(name: &str) -> Self {
        use sha2::{Digest, Sha256};

        let mut hash = Sha256::new();
        // A domain prefix: the id is not the plain hash of the name.
        hash.update(b"rivulet stream name\0");
        hash.update(name.as_bytes());
        let digest = hash.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        StreamId(u128::from_be_bytes(first))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({self})")
    }
}

impl FromStr for StreamId {
    type Err = InvalidId;

    /// Exactly 32 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidId);
        }
        u128::from_str_radix(s, 16)
            .map(StreamId)
            .map_err(|_| InvalidId)
    }
}

/// Where a client resumes: the stream, and how many of its packets the client
/// has (packets are numbered from 1, so this is also the number of the last
/// one it received). Written `<stream id>.<count>`: the SSE `id` of packet `n`
/// is its resume point, and an NDJSON or legacy client builds the same text
/// from the `Rivulet-Stream-Id` response header and the packets it counted.
///
/// ```
/// use rivulet::resume::ResumePoint;
///
/// let point: ResumePoint = "0123456789abcdef0123456789abcdef.7".parse().unwrap();
/// assert_eq!(point.received, 7);
/// assert_eq!(point.to_string(), "0123456789abcdef0123456789abcdef.7");
/// // From the start is `.0`; a stream id alone is not a resume point.
/// assert!("0123456789abcdef0123456789abcdef".parse::<ResumePoint>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResumePoint {
    /// The stream to resume.
    pub stream: StreamId,
    /// How many packets the client has already received.
    pub received: u64,
}

impl fmt::Display for ResumePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.stream, self.received)
    }
}

impl FromStr for ResumePoint {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, InvalidId> {
        let (stream, count) = s.trim().split_once('.').ok_or(InvalidId)?;
        // Digits only: no sign, no spaces.
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidId);
        }
        Ok(ResumePoint {
            stream: stream.parse()?,
            received: count.parse().map_err(|_| InvalidId)?,
        })
    }
}

/// A `Last-Event-ID` that is not a resume point (a plain counter of a stream
/// that was not resumable, or anything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidId;

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a resume point (`<32 hex digits>.<count>`)")
    }
}

impl std::error::Error for InvalidId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_distinct() {
        let a = StreamId::random();
        let b = StreamId::random();
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 32);
        assert_eq!(a.to_string().parse::<StreamId>(), Ok(a));
    }

    #[test]
    fn resume_points_parse_strictly() {
        let id = "00000000000000000000000000000abc";
        let point: ResumePoint = format!("{id}.12").parse().unwrap();
        assert_eq!(point.received, 12);
        assert_eq!(point.stream.to_string(), id);
        for bad in [
            "12",
            id,
            "",
            ".3",
            "00000000000000000000000000000abc.",
            "00000000000000000000000000000abc.-1",
            "00000000000000000000000000000abc.+1",
            "00000000000000000000000000000abc.1.2",
            "0000000000000000000000000000abc.1",
            "00000000000000000000000000000abg.1",
            "00000000000000000000000000000abc.99999999999999999999999",
        ] {
            assert_eq!(bad.parse::<ResumePoint>(), Err(InvalidId), "{bad:?}");
        }
    }
}
