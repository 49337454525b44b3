//! Holding a stream's response until its request body has been read: what
//! the handler sends meanwhile is taken from the buffer (so it never waits for
//! room) and kept, up to [`MAX_HELD_BYTES`]. Why: see
//! [`request::tracked`](crate::request::tracked).

use bytes::BytesMut;

use super::buffer::{End, Reader};
use crate::request::tracked::BodyRead;

/// The most bytes of packets held back while the body is unread. A handler
/// that sends more before it has read its body gets its head sent anyway, as
/// without holding.
pub(crate) const MAX_HELD_BYTES: usize = 1024 * 1024;

/// What a stream sent while its head was held.
#[derive(Default)]
pub(crate) struct Held {
    pub(crate) frames: BytesMut,
    pub(crate) packets: usize,
    pub(crate) end: Option<End>,
}

/// Takes the stream's packets, so that its handler never waits for room,
/// until the body has been read, the stream has ended, or
/// [`MAX_HELD_BYTES`] are held.
pub(crate) async fn hold(rx: &mut Reader, body: &BodyRead) -> Held {
    let mut held = Held::default();
    while held.end.is_none() && held.frames.len() < MAX_HELD_BYTES {
        tokio::select! {
            biased;
            () = body.read() => break,
            taken = rx.take() => {
                held.frames.unsplit(taken.frames);
                held.packets += taken.packets;
                held.end = taken.end;
            }
        }
    }
    held
}
