//! Following a resumable stream across dropped connections: when a response
//! that named its stream (`Rivulet-Stream-Id`) breaks off before its final
//! packet, the request is sent again with `Last-Event-ID` and the stream goes
//! on after the last packet received. See "Resumable streams" in
//! `docs/protocol.md`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::HeaderMap;
use http::header::HeaderValue;

use super::{Error, response_format, status_error, within};
use crate::decode::Event;
use crate::protocol::Format;
use crate::protocol::{
    LAST_EVENT_ID, RESUME_POINT_HEADER, ResumePoint, STREAM_ID_HEADER, SkipMarker, StreamId,
};

/// How a resumable stream reconnects: up to `retries` attempts in a row
/// without a packet, the wait before attempt `n` random between half and all
/// of `min(max_delay, delay × 2ⁿ⁻¹)`. Every new packet that arrives starts the
/// count again (a packet sent again, with a number the client has, is
/// dropped and is not new). A server that drops 10 connections in a row after
/// one new packet each ends the stream with [`Error::Unsteady`](super::Error::Unsteady).
///
/// ```
/// use std::time::Duration;
/// use rivulet::client::Reconnect;
///
/// let patient = Reconnect::default().retries(20).max_delay(Duration::from_secs(60));
/// # let _ = patient;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconnect {
    retries: u32,
    delay: Duration,
    max_delay: Duration,
}

impl Default for Reconnect {
    /// 8 attempts, from 500 ms up to 15 s.
    fn default() -> Self {
        Reconnect {
            retries: 8,
            delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
        }
    }
}

impl Reconnect {
    /// Attempts in a row without a packet before giving up.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The wait before the first attempt, doubled for each next one.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The longest wait.
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The wait before attempt `attempt` (from 1), with jitter.
    fn wait(&self, attempt: u32) -> Duration {
        let doubled = self
            .delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(20));
        let ceiling = doubled.min(self.max_delay);
        ceiling / 2 + ceiling.mul_f64(rand::random::<f64>() / 2.0)
    }
}

type Pending = Pin<Box<dyn Future<Output = Result<reqwest::Response, Error>> + Send>>;

/// What an [`EventStream`](super::EventStream) needs to resume its stream.
pub(super) struct Resumer {
    http: reqwest::Client,
    /// The request as first sent; every attempt sends a copy.
    request: reqwest::Request,
    /// The format it asked for.
    format: Format,
    policy: Reconnect,
    idle_timeout: Option<Duration>,
    /// The stream's id, once a response named it.
    stream: Option<StreamId>,
    /// Packets received over every connection of the stream.
    received: u64,
    attempt: u32,
    /// New packets on the current connection.
    on_connection: u64,
    /// Connections in a row that dropped after exactly one new packet.
    short_in_a_row: u32,
    pending: Option<Pending>,
}

/// Connections in a row that may drop after one new packet each: a server
/// that does so is not serving the stream, and it could go on for ever.
pub(super) const MAX_SHORT_CONNECTIONS: u32 = 10;

impl Resumer {
    /// `None` when the request cannot be sent twice (a streaming body).
    pub(super) fn new(
        http: reqwest::Client,
        request: &reqwest::Request,
        format: Format,
        policy: Reconnect,
        idle_timeout: Option<Duration>,
        from: Option<ResumePoint>,
    ) -> Option<Resumer> {
        let (stream, received) = match from {
            Some(point) => (Some(point.stream), point.received),
            None => (None, 0),
        };
        Some(Resumer {
            http,
            request: request.try_clone()?,
            format,
            policy,
            idle_timeout,
            stream,
            received,
            attempt: 0,
            on_connection: 0,
            short_in_a_row: 0,
            pending: None,
        })
    }

    /// Learns the stream's id from a response, and the point it starts
    /// after (a feed joined live starts after its last packet).
    pub(super) fn response(&mut self, headers: &HeaderMap) {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(point) = header(RESUME_POINT_HEADER).and_then(|v| v.parse::<ResumePoint>().ok())
        {
            self.stream = Some(point.stream);
            self.received = point.received;
        } else if let Some(id) = header(STREAM_ID_HEADER).and_then(|v| v.parse::<StreamId>().ok()) {
            self.stream = Some(id);
        }
    }

