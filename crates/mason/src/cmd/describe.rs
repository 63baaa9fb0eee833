//! `mason describe NAME`: one resource as it is now (`GET /api/v2/resources/{name}`) and
//! its last 20 events (`GET /api/v2/events?name=NAME&before=`), in kubectl's `describe`
//! layout.

use clap::Args;
use mason_client::{EventQuery, EventsFrom};
use mason_types::resource::format_wire_time;
use mason_types::{Resource, Timestamp};

use crate::cli::client_opts::ClientOpts;
use crate::cli::event_table::{age, EventTable};
use crate::cli::translate::{fail, Asked};
use crate::exit;

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason describe gce-project-17
mason describe sandbox-3f2a --server-url http://mason:8080
";

/// Events shown.
const LAST_EVENTS: u32 = 20;

/// Options of `describe`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// The resource's name.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    client: ClientOpts,
}

/// Print the resource and its history.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client("mason describe")?;
    let context = || format!("mason describe {:?}", opts.name);
    let asked = Asked::Named {
        name: &opts.name,
        owner: "",
        verb: "describe",
    };
    let resource = client
        .resource(&opts.name)
        .await
        .map_err(|e| fail(context(), &e, asked))?;
    let page = client
        .events(
            &EventQuery::new().name(&opts.name),
            EventsFrom::Before(None),
            LAST_EVENTS,
        )
        .await
        .map_err(|e| fail(context(), &e, asked))?;
    let now = chrono::Utc::now();
    print!("{}", describe(&resource, now));
    println!("Events:");
    if page.events.is_empty() {
        println!("  <none>");
    } else {
        let table = EventTable::new(&page.events, now, false);
        println!("  {}", table.header());
        for e in &page.events {
            println!("  {}", table.row(e, now));
        }
    }
    Ok(exit::OK)
}

/// The resource's fields, one `Key:  value` line each, values aligned.
fn describe(r: &Resource, now: Timestamp) -> String {
    let when = |t: &Timestamp| format!("{} ({} ago)", format_wire_time(t), age(now, *t));
    let mut rows: Vec<(&str, String)> = vec![
        ("Name", r.name.clone()),
        ("Type", r.rtype.clone()),
        ("State", r.state.clone()),
        (
            "Owner",
            if r.owner.is_empty() {
                "<none>".into()
            } else {
                r.owner.clone()
            },
        ),
        ("Last update", when(&r.lastupdate)),
    ];
    if let Some(t) = &r.expiration_date {
        rows.push(("Expires", format_wire_time(t)));
    }
    let mut out = String::new();
    for (key, value) in rows {
        out.push_str(&format!("{:<13}{value}\n", format!("{key}:")));
    }
    if r.userdata.is_empty() {
        out.push_str("User data:   <none>\n");
    } else {
        out.push_str("User data:\n");
        for (k, v) in r.userdata.iter() {
            out.push_str(&format!("  {k}: {v}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn fields_line_up_and_say_none() {
        let now = chrono::Utc.timestamp_opt(1_000_000, 0).unwrap();
        let mut r = Resource::new(
            "gce-project",
            "gce-project-17",
            "busy",
            now - chrono::Duration::seconds(200),
        );
        let text = describe(&r, now);
        assert_eq!(
            text,
            "Name:        gce-project-17\nType:        gce-project\nState:       busy\nOwner:       <none>\nLast update: 1970-01-12T13:43:20Z (3m20s ago)\nUser data:   <none>\n"
        );
        r.owner = "ci".into();
        r.userdata.insert("project", "p-17");
        let text = describe(&r, now);
        assert!(text.contains("Owner:       ci\n"), "{text}");
        assert!(text.ends_with("User data:\n  project: p-17\n"), "{text}");
    }
}
