//! [`Resumable`]: the extractor of a resumable streaming handler, which starts
//! a detached job or continues the stream a request's resume point names.

use std::future::Future;

use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

use super::Settings;
use super::connection::Writing;
use super::encoding::{Dialect, Encoding};
use super::request::ResumeRequest;
use super::settings::Resume;
use super::store::StoreError;
use super::{connection, producer};
use crate::error::Error;
use crate::error::refusal::retry_later;
use crate::metrics::ActiveStream;
use crate::protocol::Format;
use crate::protocol::{
    EVICTED_MESSAGE, FULL_MESSAGE, RUNNING_MESSAGE, ResumePoint, STORE_UNAVAILABLE_MESSAGE,
    StreamId,
};
use crate::request::resume::{self, Kept, Requested, Verdict};
use crate::response::{IntoResponse, Response};
use crate::stream::sender::Sender;
use crate::stream::{Stream, Timing};

/// Extractor for a resumable streaming handler: like [`Stream`], but the
/// handler's job survives its connection, and a request carrying a resume point
/// (`Last-Event-ID`, or the `lastEventId` query parameter) continues the stream
/// it names instead of starting a new job. See the [module docs](crate::resume).
#[derive(Debug)]
pub struct Resumable {
    stream: Stream,
    resume: Resume,
    /// Kept for the authorization hook when the request resumes.
    headers: HeaderMap,
    owner: Option<String>,
    /// A `DELETE`: the request cancels the stream its point names.
    cancel: bool,
    /// The id a new stream takes instead of a random one.
    id: Option<StreamId>,
    /// Answer a resume of a finished stream `204`.
    running_only: bool,
    /// The SSE dialect connections write instead of the negotiated format.
    dialect: Option<Dialect>,
}

impl Resumable {
    /// The resumable stream a request asks for, from its head: as
    /// [`Stream::from_parts`], with the [`Resume`] settings in its extensions
    /// and the resume point it carries. What every adapter's extractor does.
    pub fn from_parts(parts: &Parts) -> Self {
        let stream = Stream::from_parts(parts);
        Resumable {
            resume: parts
                .extensions
                .get::<Resume>()
                .cloned()
                .unwrap_or_default(),
            headers: if stream.resume_from.is_present() {
                parts.headers.clone()
            } else {
                HeaderMap::new()
            },
            stream,
            owner: None,
            cancel: parts.method == Method::DELETE,
            id: None,
            running_only: false,
            dialect: None,
        }
    }
}

impl Resumable {
    /// The wire format the client asked for.
    pub fn format(&self) -> Format {
        self.stream.format()
    }

    /// True when the request resumes a stream rather than starting one.
    pub fn is_resume(&self) -> bool {
        self.stream.resume_from.is_present() && !self.cancel
    }

    /// True when the request is a `DELETE` that cancels a stream:
    /// [`run`](Self::run) answers it without running the handler.
    pub fn is_cancel(&self) -> bool {
        self.cancel
    }

    /// Ties the stream to `owner` (a user id, a session): a new stream is
    /// created with it, and a resume is allowed only with the same owner
    /// (unless a [`Resume::authorize`] hook decides otherwise).
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Starts the job under `id` instead of a random id. With
    /// [`StreamId::named`], requests that know the name (a chat's id in
    /// their URL) reach the stream with [`resume_from`](Self::resume_from),
    /// without a resume point of their own. While a job runs under `id`, a
    /// new start is answered `409 Conflict`; a stream under `id` that has
    /// ended is replaced by the new one.
    pub fn id(mut self, id: StreamId) -> Self {
        self.id = Some(id);
        self
    }

    /// Makes the request resume (or, for a `DELETE`, cancel) the stream at
    /// `point`, whatever resume point it carries itself: for routes whose URL
    /// names the stream.
    pub fn resume_from(mut self, point: ResumePoint) -> Self {
        self.stream.resume_from = Requested::Point(point);
        self.headers = self.stream.headers.clone();
        self
    }

