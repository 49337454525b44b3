//! What `rivulet watch` prints: packets on stdout (lines for people, or NDJSON
//! with `--json`), failures on stderr, and the progress bar.

use std::borrow::Cow;
use std::io::{self, Write};

use rivulet::client::Error;
use rivulet::decode::{DecodeError, Event};
use serde_json::{Value, json};

use super::Ending;
use super::progress::Bar;

pub(crate) struct Output {
    json: bool,
    /// Print the server's text with its control characters.
    raw: bool,
    bar: Bar,
}

impl Output {
    pub(crate) fn new(json: bool, raw: bool) -> Self {
        Output {
            json,
            raw,
            bar: Bar::on_terminal(),
        }
    }

    /// A line of server-controlled text, escaped unless `--raw`.
    fn line<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.raw {
            Cow::Borrowed(text)
        } else {
            printable(text)
        }
    }

    /// Prints one packet.
    pub(crate) fn event(&mut self, event: &Event) -> io::Result<()> {
        if let Event::Progress(value) = event {
            self.bar.update(value);
        } else {
            self.bar.clear();
        }
        if self.json {
            let line = serde_json::to_string(event).expect("an event serializes");
            let line = self.line(&line);
            return self.bar.suspend(|| writeln!(io::stdout(), "{line}"));
        }
        match event {
            Event::Progress(value) | Event::Done(value) => {
                let line = human(value);
                let line = self.line(&line);
                self.bar.suspend(|| writeln!(io::stdout(), "{line}"))
            }
            // Reported by `end`, on stderr.
            Event::Error(_) => Ok(()),
        }
    }

    /// Reports how the watch ended: on stderr for people, and with `--json` as
    /// a `failure` object on stdout too.
    pub(crate) fn end(&mut self, ending: &Ending) {
        self.bar.clear();
        let message = match ending {
            Ending::Final(Event::Error(packet)) => format!("error packet: {packet}"),
            Ending::Final(_) => return,
            Ending::Failed(error, _) => error.to_string(),
            Ending::Interrupted(None) => "interrupted".to_owned(),
            Ending::Interrupted(Some(note)) => format!("interrupted: {note}"),
            Ending::Input(why) => why.clone(),
            // A reader that left (`| head`) needs no message.
            Ending::Output(error) if error.kind() == io::ErrorKind::BrokenPipe => return,
            Ending::Output(error) => format!("cannot write the output: {error}"),
        };
        eprintln!("rivulet watch: {}", printable(&message));
        if let Ending::Failed(_, Some(point)) = ending {
            eprintln!(
                "rivulet watch: the stream can go on where it stopped: run the same \
                 command with --resume {point}"
            );
        }
        if !self.json {
            return;
        }
        if let Some(failure) = failure(ending, &message) {
            // Stdout may be what failed; nothing more to do about it then.
            let _ = writeln!(io::stdout(), "{failure}");
        }
    }
}

/// A packet as one line of text: strings as they are, other values (and
/// strings that would break the line) as compact JSON.
pub(crate) fn human(value: &Value) -> String {
    match value {
        Value::String(text) if !text.contains(['\n', '\r']) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` with every control character but tab (C0, DEL, C1) written as a
/// JSON escape, `\u001b`: a terminal shows it instead of obeying it. In JSON
/// text control characters can only stand inside strings, where the escape
/// means the same character, so escaped JSON stays valid and equal.
pub(crate) fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\t';
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The `--json` object for an ending without a final packet.
fn failure(ending: &Ending, message: &str) -> Option<Value> {
    let reason = match ending {
        Ending::Final(_) | Ending::Output(_) => return None,
        Ending::Interrupted(_) => "interrupted",
        Ending::Input(_) => "input",
        Ending::Failed(error, _) => match error {
            Error::Status { .. } => "http_status",
            Error::NotAStream { .. } => "not_a_stream",
            // Connections that kept dropping: a transport problem too.
            Error::Transport(_) | Error::Unsteady { .. } => "transport",
            Error::Truncated | Error::Decode(DecodeError::Truncated) => "truncated",
            Error::IdleTimeout(_) => "idle_timeout",
            _ => "malformed",
        },
    };
    let mut object = json!({ "type": "failure", "reason": reason, "message": message });
    if let Ending::Failed(error, point) = ending {
        if let Some(point) = point {
            object["resume_point"] = json!(point.to_string());
        }
        if let Error::Status { status, .. } | Error::NotAStream { status, .. } = error {
            object["status"] = json!(status.as_u16());
        }
        if let Some(packet) = error.error_packet() {
            object["error"] = json!(packet);
        }
    }
    Some(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_print_plain_unless_they_would_break_the_line() {
        assert_eq!(human(&json!("Processed 10 items")), "Processed 10 items");
        assert_eq!(human(&json!("two\nlines")), r#""two\nlines""#);
        assert_eq!(human(&json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
        assert_eq!(human(&Value::Null), "null");
    }

    #[test]
    fn control_characters_are_escaped_and_json_stays_equal() {
        let hostile = "\u{1b}[2J\u{1b}]0;title\u{7}\u{7f}\u{9b}31m\tok";
        assert_eq!(
            printable(hostile),
            "\\u001b[2J\\u001b]0;title\\u0007\\u007f\\u009b31m\tok"
        );
        assert!(matches!(printable("plain text"), Cow::Borrowed(_)));
        let json = serde_json::to_string(&json!({ "text": hostile })).unwrap();
        let escaped: Value = serde_json::from_str(&printable(&json)).unwrap();
        assert_eq!(escaped, json!({ "text": hostile }));
    }
}
