//! Issue 18 item 7: SQLite store paths. A missing parent directory is an error naming it
//! (never created, so a path typo cannot look like every lease vanished); a new store
//! file is announced; a read-only file and an unwritable directory are errors that name
//! the path and the operating system's reason, and leave nothing behind.
//!
//! The permission cases need a user that permissions apply to: under root (CI) the
//! binary runs as `nobody` through `setpriv`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::daemon::{bin, Daemon, LIMIT};

const CONFIG: &str = "resources:\n- type: a\n  names: [a-1]\n";

/// The user permissions are checked for: `nobody` when the tests run as root.
const NOBODY: &str = "65534";

/// `mason ARGS` in `dir` (as a user without root's powers when `unprivileged`), killed
/// if it has not finished within [`LIMIT`]: exit code, stdout and stderr.
async fn run(dir: &Path, args: &[&str], unprivileged: bool) -> (i32, String, String) {
    let mut cmd = if unprivileged && rustix::process::geteuid().is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            bin(),
        ]);
        cmd
    } else {
        Command::new(bin())
    };
    let out = cmd
        .args(args)
        .current_dir(dir)
        .env_remove("MASON_STORE")
        .env("MASON_LOG", "info")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(LIMIT, out)
        .await
        .expect("mason finishes")
        .expect("run mason");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A directory everyone may enter, with the config in it.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("config.yaml"), CONFIG).unwrap();
    dir
}

/// `mason serve|up` on 127.0.0.1, any port, with the config and `store` (`--store=URL`).
fn server_args<'a>(command: &'a str, store: &'a str) -> Vec<&'a str> {
    let mut args = vec![command, "--config", "config.yaml", "--port", "0", store];
    if command == "serve" {
        args.extend(["--listen-address", "127.0.0.1"]);
    }
    args
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_missing_directory_is_an_error_and_is_not_created() {
    let dir = workdir();
    let d = dir.path();
    let store = format!("--store=sqlite://{}/no/such/dir/m.db", d.display());
    let missing = d.join("no/such/dir");
    for command in ["serve", "up"] {
        let args = server_args(command, &store);
        let (code, stdout, stderr) = run(d, &args, false).await;
        assert_eq!((code, stdout.as_str()), (1, ""), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "{}: the directory {} does not exist",
                d.join("no/such/dir/m.db").display(),
                missing.display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("created a new empty store"),
            "{args:?}: {stderr}"
        );
        assert_eq!(listing(d), ["config.yaml"], "{args:?} created something");
    }
}

#[tokio::test]
async fn a_new_store_is_announced_once() {
    let dir = workdir();
    let d = dir.path();
    let args = ["--config", "config.yaml", "--store", "sqlite://new.db"];
    let serve = Daemon::serve(d, &args).await;
    let log = serve.stderr();
    let path = d.canonicalize().unwrap().join("new.db");
    assert_eq!(
        log.matches("created a new empty store at ").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains(&format!("created a new empty store at {}", path.display())),
        "{log}"
    );
    serve.signal(rustix::process::Signal::TERM);
    assert_eq!(serve.wait().await.0, 0);
    assert!(path.is_file());

    // Opening it again creates nothing, and says nothing about it.
    let serve = Daemon::serve(d, &args).await;
    let log = serve.stderr();
    assert!(!log.contains("created a new empty store"), "{log}");
    serve.signal(rustix::process::Signal::TERM);
    assert_eq!(serve.wait().await.0, 0);
}

#[tokio::test]
async fn a_read_only_store_file_is_named_with_the_reason() {
    let dir = workdir();
    let d = dir.path();
    let serve = Daemon::serve(d, &["--config", "config.yaml"]).await;
    serve.signal(rustix::process::Signal::TERM);
    assert_eq!(serve.wait().await.0, 0);
    let db = d.join("mason.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let store = format!("--store=sqlite://{}", db.display());
    for command in ["serve", "up"] {
        let (code, _, stderr) = run(d, &server_args(command, &store), true).await;
        assert_eq!(code, 1, "{command}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot open {} for writing: Permission denied",
                db.display()
            )),
            "{command}: {stderr}"
        );
        assert!(!stderr.contains("disk I/O error"), "{command}: {stderr}");
        assert_eq!(std::fs::read(&db).unwrap(), before, "{command}");
        assert_eq!(
            listing(d),
            ["config.yaml", "mason.db", "mason.db.lock"],
            "{command}"
        );
    }
}

#[tokio::test]
async fn an_unwritable_directory_is_named_with_the_reason() {
    let dir = workdir();
    let d = dir.path();
    let locked = d.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let db = locked.join("m.db");
    let store = format!("--store=sqlite://{}", db.display());
    for command in ["serve", "up"] {
        let (code, _, stderr) = run(d, &server_args(command, &store), true).await;
        assert_eq!(code, 1, "{command}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "cannot create {}.lock: Permission denied",
                db.display()
            )),
            "{command}: {stderr}"
        );
        assert!(
            !stderr.contains("unable to open database file"),
            "{command}: {stderr}"
        );
        assert!(listing(&locked).is_empty(), "{command}");
    }
}
