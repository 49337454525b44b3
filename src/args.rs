//! Operator input: the values of command line options, checked before they
//! reach a `Duration` or a semaphore (both panic on values out of range), so
//! that a bad option is a usage error (exit 2) naming the option, as clap
//! reports every error of a `value_parser`.

use std::time::Duration;

/// The longest time an option accepts: a year. Longer values are typos, and
/// deadlines past it come near the limits of `Instant` arithmetic.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// The largest count an option accepts (streams, connections): far above what
/// one process serves, far below the limits of tokio's semaphore.
pub const MAX_COUNT: usize = 100_000_000;

/// Seconds, `0` or more: `--grace 0` ends streams at once.
pub fn seconds(text: &str) -> Result<Duration, String> {
    parse_seconds(text, false)
}

/// Seconds, more than `0`: a timeout of zero would end everything at once.
pub fn positive_seconds(text: &str) -> Result<Duration, String> {
    parse_seconds(text, true)
}

fn parse_seconds(text: &str, positive: bool) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    let low_ok = if positive { value > 0.0 } else { value >= 0.0 };
    // NaN fails every comparison, so it is refused here too.
    if !(low_ok && value <= MAX_SECONDS) {
        let low = if positive { "more than 0" } else { "0 or more" };
        return Err(format!(
            "`{text}` is out of range: seconds must be {low} and at most {MAX_SECONDS}"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

/// A count from 1 to [`MAX_COUNT`].
pub fn count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(value) if (1..=MAX_COUNT).contains(&value) => Ok(value),
        _ => Err(format!(
            "`{text}` is not a whole number from 1 to {MAX_COUNT}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_fractions_and_refuse_what_would_panic() {
        assert_eq!(seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        for bad in ["-1", "nan", "NaN", "inf", "-inf", "1e30", "ten", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
        assert!(positive_seconds("0").is_err());
        assert_eq!(positive_seconds("0.25"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn counts_are_bounded() {
        assert_eq!(count("10"), Ok(10));
        for bad in ["0", "-1", "1e3", "18446744073709551615", "x"] {
            assert!(count(bad).is_err(), "{bad}");
        }
    }
}
