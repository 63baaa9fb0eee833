//! Many HTTP clients racing acquire/release on a small pool over a SQLite file: nobody is
//! ever refused the release of what it was just granted, no resource is ever held by two
//! clients at once, and no request gets a 5xx.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mason_testkit::{TestServer, TestServerOptions};

const CLIENTS: usize = 10;
const RUN_FOR: Duration = Duration::from_secs(3);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_double_leases_under_contention() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mason.db").display())
        .parse()
        .unwrap();
    let server = TestServer::start_with(
        TestServerOptions::new("resources:\n- type: pool\n  names: [r1, r2, r3, r4]\n")
            .with_store(url),
    )
    .await;
    let holders: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let deadline = Instant::now() + RUN_FOR;
    let mut tasks = Vec::new();
    for id in 0..CLIENTS {
        let base = server.url.clone();
        let holders = holders.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let owner = format!("client-{id}");
            let (mut granted, mut refused) = (0u64, 0u64);
            while Instant::now() < deadline {
                let reply = http
                    .post(format!(
                        "{base}/acquire?type=pool&state=free&dest=busy&owner={owner}"
                    ))
                    .send()
                    .await
                    .expect("acquire sent");
                let status = reply.status().as_u16();
                let body = reply.text().await.expect("acquire body");
                match status {
                    200 => {}
                    404 => {
                        refused += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    other => panic!("{owner}: acquire answered {other}: {body}"),
                }
                let resource: mason_types::Resource =
                    serde_json::from_str(&body).expect("resource JSON");
                assert_eq!(resource.owner, owner);
                {
                    let mut map = holders.lock().unwrap();
                    if let Some(previous) = map.insert(resource.name.clone(), id) {
                        panic!(
                            "{} granted to client-{id} while held by client-{previous}",
                            resource.name
                        );
                    }
                }
                granted += 1;
                // Give up the claim before the release: the moment the server frees it,
                // someone else may be granted it.
                holders.lock().unwrap().remove(&resource.name);
                let reply = http
                    .post(format!(
                        "{base}/release?name={}&dest=free&owner={owner}",
                        resource.name
                    ))
                    .send()
                    .await
                    .expect("release sent");
                let status = reply.status().as_u16();
                assert_eq!(
                    status,
                    200,
                    "{owner}: release of {} refused: {}",
                    resource.name,
                    reply.text().await.unwrap()
                );
            }
            (granted, refused)
        }));
    }
    let (mut total, mut refused_total) = (0, 0);
    for task in tasks {
        let (granted, refused) = task.await.expect("client task");
        total += granted;
        refused_total += refused;
    }
    eprintln!("{CLIENTS} clients, {RUN_FOR:?}: {total} acquire+release cycles, {refused_total} acquires found nothing free");
    assert!(total > 0, "no acquire succeeded");
    let metric = server.store.metric("pool").await.unwrap();
    assert_eq!(
        metric.current.get("free"),
        Some(&4),
        "every resource back to free: {metric:?}"
    );
    server.stop().await;
}
