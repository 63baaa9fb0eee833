use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use super::*;

fn key(t: &str) -> Key {
    (t.to_string(), "free".to_string())
}

/// Whether `w` has a wake-up pending (without waiting for one).
async fn is_woken(w: &Waiter) -> bool {
    tokio::time::timeout(Duration::from_millis(20), w.woken())
        .await
        .is_ok()
}

#[tokio::test]
async fn the_head_is_woken_first_by_priority_then_arrival() {
    let waiters = Arc::new(Waiters::default());
    let first = waiters.register(vec![key("a")], 0);
    let urgent = waiters.register(vec![key("a")], 5);
    let second = waiters.register(vec![key("a")], 0);
    waiters.wake("a", "free");
    assert!(
        is_woken(&urgent).await,
        "priority 5 arrived last but is served first"
    );
    assert!(!is_woken(&first).await);
    assert!(!is_woken(&second).await);
    // Urgent got its resource: the token goes on to the next in order.
    urgent.settle(&[]);
    drop(urgent);
    assert!(is_woken(&first).await);
    assert!(!is_woken(&second).await);
    assert_eq!(waiters.len(), 2);
}

#[tokio::test]
async fn a_waiter_short_of_the_woken_type_stops_the_token() {
    let waiters = Arc::new(Waiters::default());
    let head = waiters.register(vec![key("a")], 0);
    let behind = waiters.register(vec![key("a")], 0);
    waiters.wake("a", "free");
    assert!(is_woken(&head).await);
    head.settle(&[key("a")]);
    assert!(
        !is_woken(&behind).await,
        "nobody behind can get what the head could not"
    );
}

#[tokio::test]
async fn a_set_short_of_another_type_lets_the_token_pass() {
    let waiters = Arc::new(Waiters::default());
    let set = waiters.register(vec![key("a"), key("b")], 0);
    let single = waiters.register(vec![key("a")], 0);
    waiters.wake("a", "free");
    assert!(is_woken(&set).await);
    // The set is short of b only: what freed up in a may serve the next one.
    set.settle(&[key("b")]);
    assert!(is_woken(&single).await);
}

#[tokio::test]
async fn leaving_hands_unspent_tokens_on_and_cleans_up() {
    let waiters = Arc::new(Waiters::default());
    let head = waiters.register(vec![key("a")], 0);
    let behind = waiters.register(vec![key("a")], 0);
    waiters.wake("a", "free");
    drop(head); // e.g. its wait ran out before it could try
    assert!(is_woken(&behind).await);
    drop(behind);
    assert_eq!(waiters.len(), 0);
    assert!(waiters.book().queues.is_empty());
    waiters.wake("a", "free"); // nobody waits: the token lapses
}

#[tokio::test]
async fn wake_all_wakes_the_head_of_every_queue_only() {
    let waiters = Arc::new(Waiters::default());
    let a1 = waiters.register(vec![key("a")], 0);
    let a2 = waiters.register(vec![key("a")], 0);
    let b1 = waiters.register(vec![key("b")], 0);
    waiters.wake_all();
    assert!(is_woken(&a1).await);
    assert!(is_woken(&b1).await);
    assert!(!is_woken(&a2).await);
}

#[tokio::test]
async fn a_wake_during_an_attempt_is_not_lost() {
    let waiters = Arc::new(Waiters::default());
    let w = waiters.register(vec![key("a")], 0);
    // The wake-up arrives while the waiter is busy (not awaiting): it is kept.
    waiters.wake("a", "free");
    assert!(is_woken(&w).await);
}

#[tokio::test]
async fn one_freed_resource_costs_one_attempt_among_many_waiters() {
    let waiters = Arc::new(Waiters::default());
    let attempts = Arc::new(AtomicUsize::new(0));
    let free = Arc::new(Mutex::new(0u32));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let w = waiters.register(vec![key("a")], 0);
        let (attempts, free) = (Arc::clone(&attempts), Arc::clone(&free));
        tasks.push(tokio::spawn(async move {
            loop {
                w.woken().await;
                attempts.fetch_add(1, Ordering::SeqCst);
                let mut f = free.lock().unwrap();
                if *f > 0 {
                    *f -= 1;
                    drop(f);
                    w.settle(&[]);
                    return;
                }
                drop(f);
                w.settle(&[key("a")]);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        0,
        "idle waiters make no attempt"
    );
    for served in 1..=3 {
        *free.lock().unwrap() += 1;
        waiters.wake("a", "free");
        tokio::time::timeout(Duration::from_secs(10), async {
            while waiters.len() > 1000 - served {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Each freed resource: the head takes it, hands the token on, the next head finds
    // nothing and stops the token: two attempts, not a thousand.
    assert_eq!(attempts.load(Ordering::SeqCst), 6);
    let finished = tasks.iter().filter(|t| t.is_finished()).count();
    assert_eq!(finished, 3);
    for t in tasks {
        t.abort();
    }
}
