//! The one resume policy of resumable streams and live feeds: where a request
//! carries its resume point ([`Requested::of`]), and how a history answers it
//! ([`Kept::classify`]). Both kinds of stream answer the same point the same
//! way; `docs/protocol.md` ("Resuming") holds the table.

use crate::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};

use crate::error::Error;
use crate::protocol::{
    InvalidId, LAST_EVENT_ID, LAST_EVENT_ID_PARAM, RESUME_POINT_HEADER, ResumePoint,
    STREAM_ID_HEADER, StreamId,
};

/// The resume point a request carries: the `Last-Event-ID` header, or else
/// the `lastEventId` query parameter (for clients that cannot set headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Requested {
    /// Neither is present: the request starts (a job) or joins live (a feed).
    Start,
    /// A well-formed point.
    Point(ResumePoint),
    /// One is present and is not `<32 hex digits>.<count>` (a bare id
    /// included).
    Malformed(InvalidId),
}

impl Requested {
    /// Reads the request's point: the header wins over the query parameter.
    pub(crate) fn of(headers: &HeaderMap, uri: &Uri) -> Self {
        let text = match headers.get(LAST_EVENT_ID) {
            Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
            None => match query_value(uri.query().unwrap_or(""), LAST_EVENT_ID_PARAM) {
                Some(value) => value,
                None => return Requested::Start,
            },
        };
        match text.parse() {
            Ok(point) => Requested::Point(point),
            Err(e) => Requested::Malformed(e),
        }
    }

    /// The point, when the request carries a well-formed one.
    pub(crate) fn point(self) -> Option<ResumePoint> {
        match self {
            Requested::Point(point) => Some(point),
            _ => None,
        }
    }

    /// True when the request carries a point, well-formed or not.
    pub(crate) fn is_present(self) -> bool {
        self != Requested::Start
    }
}

/// The value of `name` in a query string, percent-decoded.
fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// What a history (a resumable stream's, or a feed's) keeps, as far as a
/// resuming client is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kept {
    /// Its id: a resumable stream's id, a feed's epoch.
    pub(crate) id: StreamId,
    /// The number of its last packet (0 before the first).
    pub(crate) last: u64,
    /// Its last packet is its final one.
    pub(crate) ended: bool,
    /// The number of the oldest packet it still keeps (`last + 1` when it
    /// keeps none).
    pub(crate) first_kept: u64,
}

/// How a history answers a resume point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// `200`: the packets after this number are all kept.
    From(u64),
    /// `204`: the client has the final packet already.
    HasFinal,
    /// `204`: the point names nothing kept here: another (or an expired)
    /// stream, a feed's earlier epoch, a number the history has not reached.
    Unknown,
    /// `410`: the history is known, and some packets the client missed are
    /// no longer kept.
    Gone,
}

impl Kept {
    /// The one classification of a resume point against a history.
    pub(crate) fn classify(&self, point: ResumePoint) -> Verdict {
        if point.stream != self.id || point.received > self.last {
            Verdict::Unknown
        } else if point.received == self.last && self.ended {
            Verdict::HasFinal
        } else if point.received + 1 < self.first_kept {
            Verdict::Gone
        } else {
            Verdict::From(point.received)
        }
    }
}

/// The `400` answer to a malformed point.
pub(crate) fn malformed(e: InvalidId) -> Response {
    let message = format!("Last-Event-ID (or lastEventId) is {e}");
    Error::new(StatusCode::BAD_REQUEST, message).into_response()
}

/// The `204` answer: nothing to send.
pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Names the history a `200` answer reads and the point it starts after:
/// `Rivulet-Stream-Id: <id>` and `Rivulet-Resume-Point: <id>.<after>`, from
/// which a client that reads no ids (NDJSON, legacy) counts its way to its
/// own resume point.
pub(crate) fn name_history(headers: &mut HeaderMap, id: StreamId, after: u64) {
    let point = ResumePoint {
        stream: id,
        received: after,
    };
    let id = HeaderValue::from_str(&id.to_string()).expect("hex digits");
    let point = HeaderValue::from_str(&point.to_string()).expect("hex digits and a number");
    headers.insert(STREAM_ID_HEADER, id);
    headers.insert(RESUME_POINT_HEADER, point);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00000000000000000000000000000abc";

    fn requested(header: Option<&str>, uri: &str) -> Requested {
        let mut headers = HeaderMap::new();
        if let Some(value) = header {
            headers.insert(LAST_EVENT_ID, value.parse().unwrap());
        }
        Requested::of(&headers, &uri.parse().unwrap())
    }

    #[test]
    fn the_header_wins_over_the_query_and_a_bare_id_is_malformed() {
        let point = |n| {
            Requested::Point(ResumePoint {
                stream: ID.parse().unwrap(),
                received: n,
            })
        };
        assert_eq!(requested(None, "/s?a=1"), Requested::Start);
        assert_eq!(requested(Some(&format!("{ID}.3")), "/s"), point(3));
        assert_eq!(
            requested(None, &format!("/s?lastEventId={ID}%2E4")),
            point(4)
        );
        assert_eq!(
            requested(Some(&format!("{ID}.5")), &format!("/s?lastEventId={ID}.4")),
            point(5)
        );
        assert_eq!(requested(Some(ID), "/s"), Requested::Malformed(InvalidId));
        assert_eq!(
            requested(None, &format!("/s?lastEventId={ID}")),
            Requested::Malformed(InvalidId)
        );
        assert_eq!(requested(Some("7"), "/s"), Requested::Malformed(InvalidId));
    }

    #[test]
    fn one_table_for_every_history() {
        let id: StreamId = ID.parse().unwrap();
        let other: StreamId = "00000000000000000000000000000def".parse().unwrap();
        let kept = Kept {
            id,
            last: 10,
            ended: false,
            first_kept: 4,
        };
        let at = |stream, received| ResumePoint { stream, received };
        assert_eq!(kept.classify(at(id, 3)), Verdict::From(3));
        assert_eq!(kept.classify(at(id, 10)), Verdict::From(10));
        assert_eq!(kept.classify(at(id, 2)), Verdict::Gone);
        assert_eq!(kept.classify(at(id, 11)), Verdict::Unknown);
        assert_eq!(kept.classify(at(other, 5)), Verdict::Unknown);
        let ended = Kept {
            ended: true,
            ..kept
        };
        assert_eq!(ended.classify(at(id, 10)), Verdict::HasFinal);
        assert_eq!(ended.classify(at(id, 9)), Verdict::From(9));
    }
}
