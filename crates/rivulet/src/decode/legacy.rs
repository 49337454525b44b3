//! The legacy framing of the jQuery `$.stream` plugin:
//! `<hex length>\0<type><payload>` per packet, `\0<type><payload>` at the end.

use std::borrow::Cow;

use serde_json::Value;

use super::{DecodeError, Event};
use crate::protocol::ErrorPacket;
use crate::protocol::LegacyErrorEnvelope;

#[derive(Debug)]
pub(crate) struct Legacy {
    state: State,
    buf: Vec<u8>,
    limit: usize,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading hex digits of a length, or the NUL that starts the final packet.
    Head {
        len: usize,
        digits: u8,
    },
    Type {
        len: usize,
    },
    Payload {
        kind: u8,
        remaining: usize,
    },
    FinalType,
    FinalPayload {
        kind: u8,
    },
}

/// Lengths have at most 8 hex digits (`docs/protocol.md`), leading zeros
/// included: up to 4 GiB, far above any packet limit.
const MAX_DIGITS: u8 = 8;

impl Legacy {
    pub(crate) fn new(limit: usize) -> Self {
        Legacy {
            state: State::Head { len: 0, digits: 0 },
            buf: Vec::new(),
            limit,
        }
    }

    pub(crate) fn feed(
        &mut self,
        mut chunk: &[u8],
        out: &mut Vec<Event>,
    ) -> Result<(), DecodeError> {
        while !chunk.is_empty() {
            match self.state {
                State::Head { len, digits } => {
                    let byte = chunk[0];
                    chunk = &chunk[1..];
                    self.state = match (byte, digits) {
                        (0, 0) => State::FinalType,
                        (0, _) => State::Type { len },
                        (_, MAX_DIGITS) => return Err(malformed("length has too many digits")),
                        _ => {
                            let digit = (byte as char).to_digit(16).ok_or_else(|| {
                                malformed(&format!("byte {byte:#04x} in a length"))
                            })?;
                            let len = len * 16 + digit as usize;
                            if len > self.limit {
                                return Err(DecodeError::TooLarge { limit: self.limit });
                            }
                            State::Head {
                                len,
                                digits: digits + 1,
                            }
                        }
                    };
                }
                State::Type { len } => {
                    let kind = chunk[0];
                    chunk = &chunk[1..];
                    if kind != b's' && kind != b'a' {
                        return Err(malformed(&format!(
                            "unknown packet type {:?}",
                            kind as char
                        )));
                    }
                    self.state = State::Payload {
                        kind,
                        remaining: len,
                    };
                    if len == 0 {
                        self.emit_progress(kind, out)?;
                    }
                }
                State::Payload { kind, remaining } => {
                    let take = remaining.min(chunk.len());
                    self.buf.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    if take == remaining {
                        self.emit_progress(kind, out)?;
                    } else {
                        self.state = State::Payload {
                            kind,
                            remaining: remaining - take,
                        };
                    }
                }
                State::FinalType => {
                    let kind = chunk[0];
                    chunk = &chunk[1..];
                    if !matches!(kind, b's' | b'a' | b'e') {
                        return Err(malformed(&format!("unknown final type {:?}", kind as char)));
                    }
                    self.state = State::FinalPayload { kind };
                }
                State::FinalPayload { .. } => {
                    if self.buf.len() + chunk.len() > self.limit {
                        return Err(DecodeError::TooLarge { limit: self.limit });
                    }
                    self.buf.extend_from_slice(chunk);
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    /// The final packet runs to the end of the response, so it is only complete now.
    pub(crate) fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        let State::FinalPayload { kind } = self.state else {
            return Ok(()); // no final packet: the caller reports the truncation
        };
        let payload = std::mem::take(&mut self.buf);
        out.push(match kind {
            b'e' => Event::Error(legacy_error(&payload)?),
            kind => Event::Done(value(kind, &payload)?),
        });
        Ok(())
    }

    fn emit_progress(&mut self, kind: u8, out: &mut Vec<Event>) -> Result<(), DecodeError> {
        out.push(Event::Progress(value(kind, &self.buf)?));
        self.buf.clear();
        self.state = State::Head { len: 0, digits: 0 };
        Ok(())
    }
}

fn value(kind: u8, payload: &[u8]) -> Result<Value, DecodeError> {
    let text = text(payload);
    if kind == b's' {
        Ok(Value::String(text.into_owned()))
    } else {
        Ok(serde_json::from_str(&text)?)
    }
}

/// A payload's text. Rivulet sends only ASCII; older servers may send UTF-8,
/// or Latin-1, which is not valid UTF-8 once it holds a byte above 0x7f: such
/// a payload is read as Latin-1, every byte one character (`docs/protocol.md`).
fn text(payload: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(payload) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(payload.iter().map(|&b| char::from(b)).collect()),
    }
}

fn legacy_error(payload: &[u8]) -> Result<ErrorPacket, DecodeError> {
    Ok(LegacyErrorEnvelope::decode(&text(payload))?)
}

fn malformed(why: &str) -> DecodeError {
    DecodeError::Malformed(why.to_owned())
}
