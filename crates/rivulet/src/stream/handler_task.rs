//! The handle that ties a handler's task to its response: dropping it (the
//! response future, then the body, own it) aborts the task, so a client that
//! leaves at any point cancels the handler.

use tokio::task::AbortHandle;

/// Aborts the handler's task when dropped: the response future and then the body
/// own it, so a client that leaves at any point cancels the handler.
pub(crate) struct HandlerTask(pub(crate) AbortHandle);

impl Drop for HandlerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
