//! Issue 18 item 12: `--help` of every subcommand has two or three examples and its exit
//! codes, command flags before a "Global" heading, each environment variable named once;
//! the janitor's `--<suffix>=<name>` is explained; where serve and up defaults differ the
//! help says why; and a missing server URL names `MASON_SERVER_URL`.

use super::daemon::run_in;

/// The subcommands `mason --help` lists (all but `help`).
fn subcommands(top: &str) -> Vec<String> {
    let list = top
        .split(
            "Commands:
",
        )
        .nth(1)
        .and_then(|rest| {
            rest.split(
                "

",
            )
            .next()
        })
        .expect("a command list");
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

async fn help(args: &[&str]) -> String {
    let dir = std::env::temp_dir();
    let (code, stdout, stderr) = run_in(&dir, args).await;
    assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
    stdout
}

#[tokio::test]
async fn every_subcommand_shows_examples_and_exit_codes() {
    let top = help(&["--help"]).await;
    let subs = subcommands(&top);
    assert!(subs.len() >= 15, "{top}");
    for sub in &subs {
        let sub = sub.as_str();
        for flag in ["-h", "--help"] {
            let text = help(&[sub, flag]).await;
            let examples = text
                .split("Examples:\n")
                .nth(1)
                .and_then(|rest| rest.split("\n\n").next())
                .unwrap_or_else(|| panic!("{sub} {flag}: no examples\n{text}"));
            let count = examples
                .lines()
                .filter(|l| l.starts_with("  mason "))
                .count();
            assert!((2..=3).contains(&count), "{sub}: {count} examples\n{text}");
            assert!(text.contains("\nExit codes:\n  0 "), "{sub}\n{text}");
            let options = text
                .find("Options:")
                .unwrap_or_else(|| panic!("{sub}\n{text}"));
            let global = text
                .find("\nGlobal:\n")
                .unwrap_or_else(|| panic!("{sub}\n{text}"));
            assert!(options < global, "{sub}: command flags first\n{text}");
            let global_part = &text[global..text.find("Examples:").unwrap()];
            assert!(global_part.contains("--log-format"), "{sub}\n{text}");
            assert!(!global_part.contains("--server-url"), "{sub}\n{text}");
            for var in [
                "MASON_SERVER_URL",
                "MASON_OWNER",
                "MASON_LOG",
                "MASON_STORE",
            ] {
                assert!(
                    text.matches(var).count() <= 1,
                    "{sub}: {var} named twice\n{text}"
                );
            }
        }
    }
}

#[tokio::test]
async fn differences_and_conventions_are_explained() {
    let janitor = help(&["janitor", "--help"]).await;
    assert!(
        janitor.contains("where <suffix> is the resource type after its last '-'")
            && janitor.contains("PROGRAM --project=p-1"),
        "{janitor}"
    );
    let up = help(&["up", "--help"]).await;
    for why in ["(serve binds 0.0.0.0", "(serve: 1m", "serve defaults to"] {
        assert!(up.contains(why), "{why}:\n{up}");
    }
    let serve = help(&["serve", "--help"]).await;
    for why in [
        "(up binds 127.0.0.1",
        "(up syncs every 10s",
        "(up has no default",
    ] {
        assert!(serve.contains(why), "{why}:\n{serve}");
    }
    let run = help(&["run", "--help"]).await;
    assert!(
        run.contains("When the command succeeded but a resource could not be released: 4"),
        "{run}"
    );
    let acquire = help(&["acquire", "--help"]).await;
    assert!(
        acquire.contains("[default: free]") && acquire.contains("[default: busy]"),
        "{acquire}"
    );
}

#[tokio::test]
async fn a_missing_server_url_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["acquire", "--type", "t"][..],
        &["reaper", "--resource-type", "t"][..],
        &["builder"][..],
    ] {
        let (code, stdout, stderr) = run_in(dir.path(), args).await;
        assert_eq!((code, stdout.as_str()), (2, ""), "{args:?}: {stderr}");
        assert!(
            stderr.contains("pass --server-url URL or set MASON_SERVER_URL"),
            "{args:?}: {stderr}"
        );
    }
}
