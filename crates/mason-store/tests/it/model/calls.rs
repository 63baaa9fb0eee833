//! One [`Op`] on each side: [`call`] runs it on the store, [`apply`] on the model, each
//! rendering its answer the same way so that the two can be compared.

use std::collections::BTreeMap;

use mason_store::{
    AcquireByStateRequest, AcquireRequest, ExpireRequest, ReleaseRequest, ResetRequest, Store,
    UpdateRequest,
};
use mason_types::{Timestamp, UserData};

use super::ops::{sent_generation, Fence, Op};
use super::spec::{self, Answer, Model};

/// Run one call on the store, rendered like the model's answer.
pub(super) async fn call(
    store: &dyn Store,
    now: Timestamp,
    op: &Op,
    generations: &BTreeMap<String, u64>,
) -> Answer {
    let show = |e: mason_store::Error| e.to_string();
    match op {
        Op::Acquire {
            rtype,
            state,
            dest,
            owner,
            rid,
            ttl,
        } => {
            let req = AcquireRequest {
                actor: None,
                rtype: (*rtype).into(),
                state: (*state).into(),
                dest: (*dest).into(),
                owner: (*owner).into(),
                request_id: rid.map(str::to_string),
                lease_ttl: *ttl,
                ..Default::default()
            };
            store
                .acquire(&req)
                .await
                .map(|a| format!("{:?} requested_at={}", a.resource, a.requested_at))
                .map_err(show)
        }
        Op::AcquireByState {
            state,
            dest,
            owner,
            names,
            ttl,
        } => {
            let req = AcquireByStateRequest {
                actor: None,
                state: (*state).into(),
                dest: (*dest).into(),
                owner: (*owner).into(),
                names: names.iter().map(|n| n.to_string()).collect(),
                lease_ttl: *ttl,
                ..Default::default()
            };
            store
                .acquire_by_state(&req)
                .await
                .map(|v| format!("{v:?}"))
                .map_err(show)
        }
        Op::Release {
            name,
            dest,
            owner,
            fence,
        } => store
            .release(&ReleaseRequest {
                actor: None,
                name: (*name).into(),
                dest: (*dest).into(),
                owner: (*owner).into(),
                generation: sent_generation(generations, name, *fence),
            })
            .await
            .map(|r| format!("{r:?}"))
            .map_err(show),
        Op::Update {
            name,
            owner,
            state,
            userdata,
            fence,
        } => {
            let req = UpdateRequest {
                actor: None,
                name: (*name).into(),
                owner: (*owner).into(),
                state: (*state).into(),
                userdata: userdata.clone().map(UserData::from),
                generation: sent_generation(generations, name, *fence),
            };
            store
                .update(&req)
                .await
                .map(|r| format!("{r:?}"))
                .map_err(show)
        }
        Op::Reset {
            rtype,
            state,
            expire,
            dest,
        } => store
            .reset(&ResetRequest {
                actor: None,
                rtype: (*rtype).into(),
                state: (*state).into(),
                expire: *expire,
                dest: (*dest).into(),
            })
            .await
            .map(|m| format!("{m:?}"))
            .map_err(show),
        Op::Gc => store
            .gc_requests()
            .await
            .map(|n| n.to_string())
            .map_err(show),
        Op::Expire { limit } => store
            .expire_leases(&ExpireRequest { now, limit: *limit })
            .await
            .map(|report| {
                let ended: Vec<spec::Expired> = report
                    .expired
                    .into_iter()
                    .map(|e| spec::Expired {
                        name: e.name,
                        rtype: e.rtype,
                        previous_owner: e.previous_owner,
                        previous_state: e.previous_state,
                        state: e.state,
                        deadline: e.deadline,
                    })
                    .collect();
                format!("{ended:?} next={:?}", report.next_deadline)
            })
            .map_err(show),
        Op::Advance(_) => Ok(String::new()),
    }
}

pub(super) fn apply(
    model: &mut Model,
    now: Timestamp,
    op: &Op,
    generations: &BTreeMap<String, u64>,
) -> Answer {
    // A repeat of a resource's last release is answered as done (issue 17), whatever the
    // checks say.
    if let Op::Release {
        name,
        dest,
        owner,
        fence,
    } = op
    {
        let sent = sent_generation(generations, name, *fence);
        if let Some(answer) = model.repeat_of_release(now, name, dest, owner, sent) {
            return answer;
        }
    }
    // A stale generation on an existing resource is refused first, changing nothing.
    if let Op::Release {
        name,
        fence: Fence::Stale,
        ..
    }
    | Op::Update {
        name,
        fence: Fence::Stale,
        ..
    } = op
    {
        if model.resources.contains_key(*name) {
            let current = generations.get(*name).copied().unwrap_or_default();
            return Err(format!(
                "resource {name}: generation {} is stale, the current generation is {current}",
                current.wrapping_sub(1)
            ));
        }
    }
    match op {
        Op::Acquire {
            rtype,
            state,
            dest,
            owner,
            rid,
            ttl,
        } => model.acquire(now, rtype, state, dest, owner, *rid, *ttl),
        Op::AcquireByState {
            state,
            dest,
            owner,
            names,
            ttl,
        } => model.acquire_by_state(now, state, dest, owner, names, *ttl),
        Op::Release {
            name, dest, owner, ..
        } => {
            let generation = generations.get(*name).copied().unwrap_or_default();
            model.release(now, name, dest, owner, generation)
        }
        Op::Update {
            name,
            owner,
            state,
            userdata,
            ..
        } => model.update(now, name, owner, state, userdata.as_ref()),
        Op::Reset {
            rtype,
            state,
            expire,
            dest,
        } => model.reset(now, rtype, state, *expire, dest),
        Op::Gc => model.gc(now),
        Op::Expire { limit } => {
            let (ended, next) = model.expire(now, *limit as usize);
            Ok(format!("{ended:?} next={next:?}"))
        }
        Op::Advance(_) => Ok(String::new()),
    }
}
