//! The three wire formats a stream can be written in, and how a request picks one.
//!
//! See `docs/protocol.md` for the bytes of each format.

use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE};

use crate::protocol::LEGACY_REQUEST_HEADER;

/// A wire format of the Rivulet protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `text/event-stream`: progress packets are plain message events, the final
    /// packet is event `done` or `error`. The default.
    #[default]
    Sse,
    /// `application/x-ndjson`: one `{"progress"|"done"|"error": …}` object per line.
    Ndjson,
    /// The framing of the original jQuery `$.stream` plugin, chosen by the
    /// `X-Request-Type: stream` request header.
    Legacy,
}

impl Format {
    /// Every format, in the order the protocol documents them.
    pub const ALL: [Format; 3] = [Format::Sse, Format::Ndjson, Format::Legacy];

    /// Picks the format a request asks for: the first of `application/x-ndjson`
    /// or `text/event-stream` listed in `Accept`, else legacy framing when the
    /// request carries `X-Request-Type: stream`, else SSE.
    ///
    /// ```
    /// use rivulet::Format;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("accept", "application/x-ndjson".parse().unwrap());
    /// assert_eq!(Format::negotiate(&headers), Format::Ndjson);
    /// ```
    pub fn negotiate(headers: &HeaderMap) -> Format {
        for value in headers.get_all(ACCEPT) {
            let Ok(value) = value.to_str() else { continue };
            for range in value.split(',') {
                let media = range.split(';').next().unwrap_or("").trim();
                if media.eq_ignore_ascii_case("application/x-ndjson") {
                    return Format::Ndjson;
                }
                if media.eq_ignore_ascii_case("text/event-stream") {
                    return Format::Sse;
                }
            }
        }
        let legacy = headers
            .get(LEGACY_REQUEST_HEADER)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"stream"));
        if legacy { Format::Legacy } else { Format::Sse }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Sse => "text/event-stream",
            Format::Ndjson => "application/x-ndjson",
            Format::Legacy => "application/octet-stream;charset=ISO-8859-1",
        }
    }

    /// Recognises a response's format from its `Content-Type`, for clients.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("text/event-stream") {
            Some(Format::Sse)
        } else if media.eq_ignore_ascii_case("application/x-ndjson") {
            Some(Format::Ndjson)
        } else if media.eq_ignore_ascii_case("application/octet-stream") {
            Some(Format::Legacy)
        } else {
            None
        }
    }

    /// Reads the format of a response from its headers, for clients.
    pub fn from_response_headers(headers: &HeaderMap) -> Option<Format> {
        headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(Format::from_content_type)
    }

    /// The request headers that ask a Rivulet server for this format.
    pub fn request_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Format::Sse => &[("accept", "text/event-stream")],
            Format::Ndjson => &[("accept", "application/x-ndjson")],
            Format::Legacy => &[(LEGACY_REQUEST_HEADER, "stream")],
        }
    }

    /// The short name used on command lines and in fixture file names.
    pub fn name(self) -> &'static str {
        match self {
            Format::Sse => "sse",
            Format::Ndjson => "ndjson",
            Format::Legacy => "legacy",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = UnknownFormat;

    /// `sse`, `ndjson`, `legacy` (or `hazaar`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sse" => Ok(Format::Sse),
            "ndjson" => Ok(Format::Ndjson),
            "legacy" | "hazaar" => Ok(Format::Legacy),
            _ => Err(UnknownFormat(s.to_owned())),
        }
    }
}

/// A name that is not one of the formats, refused by [`Format`]'s `FromStr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownFormat(pub String);

impl std::fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown format `{}` (expected sse, ndjson or legacy)",
            self.0
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn negotiation_order() {
        assert_eq!(Format::negotiate(&headers(&[])), Format::Sse);
        assert_eq!(
            Format::negotiate(&headers(&[("accept", "*/*")])),
            Format::Sse
        );
        assert_eq!(
            Format::negotiate(&headers(&[(
                "accept",
                "text/html, application/x-ndjson;q=0.9"
            )])),
            Format::Ndjson
        );
        assert_eq!(
            Format::negotiate(&headers(&[(
                "accept",
                "text/event-stream, application/x-ndjson"
            )])),
            Format::Sse
        );
        assert_eq!(
            Format::negotiate(&headers(&[("x-request-type", "stream")])),
            Format::Legacy
        );
        assert_eq!(
            Format::negotiate(&headers(&[
                ("x-request-type", "stream"),
                ("accept", "application/x-ndjson")
            ])),
            Format::Ndjson
        );
        assert_eq!(
            Format::negotiate(&headers(&[("x-request-type", "other")])),
            Format::Sse
        );
    }

    #[test]
    fn content_types_round_trip() {
        for format in Format::ALL {
            assert_eq!(
                Format::from_content_type(format.content_type()),
                Some(format)
            );
            assert_eq!(format.name().parse::<Format>(), Ok(format));
        }
        assert_eq!(Format::from_content_type("text/html"), None);
        let unknown = "xml".parse::<Format>().unwrap_err();
        assert_eq!(unknown, UnknownFormat("xml".into()));
        assert!(unknown.to_string().contains("`xml`"));
    }
}
