//! The one way a reader of a Redis history learns of an append, for
//! resumable streams and feeds alike: the append script publishes on the
//! history's own channel (`…:{<tag>}:appended`, payload: the channel's
//! name), `SPUBLISH` on a cluster so that the notification stays on the
//! history's node; a server subscribes to the channels of the histories it
//! reads, and only those, on one subscription for all of them.
//!
//! With one channel for all, every server received every append of every
//! stream (`rivulet-bench redis-notify`); with a blocking `XREAD` per
//! history, a server held one Redis connection per history it read (per
//! feed, and it would be per resumable stream read), where a subscription
//! is one connection whatever it follows: 200 feeds on two servers took 404
//! connections (1,212 on a 3-master cluster) and now take 4 (12), for one
//! `PUBLISH` more per append and no slower delivery (`rivulet-bench
//! redis-feeds`, docs/benchmarks.md). A lost notification only delays a
//! reader until its next look: every wait is bounded, and after a lost
//! subscription every reader looks again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::redis_conn::RedisLink;

/// How long a channel stays subscribed after its last read: a reader
/// between two reads (forwarding packets to its client) keeps it.
const LINGER: Duration = Duration::from_secs(10);

/// The subscription to append notifications, and the readers waiting on
/// them. A channel stays subscribed while its history is read, and for
/// [`LINGER`] after its last read.
pub(crate) struct Wakeup {
    waiting: Mutex<HashMap<String, Waiting>>,
    /// Subscriptions for the listening task to make.
    subscribe: mpsc::UnboundedSender<(String, oneshot::Sender<()>)>,
    task: Mutex<Option<AbortHandle>>,
    /// Notifications received, for
    /// [`RedisStore::notifications_received`](crate::resume::RedisStore::notifications_received).
    received: AtomicU64,
}

/// The readers of one history: woken by its notifications.
struct Waiting {
    notify: Arc<Notify>,
    last_read: Instant,
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Wakeup {
    /// Starts listening on `link`; the task ends when the returned value is
    /// dropped.
    pub(crate) fn start(link: RedisLink) -> Arc<Wakeup> {
        let (subscribe, requests) = mpsc::unbounded_channel();
        let wakeup = Arc::new(Wakeup {
            waiting: Mutex::default(),
            subscribe,
            task: Mutex::default(),
            received: AtomicU64::new(0),
        });
        let task = tokio::spawn(listen(link, Arc::downgrade(&wakeup), requests));
        *wakeup.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.abort_handle());
        wakeup
    }

    /// Notifications received so far.
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// What wakes the readers of the history whose appends notify
    /// `channel`, and, when that channel is not subscribed yet, what
    /// completes once it is. A reader registers (`Notify::notified` +
    /// `enable`) before it looks, so that an append between its look and
    /// its wait still wakes it.
    pub(crate) fn waiter(&self, channel: &str) -> (Arc<Notify>, Option<oneshot::Receiver<()>>) {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if let Some(entry) = waiting.get_mut(channel) {
            entry.last_read = now;
            return (entry.notify.clone(), None);
        }
        let notify = Arc::new(Notify::new());
        waiting.insert(
            channel.to_owned(),
            Waiting {
                notify: notify.clone(),
                last_read: now,
            },
        );
        drop(waiting);
        let (done, subscribed) = oneshot::channel();
        // Without the listening task (the store is going away) nothing is
        // subscribed: readers look again at their deadline.
        let _ = self.subscribe.send((channel.to_owned(), done));
        (notify, Some(subscribed))
    }

    /// Wakes the readers of `channel`, or of every channel.
    fn wake(&self, channel: Option<&str>) {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let notifies: Vec<Arc<Notify>> = match channel {
            Some(channel) => waiting
                .get(channel)
                .map(|w| w.notify.clone())
                .into_iter()
                .collect(),
            None => waiting.values().map(|w| w.notify.clone()).collect(),
        };
        drop(waiting);
        for notify in notifies {
            notify.notify_waiters();
        }
    }

    /// Forgets the channels nobody read for [`LINGER`] (and that nobody
    /// waits on): those to unsubscribe.
    fn stale(&self) -> Vec<String> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let stale: Vec<String> = waiting
            .iter()
            .filter(|(_, w)| {
                now.duration_since(w.last_read) >= LINGER && Arc::strong_count(&w.notify) == 1
            })
            .map(|(channel, _)| channel.clone())
            .collect();
        for channel in &stale {
            waiting.remove(channel);
        }
        stale
    }

    /// Every channel that should be subscribed.
    fn channels(&self) -> Vec<String> {
        let waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting.keys().cloned().collect()
    }
}

/// Keeps the subscriptions to the channels of the histories read, and wakes
/// their readers on each notification, until the [`Wakeup`] is dropped;
/// after a lost connection it subscribes again to every channel.
async fn listen(
    link: RedisLink,
    wakeup: Weak<Wakeup>,
    mut requests: mpsc::UnboundedReceiver<(String, oneshot::Sender<()>)>,
) {
    let mut delay = Duration::from_millis(50);
    loop {
        match link.subscriber().await {
            Ok((mut sink, mut messages)) => {
                let Some(current) = wakeup.upgrade().map(|w| w.channels()) else {
                    return;
                };
                let resubscribed = match current.is_empty() {
                    true => Ok(()),
                    false => sink.subscribe(current).await,
                };
                if let Err(e) = resubscribed {
                    tracing::warn!(redis = %link, error = %e, "could not subscribe to Redis");
                } else {
                    delay = Duration::from_millis(50);
                    // Notifications may have been missed: every reader looks again.
                    if let Some(wakeup) = wakeup.upgrade() {
                        wakeup.wake(None);
                    }
                    let mut sweep = tokio::time::interval(LINGER);
                    loop {
                        tokio::select! {
                            message = messages.next() => {
                                let Some(message) = message else { break };
                                let Some(wakeup) = wakeup.upgrade() else { return };
                                wakeup.received.fetch_add(1, Ordering::Relaxed);
                                if let Ok(channel) = std::str::from_utf8(&message) {
                                    wakeup.wake(Some(channel));
                                }
                            }
                            request = requests.recv() => {
                                let Some((channel, done)) = request else { return };
                                if let Err(e) = sink.subscribe(vec![channel]).await {
                                    tracing::warn!(redis = %link, error = %e, "could not subscribe to Redis");
                                    break;
                                }
                                let _ = done.send(());
                            }
                            _ = sweep.tick() => {
                                let Some(stale) = wakeup.upgrade().map(|w| w.stale()) else {
                                    return;
                                };
                                if !stale.is_empty()
                                    && let Err(e) = sink.unsubscribe(stale).await
                                {
                                    tracing::warn!(redis = %link, error = %e, "could not unsubscribe in Redis");
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(redis = %link, error = %e, "could not connect to Redis for pub/sub")
            }
        }
        let Some(wakeup) = wakeup.upgrade() else {
            return;
        };
        // Notifications may have been missed: every reader looks again.
        wakeup.wake(None);
        drop(wakeup);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
