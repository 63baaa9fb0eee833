//! Conformance cases for fencing generations (issue 12): every grant and every end of a
//! lease gives a fresh generation, never reused (also across deletion and re-creation
//! of a name); a touch keeps it; a release or update with a stale generation is a 409
//! that changes nothing, checked before the owner; without a generation nothing changes
//! from upstream.

use mason_types::ResourceV2;

use super::{
    acquire_req as req, assert_err_text, by_state_req, release_req, reset_req, update_req, Harness,
    POOL,
};
use crate::{Error, ReleaseRequest, UpdateRequest};

async fn v2(h: &Harness, name: &str) -> ResourceV2 {
    h.store.get_v2(name).await.expect("get_v2")
}

/// Grants and ends bump the generation to a value never seen before; touches keep it; a
/// stale generation is refused before anything else and changes nothing.
pub async fn generations_fence_release_and_update(h: Harness) {
    h.with_config(POOL).await;
    assert_eq!(v2(&h, "r1").await.lease.generation, 0, "never granted");
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "alice", None))
        .await
        .unwrap();
    let g1 = got.lease.generation;
    assert!(g1 > 0, "a grant gives a generation");
    let name = got.resource.name.clone();
    assert_eq!(v2(&h, &name).await.lease.generation, g1);

    // A heartbeat with the right generation keeps it.
    let fenced_update = |generation| UpdateRequest {
        generation: Some(generation),
        ..update_req(&name, "alice", "busy", None)
    };
    h.clock.advance(std::time::Duration::from_secs(1));
    h.store.update(&fenced_update(g1)).await.unwrap();
    assert_eq!(v2(&h, &name).await.lease.generation, g1, "a touch keeps it");

    // The release ends the lease with a fresh generation.
    let fenced_release = |owner: &str, generation| ReleaseRequest {
        generation: Some(generation),
        ..release_req(&name, "dirty", owner)
    };
    h.store.release(&fenced_release("alice", g1)).await.unwrap();
    let g2 = v2(&h, &name).await.lease.generation;
    assert!(g2 > g1, "{g2} after {g1}");

    // Someone else gets it back (dirty → busy by name).
    let again = h
        .store
        .acquire_by_state(&by_state_req(
            "dirty",
            "busy",
            "bob",
            std::slice::from_ref(&name),
        ))
        .await
        .unwrap();
    assert_eq!(again[0].owner, "bob");
    let g3 = v2(&h, &name).await.lease.generation;
    assert!(g3 > g2);

    // Alice's stale calls: 409 naming both generations, before the owner check, nothing
    // changes.
    let before = v2(&h, &name).await;
    let stale =
        format!("resource {name}: generation {g1} is stale, the current generation is {g3}");
    let refused = h.store.release(&fenced_release("alice", g1)).await;
    assert!(matches!(&refused, Err(e @ Error::GenerationMismatch { .. }) if e.status() == 409));
    assert_err_text(refused, &stale);
    assert_err_text(h.store.update(&fenced_update(g1)).await, &stale);
    assert_eq!(v2(&h, &name).await, before, "refusals change nothing");

    // Without a generation, upstream's checks as before.
    assert_err_text(
        h.store.release(&release_req(&name, "free", "alice")).await,
        "owner mismatch request by alice, currently owned by bob",
    );
    // A missing resource is still a 404, generation or not.
    assert!(matches!(
        h.store
            .release(&ReleaseRequest {
                generation: Some(g3),
                ..release_req("missing", "free", "bob")
            })
            .await,
        Err(Error::ResourceNotFound(_))
    ));

    // Bob's own generation works; reset ends leases with a fresh generation too.
    h.store
        .update(&UpdateRequest {
            generation: Some(g3),
            ..update_req(&name, "bob", "busy", None)
        })
        .await
        .unwrap();
    h.clock.advance(std::time::Duration::from_secs(60));
    let reset = h
        .store
        .reset(&reset_req(
            "t",
            "busy",
            std::time::Duration::from_secs(30),
            "dirty",
        ))
        .await
        .unwrap();
    assert_eq!(reset.get(&name).map(String::as_str), Some("bob"));
    let g4 = v2(&h, &name).await.lease.generation;
    assert!(g4 > g3);
}

/// Generations are never reused: not by another resource, and not after a name is
/// deleted and created again (static resources removed from and re-added to the config).
pub async fn generations_are_never_reused(h: Harness) {
    h.with_config(POOL).await;
    let mut seen = Vec::new();
    for owner in ["a", "b", "c", "d"] {
        let got = h
            .store
            .acquire(&req("t", "free", "busy", owner, None))
            .await
            .unwrap();
        seen.push(got.lease.generation);
        h.store
            .release(&release_req(&got.resource.name, "free", owner))
            .await
            .unwrap();
        seen.push(v2(&h, &got.resource.name).await.lease.generation);
    }
    let highest = *seen.iter().max().unwrap();
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "all distinct: {seen:?}");

    // Delete every `t` resource, then create them again.
    h.with_config("resources:\n- type: other\n  state: dirty\n  names: [o1]\n")
        .await;
    assert!(h.store.get("r1").await.is_err(), "deleted");
    h.with_config(POOL).await;
    let got = h
        .store
        .acquire(&req("t", "free", "busy", "e", None))
        .await
        .unwrap();
    assert!(
        got.lease.generation > highest,
        "{} after {highest}: a re-created name never gets an old generation",
        got.lease.generation
    );
}
