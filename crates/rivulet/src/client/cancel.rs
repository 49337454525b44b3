//! Cancelling a resumable stream from the client: `DELETE` on the stream's
//! own URL with its resume point (`docs/protocol.md`, "Cancelling").

use std::time::Duration;

use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::{Error, status_error, within};
use crate::protocol::LAST_EVENT_ID;

/// What the server did with a cancel ([`EventStream::cancel`](super::EventStream::cancel)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancelled {
    /// The job was running and has been told to stop (`202 Accepted`): its
    /// readers get the final packet "the stream was cancelled".
    Stopped,
    /// Nothing runs under the stream's id any more (`204 No Content`): it had
    /// ended (finished, cancelled, lost) or expired.
    NotRunning,
}

/// How to reach the stream's URL again, as the request that started it did
/// (its headers carry the credentials a cancel is authorised with).
#[derive(Debug)]
pub(super) struct Canceller {
    http: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    idle_timeout: Option<Duration>,
}

impl Canceller {
    pub(super) fn new(
        http: reqwest::Client,
        request: &reqwest::Request,
        idle_timeout: Option<Duration>,
    ) -> Self {
        let mut headers = request.headers().clone();
        // A DELETE has no body, and its answer is no stream.
        for name in [CONTENT_TYPE, CONTENT_LENGTH, ACCEPT] {
            headers.remove(name);
        }
        Canceller {
            http,
            url: request.url().clone(),
            headers,
            idle_timeout,
        }
    }

    /// Sends the `DELETE` with resume point `point`.
    pub(super) async fn cancel(&self, point: &str) -> Result<Cancelled, Error> {
        let mut headers = self.headers.clone();
        let point = HeaderValue::from_str(point).map_err(|_| Error::NotResumable)?;
        headers.insert(LAST_EVENT_ID, point);
        let request = self
            .http
            .request(Method::DELETE, self.url.clone())
            .headers(headers);
        let response = within(self.idle_timeout, request.send())
            .await?
            .map_err(Error::Transport)?;
        match response.status() {
            StatusCode::ACCEPTED => Ok(Cancelled::Stopped),
            StatusCode::NO_CONTENT => Ok(Cancelled::NotRunning),
            _ => Err(status_error(response, self.idle_timeout).await),
        }
    }
}
