//! The progress bar of `rivulet watch`: drawn on stderr when it is a terminal,
//! from progress packets whose shape says how far the job is.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// How far a job is, read from a progress packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Reading {
    /// `{"done": k, "total": n}` or `{"current": k, "total": n}`.
    Count { done: u64, total: u64 },
    /// `{"percent": p}` (0 to 100) or `{"progress": f}` (0 to 1), as 0 to 1.
    Fraction(f64),
}

/// Steps of a bar that shows a fraction.
const FRACTION_STEPS: u64 = 1000;

impl Reading {
    /// The packet shapes listed in `rivulet watch --help`; other fields may be
    /// present. Anything else is not a reading.
    pub(crate) fn of(packet: &Value) -> Option<Reading> {
        let object = packet.as_object()?;
        let number = |key: &str| object.get(key).and_then(Value::as_f64);
        let count = |n: f64| (n.is_finite() && n >= 0.0).then(|| n.round() as u64);
        if let Some(total) = number("total").and_then(count).filter(|&t| t > 0) {
            let done = number("done")
                .or_else(|| number("current"))
                .and_then(count)?;
            return Some(Reading::Count {
                done: done.min(total),
                total,
            });
        }
        let fraction = number("percent")
            .map(|p| p / 100.0)
            .or_else(|| number("progress"))?;
        (0.0..=1.0)
            .contains(&fraction)
            .then_some(Reading::Fraction(fraction))
    }
}

/// A bar that appears with the first packet it can read.
pub(crate) struct Bar {
    enabled: bool,
    bar: Option<(ProgressBar, Shape)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Count,
    Fraction,
}

impl Bar {
    /// A bar if stderr is a terminal, else one that never draws.
    pub(crate) fn on_terminal() -> Self {
        Bar {
            enabled: std::io::stderr().is_terminal(),
            bar: None,
        }
    }

    pub(crate) fn update(&mut self, packet: &Value) {
        if !self.enabled {
            return;
        }
        let Some(reading) = Reading::of(packet) else {
            return;
        };
        let (shape, position, length) = match reading {
            Reading::Count { done, total } => (Shape::Count, done, total),
            Reading::Fraction(f) => (
                Shape::Fraction,
                (f * FRACTION_STEPS as f64).round() as u64,
                FRACTION_STEPS,
            ),
        };
        let bar = match &mut self.bar {
            Some((bar, current)) if *current == shape => bar,
            slot => {
                let template = match shape {
                    Shape::Count => "{wide_bar} {pos}/{len} {elapsed}",
                    Shape::Fraction => "{wide_bar} {percent:>3}% {elapsed}",
                };
                let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(template)
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                if let Some((old, _)) = slot.replace((bar, shape)) {
                    old.finish_and_clear();
                }
                &slot.as_ref().expect("just set").0
            }
        };
        bar.set_length(length);
        bar.set_position(position);
    }

    /// Runs `print` with the bar out of the way, so lines do not mix with it.
    pub(crate) fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some((bar, _)) => bar.suspend(print),
            None => print(),
        }
    }

    pub(crate) fn clear(&mut self) {
        if let Some((bar, _)) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readable_shapes() {
        assert_eq!(
            Reading::of(&json!({"done": 3, "total": 10, "file": "a.txt"})),
            Some(Reading::Count { done: 3, total: 10 })
        );
        assert_eq!(
            Reading::of(&json!({"current": 12, "total": 10})),
            Some(Reading::Count {
                done: 10,
                total: 10
            })
        );
        assert_eq!(
            Reading::of(&json!({"percent": 25})),
            Some(Reading::Fraction(0.25))
        );
        assert_eq!(
            Reading::of(&json!({"progress": 0.5})),
            Some(Reading::Fraction(0.5))
        );
    }

    #[test]
    fn other_shapes_are_not_readings() {
        for packet in [
            json!("Processed 10 items"),
            json!({"bytes": 262144}),
            json!({"done": 3}),
            json!({"done": 3, "total": 0}),
            json!({"done": "3", "total": 10}),
            json!({"percent": 250}),
            json!({"progress": -0.1}),
            json!([1, 2]),
        ] {
            assert_eq!(Reading::of(&packet), None, "{packet}");
        }
    }
}
