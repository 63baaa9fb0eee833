//! Long-poll waiters of this server process, woken in queue order when the store says
//! resources may have become available — no polling: an idle waiter is a parked task.
//!
//! Each waiting request registers in the queue of every (type, state) it asks for,
//! ordered like the store's queue: priority first (higher earlier), then arrival. When
//! the store reports that (type, state) changed, the *head* of that queue gets a wake-up
//! token for it and tries again. After its attempt it hands the token on
//! ([`Waiter::settle`]): to the next waiter in that queue if it got its set, or if it is
//! short only of *other* types (what freed up may serve someone behind it); the token
//! stops when the waiter is itself short of that (type, state), since nobody behind it
//! can get what it could not. A waiter that leaves (granted, timed out, disconnected)
//! hands its unspent tokens on. So one freed resource costs one attempt in the common
//! case, never a thundering herd, and waiters are served in order.
//!
//! The store's queue is what decides who may take what (across replicas too); this
//! local order only decides who asks first. A local order that disagrees with the
//! store's (a request that queued on another replica first) costs an extra failed
//! attempt, not a wrong grant.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

use super::backend::{Availability, LeaseBackend};

/// A queue: resources of one type in one state.
pub(crate) type Key = (String, String);

/// Position in a queue: priority (higher first), then arrival.
type Rank = (Reverse<i32>, u64);

/// One registered waiter.
struct Entry {
    keys: Vec<Key>,
    rank: Rank,
    notify: Arc<Notify>,
    /// The queues it has been woken for and not yet settled.
    tokens: BTreeSet<Key>,
}

#[derive(Default)]
struct Book {
    queues: BTreeMap<Key, BTreeSet<Rank>>,
    entries: HashMap<u64, Entry>,
}

impl Book {
    /// Give `key`'s token to the first waiter in that queue after `after` (from the head
    /// when `None`). Nobody there: the token lapses.
    fn hand_on(&mut self, key: &Key, after: Option<Rank>) {
        let Some(queue) = self.queues.get(key) else {
            return;
        };
        let next = match after {
            Some(rank) => queue
                .range((std::ops::Bound::Excluded(rank), std::ops::Bound::Unbounded))
                .next(),
            None => queue.iter().next(),
        };
        if let Some(&(_, seq)) = next {
            let entry = self
                .entries
                .get_mut(&seq)
                .expect("queued waiters are registered");
            entry.tokens.insert(key.clone());
            entry.notify.notify_one();
        }
    }
}

/// The waiters of this process.
#[derive(Default)]
pub(crate) struct Waiters {
    book: Mutex<Book>,
    arrivals: AtomicU64,
}

impl Waiters {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a waiter for every (type, state) in `keys`, at `priority`.
    pub(crate) fn register(self: &Arc<Self>, keys: Vec<Key>, priority: i32) -> Waiter {
        let seq = self.arrivals.fetch_add(1, Ordering::Relaxed);
        let rank = (Reverse(priority), seq);
        let notify = Arc::new(Notify::new());
        let mut book = self.book();
        for key in &keys {
            book.queues.entry(key.clone()).or_default().insert(rank);
        }
        book.entries.insert(
            seq,
            Entry {
                keys,
                rank,
                notify: Arc::clone(&notify),
                tokens: BTreeSet::new(),
            },
        );
        Waiter {
            waiters: Arc::clone(self),
            seq,
            notify,
        }
    }

    /// Resources of (`rtype`, `state`) may be available: wake the head of that queue.
    pub(crate) fn wake(&self, rtype: &str, state: &str) {
        self.book()
            .hand_on(&(rtype.to_string(), state.to_string()), None);
    }

    /// Anything may have changed (events were missed): wake the head of every queue.
    pub(crate) fn wake_all(&self) {
        let mut book = self.book();
        let keys: Vec<Key> = book.queues.keys().cloned().collect();
        for key in keys {
            book.hand_on(&key, None);
        }
    }

    /// How many requests wait here.
    pub(crate) fn len(&self) -> usize {
        self.book().entries.len()
    }
}

/// A registered waiter; leaving (drop) hands its unspent wake-ups on.
pub(crate) struct Waiter {
    waiters: Arc<Waiters>,
    seq: u64,
    notify: Arc<Notify>,
}

impl Waiter {
    /// Resolves once this waiter is woken (a wake-up that came while it was busy is
    /// kept, so none is missed between an attempt and the next wait).
    pub(crate) async fn woken(&self) {
        self.notify.notified().await;
    }

    /// After an attempt: hand on the tokens received so far, except those of the
    /// queues in `short` (this waiter could not get enough of those itself).
    pub(crate) fn settle(&self, short: &[Key]) {
        let mut book = self.waiters.book();
        let Some(entry) = book.entries.get_mut(&self.seq) else {
            return;
        };
        let rank = entry.rank;
        let tokens = std::mem::take(&mut entry.tokens);
        for key in tokens.iter().filter(|k| !short.contains(k)) {
            book.hand_on(key, Some(rank));
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut book = self.waiters.book();
        let Some(entry) = book.entries.remove(&self.seq) else {
            return;
        };
        for key in &entry.keys {
            if let Some(queue) = book.queues.get_mut(key) {
                queue.remove(&entry.rank);
                if queue.is_empty() {
                    book.queues.remove(key);
                }
            }
        }
        for key in &entry.tokens {
            book.hand_on(key, Some(entry.rank));
        }
    }
}

/// Wake `waiters` on every availability signal of `backend` until `shutdown`; a missed
/// stretch of signals (the receiver lagged) wakes the head of every queue.
pub(crate) async fn forward_availability(
    backend: Arc<dyn LeaseBackend>,
    waiters: Arc<Waiters>,
    shutdown: CancellationToken,
) {
    let mut signals = backend.availability();
    loop {
        let signal = tokio::select! {
            () = shutdown.cancelled() => break,
            signal = signals.recv() => signal,
        };
        match signal {
            Ok(Availability::Changed { rtype, state }) => waiters.wake(&rtype, &state),
            Ok(Availability::Unknown) | Err(broadcast::error::RecvError::Lagged(_)) => {
                waiters.wake_all()
            }
            Err(broadcast::error::RecvError::Closed) => {
                tracing::warn!("the store's availability signals ended; held requests now wait for their deadline");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
