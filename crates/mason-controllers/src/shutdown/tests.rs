//! Tests of the shutdown guard, on paused time with scripted clients, and once with the
//! real HTTP client against a port nobody listens on.

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// What [`Scripted::metric`] does when called.
#[derive(Clone, Copy)]
enum Step {
    /// Wait this long (a request in flight).
    Wait(Duration),
    /// Sleep this long in a retry back-off (told to [`note_backoff`]).
    Backoff(Duration),
}

/// A client whose `metric` plays a script, then answers; other calls are unused.
struct Scripted {
    script: Vec<Step>,
    calls: AtomicU32,
}

fn scripted(script: &[Step]) -> Arc<Scripted> {
    Arc::new(Scripted {
        script: script.to_vec(),
        calls: AtomicU32::new(0),
    })
}

#[async_trait]
impl BoskosApi for Scripted {
    fn owner(&self) -> &str {
        "scripted"
    }
    async fn acquire(&self, _: &str, _: &str, _: &str, _: Option<&str>) -> Result<Resource> {
        unreachable!()
    }
    async fn acquire_by_state(&self, _: &str, _: &str, _: &[String]) -> Result<Vec<Resource>> {
        unreachable!()
    }
    async fn release(&self, _: &str, _: &str) -> Result<()> {
        unreachable!()
    }
    async fn update(&self, _: &str, _: &str, _: Option<&UserData>) -> Result<()> {
        unreachable!()
    }
    async fn reset(
        &self,
        _: &str,
        _: &str,
        _: Duration,
        _: &str,
    ) -> Result<BTreeMap<String, String>> {
        unreachable!()
    }
    async fn metric(&self, rtype: &str) -> Result<Metric> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        for step in &self.script {
            match *step {
                Step::Wait(d) => tokio::time::sleep(d).await,
                Step::Backoff(d) => {
                    note_backoff(d);
                    tokio::time::sleep(d).await;
                }
            }
        }
        Ok(Metric {
            rtype: rtype.to_string(),
            ..Metric::default()
        })
    }
}

const GRACE: Duration = Duration::from_secs(1);

