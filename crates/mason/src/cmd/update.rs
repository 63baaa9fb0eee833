//! `mason update`: heartbeat a leased resource and optionally merge user data into it.
//!
//! `--state` must be the resource's current state (the server answers 409 otherwise);
//! each `--userdata key=value` sets a key, `key=` deletes it, keys not named are kept.

use clap::Args;
use mason_client::BoskosApi;
use mason_types::UserData;

use super::client_opts::{fail, ClientOpts};
use crate::exit;

/// Options of `update`.
#[derive(Debug, Args)]
pub(crate) struct Opts {
    #[command(flatten)]
    client: ClientOpts,
    /// Name of the resource.
    #[arg(long, value_name = "NAME")]
    name: String,
    /// The resource's current state.
    #[arg(long, value_name = "STATE")]
    state: String,
    /// User data to merge, `key=value` (repeatable); `key=` deletes the key.
    #[arg(long = "userdata", value_name = "KEY=VALUE", value_parser = key_value)]
    userdata: Vec<(String, String)>,
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
    let client = opts.client.client()?;
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
        Err(e) => Err(fail(
            format!("failed to update resource {:?}", opts.name),
            &e,
            false,
        )
        .into()),
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
