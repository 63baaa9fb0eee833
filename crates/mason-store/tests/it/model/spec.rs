//! The model: SPEC §4 over plain maps, written from the spec independently of the
//! store's code, and a hand-written check of the model itself.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mason_store::{QueuedRequest, DEFAULT_REQUEST_TTL};
use mason_types::{Resource, Timestamp, UserData};

/// A queued `request_id`.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    seq: u64,
    rtype: String,
    state: String,
    id: String,
    created: Timestamp,
    expires: Timestamp,
}

/// A lease with a TTL.
#[derive(Debug, Clone)]
struct Lease {
    ttl: Duration,
    deadline: Timestamp,
    expired_state: String,
}

/// A lease ended at its deadline, as the model and the test render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expired {
    pub(super) name: String,
    pub(super) rtype: String,
    pub(super) previous_owner: String,
    pub(super) previous_state: String,
    pub(super) state: String,
    pub(super) deadline: Timestamp,
}

/// SPEC §4 over plain maps, with issue 12's lease TTLs.
pub(super) struct Model {
    pub(super) resources: BTreeMap<String, Resource>,
    queue: Vec<Entry>,
    next_seq: u64,
    ttl: chrono::Duration,
    /// The test config's lease policies: type → (TTL, expired state).
    policies: BTreeMap<String, (Option<Duration>, String)>,
    /// Leases that have a TTL, by resource.
    leases: BTreeMap<String, Lease>,
    /// The last release of each resource: (owner, dest, time, the generation of the
    /// lease it ended). A repeat of it while it is the resource's last change, within
    /// five minutes, is answered as done (issue 17's retry safety).
    releases: BTreeMap<String, (String, String, Timestamp, u64)>,
}

/// What a call answered: a value rendered comparably, or the error text.
pub(super) type Answer = Result<String, String>;

pub(super) fn not_found(what: &str) -> String {
    format!("no available resource {what}, try again later.")
}

impl Model {
    pub(super) fn new(resources: Vec<Resource>) -> Self {
        Self {
            resources: resources.into_iter().map(|r| (r.name.clone(), r)).collect(),
            queue: Vec::new(),
            next_seq: 0,
            ttl: chrono::Duration::from_std(DEFAULT_REQUEST_TTL).unwrap(),
            policies: BTreeMap::from([
                (
                    "a".to_string(),
                    (Some(Duration::from_secs(45)), "cleaning".to_string()),
                ),
                ("b".to_string(), (None, "dirty".to_string())),
            ]),
            leases: BTreeMap::new(),
            releases: BTreeMap::new(),
        }
    }

    /// `name` is granted at `now`: its lease gets the requested TTL, else its type's.
    fn granted(&mut self, now: Timestamp, name: &str, requested: Option<Duration>) {
        let rtype = &self.resources[name].rtype;
        let (type_ttl, expired_state) = self
            .policies
            .get(rtype)
            .cloned()
            .unwrap_or((None, "dirty".to_string()));
        match requested.or(type_ttl) {
            Some(ttl) => {
                let deadline = now + chrono::Duration::from_std(ttl).unwrap();
                self.leases.insert(
                    name.to_string(),
                    Lease {
                        ttl,
                        deadline,
                        expired_state,
                    },
                );
            }
            None => {
                self.leases.remove(name);
            }
        }
    }

