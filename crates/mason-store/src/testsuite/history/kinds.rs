//! Conformance cases for the event kinds: each transition writes its kind, with the
//! actor, request id and generation the caller gave.

use std::time::Duration;

use mason_types::event::Event;
use mason_types::state;

use super::super::{acquire_req, by_state_req, release_req, reset_req, Harness};
use super::replay_matches_store;
use crate::{EventFilter, LatestEventsQuery, ResourceFilter};

/// The newest event of `name` (kind, old/new state, old/new owner, actor, request id).
async fn last_of(h: &Harness, name: &str) -> Event {
    let page = h
        .store
        .latest_events(&LatestEventsQuery {
            filter: EventFilter {
                name: Some(name.into()),
                ..Default::default()
            },
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("latest events");
    page.events.into_iter().next().expect("an event")
}

fn moved(e: &Event) -> (&str, Option<&str>, Option<&str>, Option<&str>, Option<&str>) {
    (
        e.kind.as_str(),
        e.old_state.as_deref(),
        e.new_state.as_deref(),
        e.old_owner.as_deref(),
        e.new_owner.as_deref(),
    )
}

/// Each transition writes its kind, with the actor and request id the caller gave and
/// the generation where there is one.
pub async fn every_kind_appears_where_it_should(h: Harness) {
    h.with_config("resources:\n- type: t\n  names: [a, b, c]\n")
        .await;
    let created = last_of(&h, "a").await;
    assert_eq!(
        moved(&created),
        ("create", None, Some("free"), None, Some(""))
    );
    assert_eq!(created.actor, "server");

    let mut acquire = acquire_req("t", "free", "busy", "alice", Some("req-7"));
    acquire.actor = Some("prow".into());
    let got = h.store.acquire(&acquire).await.expect("acquire");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(
        moved(&e),
        (
            "acquire",
            Some("free"),
            Some("busy"),
            Some(""),
            Some("alice")
        )
    );
    assert_eq!(
        (e.actor.as_str(), e.request_id.as_deref()),
        ("prow", Some("req-7"))
    );
    assert_eq!(e.generation, Some(got.lease.generation));

    let mut release = release_req(&got.resource.name, "dirty", "alice");
    release.actor = Some("alice".into());
    h.store.release(&release).await.expect("release");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(
        moved(&e),
        (
            "release",
            Some("busy"),
            Some("dirty"),
            Some("alice"),
            Some("")
        )
    );
    assert_eq!((e.actor.as_str(), e.request_id), ("alice", None));

    let mut by_state = by_state_req(
        "dirty",
        "cleaning",
        "janitor",
        std::slice::from_ref(&got.resource.name),
    );
    by_state.actor = Some("janitor".into());
    h.store
        .acquire_by_state(&by_state)
        .await
        .expect("acquirebystate");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(e.kind, "acquirebystate");
    assert_eq!(e.actor, "janitor");

    let mut reset = reset_req("t", "cleaning", Duration::ZERO, "dirty");
    reset.actor = Some("reaper".into());
    h.store.reset(&reset).await.expect("reset");
    let e = last_of(&h, &got.resource.name).await;
    assert_eq!(
        moved(&e),
        (
            "reset",
            Some("cleaning"),
            Some("dirty"),
            Some("janitor"),
            Some("")
        )
    );
    assert_eq!(e.actor, "reaper");

    h.store
        .acquire_by_state(&by_state_req("dirty", "busy", "cleaner", &["a".into()]))
        .await
        .expect("take a");
    h.store
        .release(&release_req("a", state::TOMBSTONE, "cleaner"))
        .await
        .expect("to tombstone");
    assert_eq!(last_of(&h, "a").await.kind, "tombstone");

    // Removed from the config while unowned: deleted.
    h.with_config("resources:\n- type: t\n  names: [a, b]\n")
        .await;
    let e = last_of(&h, "c").await;
    assert_eq!(moved(&e), ("delete", Some("free"), None, Some(""), None));

    // Dynamic upkeep: created, marked toBeDeleted past the lifespan, replaced.
    h.with_config("resources:\n- type: d\n  min-count: 1\n  max-count: 1\n  lifespan: 1h\n")
        .await;
    let d = h
        .store
        .list(&ResourceFilter {
            rtype: Some("d".into()),
            ..Default::default()
        })
        .await
        .expect("list d")
        .remove(0);
    assert_eq!(last_of(&h, &d.name).await.kind, "create");
    let got = h
        .store
        .acquire(&acquire_req("d", "free", "busy", "u", None))
        .await
        .expect("acquire d");
    h.store
        .release(&release_req(&got.resource.name, "free", "u"))
        .await
        .expect("release d");
    h.clock.advance(Duration::from_secs(2 * 3600));
    h.store.sync_dynamic().await.expect("upkeep");
    let e = last_of(&h, &d.name).await;
    assert_eq!(
        moved(&e),
        (
            "to-be-deleted",
            Some("free"),
            Some(state::TO_BE_DELETED),
            Some(""),
            Some("")
        )
    );
    assert_eq!(e.actor, "server");
    replay_matches_store(h.store.as_ref()).await;
}
