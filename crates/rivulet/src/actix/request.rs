//! The actix-web extractors: [`Stream`] and [`Resumable`], the core's own
//! types made from actix-web's request (the head is copied into `http` 1
//! types, the [`Config`], [`Resume`] and [`Shutdown`] come from the app's
//! data), with `run` and `follow` answering in actix-web's response.

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse};
use http::request::Parts;
use serde::Serialize;

use super::response::response;
use crate::config::{Config, Layered};
use crate::error::Error;
use crate::feed::Feed;
use crate::protocol::Format;
use crate::request::tracked::BodyRead;
use crate::resume::Resume;
use crate::shutdown::Shutdown;
use crate::stream::sender::Sender;

/// The head of `request` in the core's types, with the app's [`Config`],
/// [`Resume`] and [`Shutdown`] (`App::app_data`) among its extensions.
pub(crate) fn parts(request: &HttpRequest) -> Parts {
    let mut head = http::Request::new(());
    *head.method_mut() =
        http::Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or_default();
    *head.uri_mut() = request.uri().to_string().parse().unwrap_or_default();
    let headers = head.headers_mut();
    for (name, value) in request.headers() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    let (mut parts, ()) = head.into_parts();
    if let Some(config) = request.app_data::<Config>() {
        parts.extensions.insert(config.clone());
        parts.extensions.insert(Layered);
    }
    if let Some(resume) = request.app_data::<Resume>() {
        parts.extensions.insert(resume.clone());
    }
    if let Some(shutdown) = request.app_data::<Shutdown>() {
        parts.extensions.insert(shutdown.clone());
    }
    if let Some(read) = request.extensions().get::<BodyRead>() {
        parts.extensions.insert(read.clone());
    }
    parts
}

/// Extractor for a streaming handler on actix-web: the request's wire format
/// and the app's [`Config`] (`App::app_data(config)`; the default without
/// one). It never rejects a request. See [`crate::Stream`], whose
/// `respond` this runs.
#[derive(Debug)]
pub struct Stream(crate::Stream);

impl FromRequest for Stream {
    type Error = Infallible;
    type Future = StreamFuture;

    /// Made when first polled: actix-web makes every extractor of a handler
    /// before it polls any, so a [`RequestBody`](super::RequestBody) listed
    /// after the `Stream` has registered its body by then, and the stream
    /// holds its head until that body is read.
    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        StreamFuture(Some(request.clone()))
    }
}

/// The future of the [`Stream`] extractor: the stream of its request, made
/// after the handler's other extractors.
#[derive(Debug)]
pub struct StreamFuture(Option<HttpRequest>);

impl Future for StreamFuture {
    type Output = Result<Stream, Infallible>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let request = self.0.take().expect("polled after it was ready");
        Poll::Ready(Ok(Stream(crate::Stream::from_parts(&parts(&request)))))
    }
}

impl Stream {
    /// The wire format the client asked for.
    pub fn format(&self) -> Format {
        self.0.format()
    }

    /// Changes this stream's buffer (see [`Config::buffer`]).
    pub fn buffer(self, packets: usize) -> Self {
        Stream(self.0.buffer(packets))
    }

    /// Changes this stream's keep-alive (see [`Config::keep_alive`]).
    pub fn keep_alive(self, interval: Option<Duration>) -> Self {
        Stream(self.0.keep_alive(interval))
    }

    /// Runs `handler` on its own task and answers with its packets: see
    /// [`Stream::respond`](crate::Stream::respond). When the client leaves,
    /// actix-web drops the response and the handler's future is dropped.
    pub async fn run<F, Fut, T>(self, handler: F) -> HttpResponse
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        response(self.0.respond(handler).await)
    }

    /// Answers with the packets of `feed`: see
    /// [`Stream::respond_feed`](crate::Stream::respond_feed).
    pub async fn follow(self, feed: &Feed) -> HttpResponse {
        response(self.0.respond_feed(feed).await)
    }

    /// The core's stream, for its framework-neutral `respond`.
    pub fn into_inner(self) -> crate::Stream {
        self.0
    }
}

/// Extractor for a resumable streaming handler on actix-web, with the app's
/// [`Resume`] settings (`App::app_data(resume)`). See
/// [`resume::Resumable`](crate::resume::Resumable), whose `respond` this
/// runs; route `GET` and `DELETE` (the cancel) to the same handler.
#[derive(Debug)]
pub struct Resumable(crate::resume::Resumable);

impl FromRequest for Resumable {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Resumable(crate::resume::Resumable::from_parts(&parts(
            request,
        )))))
    }
}

impl Resumable {
    /// The wire format the client asked for.
    pub fn format(&self) -> Format {
        self.0.format()
    }

    /// True when the request resumes a stream rather than starting one.
    pub fn is_resume(&self) -> bool {
        self.0.is_resume()
    }

    /// True when the request is a `DELETE` that cancels a stream.
    pub fn is_cancel(&self) -> bool {
        self.0.is_cancel()
    }

    /// Ties the stream to `owner`: see
    /// [`Resumable::owner`](crate::resume::Resumable::owner).
    pub fn owner(self, owner: impl Into<String>) -> Self {
        Resumable(self.0.owner(owner))
    }

    /// Starts `handler` as a detached job, continues the stream the
    /// request's resume point names, or cancels it: see
    /// [`Resumable::respond`](crate::resume::Resumable::respond).
    pub async fn run<F, Fut, T>(self, handler: F) -> HttpResponse
    where
        F: FnOnce(Sender) -> Fut,
        Fut: Future<Output = Result<T, Error>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        response(self.0.respond(handler).await)
    }
}
