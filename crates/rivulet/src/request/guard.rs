//! The guard on request bodies: what a client can hold on the server by
//! sending a body slowly, or a body built to be buffered.
//!
//! Installed by [`Config`]'s layer (`Router::layer(config)`), it wraps every
//! request body that has one, before any extractor reads it; on actix-web,
//! the [`RequestBody`](crate::actix::RequestBody) extractor wraps the body it
//! reads:
//!
//! * **No progress**: a body that sends nothing for
//!   [`Config::request_body_timeout`] (30 s by default) fails with status 408.
//! * **Too long**: a body longer than [`Config::max_request_bytes`] (no limit
//!   by default) fails with status 413 once it has gone over, whether it
//!   declared its length or not.
//! * **Multipart heads**: in a `multipart/*` body, the bytes before the first
//!   boundary and the header block of each part are at most
//!   [`MAX_MULTIPART_HEAD`] each, else the body fails with status 400. A
//!   multipart parser (axum's `Multipart`, multer) holds such bytes until their
//!   end arrives, and searches them again on every chunk.
//! * **Broken framing**: a body the server cannot read (malformed chunked
//!   encoding, a connection cut mid-body) fails with status 400: it is the
//!   client's fault, not the handler's.
//!
//! The extractor that reads the body reports these failures in its own error
//! (`MultipartError`, `BytesRejection`, …); `?` turns any error that carries
//! one into an [`Error`] with its status and reason, and
//! [`Error::from_request_body`] finds it in an error of any type.
// Installed by an adapter; the core alone has no request body to guard.
#![cfg_attr(not(any(feature = "axum", feature = "actix")), allow(dead_code))]

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(feature = "axum")]
use axum::body::Body;
use bytes::Bytes;
#[cfg(feature = "axum")]
use http::Request;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
#[cfg(feature = "axum")]
use http_body::Body as _;
use http_body::{Frame, SizeHint};
use memchr::memmem;
use tokio::time::{Instant, Sleep};

use crate::error::RequestBodyError;

/// The most bytes a multipart body may hold before its first boundary, and in
/// the header block of each of its parts.
pub const MAX_MULTIPART_HEAD: usize = 16 * 1024;

/// What the guard allows a body: [`Config::request_body_timeout`] and
/// [`Config::max_request_bytes`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Allowance {
    pub(crate) idle: Option<Duration>,
    pub(crate) max_bytes: Option<u64>,
}

/// Wraps the body of `request` in the guard, unless it has none.
#[cfg(feature = "axum")]
pub(crate) fn guard_body(request: Request<Body>, allowance: Allowance) -> Request<Body> {
    if request.body().is_end_stream() {
        return request;
    }
    let (parts, body) = request.into_parts();
    let guarded = guard(body, &parts.headers, allowance);
    Request::from_parts(parts, Body::new(guarded))
}

/// Wraps `body`, the body of a request with `headers`, in the guard.
pub(crate) fn guard<B>(body: B, headers: &HeaderMap, allowance: Allowance) -> Guarded<B> {
    Guarded {
        inner: body,
        idle: allowance.idle,
        sleep: None,
        waiting: false,
        limit: allowance.max_bytes,
        read: 0,
        multipart: multipart_boundary(headers).map(Scan::new),
        failed: false,
    }
}

pin_project_lite::pin_project! {
    /// A request body under the guard.
    pub(crate) struct Guarded<B> {
        #[pin]
        inner: B,
        idle: Option<Duration>,
        // Made on the first wait, then reset: most bodies arrive whole.
        sleep: Option<Pin<Box<Sleep>>>,
        // The last poll was pending: the timer runs from its start.
        waiting: bool,
        // The most bytes the body may have, and how many it has had.
        limit: Option<u64>,
        read: u64,
        multipart: Option<Scan>,
        failed: bool,
    }
}

