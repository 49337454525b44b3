//! [`ResumeRequest`]: a request to resume a stream, as the authorization hook
//! sees it.

use http::HeaderMap;

use crate::protocol::StreamId;

/// A request to resume a stream, as the [`Resume::authorize`](super::Resume::authorize) hook sees it.
#[derive(Debug)]
pub struct ResumeRequest<'a> {
    pub(super) stream: StreamId,
    pub(super) owner: Option<&'a str>,
    pub(super) presented: Option<&'a str>,
    pub(super) headers: &'a HeaderMap,
}

impl ResumeRequest<'_> {
    /// The stream to resume.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The owner the stream was created with.
    pub fn owner(&self) -> Option<&str> {
        self.owner
    }

    /// The owner the handler gave for this request ([`Resumable::owner`](super::Resumable::owner)).
    pub fn presented_owner(&self) -> Option<&str> {
        self.presented
    }

    /// The request's headers (cookies, `Authorization`, …).
    pub fn headers(&self) -> &HeaderMap {
        self.headers
    }
}
