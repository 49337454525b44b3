//! A stream response read packet by packet through the library's decoder.

use std::collections::VecDeque;
use std::net::SocketAddr;

use rivulet::Format;
use rivulet::decode::{DecodeError, Decoder, Event};

use crate::{PATIENCE, client};

/// Sends a GET asking for `format`.
pub async fn get(addr: SocketAddr, path: &str, format: Format) -> reqwest::Response {
    let mut request = client().get(format!("http://{addr}{path}"));
    for (name, value) in format.request_headers() {
        request = request.header(*name, *value);
    }
    tokio::time::timeout(PATIENCE, request.send())
        .await
        .expect("response head in time")
        .unwrap()
}

/// GETs `path` in `format` and decodes the whole stream.
pub async fn events(addr: SocketAddr, path: &str, format: Format) -> Vec<Event> {
    let response = get(addr, path, format).await;
    assert_eq!(response.status(), 200, "{path} in {format}");
    Reader::new(response).rest().await
}

/// Reads a stream response packet by packet.
pub struct Reader {
    pub response: reqwest::Response,
    decoder: Decoder,
    ready: VecDeque<Event>,
    /// A decode error, reported after the packets decoded before it.
    failed: Option<DecodeError>,
    /// Every byte received so far.
    pub raw: Vec<u8>,
    ended: bool,
}

impl Reader {
    pub fn new(response: reqwest::Response) -> Self {
        let format =
            Format::from_response_headers(response.headers()).expect("a stream content type");
        Reader {
            response,
            decoder: Decoder::new(format),
            ready: VecDeque::new(),
            failed: None,
            raw: Vec::new(),
            ended: false,
        }
    }

    /// The next packet; `None` after the end of a complete stream.
    pub async fn next(&mut self) -> Option<Result<Event, DecodeError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            if let Some(error) = self.failed.take() {
                return Some(Err(error));
            }
            if self.ended {
                return None;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("a chunk in time")
                .expect("the body reads");
            let mut out = Vec::new();
            let result = match chunk {
                Some(chunk) => {
                    self.raw.extend_from_slice(&chunk);
                    self.decoder.feed(&chunk, &mut out)
                }
                None => {
                    self.ended = true;
                    self.decoder.finish(&mut out)
                }
            };
            self.ready.extend(out);
            if let Err(e) = result {
                self.ended = true;
                self.failed = Some(e);
            }
        }
    }

    /// Every remaining packet, failing on a decode error.
    pub async fn rest(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event.expect("a well-formed stream"));
        }
        events
    }
}