    /// Answers a resume of a stream that has finished `204 No Content`
    /// instead of replaying it: for clients that only follow a job while it
    /// runs (the AI SDK's resume on page load), and get a finished answer
    /// some other way.
    pub fn running_only(mut self) -> Self {
        self.running_only = true;
        self
    }

    /// Writes the response in `encoding`, an SSE dialect, instead of the
    /// format the client asked for (see [`Encoding`]).
    pub fn encoding(mut self, encoding: impl Encoding) -> Self {
        self.dialect = Some(Dialect(std::sync::Arc::new(encoding)));
        self
    }

    /// Starts `handler` as a detached job, or, for a request carrying a resume
    /// point, continues the stream it names without running `handler` at all.
    ///
    /// The handler gets a [`Sender`] as with [`Stream::run`]; its `Ok` value is
    /// the final `done` packet, its `Err` (or a panic) the final `error` packet.
    /// Its future is dropped, and its `Sender` starts failing, when no client
    /// has been connected for the grace period.
    ///
    /// A resume is answered `204 No Content` when the stream is unknown, has
    /// expired, or the client already has its final packet; `410 Gone` when
    /// the packets it missed are no longer kept; the hook's error when it is
    /// not allowed.
    ///
    /// A `DELETE` carrying a resume point cancels the stream it names, on
    /// whichever server runs its job, once allowed as a resume would be:
    /// `202 Accepted` with `{"cancelled":"<stream id>"}` when a running job
    /// was told to stop (its future is dropped, and its readers get the
    /// final error packet "the stream was cancelled", status 409);
    /// `204 No Content` when nothing runs under that id; `400` when the
    /// point is missing or malformed. Route the same handler for both
    /// methods: `get(handler).delete(handler)`.
    ///
    /// The framework-neutral form of `run` (which the adapters give).
    pub async fn respond<F, Fut, T>(self, handler: F) -> Response
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let Resumable {
            stream,
            resume,
            headers,
            owner,
            cancel,
            id,
            running_only,
            dialect,
        } = self;
        let settings = resume.inner;
        let from = stream.resume_from;
        if cancel {
            return cancel_stream(&settings, from, &headers, owner.as_deref()).await;
        }
        let writing = match dialect {
            Some(Dialect(encoding)) => Writing::Dialect(encoding),
            None => Writing::Format(stream.format()),
        };
        let timing = Timing::of(stream.config());
        let shutdown = stream.config().shutdown.clone();
        let point = match from {
            Requested::Point(point) => point,
            Requested::Malformed(e) => return resume::malformed(e),
            Requested::Start => {
                // Packets are stored as typed records, whatever the format of
                // the connections that read them.
                let job = match stream.spawn(handler) {
                    Ok(job) => job,
                    Err(refused) => return *refused,
                };
                let id = id.unwrap_or_else(StreamId::random);
                match producer::start(&settings, id, owner.as_deref(), job).await {
                    Ok(()) => {}
                    Err(StoreError::Exists) => {
                        return Error::new(StatusCode::CONFLICT, RUNNING_MESSAGE).into_response();
                    }
                    Err(StoreError::Full) => {
                        tracing::warn!(stream = %id, "refused a resumable stream: the store is full");
                        return retry_later(FULL_MESSAGE);
                    }
                    Err(e) => {
                        tracing::error!(stream = %id, error = %e, "could not start a resumable stream");
                        return store_unavailable();
                    }
                }
                // The job holds the stream's slot and is counted; its first
                // connection shares them.
                let connection = connection::Connection {
                    writing,
                    timing,
                    shutdown,
                    held: None,
                };
                return connection::respond(&settings, id, 0, connection).await;
            }
        };
        let status = match settings.store.status(point.stream).await {
            Ok(Some(status)) => status,
            Ok(None) | Err(StoreError::Unknown) => return resume::no_content(),
            Err(StoreError::Evicted { .. }) => return gone(),
            Err(e) => {
                tracing::error!(stream = %point.stream, error = %e, "could not look up a stream to resume");
                return store_unavailable();
            }
        };
        let request = ResumeRequest {
            stream: point.stream,
            owner: status.owner.as_deref(),
            presented: owner.as_deref(),
            headers: &headers,
        };
        if let Err(denied) = authorize(&settings, &request) {
            return denied.into_response();
        }
        if running_only && status.finished {
            return resume::no_content();
        }
        // The store reports the packets it no longer keeps as it reads them
        // (`Evicted`): as far as the table goes, it keeps them all.
        let kept = Kept {
            id: point.stream,
            last: status.last,
            ended: status.finished,
            first_kept: 1,
        };
        let after = match kept.classify(point) {
            Verdict::From(after) => after,
            Verdict::HasFinal | Verdict::Unknown => return resume::no_content(),
            Verdict::Gone => return gone(),
        };
        // A resumed connection streams as any other: it takes a slot under
        // `Config::max_streams` (or is refused 503), and is counted.
        let slot = match stream.config().slot() {
            Ok(slot) => slot,
            Err(refused) => return *refused,
        };
        let connection = connection::Connection {
            writing,
            timing,
            shutdown,
            held: Some((slot, ActiveStream::start())),
        };
        connection::respond(&settings, point.stream, after, connection).await
    }
}