    /// The 409 for a call on `name`'s lease when its deadline passed at `now`.
    fn expired(&self, now: Timestamp, name: &str) -> Option<String> {
        let lease = self.leases.get(name)?;
        (lease.deadline <= now).then(|| {
            format!(
                "resource {name}: the lease expired at {}",
                lease
                    .deadline
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
        })
    }

    /// Every resource's lease TTL and deadline.
    pub(super) fn lease_facts(&self) -> BTreeMap<String, (Option<Duration>, Option<Timestamp>)> {
        self.resources
            .keys()
            .map(|name| {
                let lease = self.leases.get(name);
                (
                    name.clone(),
                    (lease.map(|l| l.ttl), lease.map(|l| l.deadline)),
                )
            })
            .collect()
    }

    /// End at most `limit` leases whose deadline is at or before `now`, oldest deadline
    /// first (then by name); the ended leases and the next deadline left.
    pub(super) fn expire(
        &mut self,
        now: Timestamp,
        limit: usize,
    ) -> (Vec<Expired>, Option<Timestamp>) {
        let mut due: Vec<(Timestamp, String)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(name, l)| (l.deadline, name.clone()))
            .collect();
        due.sort();
        due.truncate(limit);
        let mut ended = Vec::new();
        for (deadline, name) in due {
            let lease = self.leases.remove(&name).unwrap();
            let r = self.resources.get_mut(&name).unwrap();
            ended.push(Expired {
                name: name.clone(),
                rtype: r.rtype.clone(),
                previous_owner: std::mem::take(&mut r.owner),
                previous_state: std::mem::replace(&mut r.state, lease.expired_state.clone()),
                state: lease.expired_state,
                deadline,
            });
            r.lastupdate = now;
            r.expiration_date = None;
        }
        let next = self.leases.values().map(|l| l.deadline).min();
        (ended, next)
    }

    /// Unowned resources of `rtype` in `state`, least recently updated first.
    fn free(&self, rtype: &str, state: &str) -> Vec<String> {
        let mut v: Vec<&Resource> = self
            .resources
            .values()
            .filter(|r| r.rtype == rtype && r.state == state && r.owner.is_empty())
            .collect();
        v.sort_by(|a, b| (a.lastupdate, &a.name).cmp(&(b.lastupdate, &b.name)));
        v.into_iter().map(|r| r.name.clone()).collect()
    }

