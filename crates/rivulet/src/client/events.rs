//! The events of one stream response, decoded as the bytes arrive.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::{Instant, Sleep};

use super::Cancelled;
use super::Error;
use super::cancel::Canceller;
use super::reconnect::Resumer;
use crate::decode::{Decoder, Event};
use crate::protocol::Format;
use crate::protocol::{ResumePoint, STREAM_ID_HEADER, StreamId};

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The packets of one stream, in order: a [`futures::Stream`] of
/// `Result<Event, Error>`.
///
/// It yields every progress packet, then the final packet
/// ([`Event::Done`] or [`Event::Error`]), then ends. A failure (the
/// connection broke, the stream was truncated, the server went quiet) is
/// yielded once as `Err` and ends the stream too. A stream that ends without
/// having yielded a final packet has therefore always yielded an `Err`.
///
/// Dropping it closes the connection: the server sees the client leave and
/// cancels its handler.
///
/// For callers who know their packet types, [`progress`](Self::progress) and
/// [`done`](Self::done) deserialize them.
pub struct EventStream {
    body: Option<Body>,
    status: StatusCode,
    headers: HeaderMap,
    format: Format,
    decoder: Decoder,
    ready: VecDeque<Event>,
    failure: Option<Error>,
    idle: Option<Idle>,
    /// The final packet, once yielded.
    outcome: Option<Event>,
    max_packet_bytes: usize,
    /// For a resumable stream: how to go on after a dropped connection.
    resume: Option<Resumer>,
    /// How to cancel the stream.
    canceller: Canceller,
}

struct Idle {
    after: Duration,
    timer: Pin<Box<Sleep>>,
}

impl EventStream {
    pub(super) fn new(
        response: reqwest::Response,
        format: Format,
        idle_timeout: Option<Duration>,
        max_packet_bytes: usize,
        mut resume: Option<Resumer>,
        canceller: Canceller,
    ) -> Self {
        if let Some(resume) = &mut resume {
            resume.response(response.headers());
        }
        EventStream {
            status: response.status(),
            headers: response.headers().clone(),
            format,
            decoder: numbered(
                Decoder::with_max_packet_bytes(format, max_packet_bytes),
                resume.is_some(),
            ),
            body: Some(Box::pin(response.bytes_stream())),
            ready: VecDeque::new(),
            failure: None,
            idle: idle_timeout.map(|after| Idle {
                after,
                timer: Box::pin(tokio::time::sleep(after)),
            }),
            outcome: None,
            max_packet_bytes,
            resume,
            canceller,
        }
    }

    /// The wire format of the response, read from its `Content-Type`.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The response's status (a 2xx).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The id of the last SSE event received, to send back as `Last-Event-ID`.
    pub fn last_event_id(&self) -> Option<&str> {
        self.decoder.last_event_id()
    }

    /// For a resumable stream, where it would resume, in any format (see
    /// [`RequestBuilder::resume_from`](super::RequestBuilder::resume_from)); its
    /// text, `<stream id>.<packets received>`, is what `Last-Event-ID` carries.
    /// `None` for a stream that is not resumable, or whose request cannot be
    /// sent again (a streaming body).
    pub fn resume_point(&self) -> Option<ResumePoint> {
        self.resume.as_ref()?.point()
    }

    /// The next progress packet as a `T`, or `None` once the final packet has
    /// arrived (then [`done`](Self::done) returns it).
    ///
    /// ```
    /// # async fn example(mut stream: rivulet::client::EventStream) -> Result<(), rivulet::client::Error> {
    /// while let Some(line) = stream.progress::<String>().await? {
    ///     println!("{line}");
    /// }
    /// let summary: serde_json::Value = stream.done().await?;
    /// # Ok(()) }
    /// ```
    pub async fn progress<T: DeserializeOwned>(&mut self) -> Result<Option<T>, Error> {
        match self.next().await {
            Some(Ok(Event::Progress(value))) => serde_json::from_value(value)
                .map(Some)
                .map_err(Error::Deserialize),
            // The final packet: kept for `done`.
            Some(Ok(_)) | None => Ok(None),
            Some(Err(error)) => Err(error),
        }
    }

    /// Reads to the end, skipping progress packets, and returns the final
    /// packet as a `T`. An error packet is [`Error::Server`].
    ///
    /// Called after the stream already yielded an `Err`, it returns
    /// [`Error::Truncated`]: the stream has no final packet.
    pub async fn done<T: DeserializeOwned>(mut self) -> Result<T, Error> {
        while let Some(event) = self.next().await {
            event?;
        }
        match self.outcome.take() {
            Some(Event::Done(value)) => serde_json::from_value(value).map_err(Error::Deserialize),
            Some(Event::Error(packet)) => Err(Error::Server(packet)),
            Some(Event::Progress(_)) | None => Err(Error::Truncated),
        }
    }

