//! `text/event-stream`, parsed by the rules browsers use for `EventSource`.

use serde_json::Value;

use super::lines::Lines;
use super::{DecodeError, Event};
use crate::error::ErrorPacket;

#[derive(Debug)]
pub(crate) struct Sse {
    lines: Lines,
    data: Vec<u8>,
    has_data: bool,
    event: EventType,
    last_event_id: Option<String>,
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum EventType {
    Message,
    Done,
    Error,
    Other,
}

impl Sse {
    pub(crate) fn new(limit: usize) -> Self {
        Sse {
            lines: Lines::new(limit),
            data: Vec::new(),
            has_data: false,
            event: EventType::Message,
            last_event_id: None,
            limit,
        }
    }

    pub(crate) fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let Sse {
            lines,
            data,
            has_data,
            event,
            last_event_id,
            limit,
        } = self;
        lines.feed(chunk, |line| {
            if line.is_empty() {
                return dispatch(data, has_data, event, out);
            }
            if line[0] == b':' {
                return Ok(());
            }
            let (field, value) = match memchr::memchr(b':', line) {
                Some(colon) => {
                    let value = &line[colon + 1..];
                    (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            match field {
                b"data" => {
                    if *has_data {
                        data.push(b'\n');
                    }
                    if data.len() + value.len() > *limit {
                        return Err(DecodeError::TooLarge { limit: *limit });
                    }
                    data.extend_from_slice(value);
                    *has_data = true;
                }
                b"event" => {
                    *event = match value {
                        b"" | b"message" => EventType::Message,
                        b"done" => EventType::Done,
                        b"error" => EventType::Error,
                        _ => EventType::Other,
                    }
                }
                b"id" if !value.contains(&0) => {
                    *last_event_id = Some(String::from_utf8_lossy(value).into_owned());
                }
                _ => {}
            }
            Ok(())
        })
    }
}

fn dispatch(
    data: &mut Vec<u8>,
    has_data: &mut bool,
    event: &mut EventType,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let kind = std::mem::replace(event, EventType::Message);
    if !std::mem::take(has_data) {
        data.clear();
        return Ok(());
    }
    let parsed = match kind {
        EventType::Message => Some(Event::Progress(super::text::json::<Value>(data)?)),
        EventType::Done => Some(Event::Done(super::text::json::<Value>(data)?)),
        EventType::Error => Some(Event::Error(super::text::json::<ErrorPacket>(data)?)),
        EventType::Other => None,
    };
    data.clear();
    out.extend(parsed);
    Ok(())
}
