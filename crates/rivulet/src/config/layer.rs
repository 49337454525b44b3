//! [`Config`] as a tower layer, the one way to install it: every request gets
//! the [`Config`] and its body the guard of [`request`](crate::request).

use std::task::{Context, Poll};

use axum::body::Body;
use http::Request;

use super::Config;
use crate::request::guard_body;

/// The service [`Config`]'s layer wraps around an app: it hands every
/// request the [`Config`] (as the `Extension` layer would) and guards its body.
#[derive(Clone, Debug)]
pub struct RequestGuard<S> {
    inner: S,
    config: Config,
}

/// `Router::layer(config)`: the streams get their settings, and request bodies
/// the guard of this module.
impl<S> tower_layer::Layer<S> for Config {
    type Service = RequestGuard<S>;

    fn layer(&self, inner: S) -> RequestGuard<S> {
        RequestGuard {
            inner,
            config: self.clone(),
        }
    }
}

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
        let request = guard_body(request, self.config.request_body_timeout);
        self.inner.call(request)
    }
}
