//! `mason events`: the resource history of `mason serve` (`GET /api/v2/events`), as a
//! kubectl-style table or JSON lines, optionally followed live
//! (`GET /api/v2/events/stream`).
//!
//! Without `--since` it prints the latest `--limit` events; with `--since 1h` every event
//! of the last hour (read backwards a page at a time until older ones show up, so the
//! cost is the events shown, not the history kept). `--follow` then keeps printing new
//! events as they happen, reconnecting by itself, until interrupted.

use std::time::Duration;

use clap::{Args, ValueEnum};
use mason_client::{EventQuery, EventsFrom, HttpClient};
use mason_types::event::Event;
use mason_types::{parse_go_duration, DurationError};

use crate::cli::client_opts::ClientOpts;
use crate::cli::event_table::EventTable;
use crate::cli::translate::{fail, Asked};
use crate::exit::{self, Exit};

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason events                                  # the latest 50 events, as a table
mason events --name gce-project-17 --since 24h
mason events --follow --type sandbox --output json   # one JSON object per line, live
";

/// Largest page the server hands out.
const PAGE: u32 = 1_000;

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// kubectl-style columns.
    Table,
    /// One JSON object per line.
    Json,
}

/// Options of `events`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Keep printing new events as they happen (until Ctrl-C).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only events of resources of this type.
    #[arg(long = "type", value_name = "TYPE")]
    rtype: Option<String>,
    /// Only events of this resource.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Only events where this owner held the resource before or after.
    #[arg(long, value_name = "OWNER")]
    owner: Option<String>,
    /// Only events of this kind (acquire, release, update, reset, expire, create, …).
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Every event of this last stretch of time, Go duration (1h, 30m) [default: the
    /// latest --limit events].
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    since: Option<Duration>,
    /// How many of the latest events to print without --since.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// table or json.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    client: ClientOpts,
}

fn go_duration(text: &str) -> Result<Duration, DurationError> {
    parse_go_duration(text)
}

/// Print the events, then follow them when asked.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client("mason events")?;
    let mut query = EventQuery::new();
    query.rtype = opts.rtype.clone();
    query.name = opts.name.clone();
    query.owner = opts.owner.clone();
    query.kind = opts.kind.clone();
    let (events, covered) = match opts.since {
        Some(since) => since_events(&client, &query, since).await?,
        None => {
            let page = client
                .events(&query, EventsFrom::Before(None), opts.limit)
                .await
                .map_err(|e| failed(&e))?;
            (page.events, page.next)
        }
    };
    let now = chrono::Utc::now();
    let table = EventTable::new(&events, now, true);
    match opts.output {
        Output::Table if events.is_empty() && !opts.follow => {
            crate::cli::console::note("No events found.");
        }
        Output::Table => {
            println!("{}", table.header());
            for e in &events {
                println!("{}", table.row(e, now));
            }
        }
        Output::Json => {
            for e in &events {
                println!("{}", serde_json::to_string(e)?);
            }
        }
    }
    if !opts.follow {
        return Ok(exit::OK);
    }
    let mut follower = client.follow_events(&query, Some(covered));
    loop {
        let event = follower.next().await.map_err(|e| failed(&e))?;
        match opts.output {
            Output::Table => println!("{}", table.row(&event, chrono::Utc::now())),
            Output::Json => println!("{}", serde_json::to_string(&event)?),
        }
    }
}

/// Every matching event of the last `since`, oldest first, and the newest id covered.
async fn since_events(
    client: &HttpClient,
    query: &EventQuery,
    since: Duration,
) -> Result<(Vec<Event>, u64), Exit> {
    let from =
        chrono::Utc::now() - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX);
    let mut pages: Vec<Vec<Event>> = Vec::new();
    let mut before = None;
    let mut covered = None;
    loop {
        let page = client
            .events(query, EventsFrom::Before(before), PAGE)
            .await
            .map_err(|e| failed(&e))?;
        covered.get_or_insert(page.next);
        let full = page.events.len() >= PAGE as usize;
        let oldest = page.events.first().map(|e| (e.id, e.at));
        let recent: Vec<Event> = page.events.into_iter().filter(|e| e.at >= from).collect();
        let reached_older = recent.len() < PAGE as usize;
        pages.push(recent);
        match oldest {
            Some((id, _)) if full && !reached_older => before = Some(id),
            _ => break,
        }
    }
    let events = pages.into_iter().rev().flatten().collect();
    Ok((events, covered.unwrap_or(0)))
}

fn failed(e: &mason_client::Error) -> Exit {
    fail("mason events", e, Asked::Other)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        opts: Opts,
    }

    #[test]
    fn flags() {
        let w =
            Wrapper::try_parse_from(["events", "-f", "--since", "1h30m", "-o", "json", "--type=t"])
                .unwrap();
        assert!(w.opts.follow);
        assert_eq!(w.opts.since, Some(Duration::from_secs(5400)));
        assert_eq!(w.opts.output, Output::Json);
        assert_eq!(w.opts.limit, 50);
        assert!(Wrapper::try_parse_from(["events", "--since", "yesterday"]).is_err());
        assert!(Wrapper::try_parse_from(["events", "--output", "yaml"]).is_err());
        assert!(Wrapper::try_parse_from(["events", "--limit", "1001"]).is_err());
    }
}