    /// Cancels a resumable stream: closes the connection, then sends `DELETE`
    /// on the stream's URL with its resume point and the request's headers
    /// (its credentials), so that the job stops on whichever server runs it.
    /// Dropping the stream instead only disconnects, and the job stays
    /// resumable for its grace period.
    ///
    /// [`Error::NotResumable`] for a stream whose response named no stream.
    pub async fn cancel(mut self) -> Result<Cancelled, Error> {
        self.close();
        let point = match self.resume_point() {
            Some(point) => point,
            None => {
                let id = self
                    .headers
                    .get(STREAM_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<StreamId>().ok())
                    .ok_or(Error::NotResumable)?;
                ResumePoint {
                    stream: id,
                    received: 0,
                }
            }
        };
        self.canceller.cancel(&point.to_string()).await
    }

    /// Stops reading: the connection is closed now rather than when the
    /// stream is dropped.
    fn close(&mut self) {
        self.body = None;
        self.idle = None;
    }

    fn fail(&mut self, error: Error) {
        self.close();
        self.failure = Some(error);
    }

    /// The connection broke off before the final packet: a resumable stream
    /// reconnects, any other fails.
    fn broke(&mut self, error: Error) {
        let error = match &mut self.resume {
            Some(resume) => resume.retry(error),
            None => Some(error),
        };
        match error {
            None => self.body = None,
            Some(error) => self.fail(error),
        }
    }

    /// Goes on with the response of a reconnection.
    fn resumed(&mut self, response: reqwest::Response) {
        let format = Format::from_response_headers(response.headers()).unwrap_or(self.format);
        if let Some(resume) = &mut self.resume {
            resume.response(response.headers());
        }
        self.status = response.status();
        self.headers = response.headers().clone();
        self.format = format;
        self.decoder = numbered(
            Decoder::with_max_packet_bytes(format, self.max_packet_bytes),
            true,
        );
        self.body = Some(Box::pin(response.bytes_stream()));
        if let Some(idle) = &mut self.idle {
            idle.timer.as_mut().reset(Instant::now() + idle.after);
        }
    }
}

/// A decoder that numbers packets, for a stream that may resume.
fn numbered(mut decoder: Decoder, resumable: bool) -> Decoder {
    if resumable {
        decoder.number_packets();
    }
    decoder
}

impl Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.outcome.is_some() {
                return Poll::Ready(None);
            }
            // Packets decoded before a failure are still delivered, in order.
            if let Some(event) = this.ready.pop_front() {
                if event.is_final() {
                    // Whatever follows the final packet is not read: the
                    // outcome is known, and the decoder refuses such bytes.
                    this.close();
                    this.outcome = Some(event.clone());
                }
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(error) = this.failure.take() {
                return Poll::Ready(Some(Err(error)));
            }
            if let Some(resume) = this.resume.as_mut().filter(|r| r.is_pending()) {
                match ready!(resume.poll(cx)) {
                    Ok(response) => this.resumed(response),
                    Err(error) => this.fail(error),
                }
                continue;
            }
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            let mut decoded = Vec::new();
            match body.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(idle) = &mut this.idle {
                        idle.timer.as_mut().reset(Instant::now() + idle.after);
                    }
                    let result = this.decoder.feed(&chunk, &mut decoded);
                    if let Some(resume) = &mut this.resume {
                        resume.keep(&mut decoded, &this.decoder.take_numbers());
                    }
                    this.ready.extend(decoded);
                    if let Err(error) = result {
                        this.fail(error.into());
                    }
                }
                Poll::Ready(Some(Err(error))) => this.broke(Error::Transport(error)),
                Poll::Ready(None) => {
                    let result = this.decoder.finish(&mut decoded);
                    if let Some(resume) = &mut this.resume {
                        resume.keep(&mut decoded, &this.decoder.take_numbers());
                    }
                    this.ready.extend(decoded);
                    match result {
                        Ok(()) => this.close(),
                        // Truncated, or a legacy final packet cut short.
                        Err(error) => this.broke(error.into()),
                    }
                }
                Poll::Pending => {
                    let Some(idle) = &mut this.idle else {
                        return Poll::Pending;
                    };
                    ready!(idle.timer.as_mut().poll(cx));
                    let after = idle.after;
                    this.fail(Error::IdleTimeout(after));
                }
            }
        }
    }
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("status", &self.status)
            .field("format", &self.format)
            .field("open", &self.body.is_some())
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}
