//! [`Resume`]: where resumable streams are kept and how long things last, and
//! who may resume them.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::memory::MemoryStore;
use super::request::ResumeRequest;
use super::store::{DynStore, Store};
use crate::error::Error;

/// The default [`Resume::grace`]: 30 s.
pub const DEFAULT_RECONNECT_GRACE: Duration = Duration::from_secs(30);
/// The default [`Resume::ttl`]: 5 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The default [`Resume::lease`]: 10 s.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

type Authorize = dyn Fn(&ResumeRequest<'_>) -> Result<(), Error> + Send + Sync;

/// How resumable streams are kept: the store, and how long things last.
/// Install it with axum's `Extension` layer (on actix-web, `App::app_data`); without one, [`Resumable`](super::Resumable) uses a
/// [`MemoryStore`] shared by the whole process, with the default settings, and
/// says so once in the log (at `info`): several servers that forget the layer
/// would each keep their own streams.
#[derive(Clone)]
pub struct Resume {
    pub(super) inner: Arc<Settings>,
}

#[derive(Clone)]
pub(super) struct Settings {
    pub(super) store: Arc<dyn DynStore>,
    pub(super) grace: Duration,
    pub(super) ttl: Duration,
    pub(super) lease: Duration,
    pub(super) authorize: Option<Arc<Authorize>>,
}

impl Resume {
    /// Resumable streams kept in `store`, with the default durations.
    pub fn new(store: impl Store) -> Self {
        Resume {
            inner: Arc::new(Settings {
                store: Arc::new(store),
                grace: DEFAULT_RECONNECT_GRACE,
                ttl: DEFAULT_TTL,
                lease: DEFAULT_LEASE,
                authorize: None,
            }),
        }
    }

    fn settings(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// How long a job keeps running with no client connected (at least 10 ms).
    pub fn grace(self, grace: Duration) -> Self {
        self.settings(|s| s.grace = grace.max(Duration::from_millis(10)))
    }

    /// How long a finished stream can still be fetched.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.settings(|s| s.ttl = ttl)
    }

    /// How long a producer's lease lasts without renewal (at least 10 ms): the
    /// longest a reader on another server waits before it calls a producer that
    /// stopped renewing dead. The producer renews it three times per lease.
    pub fn lease(self, lease: Duration) -> Self {
        self.settings(|s| s.lease = lease.max(Duration::from_millis(10)))
    }

    /// Decides whether a request may resume a stream. Without a hook, the owner
    /// the handler gives with [`Resumable::owner`](super::Resumable::owner) must equal the one the
    /// stream was created with (streams created without an owner can be
    /// resumed by anyone who has their id). An `Err` is the answer to the
    /// request (`403` is usual).
    ///
    /// ```
    /// use rivulet::{Error, resume::{MemoryStore, Resume}};
    /// use http::StatusCode;
    ///
    /// let resume = Resume::new(MemoryStore::new()).authorize(|request| {
    ///     let user = request.headers().get("x-user").and_then(|v| v.to_str().ok());
    ///     if user.is_some() && user == request.owner() {
    ///         Ok(())
    ///     } else {
    ///         Err(Error::new(StatusCode::FORBIDDEN, "not your stream"))
    ///     }
    /// });
    /// # let _ = resume;
    /// ```
    pub fn authorize<F>(self, hook: F) -> Self
    where
        F: Fn(&ResumeRequest<'_>) -> Result<(), Error> + Send + Sync + 'static,
    {
        self.settings(|s| s.authorize = Some(Arc::new(hook)))
    }
}

/// A process-wide [`MemoryStore`] with the default settings.
impl Default for Resume {
    fn default() -> Self {
        static DEFAULT: OnceLock<Resume> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                tracing::info!(
                    "no rivulet::resume::Resume installed: resumable streams are kept in this \
                     process only (a MemoryStore with the default settings); install \
                     `.layer(Extension(Resume::new(store)))` to choose the store"
                );
                Resume::new(MemoryStore::new())
            })
            .clone()
    }
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resume")
            .field("grace", &self.inner.grace)
            .field("ttl", &self.inner.ttl)
            .field("lease", &self.inner.lease)
            .field("authorize", &self.inner.authorize.is_some())
            .finish_non_exhaustive()
    }
}
