//! The request side of a stream: its body, guarded against clients that hold
//! the server with it ([`guard`]), and tracked so that the response head waits
//! until it has been read ([`tracked`]).

pub(crate) mod guard;
pub(crate) mod resume;
pub(crate) mod tracked;

pub use guard::MAX_MULTIPART_HEAD;
#[cfg(feature = "axum")]
pub(crate) use guard::guard_body;
