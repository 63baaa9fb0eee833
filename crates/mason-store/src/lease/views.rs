//! Read-side decisions: folding per-group counts into [`Metric`]s (SPEC §4.7) and ranking
//! the live request queue (SPEC §4.2).

use std::collections::BTreeMap;

use mason_types::Metric;

use crate::rows::{from_micros, CountRow, QueueRow};
use crate::{Error, QueuedRequest, Result};

/// One [`Metric`] per type, sorted by type, from `(type, state, owner, count)` groups.
pub(crate) fn fold_metrics(groups: impl IntoIterator<Item = CountRow>) -> Vec<Metric> {
    let mut by_type: BTreeMap<String, Metric> = BTreeMap::new();
    for g in groups {
        let metric = by_type.entry(g.rtype.clone()).or_insert_with(|| Metric {
            rtype: g.rtype,
            ..Metric::default()
        });
        // A count is never negative; a corrupt one counts as nothing rather than wrapping.
        let n = u64::try_from(g.count).unwrap_or_default();
        *metric.current.entry(g.state).or_default() += n;
        *metric.owner.entry(g.owner).or_default() += n;
    }
    by_type.into_values().collect()
}

/// `GET /metric`'s answer from the fold of one type's groups: that type's metric, or
/// `ResourceNotFound(type)` when it has no resource.
pub(crate) fn one_metric(rtype: &str, mut folded: Vec<Metric>) -> Result<Metric> {
    match folded.pop() {
        Some(m) if m.rtype == rtype && folded.is_empty() => Ok(m),
        _ => Err(Error::ResourceNotFound(rtype.to_string())),
    }
}

/// The live queue with 1-based ranks per `(type, state)`, from rows ordered by type,
/// state and rank (priority, then arrival; see [`super::queue`]).
pub(crate) fn rank_queue(rows: impl IntoIterator<Item = QueueRow>) -> Vec<QueuedRequest> {
    let mut out: Vec<QueuedRequest> = Vec::new();
    for row in rows {
        let rank = match out.last() {
            Some(prev) if prev.rtype == row.rtype && prev.state == row.state => prev.rank + 1,
            _ => 1,
        };
        out.push(QueuedRequest {
            rtype: row.rtype,
            state: row.state,
            request_id: row.request_id,
            rank,
            created_at: from_micros(row.created_at),
            expires_at: from_micros(row.expires_at),
            priority: row.priority,
            count: u32::try_from(row.count).unwrap_or_default(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(rtype: &str, state: &str, owner: &str, count: i64) -> CountRow {
        CountRow {
            rtype: rtype.into(),
            state: state.into(),
            owner: owner.into(),
            count,
        }
    }

    #[test]
    fn folds_groups_per_type() {
        let folded = fold_metrics([
            group("b", "free", "", 2),
            group("a", "busy", "me", 1),
            group("a", "busy", "you", 3),
            group("a", "free", "", 4),
            group("a", "dirty", "", -1),
        ]);
        assert_eq!(folded.len(), 2);
        let a = &folded[0];
        assert_eq!(a.rtype, "a");
        assert_eq!(a.current["busy"], 4);
        assert_eq!(a.current["free"], 4);
        assert_eq!(a.current["dirty"], 0);
        assert_eq!(a.owner["me"], 1);
        assert_eq!(a.owner[""], 4);
        assert_eq!(folded[1].rtype, "b");
        assert_eq!(
            one_metric("b", vec![folded[1].clone()]).unwrap().current["free"],
            2
        );
        assert!(matches!(
            one_metric("c", Vec::new()),
            Err(Error::ResourceNotFound(t)) if t == "c"
        ));
    }

    #[test]
    fn ranks_restart_per_type_and_state() {
        let row = |rtype: &str, state: &str, id: &str| QueueRow {
            rtype: rtype.into(),
            state: state.into(),
            request_id: id.into(),
            created_at: 1,
            expires_at: 2,
            priority: 0,
            count: 1,
        };
        let ranked = rank_queue([
            row("a", "free", "x"),
            row("a", "free", "y"),
            row("a", "dirty", "z"),
            row("b", "dirty", "w"),
            row("b", "dirty", "v"),
        ]);
        let ranks: Vec<(&str, u64)> = ranked
            .iter()
            .map(|q| (q.request_id.as_str(), q.rank))
            .collect();
        assert_eq!(ranks, [("x", 1), ("y", 2), ("z", 1), ("w", 1), ("v", 2)]);
    }
}