/// Asks the resume hook (or, without one, compares the owners) whether
/// `request` may resume, or cancel, its stream.
fn authorize(settings: &Settings, request: &ResumeRequest<'_>) -> Result<(), Error> {
    match &settings.authorize {
        Some(hook) => hook(request),
        None if request.owner == request.presented => Ok(()),
        None => Err(Error::new(
            StatusCode::FORBIDDEN,
            "not allowed to resume this stream",
        )),
    }
}

/// Answers a `DELETE` that cancels the stream `from` names.
async fn cancel_stream(
    settings: &Settings,
    from: Requested,
    headers: &HeaderMap,
    presented: Option<&str>,
) -> Response {
    let point = match from {
        Requested::Point(point) => point,
        Requested::Malformed(e) => return resume::malformed(e),
        Requested::Start => {
            let message =
                "a cancel needs the stream's resume point in Last-Event-ID or lastEventId";
            return Error::new(StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let status = match settings.store.status(point.stream).await {
        Ok(Some(status)) => status,
        Ok(None) | Err(StoreError::Unknown | StoreError::Evicted { .. }) => {
            return StatusCode::NO_CONTENT.into_response();
        }
        Err(e) => {
            tracing::error!(stream = %point.stream, error = %e, "could not look up a stream to cancel");
            return store_unavailable();
        }
    };
    let request = ResumeRequest {
        stream: point.stream,
        owner: status.owner.as_deref(),
        presented,
        headers,
    };
    if let Err(denied) = authorize(settings, &request) {
        return denied.into_response();
    }
    match settings.store.cancel(point.stream).await {
        Ok(true) => {
            tracing::info!(stream = %point.stream, "a client cancelled the stream");
            let body = serde_json::json!({ "cancelled": point.stream.to_string() });
            crate::response::json(StatusCode::ACCEPTED, &body)
        }
        Ok(false) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(stream = %point.stream, error = %e, "could not cancel a stream");
            store_unavailable()
        }
    }
}

/// The answer when the packets a client missed are no longer kept.
fn gone() -> Response {
    Error::new(StatusCode::GONE, EVICTED_MESSAGE).into_response()
}

/// The answer when the store cannot be reached.
fn store_unavailable() -> Response {
    retry_later(STORE_UNAVAILABLE_MESSAGE)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resume::MemoryStore;

    /// A resumable stream's packets are kept as records, and its Sender
    /// reports the format the client asked for.
    #[tokio::test]
    async fn the_sender_reports_the_format_the_client_asked_for() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::get(|stream: Resumable| async move {
                    stream
                        .run(|tx| async move {
                            let name = tx.format().name();
                            tx.send(name).await?;
                            Ok(name)
                        })
                        .await
                }),
            )
            .layer(axum::Extension(Resume::new(MemoryStore::new())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\naccept: text/event-stream\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut response))
            .await
            .expect("the stream ends")
            .unwrap();
        let text = String::from_utf8_lossy(&response);
        assert!(text.contains("data: \"sse\"\n\n"), "{text}");
        assert!(text.contains("event: done\ndata: \"sse\"\n\n"), "{text}");
    }
}