    // The parameters of one acquire call, as the store takes them (a request struct
    // would only repeat `AcquireRequest`, which the model must not depend on).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn acquire(
        &mut self,
        now: Timestamp,
        rtype: &str,
        state: &str,
        dest: &str,
        owner: &str,
        rid: Option<&str>,
        lease_ttl: Option<Duration>,
    ) -> Answer {
        let rid = rid.filter(|id| !id.is_empty());
        let (my_seq, created) = match rid {
            Some(id) => {
                let found = self
                    .queue
                    .iter_mut()
                    .find(|e| e.rtype == rtype && e.state == state && e.id == id);
                match found {
                    // Known (even if lapsed but not yet collected): keeps its place.
                    Some(e) => {
                        e.expires = now + self.ttl;
                        (e.seq, e.created)
                    }
                    None => {
                        let seq = self.next_seq;
                        self.next_seq += 1;
                        self.queue.push(Entry {
                            seq,
                            rtype: rtype.into(),
                            state: state.into(),
                            id: id.into(),
                            created: now,
                            expires: now + self.ttl,
                        });
                        (seq, now)
                    }
                }
            }
            None => (u64::MAX, now),
        };
        let ahead = self
            .queue
            .iter()
            .filter(|e| e.rtype == rtype && e.state == state && e.seq < my_seq && e.expires >= now)
            .count();
        if let Some(name) = self.free(rtype, state).get(ahead).cloned() {
            self.granted(now, &name, lease_ttl);
            let r = self.resources.get_mut(&name).unwrap();
            r.owner = owner.into();
            r.state = dest.into();
            r.lastupdate = now;
            if let Some(id) = rid {
                self.queue
                    .retain(|e| !(e.rtype == rtype && e.state == state && e.id == id));
            }
            return Ok(format!("{r:?} requested_at={created}"));
        }
        if self.resources.values().any(|r| r.rtype == rtype) {
            Err(not_found(rtype))
        } else {
            Err(format!("resource type \"{rtype}\" does not exist"))
        }
    }

    pub(super) fn acquire_by_state(
        &mut self,
        now: Timestamp,
        state: &str,
        dest: &str,
        owner: &str,
        names: &[&str],
        lease_ttl: Option<Duration>,
    ) -> Answer {
        if names.is_empty() {
            return Err("must provide names of expected resources".into());
        }
        let wanted: BTreeSet<&str> = names.iter().copied().collect();
        let ok = wanted.iter().all(|n| {
            self.resources
                .get(*n)
                .is_some_and(|r| r.owner.is_empty() && r.state == state)
        });
        if !ok {
            return Err(not_found(state));
        }
        let mut picked: Vec<&Resource> = wanted.iter().map(|n| &self.resources[*n]).collect();
        picked.sort_by(|a, b| (a.lastupdate, &a.name).cmp(&(b.lastupdate, &b.name)));
        let order: Vec<String> = picked.iter().map(|r| r.name.clone()).collect();
        let mut out = Vec::new();
        for name in order {
            self.granted(now, &name, lease_ttl);
            let r = self.resources.get_mut(&name).unwrap();
            r.owner = owner.into();
            r.state = dest.into();
            r.lastupdate = now;
            out.push(r.clone());
        }
        Ok(format!("{out:?}"))
    }

    /// A release that repeats `name`'s last change, a release by `owner` to `dest` (of
    /// the lease with generation `sent`, when sent), within five minutes: answered as
    /// done, nothing changes. `None` when it is no such repeat.
    pub(super) fn repeat_of_release(
        &self,
        now: Timestamp,
        name: &str,
        dest: &str,
        owner: &str,
        sent: Option<u64>,
    ) -> Option<Answer> {
        let r = self.resources.get(name)?;
        let (o, d, at, ended) = self.releases.get(name)?;
        let repeat = o == owner
            && d == dest
            && r.owner.is_empty()
            && r.state == dest
            && r.lastupdate == *at
            && sent.is_none_or(|g| g == *ended)
            && now - *at <= chrono::Duration::minutes(5);
        repeat.then(|| Ok(format!("{r:?}")))
    }

    /// A release of the lease with fencing generation `generation`.
    pub(super) fn release(
        &mut self,
        now: Timestamp,
        name: &str,
        dest: &str,
        owner: &str,
        generation: u64,
    ) -> Answer {
        let Some(r) = self.resources.get_mut(name) else {
            return Err(not_found(name));
        };
        if r.owner != owner {
            return Err(format!(
                "owner mismatch request by {owner}, currently owned by {}",
                r.owner
            ));
        }
        if let Some(expired) = self.expired(now, name) {
            return Err(expired);
        }
        self.leases.remove(name);
        self.releases.insert(
            name.to_string(),
            (owner.to_string(), dest.to_string(), now, generation),
        );
        let r = self.resources.get_mut(name).unwrap();
        r.owner.clear();
        r.state = dest.into();
        r.lastupdate = now;
        // Static resources: no dynamic pool, so no expiration date.
        r.expiration_date = None;
        Ok(format!("{r:?}"))
    }

    pub(super) fn update(
        &mut self,
        now: Timestamp,
        name: &str,
        owner: &str,
        state: &str,
        ud: Option<&BTreeMap<String, String>>,
    ) -> Answer {
        let Some(r) = self.resources.get_mut(name) else {
            return Err(not_found(name));
        };
        if r.owner != owner {
            return Err(format!(
                "owner mismatch request by {owner}, currently owned by {}",
                r.owner
            ));
        }
        if let Some(expired) = self.expired(now, name) {
            return Err(expired);
        }
        if let Some(lease) = self.leases.get_mut(name) {
            if self.resources[name].state == state {
                lease.deadline = now + chrono::Duration::from_std(lease.ttl).unwrap();
            }
        }
        let r = self.resources.get_mut(name).unwrap();
        if r.state != state {
            return Err(format!(
                "state mismatch - expected {}, current {state}",
                r.state
            ));
        }
        let mut map = r.userdata.clone().into_map();
        for (k, v) in ud.into_iter().flatten() {
            if v.is_empty() {
                map.remove(k);
            } else {
                map.insert(k.clone(), v.clone());
            }
        }
        r.userdata = UserData::from(map);
        r.lastupdate = now;
        Ok(format!("{r:?}"))
    }

    pub(super) fn reset(
        &mut self,
        now: Timestamp,
        rtype: &str,
        state: &str,
        expire: Duration,
        dest: &str,
    ) -> Answer {
        let cutoff = now - chrono::Duration::from_std(expire).unwrap();
        let mut out = BTreeMap::new();
        for r in self.resources.values_mut() {
            if r.rtype == rtype && r.state == state && !r.owner.is_empty() && r.lastupdate <= cutoff
            {
                out.insert(r.name.clone(), std::mem::take(&mut r.owner));
                r.state = dest.into();
                r.lastupdate = now;
                self.leases.remove(&r.name);
            }
        }
        Ok(format!("{out:?}"))
    }

    pub(super) fn gc(&mut self, now: Timestamp) -> Answer {
        let before = self.queue.len();
        self.queue.retain(|e| e.expires >= now);
        Ok(format!("{}", before - self.queue.len()))
    }

    /// The live queue as the store lists it.
    pub(super) fn live_queue(&self, now: Timestamp) -> Vec<QueuedRequest> {
        let mut live: Vec<&Entry> = self.queue.iter().filter(|e| e.expires >= now).collect();
        live.sort_by(|a, b| (&a.rtype, &a.state, a.seq).cmp(&(&b.rtype, &b.state, b.seq)));
        let mut out: Vec<QueuedRequest> = Vec::new();
        for e in live {
            let rank = match out.last() {
                Some(p) if p.rtype == e.rtype && p.state == e.state => p.rank + 1,
                _ => 1,
            };
            out.push(QueuedRequest {
                rtype: e.rtype.clone(),
                state: e.state.clone(),
                request_id: e.id.clone(),
                rank,
                created_at: e.created,
                expires_at: e.expires,
                priority: 0,
                count: 1,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model itself on a hand-written sequence, so a wrong model cannot pass by
    /// agreeing with a wrong store: the request_id queue reserves the first free resource.
    #[test]
    fn model_queue_reserves_for_older_requests() {
        let t0 = Timestamp::UNIX_EPOCH;
        let res = |n: &str, s: u32| {
            Resource::new("a", n, "free", t0 + chrono::Duration::seconds(s.into()))
        };
        let mut m = Model::new(vec![res("x", 1), res("y", 2)]);
        let now = t0 + chrono::Duration::seconds(10);
        // Both free: r1 takes x, the least recently updated.
        assert!(m
            .acquire(now, "a", "free", "busy", "o1", Some("r1"), None)
            .unwrap()
            .contains("\"x\""));
        // A queued r2 that polled before r3 keeps rank 1; r3 (rank 2) needs two free ones.
        m.release(now, "x", "dirty", "o1", 1).unwrap();
        assert_eq!(m.free("a", "free"), vec!["y".to_string()]);
        m.queue.push(Entry {
            seq: 99,
            rtype: "a".into(),
            state: "free".into(),
            id: "r2".into(),
            created: now,
            expires: now + m.ttl,
        });
        m.next_seq = 100;
        assert_eq!(
            m.acquire(now, "a", "free", "busy", "o3", Some("r3"), None),
            Err(not_found("a"))
        );
        assert_eq!(
            m.acquire(now, "a", "free", "busy", "o4", None, None),
            Err(not_found("a"))
        );
        assert!(m
            .acquire(now, "a", "free", "busy", "o2", Some("r2"), None)
            .unwrap()
            .contains("\"y\""));
        assert_eq!(m.live_queue(now).len(), 1, "r3 still waits");
        assert_eq!(
            m.acquire(now, "zz", "free", "busy", "o", None, None),
            Err("resource type \"zz\" does not exist".into())
        );
    }
}