    /// Takes the packets of a connection: drops those the client already has
    /// (an SSE packet whose number is not past the packets received; a lying
    /// or confused server may send them again) and counts the rest. Any new
    /// packet starts the attempts again.
    ///
    /// `numbers` are the packets' numbers, where the format carries them (see
    /// [`Decoder::take_numbers`](crate::decode::Decoder)); packets without one
    /// are counted as new.
    pub(super) fn keep(&mut self, events: &mut Vec<Event>, numbers: &[Option<u64>]) {
        let mut numbers = numbers.iter().copied();
        let received = &mut self.received;
        let before = *received;
        events.retain(|event| match numbers.next().flatten() {
            Some(number) if number <= *received => false,
            Some(number) => {
                *received = number;
                true
            }
            // Counted: a feed's skip marker as the packets it stands for.
            None => {
                *received += match event {
                    Event::Progress(value) => SkipMarker::packets_in(value),
                    _ => 1,
                };
                true
            }
        });
        let new = self.received - before;
        if new > 0 {
            self.on_connection += new;
            self.attempt = 0;
        }
    }

    /// Where the stream would resume: `<stream id>.<packets received>`.
    pub(super) fn point(&self) -> Option<ResumePoint> {
        Some(ResumePoint {
            stream: self.stream?,
            received: self.received,
        })
    }

    /// True while a reconnection is under way.
    pub(super) fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// After the connection broke off with `error`: starts the next attempt
    /// and returns `None`, or gives `error` back when the stream cannot be
    /// resumed (not resumable, or out of attempts).
    pub(super) fn retry(&mut self, error: Error) -> Option<Error> {
        let Some(point) = self
            .point()
            .and_then(|p| HeaderValue::from_str(&p.to_string()).ok())
        else {
            return Some(error);
        };
        if self.attempt >= self.policy.retries {
            return Some(error);
        }
        // A connection that brought nothing is counted by the attempts.
        match std::mem::take(&mut self.on_connection) {
            0 => {}
            1 => self.short_in_a_row += 1,
            _ => self.short_in_a_row = 0,
        }
        if self.short_in_a_row >= MAX_SHORT_CONNECTIONS {
            return Some(Error::Unsteady {
                connections: self.short_in_a_row,
            });
        }
        self.attempt += 1;
        let wait = self.policy.wait(self.attempt);
        let http = self.http.clone();
        let mut request = self.request.try_clone()?;
        let idle = self.idle_timeout;
        let format = self.format;
        self.pending = Some(Box::pin(async move {
            tokio::time::sleep(wait).await;
            request.headers_mut().insert(LAST_EVENT_ID, point);
            let response = within(idle, http.execute(request))
                .await?
                .map_err(Error::Transport)?;
            let status = response.status();
            if !status.is_success() {
                return Err(status_error(response, idle).await);
            }
            // `204 No Content`: the stream can no longer be resumed.
            if response_format(&response, format).is_none() {
                let content_type = response
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                return Err(Error::NotAStream {
                    status,
                    content_type,
                });
            }
            Ok(response)
        }));
        None
    }

    /// Polls the attempt under way: a response to go on with, or the error
    /// that ends the stream (after further attempts where they make sense).
    ///
    /// # Panics
    ///
    /// When no reconnection is under way ([`is_pending`](Self::is_pending)).
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<reqwest::Response, Error>> {
        loop {
            let pending = self.pending.as_mut().expect("a reconnection under way");
            let result = std::task::ready!(pending.as_mut().poll(cx));
            self.pending = None;
            let error = match result {
                Ok(response) => return Poll::Ready(Ok(response)),
                Err(error) => error,
            };
            let again = match &error {
                // A network failure, or a server restarting or overloaded.
                Error::Transport(_) => true,
                Error::Status { status, .. } => matches!(status.as_u16(), 502..=504),
                _ => false,
            };
            if !again {
                return Poll::Ready(Err(error));
            }
            if let Some(error) = self.retry(error) {
                return Poll::Ready(Err(error));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_jitter_up_to_the_maximum() {
        let policy = Reconnect::default()
            .delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(1000));
        for _ in 0..100 {
            let first = policy.wait(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.wait(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = policy.wait(30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1000));
        }
    }
}
