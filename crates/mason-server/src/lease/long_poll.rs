//! Holding a request open until it can be served: [`hold`] makes an attempt, and while
//! the answer is "not enough free", parks until the [`Waiter`] is woken (see
//! [`crate::lease::waiters`]) or the deadline passes, then tries again. No timer ticks in
//! between: an idle held request costs nothing.

use tokio::time::Instant;

use crate::lease::waiters::{Key, Waiter};

/// The outcome of one attempt.
#[derive(Debug)]
pub(crate) enum Attempt<T, E> {
    /// Served.
    Granted(T),
    /// Not enough free in the queues `short`; waiting may help. `E` is the answer to
    /// give if the wait runs out.
    Short(Vec<Key>, E),
    /// Any other answer; waiting cannot help.
    Failed(E),
}

/// Attempt until granted, a failure waiting cannot fix, or `deadline` (then the last
/// "short" answer). `waiter` must be registered before the call, so that nothing freed
/// during the first attempt is missed.
pub(crate) async fn hold<T, E, F, Fut>(
    waiter: &Waiter,
    deadline: Instant,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Attempt<T, E>>,
{
    loop {
        match attempt().await {
            Attempt::Granted(value) => {
                waiter.settle(&[]);
                return Ok(value);
            }
            Attempt::Failed(err) => return Err(err),
            Attempt::Short(short, err) => {
                waiter.settle(&short);
                tokio::select! {
                    () = waiter.woken() => {}
                    () = tokio::time::sleep_until(deadline) => return Err(err),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::lease::waiters::Waiters;

    fn key(t: &str) -> Key {
        (t.to_string(), "free".to_string())
    }

    /// A pool of free units per type, taken all or nothing.
    #[derive(Default)]
    struct Pool(Mutex<Vec<(String, u32)>>);

    impl Pool {
        fn attempt(&self, want: &[(&str, u32)]) -> Attempt<(), &'static str> {
            let mut free = self.0.lock().unwrap();
            let short: Vec<Key> = want
                .iter()
                .filter(|(t, n)| free.iter().find(|(f, _)| f == t).map_or(0, |(_, c)| *c) < *n)
                .map(|(t, _)| key(t))
                .collect();
            if !short.is_empty() {
                return Attempt::Short(short, "short");
            }
            for (t, n) in want {
                free.iter_mut().find(|(f, _)| f == t).unwrap().1 -= n;
            }
            Attempt::Granted(())
        }

        fn add(&self, rtype: &str, n: u32) {
            let mut free = self.0.lock().unwrap();
            match free.iter_mut().find(|(f, _)| f == rtype) {
                Some(entry) => entry.1 += n,
                None => free.push((rtype.to_string(), n)),
            }
        }
    }

    #[tokio::test]
    async fn a_held_set_is_served_when_its_last_part_frees_up() {
        let waiters = Arc::new(Waiters::default());
        let pool = Arc::new(Pool::default());
        pool.add("a", 1);
        let waiter = waiters.register(vec![key("a"), key("b")], 0);
        let p = Arc::clone(&pool);
        let held = tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            hold(&waiter, deadline, || async {
                p.attempt(&[("a", 1), ("b", 1)])
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!held.is_finished());
        pool.add("b", 1);
        waiters.wake("b", "free");
        let served = tokio::time::timeout(Duration::from_secs(10), held)
            .await
            .unwrap();
        assert_eq!(served.unwrap(), Ok(()));
        assert_eq!(waiters.len(), 0);
    }

    #[tokio::test]
    async fn the_wait_ends_at_the_deadline_with_the_last_answer() {
        let waiters = Arc::new(Waiters::default());
        let pool = Pool::default();
        let waiter = waiters.register(vec![key("a")], 0);
        let start = Instant::now();
        let wait = Duration::from_millis(200);
        let out = hold(&waiter, start + wait, || async {
            pool.attempt(&[("a", 1)])
        })
        .await;
        assert_eq!(out, Err("short"));
        assert!(start.elapsed() >= wait);
    }

    #[tokio::test]
    async fn a_failure_waiting_cannot_fix_ends_at_once() {
        let waiters = Arc::new(Waiters::default());
        let waiter = waiters.register(vec![key("a")], 0);
        let out: Result<(), _> = hold(
            &waiter,
            Instant::now() + Duration::from_secs(30),
            || async { Attempt::Failed("unknown type") },
        )
        .await;
        assert_eq!(out, Err("unknown type"));
    }

    #[tokio::test]
    async fn held_requests_are_served_in_queue_order() {
        let waiters = Arc::new(Waiters::default());
        let pool = Arc::new(Pool::default());
        let served = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [("first", 0), ("second", 0), ("urgent", 5)] {
            let waiter = waiters.register(vec![key("a")], priority);
            let (p, s) = (Arc::clone(&pool), Arc::clone(&served));
            tasks.push(tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(30);
                hold(&waiter, deadline, || async { p.attempt(&[("a", 1)]) })
                    .await
                    .unwrap();
                s.lock().unwrap().push(name);
            }));
        }
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            pool.add("a", 1);
            waiters.wake("a", "free");
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(*served.lock().unwrap(), ["urgent", "first", "second"]);
    }
}
