//! The browser client, embedded in the binary and served by one line:
//!
//! ```
//! use axum::Router;
//! let app: Router = Router::new().merge(rivulet::assets::router(rivulet::assets::DEFAULT_BASE));
//! // GET /rivulet/stream.js, /rivulet/jquery.stream.js, /rivulet/stream.d.ts, /rivulet/parser.js,
//! // /rivulet/transport.js, /rivulet/resume.js, /rivulet/callbacks.js, /rivulet/share.js
//! ```
//!
//! Each file is answered with its content type, a strong `ETag` (a hash of its
//! bytes) and `Cache-Control: no-cache`, so browsers revalidate and get a
//! `304 Not Modified` while the file is unchanged. [`router`] is axum's way in
//! (feature `axum`), `rivulet::actix::assets` actix-web's; [`Asset::respond`]
//! answers one request for a file under any framework.

use std::hash::{DefaultHasher, Hash, Hasher};

#[cfg(feature = "axum")]
use axum::{Router, routing::get};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::response::{Body, IntoResponse, Response};

/// The base path the client is usually served under.
pub const DEFAULT_BASE: &str = "/rivulet/";

/// One embedded client file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// File name, as served under the base path.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub contents: &'static str,
}

/// The client files: the ES module and the modules it imports (parser,
/// transport, resume, callbacks), its tab sharing (loaded only by streams
/// shared across tabs), the jQuery plugin and the types.
pub const FILES: &[Asset] = &[
    Asset {
        name: "stream.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/stream.js"),
    },
    Asset {
        name: "parser.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/parser.js"),
    },
    Asset {
        name: "transport.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/transport.js"),
    },
    Asset {
        name: "resume.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/resume.js"),
    },
    Asset {
        name: "callbacks.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/callbacks.js"),
    },
    Asset {
        name: "share.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/share.js"),
    },
    Asset {
        name: "jquery.stream.js",
        content_type: "text/javascript; charset=utf-8",
        contents: include_str!("../assets/jquery.stream.js"),
    },
    Asset {
        name: "stream.d.ts",
        content_type: "application/typescript; charset=utf-8",
        contents: include_str!("../assets/stream.d.ts"),
    },
];

/// A router serving [`FILES`] under `base` (`"/rivulet/"`, `"/static/js"`, …).
#[cfg(feature = "axum")]
pub fn router<S: Clone + Send + Sync + 'static>(base: &str) -> Router<S> {
    let base = base.trim_end_matches('/');
    FILES.iter().fold(Router::new(), |router, asset| {
        let etag = etag(asset.contents);
        router.route(
            &format!("{base}/{}", asset.name),
            get(move |headers: HeaderMap| async move {
                serve(asset, &etag, &headers).map(axum::body::Body::new)
            }),
        )
    })
}

impl Asset {
    /// The file named `name` (`"stream.js"`), if it is one of [`FILES`].
    pub fn named(name: &str) -> Option<&'static Asset> {
        FILES.iter().find(|asset| asset.name == name)
    }

    /// Answers a `GET` for this file from a client that sent `request`
    /// (a `304 Not Modified` when its `If-None-Match` has the file's `ETag`).
    pub fn respond(&self, request: &HeaderMap) -> Response {
        serve(self, &etag(self.contents), request)
    }
}

fn etag(contents: &str) -> HeaderValue {
    let mut hasher = DefaultHasher::new();
    contents.hash(&mut hasher);
    HeaderValue::from_str(&format!("\"{:016x}\"", hasher.finish())).expect("hex is a valid header")
}

fn serve(asset: &Asset, etag: &HeaderValue, request: &HeaderMap) -> Response {
    let fresh = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes()
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::full(asset.contents));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
        response
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, etag.clone());
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
