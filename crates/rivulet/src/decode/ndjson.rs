//! `application/x-ndjson`: one `{"progress"|"done"|"error": …}` object per line.

use super::lines::Lines;
use super::{DecodeError, Event};
use crate::protocol::NdjsonLine as Line;

#[derive(Debug)]
pub(crate) struct Ndjson {
    lines: Lines,
}

impl Ndjson {
    pub(crate) fn new(limit: usize) -> Self {
        Ndjson {
            lines: Lines::new(limit),
        }
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), DecodeError> {
        self.lines.feed(chunk, |line| {
            if line.iter().all(u8::is_ascii_whitespace) {
                return Ok(()); // keep-alive
            }
            out.push(match serde_json::from_slice::<Line>(line)? {
                Line::Progress(v) => Event::Progress(v),
                Line::Done(v) => Event::Done(v),
                Line::Error(e) => Event::Error(e),
            });
            Ok(())
        })
    }
}
