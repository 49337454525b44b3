//! The browser client on actix-web: [`assets`] serves
//! [`FILES`](crate::assets::FILES) under a base path.

use actix_web::dev::HttpServiceFactory;
use actix_web::{HttpRequest, HttpResponse, guard, web};

use super::request::parts;
use super::response::response;
use crate::assets::Asset;

/// A scope serving the client's files under `base` (`"/rivulet/"`): `GET`
/// (and `HEAD`) `/rivulet/stream.js` and the rest, with their `ETag`s.
pub fn assets(base: &str) -> impl HttpServiceFactory {
    let get_or_head = guard::Any(guard::Get()).or(guard::Head());
    web::scope(base.trim_end_matches('/'))
        .route("/{name}", web::route().guard(get_or_head).to(file))
}

async fn file(request: HttpRequest, name: web::Path<String>) -> HttpResponse {
    match Asset::named(&name) {
        Some(asset) => response(asset.respond(&parts(&request).headers)),
        None => HttpResponse::NotFound().finish(),
    }
}
