//! Events as a table, in kubectl's style (upper-case headers, columns padded to the
//! widest cell, `<none>` for nothing, ages like `45s`, `3m20s`, `2h`): what
//! `mason events` and `mason describe` print.

use mason_types::event::Event;
use mason_types::Timestamp;

/// The columns.
const HEADERS: [&str; 7] = ["ID", "AGE", "KIND", "RESOURCE", "STATE", "OWNER", "ACTOR"];

/// A table whose column widths are fixed by the rows it first prints, so rows that come
/// later (`--follow`) line up with the header.
pub(crate) struct EventTable {
    widths: [usize; 7],
    /// Print RESOURCE as `type/name` (false: the name only, e.g. in `describe`).
    with_type: bool,
}

impl EventTable {
    /// Widths for the header and `first`.
    pub(crate) fn new(first: &[Event], now: Timestamp, with_type: bool) -> Self {
        let mut widths = HEADERS.map(str::len);
        let mut table = Self { widths, with_type };
        for event in first {
            for (w, cell) in widths.iter_mut().zip(table.cells(event, now)) {
                *w = (*w).max(cell.chars().count());
            }
        }
        table.widths = widths;
        table
    }

    /// The header line.
    pub(crate) fn header(&self) -> String {
        self.line(HEADERS.map(String::from))
    }

    /// One event's line.
    pub(crate) fn row(&self, event: &Event, now: Timestamp) -> String {
        self.line(self.cells(event, now))
    }

    fn cells(&self, e: &Event, now: Timestamp) -> [String; 7] {
        let resource = if self.with_type {
            format!("{}/{}", e.rtype, e.name)
        } else {
            e.name.clone()
        };
        [
            e.id.to_string(),
            age(now, e.at),
            e.kind.clone(),
            resource,
            change(e.old_state.as_deref(), e.new_state.as_deref()),
            change(e.old_owner.as_deref(), e.new_owner.as_deref()),
            none_if_empty(&e.actor),
        ]
    }

    fn line(&self, cells: [String; 7]) -> String {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(self.widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}   "));
            }
        }
        out.trim_end().to_string()
    }
}

fn none_if_empty(text: &str) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text.into()
    }
}

/// `free -> busy`, or one value when nothing changed (no value and `""` both show as
/// `<none>`).
fn change(before: Option<&str>, after: Option<&str>) -> String {
    let show = |v: Option<&str>| v.map_or("<none>".to_string(), none_if_empty);
    let (before, after) = (show(before), show(after));
    if before == after {
        after
    } else {
        format!("{before} -> {after}")
    }
}

/// kubectl's short age: `45s`, `3m20s`, `45m`, `5h12m`, `30h`, `3d4h`, `12d`.
pub(crate) fn age(now: Timestamp, at: Timestamp) -> String {
    let s = (now - at).num_seconds().max(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match s {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => with_rest(m, "m", s % 60, "s"),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => with_rest(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if d < 8 => with_rest(d, "d", h % 24, "h"),
        _ => format!("{d}d"),
    }
}

fn with_rest(major: i64, unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{unit}")
    } else {
        format!("{major}{unit}{minor}{minor_unit}")
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    fn event(id: u64, at: Timestamp, kind: &str, owners: (Option<&str>, Option<&str>)) -> Event {
        Event {
            id,
            at,
            kind: kind.into(),
            rtype: "gce-project".into(),
            name: "gce-project-17".into(),
            old_state: Some("free".into()),
            new_state: Some("busy".into()),
            old_owner: owners.0.map(String::from),
            new_owner: owners.1.map(String::from),
            generation: None,
            actor: String::new(),
            request_id: None,
        }
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        let ago = |s| age(now, now - Duration::seconds(s));
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(119), "119s");
        assert_eq!(ago(200), "3m20s");
        assert_eq!(ago(600), "10m");
        assert_eq!(ago(3 * 3600 + 60), "3h1m");
        assert_eq!(ago(30 * 3600), "30h");
        assert_eq!(ago(3 * 86_400 + 4 * 3600), "3d4h");
        assert_eq!(ago(12 * 86_400), "12d");
        assert_eq!(
            age(now, now + Duration::seconds(3)),
            "0s",
            "a clock ahead is now"
        );
    }

    #[test]
    fn rows_line_up_under_the_header() {
        let now = Utc.timestamp_opt(1_000_000, 0).unwrap();
        let events = [
            event(
                9,
                now - Duration::seconds(42),
                "acquire",
                (Some(""), Some("ci-job-4711")),
            ),
            event(10, now - Duration::seconds(3), "create", (None, Some(""))),
        ];
        let table = EventTable::new(&events, now, true);
        let header = table.header();
        let rows = [table.row(&events[0], now), table.row(&events[1], now)];
        assert!(
            header.starts_with("ID   AGE   KIND      RESOURCE"),
            "{header}"
        );
        assert!(
            rows[0].contains("free -> busy") && rows[0].contains("<none> -> ci-job-4711"),
            "{}",
            rows[0]
        );
        assert!(
            rows[1].contains("create") && !rows[1].contains("<none> -> <none>"),
            "{}",
            rows[1]
        );
        // Every column starts where its header does.
        for title in ["AGE", "KIND", "RESOURCE", "STATE", "OWNER", "ACTOR"] {
            let at = header.find(title).unwrap();
            for row in &rows {
                let before = row.as_bytes()[at - 1];
                let here = row.as_bytes()[at];
                assert!(
                    before == b' ' && here != b' ',
                    "{title} misaligned in {row:?}"
                );
            }
        }
    }
}