impl<B> http_body::Body for Guarded<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        let error = match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                *this.waiting = false;
                let data = frame.data_ref().map_or(&[][..], |data| &data[..]);
                *this.read += data.len() as u64;
                let scanned = match this.multipart.as_mut() {
                    Some(scan) => scan.feed(data),
                    None => Ok(()),
                };
                match (scanned, *this.limit) {
                    (_, Some(limit)) if *this.read > limit => RequestBodyError {
                        status: StatusCode::PAYLOAD_TOO_LARGE,
                        message: format!("the request body is over the limit of {limit} bytes")
                            .into(),
                    },
                    (Ok(()), _) => return Poll::Ready(Some(Ok(frame))),
                    (Err(message), _) => RequestBodyError {
                        status: StatusCode::BAD_REQUEST,
                        message: message.into(),
                    },
                }
            }
            Poll::Ready(Some(Err(e))) => RequestBodyError {
                status: StatusCode::BAD_REQUEST,
                message: format!("the request body could not be read: {e}").into(),
            },
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                let Some(idle) = *this.idle else {
                    return Poll::Pending;
                };
                let deadline = Instant::now() + idle;
                let sleep = match this.sleep {
                    Some(sleep) => {
                        if !*this.waiting {
                            sleep.as_mut().reset(deadline);
                        }
                        sleep
                    }
                    None => this
                        .sleep
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                *this.waiting = true;
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                RequestBodyError {
                    status: StatusCode::REQUEST_TIMEOUT,
                    message: format!("the request body made no progress for {idle:?}").into(),
                }
            }
        };
        *this.failed = true;
        Poll::Ready(Some(Err(error)))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The boundary of a `multipart/*` request, from its `Content-Type`.
fn multipart_boundary(headers: &HeaderMap) -> Option<Vec<u8>> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let mut params = value.split(';');
    let essence = params.next()?.trim();
    if !essence
        .get(..10)
        .is_some_and(|m| m.eq_ignore_ascii_case("multipart/"))
    {
        return None;
    }
    params.find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then(|| value.as_bytes().to_vec())
    })
}

/// Follows a multipart body through its parts, counting the bytes of each
/// head (the preamble, a part's header block). Every byte is looked at once.
struct Scan {
    state: State,
    /// Bytes of the head being read so far.
    head: usize,
    /// `--boundary`: opens the first part.
    first: Finder,
    /// `\r\n--boundary`: ends a part.
    delimiter: Finder,
    /// `\r\n\r\n`: ends a part's header block.
    blank_line: Finder,
}

enum State {
    /// Before the first boundary.
    Preamble,
    /// Just after a boundary: `--` closes the body, anything else opens a
    /// part. Holds the first byte when it came alone.
    AfterBoundary(Option<u8>),
    /// In a part's header block.
    Headers,
    /// In a part's content.
    Content,
    /// After the closing boundary: nothing more is parsed.
    Epilogue,
}

impl Scan {
    fn new(boundary: Vec<u8>) -> Self {
        let first = [b"--".as_slice(), &boundary].concat();
        let delimiter = [b"\r\n".as_slice(), &first].concat();
        Scan {
            state: State::Preamble,
            head: 0,
            first: Finder::new(first),
            delimiter: Finder::new(delimiter),
            blank_line: Finder::new(b"\r\n\r\n".to_vec()),
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            match &mut self.state {
                State::Preamble | State::Headers => {
                    let preamble = matches!(self.state, State::Preamble);
                    let finder = if preamble {
                        &mut self.first
                    } else {
                        &mut self.blank_line
                    };
                    let found = finder.find(data);
                    let used = found.unwrap_or(data.len());
                    self.head += used;
                    // The pattern itself is not counted: a head of exactly the
                    // limit passes, with its end in any chunk.
                    if self.head.saturating_sub(finder.pattern.len()) > MAX_MULTIPART_HEAD {
                        let what = if preamble {
                            "the multipart body has no boundary in its first"
                        } else {
                            "a part of the multipart body has headers longer than"
                        };
                        return Err(format!("{what} {MAX_MULTIPART_HEAD} bytes"));
                    }
                    let Some(end) = found else { return Ok(()) };
                    self.head = 0;
                    self.state = if preamble {
                        State::AfterBoundary(None)
                    } else {
                        State::Content
                    };
                    data = &data[end..];
                }
                State::AfterBoundary(first) => {
                    let (a, rest) = match first.take() {
                        Some(a) => (a, data),
                        None => (data[0], &data[1..]),
                    };
                    let Some(&b) = rest.first() else {
                        self.state = State::AfterBoundary(Some(a));
                        return Ok(());
                    };
                    if (a, b) == (b'-', b'-') {
                        self.state = State::Epilogue;
                        return Ok(());
                    }
                    // The two bytes (a line break, or the start of transport
                    // padding) belong to the head.
                    self.head = 2;
                    self.state = State::Headers;
                    // `a` and `b` may be the start of the blank line.
                    self.blank_line.seed(&[a, b]);
                    data = &rest[1..];
                }
                State::Content => match self.delimiter.find(data) {
                    Some(end) => {
                        self.state = State::AfterBoundary(None);
                        data = &data[end..];
                    }
                    None => return Ok(()),
                },
                State::Epilogue => return Ok(()),
            }
        }
        Ok(())
    }
}

