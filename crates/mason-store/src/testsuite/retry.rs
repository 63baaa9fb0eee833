//! Conformance cases for retry safety (issue 17, `lease/retry.rs`): a release repeated
//! with the same parameters right after it took effect is answered as done and changes
//! nothing; a repeated update is too; a release that did not happen — by another owner,
//! to another state, of another lease, after a later transition or after the window —
//! keeps upstream's error and its text.

use std::time::Duration;

use mason_types::{ResourceV2, UserData};

use super::history::all_events;
use super::{acquire_req, assert_err_text, by_state_req, release_req, reset_req, update_req};
use super::{Harness, POOL};
use crate::{Error, ReleaseRequest, UpdateRequest};

async fn v2(h: &Harness, name: &str) -> ResourceV2 {
    h.store.get_v2(name).await.expect("get_v2")
}

/// `owner` takes a resource of type `t`; its name and generation.
async fn take(h: &Harness, owner: &str) -> (String, u64) {
    let got = h
        .store
        .acquire(&acquire_req("t", "free", "busy", owner, None))
        .await
        .expect("acquire");
    (got.resource.name.clone(), got.lease.generation)
}

/// A release whose answer was lost, repeated with the same parameters (with and
/// without the generation): 200, the row and the history unchanged. Repeats that are
/// not exact keep upstream's errors.
pub async fn a_repeated_release_is_answered_as_done(h: Harness) {
    h.with_config(POOL).await;
    let (name, g1) = take(&h, "alice").await;
    h.clock.advance(Duration::from_secs(1));
    let release = release_req(&name, "dirty", "alice");
    h.store.release(&release).await.expect("the release");
    let after = v2(&h, &name).await;
    let events = all_events(&*h.store).await.len();

    h.clock.advance(Duration::from_secs(5));
    let repeated = h.store.release(&release).await.expect("the repeat is done");
    assert_eq!(
        (repeated.owner.as_str(), repeated.state.as_str()),
        ("", "dirty")
    );
    assert_eq!(v2(&h, &name).await, after, "the repeat changed nothing");
    assert_eq!(
        all_events(&*h.store).await.len(),
        events,
        "and wrote no event"
    );
    h.store.release(&release).await.expect("a third time too");

    // Not exact repeats: upstream's 401 with its text.
    assert_err_text(
        h.store.release(&release_req(&name, "dirty", "bob")).await,
        "owner mismatch request by bob, currently owned by ",
    );
    assert_err_text(
        h.store.release(&release_req(&name, "free", "alice")).await,
        "owner mismatch request by alice, currently owned by ",
    );
    let fenced = |generation| ReleaseRequest {
        generation: Some(generation),
        ..release.clone()
    };
    h.store
        .release(&fenced(g1))
        .await
        .expect("with the generation of the lease it ended");
    let stale = h.store.release(&fenced(g1 + 1_000)).await;
    assert!(
        matches!(stale, Err(Error::GenerationMismatch { .. })),
        "another generation: {stale:?}"
    );
    assert_eq!(v2(&h, &name).await, after, "refusals change nothing");

    // With a generation from the start: the same.
    let (name, g2) = take(&h, "carol").await;
    let fenced = ReleaseRequest {
        generation: Some(g2),
        ..release_req(&name, "free", "carol")
    };
    h.store.release(&fenced).await.expect("the release");
    let after = v2(&h, &name).await;
    h.store.release(&fenced).await.expect("its repeat");
    h.store
        .release(&release_req(&name, "free", "carol"))
        .await
        .expect("its repeat without the generation");
    assert_eq!(v2(&h, &name).await, after);
}

/// Once anything else happened to the resource, or the window closed, a repeat is
/// upstream's error again.
pub async fn a_repeat_after_another_transition_is_refused(h: Harness) {
    h.with_config(POOL).await;
    // Granted to someone else since: 401 naming the new owner.
    let (name, _) = take(&h, "alice").await;
    let release = release_req(&name, "dirty", "alice");
    h.store.release(&release).await.unwrap();
    h.store
        .acquire_by_state(&by_state_req(
            "dirty",
            "busy",
            "bob",
            std::slice::from_ref(&name),
        ))
        .await
        .unwrap();
    assert_err_text(
        h.store.release(&release).await,
        "owner mismatch request by alice, currently owned by bob",
    );
    // Released by bob to the same state: alice's repeat is still refused.
    h.store
        .release(&release_req(&name, "dirty", "bob"))
        .await
        .unwrap();
    assert_err_text(
        h.store.release(&release).await,
        "owner mismatch request by alice, currently owned by ",
    );

    // A lease ended by a reset, not by the release: never answered as released.
    let (name, _) = take(&h, "dave").await;
    h.clock.advance(Duration::from_secs(60));
    let reset = h
        .store
        .reset(&reset_req("t", "busy", Duration::from_secs(30), "dirty"))
        .await
        .unwrap();
    assert_eq!(reset.get(&name).map(String::as_str), Some("dave"));
    assert_err_text(
        h.store.release(&release_req(&name, "dirty", "dave")).await,
        "owner mismatch request by dave, currently owned by ",
    );

    // The window: answered for five minutes, then upstream's 401.
    let (name, _) = take(&h, "erin").await;
    let release = release_req(&name, "dirty", "erin");
    h.store.release(&release).await.unwrap();
    h.clock.advance(Duration::from_secs(299));
    h.store.release(&release).await.expect("within the window");
    h.clock.advance(Duration::from_secs(2));
    assert_err_text(
        h.store.release(&release).await,
        "owner mismatch request by erin, currently owned by ",
    );

    // A resource that was never released by anyone.
    assert_err_text(
        h.store.release(&release_req("r4", "free", "erin")).await,
        "owner mismatch request by erin, currently owned by ",
    );
}

/// An update whose answer was lost, repeated: 200 and the same row (the merge of the
/// same user data twice is the merge once), with or without the generation.
pub async fn a_repeated_update_is_answered_as_done(h: Harness) {
    h.with_config(POOL).await;
    let (name, generation) = take(&h, "alice").await;
    let mut data = UserData::new();
    data.insert("a", "1");
    data.insert("b", "2");
    h.store
        .update(&update_req(&name, "alice", "busy", Some(&data)))
        .await
        .unwrap();
    let mut change = UserData::new();
    change.insert("a", "");
    change.insert("c", "3");
    let update = UpdateRequest {
        generation: Some(generation),
        ..update_req(&name, "alice", "busy", Some(&change))
    };
    h.clock.advance(Duration::from_secs(1));
    let first = h.store.update(&update).await.expect("the update");
    let once = v2(&h, &name).await;
    let repeated = h.store.update(&update).await.expect("its repeat");
    assert_eq!(repeated.userdata, first.userdata);
    let twice = v2(&h, &name).await;
    assert_eq!(twice.resource.userdata, once.resource.userdata);
    assert_eq!(twice.lease.generation, generation);
    assert_eq!(
        (twice.resource.owner.as_str(), twice.resource.state.as_str()),
        ("alice", "busy")
    );
}
