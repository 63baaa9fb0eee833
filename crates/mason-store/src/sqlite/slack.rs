//! Room reserved in every new resource row for what its first lease writes.
//!
//! Config sync and dynamic pools insert rows in rowid order, so SQLite fills each leaf page
//! of `resources` to the brim. The first grant of a row then makes it longer (owner, the
//! history tag, a non-zero generation; its end adds `ended_owner` and `ended_generation`),
//! the page overflows, and SQLite splits it: several more pages written, and when
//! the new page has to be renumbered into place SQLite parks it at a page number far past
//! the end of the file, so the commit scans the whole page cache, whose size grows with the
//! pool. So a new row carries `slack`, a blob of [`SLACK_BYTES`] zeros, and every grant and
//! end of lease sets it to `NULL`: the first lease writes the longer row into the space the
//! blob gave back, on the same page. Measured on a fresh file at 100,000 resources
//! (callgrind, `mason serve`): the page cache scans were 8,800 of the 312,000 instructions
//! of an acquire+release cycle.

/// Bytes of `slack` in a new row: more than a lease adds to a row (about 35 bytes with
/// typical owner names), less than a row.
pub(super) const SLACK_BYTES: i64 = 48;

#[cfg(test)]
mod tests {
    use mason_types::BoskosConfig;

    use super::super::txn::Cost;
    use super::super::SqliteStore;
    use crate::{AcquireRequest, ReleaseRequest, Store};

    const ROWS: usize = 600;

    async fn pages(store: &SqliteStore) -> (i64, i64) {
        store
            .read(Cost::Scan, |conn, _| {
                let table = conn.query_row(
                    "SELECT count(*) FROM dbstat WHERE name = 'resources'",
                    [],
                    |r| r.get(0),
                )?;
                let slack = conn.query_row(
                    "SELECT count(*) FROM resources WHERE slack IS NOT NULL",
                    [],
                    |r| r.get(0),
                )?;
                Ok((table, slack))
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_first_lease_fills_the_slack_instead_of_splitting_pages() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::on_file(dir.path().join("s.db")).unwrap();
        let names: Vec<String> = (0..ROWS).map(|i| format!("  - res-{i:04}\n")).collect();
        let yaml = format!(
            "resources:\n- type: t\n  state: free\n  names:\n{}",
            names.concat()
        );
        store
            .sync_config(&BoskosConfig::parse_and_validate(&yaml).unwrap())
            .await
            .unwrap();
        let (before, with_slack) = pages(&store).await;
        assert_eq!(with_slack, ROWS as i64, "every new row has its slack");

        let owner = "ci-runner-pool-a-0042";
        for _ in 0..ROWS {
            let got = store
                .acquire(&AcquireRequest {
                    rtype: "t".into(),
                    state: "free".into(),
                    dest: "busy".into(),
                    owner: owner.into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            store
                .release(&ReleaseRequest {
                    name: got.resource.name,
                    dest: "free".into(),
                    owner: owner.into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let (after, with_slack) = pages(&store).await;
        assert_eq!(with_slack, 0, "every lease cleared its row's slack");
        assert_eq!(
            after, before,
            "the leased rows fit in their pages: no page of `resources` was split"
        );
    }
}
