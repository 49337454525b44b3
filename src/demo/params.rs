//! Query parameters of the demo routes, read so that a bad value is a 422 with a
//! JSON reason, in the same error shape as the streams themselves.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use axum::http::StatusCode;
use rivulet::Error;

/// The query string of a demo request.
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// The parameter `name` parsed as `T`, `default` when absent, and a 422 when
    /// present but not a `T` within `range`.
    pub fn get<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, Error>
    where
        T: FromStr + PartialOrd + std::fmt::Display,
    {
        let Some(raw) = self.0.get(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<T>() {
            Ok(value) if range.contains(&value) => Ok(value),
            _ => Err(Error::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "`{name}` must be a number from {} to {}, not `{raw}`",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// `?interval_ms=N`: the pace of a demo stream.
    pub fn interval(&self, default_ms: u64) -> Result<Duration, Error> {
        self.get("interval_ms", default_ms, 0..=60_000)
            .map(Duration::from_millis)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Params(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}
