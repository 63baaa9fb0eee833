//! The events' actor is the authenticated caller (issue 14).

use std::time::Duration;

use reqwest::StatusCode;

use super::{send, standard_file, start, status_and_text, AuthFile};

/// Every lease route records the authenticated caller's name as the events' actor (a
/// user or a token); `/api/v2/events` answers them to a `read` user.
#[tokio::test]
async fn events_name_the_caller_as_actor() {
    let file = AuthFile::new(&standard_file());
    let server = start(&file).await;
    let ci = Some(("ci", "ci-pw"));
    let boss = Some(("boss", "boss-pw"));
    let url = |q: &str| server.url_for(q);
    let ok = |what: &'static str| {
        move |(status, body): (StatusCode, String)| assert_eq!(status, 200, "{what}: {body}")
    };

    let acquired = send(
        "POST",
        &url("/acquire?type=t&state=free&dest=busy&owner=ci-7&request_id=ci-req"),
        ci,
    )
    .await;
    let (status, body) = status_and_text(acquired).await;
    assert_eq!(status, 200, "{body}");
    let mine: mason_types::Resource = serde_json::from_str(&body).unwrap();
    let name = mine.name.as_str();
    // A heartbeat (upstream's /update names the current state) changes nothing: no event.
    let update = url(&format!("/update?name={name}&state=busy&owner=ci-7"));
    ok("update")(status_and_text(send("POST", &update, ci).await).await);
    let release = url(&format!("/release?name={name}&dest=dirty&owner=ci-7"));
    ok("release")(status_and_text(send("POST", &release, ci).await).await);
    let by_state = url(&format!(
        "/acquirebystate?state=dirty&dest=busy&owner=boss-1&names={name}"
    ));
    ok("acquirebystate")(status_and_text(send("POST", &by_state, boss).await).await);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let reset = url("/reset?type=t&state=busy&dest=dirty&expire=1ms");
    ok("reset")(status_and_text(send("POST", &reset, boss).await).await);
    let multi = reqwest::Client::new()
        .post(url("/api/v2/acquire"))
        .bearer_auth("bot-token")
        .body(r#"{"owner":"bot-1","resources":[{"type":"t","state":"free","dest":"busy"}]}"#)
        .send()
        .await
        .unwrap();
    ok("multi-acquire")(status_and_text(multi).await);

    let events = send(
        "GET",
        &url("/api/v2/events?limit=1000"),
        Some(("reader", "reader-pw")),
    )
    .await;
    let (status, body) = status_and_text(events).await;
    assert_eq!(status, 200, "{body}");
    let page: mason_types::event::EventPage = serde_json::from_str(&body).unwrap();
    let seen: Vec<(&str, &str, &str)> = page
        .events
        .iter()
        .filter(|e| e.kind != "create")
        .map(|e| (e.kind.as_str(), e.name.as_str(), e.actor.as_str()))
        .collect();
    let multi_name = page
        .events
        .iter()
        .rfind(|e| e.new_owner.as_deref() == Some("bot-1"))
        .map(|e| e.name.as_str())
        .expect("the multi-acquire's event");
    assert_eq!(
        seen,
        [
            ("acquire", name, "ci"),
            ("release", name, "ci"),
            ("acquirebystate", name, "boss"),
            ("reset", name, "boss"),
            ("multi-acquire", multi_name, "bot"),
        ],
        "{body}"
    );
    let first = page.events.iter().find(|e| e.kind == "acquire").unwrap();
    assert_eq!(first.request_id.as_deref(), Some("ci-req"));
    server.stop().await;
}
