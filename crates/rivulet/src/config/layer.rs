//! [`Config`] as a tower layer, the one way to install it: every request gets
//! the [`Config`] and its body the guard of [`request`](crate::request).

#[cfg(feature = "axum")]
use std::task::{Context, Poll};

#[cfg(feature = "axum")]
use axum::body::Body;
#[cfg(feature = "axum")]
use http::Request;

use super::Config;
#[cfg(feature = "axum")]
use crate::request::guard_body;
use crate::shutdown::Shutdown;

/// The service [`Config`]'s layer wraps around an app: it hands every
/// request the [`Config`] (as the `Extension` layer would) and guards its body.
#[cfg(feature = "axum")]
#[derive(Clone, Debug)]
pub struct RequestGuard<S> {
    inner: S,
    config: Config,
}

/// `Router::layer(config)`: the streams get their settings, and request bodies
/// the guard of this module.
#[cfg(feature = "axum")]
impl<S> tower_layer::Layer<S> for Config {
    type Service = RequestGuard<S>;

    fn layer(&self, inner: S) -> RequestGuard<S> {
        RequestGuard {
            inner,
            config: self.clone(),
        }
    }
}

#[cfg(feature = "axum")]
impl<S> tower_service::Service<Request<Body>> for RequestGuard<S>
where
    S: tower_service::Service<Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> S::Future {
        request.extensions_mut().insert(self.config.clone());
        request.extensions_mut().insert(Layered);
        let request = guard_body(request, self.config.allowance());
        self.inner.call(request)
    }
}

/// Marks a request whose [`Config`] came through its layer (not through an
/// `Extension`, which would leave request bodies unguarded). The actix-web
/// adapter marks every request: its Config comes from the app's data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layered;

impl Config {
    /// The settings of the request's streams: the [`Config`] its layer
    /// installed (the default without one), with the server's [`Shutdown`]
    /// when the Config names none (`rivulet::serve` hands every request its
    /// own).
    pub(crate) fn of_request(parts: &http::request::Parts) -> Config {
        let mut config = match parts.extensions.get::<Config>() {
            Some(config) => {
                if parts.extensions.get::<Layered>().is_none() {
                    warn_extension_once();
                }
                config.clone()
            }
            None => Config::default(),
        };
        if config.shutdown.is_none() {
            config.shutdown = parts.extensions.get::<Shutdown>().cloned();
        }
        config
    }
}

/// A Config installed as an `Extension` works, but its request bodies are not
/// guarded: said once in the log, where the operator looks.
fn warn_extension_once() {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "rivulet::Config is installed as an axum Extension: request bodies are not guarded; \
             install it with `.layer(config)` instead"
        );
    });
}
