//! `text/event-stream`, parsed by the rules browsers use for `EventSource`.

use serde_json::Value;

use super::lines::Lines;
use super::{DecodeError, Event};
use crate::protocol::ErrorPacket;

#[derive(Debug)]
pub(crate) struct Sse {
    lines: Lines,
    data: Vec<u8>,
    has_data: bool,
    event: EventType,
    last_event_id: Option<String>,
    limit: usize,
    /// The packet number of the event being read, from its own `id` field.
    number: Option<u64>,
    /// The numbers of the packets decoded, when asked for (a resuming client).
    numbers: Option<Vec<Option<u64>>>,
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
            number: None,
            numbers: None,
        }
    }

    /// Records the packet number of every packet decoded from now on.
    #[cfg(feature = "client")]
    pub(crate) fn number_packets(&mut self) {
        self.numbers.get_or_insert_with(Vec::new);
    }

    /// The numbers of the packets decoded since the last call, in order:
    /// `None` for an event without an `id` of the form `<stream id>.<number>`.
    #[cfg(feature = "client")]
    pub(crate) fn take_numbers(&mut self) -> Vec<Option<u64>> {
        self.numbers
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
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
            number,
            numbers,
        } = self;
        lines.feed(chunk, |line| {
            if line.is_empty() {
                let before = out.len();
                let result = dispatch(data, has_data, event, out);
                let number = number.take();
                if let Some(numbers) = numbers
                    && out.len() > before
                {
                    numbers.push(number);
                }
                return result;
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
                    let id = String::from_utf8_lossy(value).into_owned();
                    *number = id.split_once('.').and_then(|(_, n)| n.parse().ok());
                    *last_event_id = Some(id);
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