/// Finds a pattern in a stream of chunks: a match may start in one chunk and
/// end in a later one.
struct Finder {
    pattern: Vec<u8>,
    /// The end of what came before, when it may be the start of a match.
    carry: Vec<u8>,
}

impl Finder {
    fn new(pattern: Vec<u8>) -> Self {
        Finder {
            pattern,
            carry: Vec::new(),
        }
    }

    /// Takes `bytes` as the stream's latest, without looking for a match
    /// ending in them (shorter than the pattern, they cannot hold one).
    fn seed(&mut self, bytes: &[u8]) {
        self.carry.clear();
        self.carry.extend_from_slice(bytes);
    }

    /// Where in `data` the next match ends, counting the bytes of earlier
    /// chunks; `None` when `data` holds no end of a match.
    fn find(&mut self, data: &[u8]) -> Option<usize> {
        let keep = self.pattern.len() - 1;
        if !self.carry.is_empty() {
            // A match that starts in the carried bytes ends within the first
            // `keep` bytes of `data`.
            let carried = self.carry.len();
            let mut joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(&data[..keep.min(data.len())]);
            if let Some(start) = memmem::find(&joined, &self.pattern) {
                return Some(start + self.pattern.len() - carried);
            }
            joined.truncate(carried);
            self.carry = joined;
        }
        if let Some(start) = memmem::find(data, &self.pattern) {
            self.carry.clear();
            return Some(start + self.pattern.len());
        }
        // Keep the last `keep` bytes seen.
        if data.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&data[data.len() - keep..]);
        } else {
            self.carry.extend_from_slice(data);
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDARY: &[u8] = b"XyZ";

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (headers, content) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            out.extend_from_slice(headers.as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(content.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\nepilogue");
        out
    }

    fn scan_in_pieces(bytes: &[u8], piece: usize) -> Result<(), String> {
        let mut scan = Scan::new(BOUNDARY.to_vec());
        for chunk in bytes.chunks(piece) {
            scan.feed(chunk)?;
        }
        assert!(
            matches!(scan.state, State::Epilogue),
            "ends after the closing boundary"
        );
        Ok(())
    }

    #[test]
    fn a_well_formed_body_passes_split_anywhere() {
        let content = "x".repeat(100) + "\r\n--Xy not the boundary";
        let bytes = body(&[
            ("Content-Disposition: form-data; name=\"a\"", "1"),
            ("Content-Disposition: form-data; name=\"file\"", &content),
            ("", ""),
        ]);
        for piece in 1..=bytes.len() {
            scan_in_pieces(&bytes, piece).unwrap();
        }
    }

    #[test]
    fn heads_up_to_the_limit_pass_and_longer_ones_fail() {
        // Counted: the line break after the boundary and the header lines.
        let headers = "X-Pad: ".to_owned() + &"p".repeat(MAX_MULTIPART_HEAD - 9);
        let bytes = body(&[(&headers, "data")]);
        scan_in_pieces(&bytes, 1000).unwrap();
        let headers = headers + "p";
        let err = scan_in_pieces(&body(&[(&headers, "data")]), 1000).unwrap_err();
        assert!(err.contains("headers longer than"), "{err}");

        let mut preamble = vec![b'.'; MAX_MULTIPART_HEAD];
        preamble.extend_from_slice(&body(&[("", "")]));
        scan_in_pieces(&preamble, 777).unwrap();
        let mut preamble = vec![b'.'; MAX_MULTIPART_HEAD + 1];
        preamble.extend_from_slice(&body(&[("", "")]));
        let err = scan_in_pieces(&preamble, 777).unwrap_err();
        assert!(err.contains("no boundary"), "{err}");
    }

    #[test]
    fn boundaries_are_read_from_the_content_type() {
        let mut headers = HeaderMap::new();
        for (value, boundary) in [
            ("multipart/form-data; boundary=abc", Some("abc")),
            ("Multipart/Mixed; charset=x; Boundary=\"a b\"", Some("a b")),
            ("multipart/form-data", None),
            ("application/json; boundary=abc", None),
        ] {
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(
                multipart_boundary(&headers).as_deref(),
                boundary.map(str::as_bytes),
                "{value}"
            );
        }
    }
}
