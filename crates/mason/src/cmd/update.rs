//! `mason update`: heartbeat a leased resource and optionally merge user data into it.
//!
//! `--state` must be the resource's current state (the server answers 409 otherwise);
//! each `--userdata key=value` sets a key, `key=` deletes it, keys not named are kept.

use clap::Args;
use mason_client::BoskosApi;
use mason_types::UserData;

use crate::cli::client_opts::ClientOpts;
use crate::cli::translate::{fail, Asked};
use crate::exit;

/// Two or three typical uses, for `--help`.
pub(crate) const EXAMPLES: &str = "\
mason update --name gce-project-3 --state busy                       # a heartbeat
mason update --name gce-project-3 --state busy --userdata zone=eu-1 --userdata old=
";

/// Options of `update`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    /// Name of the resource.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The resource's current state.
    #[arg(long, value_name = "STATE")]
    state: String,
    /// User data to merge, `key=value` (repeatable); `key=` deletes the key.
    #[arg(long = "userdata", value_name = "KEY=VALUE", value_parser = key_value)]
    userdata: Vec<(String, String)>,
    #[command(flatten)]
    client: ClientOpts,
}

/// Parse `key=value` (the key must not be empty; the value may be).
fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some(("", _)) => Err(format!("empty key in {text:?}")),
        Some((key, value)) => Ok((key.to_string(), value.to_string())),
        None => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// Send the update and confirm on stdout.
pub(crate) async fn run(opts: Opts) -> anyhow::Result<u8> {
    let client = opts.client.client("mason update")?;
    let userdata = (!opts.userdata.is_empty()).then(|| {
        let mut ud = UserData::new();
        for (key, value) in &opts.userdata {
            ud.insert(key.clone(), value.clone());
        }
        ud
    });
    match client
        .update(&opts.name, &opts.state, userdata.as_ref())
        .await
    {
        Ok(()) => {
            println!("updated resource {:?}", opts.name);
            Ok(exit::OK)
        }
        Err(e) => {
            let asked = Asked::Named {
                name: &opts.name,
                owner: client.owner(),
                verb: "update",
            };
            let context = format!("failed to update resource {:?}", opts.name);
            Err(fail(context, &e, asked).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_value;

    #[test]
    fn parses_pairs_and_deletions() {
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(key_value("gone=").unwrap(), ("gone".into(), String::new()));
        assert!(key_value("=v").unwrap_err().contains("empty key"));
        assert!(key_value("novalue").unwrap_err().contains("KEY=VALUE"));
    }
}