/// Call `metric` through a guard; cancel the token `cancel_after` into the call.
/// Returns whether it answered and when it ended (virtual time).
async fn call_cancelled_after(api: Arc<Scripted>, cancel_after: Duration) -> (bool, Duration) {
    let token = CancellationToken::new();
    let guarded = Shutdown::new(token.clone(), GRACE).guard(api);
    let start = Instant::now();
    let call = tokio::spawn(async move { guarded.metric("t").await });
    tokio::time::sleep(cancel_after).await;
    token.cancel();
    let answer = call.await.unwrap();
    if let Err(e) = &answer {
        assert!(matches!(e, Error::Cancelled), "{e}");
    }
    (answer.is_ok(), start.elapsed())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn without_shutdown_a_call_is_untouched() {
    let api = scripted(&[Step::Backoff(ms(9000)), Step::Wait(ms(60_000))]);
    let guarded = Shutdown::new(CancellationToken::new(), GRACE).guard(api.clone());
    let start = Instant::now();
    assert_eq!(guarded.metric("t").await.unwrap().rtype, "t");
    assert_eq!(start.elapsed(), ms(69_000));
    assert_eq!(guarded.owner(), "scripted");
}

#[tokio::test(start_paused = true)]
async fn a_call_in_a_retry_backoff_ends_at_once() {
    let api = scripted(&[
        Step::Wait(ms(10)),
        Step::Backoff(ms(9000)),
        Step::Wait(ms(10)),
    ]);
    assert_eq!(call_cancelled_after(api, ms(500)).await, (false, ms(500)));
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_gets_the_grace_to_answer() {
    let healthy = scripted(&[Step::Wait(ms(300))]);
    assert_eq!(
        call_cancelled_after(healthy, ms(100)).await,
        (true, ms(300))
    );
    let hung = scripted(&[Step::Wait(ms(60_000))]);
    assert_eq!(
        call_cancelled_after(hung, ms(100)).await,
        (false, ms(100) + GRACE)
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_fails_during_the_grace_stops_at_its_backoff() {
    let api = scripted(&[Step::Wait(ms(400)), Step::Backoff(ms(4000))]);
    assert_eq!(call_cancelled_after(api, ms(100)).await, (false, ms(400)));
}

#[tokio::test(start_paused = true)]
async fn the_grace_is_shared_and_later_calls_fail_without_a_try() {
    let api = scripted(&[Step::Wait(ms(60_000))]);
    let token = CancellationToken::new();
    let guarded = Shutdown::new(token.clone(), GRACE).guard(api.clone());
    token.cancel();
    let start = Instant::now();
    let first = guarded.clone();
    let first = tokio::spawn(async move { first.metric("t").await });
    tokio::time::sleep(ms(700)).await;
    let second = guarded.clone();
    let second = tokio::spawn(async move { second.metric("t").await });
    assert!(matches!(first.await.unwrap(), Err(Error::Cancelled)));
    assert!(matches!(second.await.unwrap(), Err(Error::Cancelled)));
    assert_eq!(start.elapsed(), GRACE, "one grace from the first look");
    let calls = api.calls.load(Ordering::SeqCst);
    assert!(matches!(guarded.metric("t").await, Err(Error::Cancelled)));
    assert_eq!(api.calls.load(Ordering::SeqCst), calls, "not even started");
    assert_eq!(start.elapsed(), GRACE);
}

#[tokio::test(start_paused = true)]
async fn pool_loads_and_inventories_give_way_too() {
    struct Slow;
    #[async_trait]
    impl PoolSource for Slow {
        fn describe(&self) -> String {
            "slow".into()
        }
        async fn load(
            &self,
        ) -> std::result::Result<Vec<DynamicResourceLifeCycle>, PoolSourceError> {
            note_backoff(ms(9000));
            tokio::time::sleep(ms(9000)).await;
            Ok(Vec::new())
        }
    }
    #[async_trait]
    impl LeaseInventory for Slow {
        async fn owned_by(&self, _: &str) -> std::result::Result<Vec<Resource>, InventoryError> {
            tokio::time::sleep(ms(60_000)).await;
            Ok(Vec::new())
        }
    }
    let token = CancellationToken::new();
    let guarded = Shutdown::new(token.clone(), GRACE).guard(Arc::new(Slow));
    assert_eq!(guarded.describe(), "slow");
    let start = Instant::now();
    let (load, owned, ()) = tokio::join!(
        async { (guarded.load().await, start.elapsed()) },
        async { (guarded.owned_by("me").await, start.elapsed()) },
        async {
            tokio::time::sleep(ms(50)).await;
            token.cancel();
        }
    );
    // The load sleeps in a back-off, the listing waits for an answer.
    assert!(matches!(load, (Err(PoolSourceError::Cancelled), t) if t == ms(50)));
    assert!(matches!(owned, (Err(InventoryError::Cancelled), t) if t == ms(50) + GRACE));
}

/// The real HTTP client against a port nobody listens on: the retry hook ends its
/// back-off. Grace and back-off are an hour, so only the hook can end the call.
#[tokio::test]
async fn the_http_clients_retry_hook_ends_its_backoff() {
    let url = format!("http://127.0.0.1:{}", mason_testkit::ports::free_port());
    let client = mason_client::HttpClient::builder(url, "me")
        .retry(mason_client::RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_secs(3600),
        })
        .on_retry(note_retry)
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let shutdown = Shutdown::new(token.clone(), Duration::from_secs(3600));
    let guarded = shutdown.guard(Arc::new(client));
    let fire = token.clone();
    let call = tokio::spawn(async move { guarded.metric("t").await });
    // The connection is refused at once; cancel well after that.
    tokio::time::sleep(ms(200)).await;
    fire.cancel();
    let answer = tokio::time::timeout(Duration::from_secs(60), call)
        .await
        .expect("the back-off was not cut short")
        .unwrap();
    assert!(matches!(answer, Err(Error::Cancelled)), "{answer:?}");
}
