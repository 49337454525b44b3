//! Parameters of the demo routes, read from the query string and, as Hazaar
//! actions take them, from a form or JSON body: `$.stream(url, {type: 'POST',
//! data: {...}})` and `GET url?items=20` reach the same handler. A bad value is
//! a 422 with a JSON reason, in the same error shape as the streams themselves.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use rivulet::Error;
use serde_json::Value;

/// The parameters of a demo request: the query string, then the body's fields
/// (which win over the query's).
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

    /// Adds the fields of a form (`application/x-www-form-urlencoded`) or JSON
    /// object body; other bodies are ignored.
    fn add_body(&mut self, content_type: &str, body: &[u8]) -> Result<(), Error> {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            self.0.extend(form_urlencoded::parse(body).into_owned());
        } else if essence.eq_ignore_ascii_case("application/json") && !body.is_empty() {
            let fields = match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(fields)) => fields,
                Ok(_) => return Err(unprocessable("the JSON body must be an object")),
                Err(e) => {
                    return Err(unprocessable(format!(
                        "the JSON body is not valid JSON: {e}"
                    )));
                }
            };
            for (name, value) in fields {
                let text = match value {
                    Value::String(s) => s,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                self.0.insert(name, text);
            }
        }
        Ok(())
    }
}

fn unprocessable(message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(StatusCode::UNPROCESSABLE_ENTITY, message)
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let query = request.uri().query().unwrap_or("");
        let mut params = Params(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        );
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        // Bounded by axum's default body limit (2 MB): a larger body is a 413.
        let body = Bytes::from_request(request, state).await?;
        params.add_body(&content_type, &body)?;
        Ok(params)
    }
}
