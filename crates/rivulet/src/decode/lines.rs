//! Splits bytes into lines ended by CR, LF or CRLF, for any split of the input.
//!
//! Lines inside one chunk are handed out as slices of that chunk; only the
//! unfinished tail of a chunk is copied, so each byte is copied at most once.
//! A CR at the end of a chunk is remembered: if the next chunk starts with LF,
//! that LF belongs to the same line end.

use super::DecodeError;

#[derive(Debug, Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
    skip_lf: bool,
    max_line: usize,
    seen_first: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Lines {
    pub(crate) fn new(max_line: usize) -> Self {
        Lines {
            max_line,
            ..Lines::default()
        }
    }

    /// Calls `line` for every complete line in `chunk`, in order.
    pub(crate) fn feed(
        &mut self,
        mut chunk: &[u8],
        mut line: impl FnMut(&[u8]) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            if self.partial.len() + end > self.max_line {
                return Err(DecodeError::TooLarge {
                    limit: self.max_line,
                });
            }
            let complete = if self.partial.is_empty() {
                &chunk[..end]
            } else {
                self.partial.extend_from_slice(&chunk[..end]);
                &self.partial[..]
            };
            let complete = if self.seen_first {
                complete
            } else {
                self.seen_first = true;
                complete.strip_prefix(BOM).unwrap_or(complete)
            };
            line(complete)?;
            self.partial.clear();
            let mut next = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            chunk = &chunk[next..];
        }
        if self.partial.len() + chunk.len() > self.max_line {
            return Err(DecodeError::TooLarge {
                limit: self.max_line,
            });
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[&[u8]]) -> Vec<String> {
        let mut lines = Lines::new(1024);
        let mut out = Vec::new();
        for chunk in input {
            lines
                .feed(chunk, |l| {
                    out.push(String::from_utf8(l.to_vec()).unwrap());
                    Ok(())
                })
                .unwrap();
        }
        out
    }

    #[test]
    fn all_line_ends() {
        assert_eq!(split(&[b"a\nb\rc\r\nd\n"]), ["a", "b", "c", "d"]);
        assert_eq!(split(&[b"a\r", b"\nb\r", b"c\n"]), ["a", "b", "c"]);
        assert_eq!(
            split(&[b"\xEF\xBB", b"\xBFx\n\xEF\xBB\xBFy\n"]),
            ["x", "\u{feff}y"]
        );
        assert_eq!(split(&[b"\r\r\n\n"]), ["", "", ""]);
    }

    #[test]
    fn long_lines_are_refused() {
        let mut lines = Lines::new(4);
        assert!(lines.feed(b"abc", |_| Ok(())).is_ok());
        assert!(matches!(
            lines.feed(b"de", |_| Ok(())),
            Err(DecodeError::TooLarge { limit: 4 })
        ));
    }
}
