//! Slots under [`Config::max_streams`]: one per running stream, refused
//! while the server is shutting down.

use crate::response::Response;
use tokio::sync::OwnedSemaphorePermit;

use super::Config;
use crate::error::refusal::retry_later;
use crate::protocol::{BUSY_MESSAGE, SHUTDOWN_MESSAGE};
use crate::shutdown::Shutdown;

impl Config {
    /// A slot under [`Config::max_streams`] for one more stream (a handler,
    /// or a connection reading a resumable stream), or the answer that
    /// refuses it: also while the server is shutting down.
    pub(crate) fn slot(&self) -> Result<Option<OwnedSemaphorePermit>, Box<Response>> {
        if self.shutdown.as_ref().is_some_and(Shutdown::is_stopping) {
            return Err(Box::new(retry_later(SHUTDOWN_MESSAGE)));
        }
        match &self.max_streams {
            None => Ok(None),
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(permit) => Ok(Some(permit)),
                Err(_) => Err(Box::new(retry_later(BUSY_MESSAGE))),
            },
        }
    }
}
