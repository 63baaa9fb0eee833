//! A throwaway PostgreSQL for tests: this crate's PostgreSQL suites use it, and
//! `mason-testkit` re-exports it as `mason_testkit::postgres` for everyone else's.
//!
//! [`fresh_database`] hands each test an empty database of its own. The server behind it
//! is, in order of preference:
//! 1. the one at `MASON_TEST_POSTGRES_URL` (`postgres://USER@HOST:PORT/DB`), where a
//!    database `mason_test_<pid>_<n>` is created per test;
//! 2. a private server started once per test binary with `initdb` + `pg_ctl` from
//!    `/usr/lib/postgresql/*/bin` (or `pg_config --bindir`, or `PATH`), listening on a
//!    free 127.0.0.1 port with its socket in its own temporary directory, trust auth,
//!    durability off (tests only). When the tests run as root, the server runs as the
//!    `postgres` user (`runuser`), since PostgreSQL refuses to run as root.
//!
//! A private server is stopped (`pg_ctl stop -m immediate`) and its directory removed when
//! its [`PgServer`] is dropped, and — for the per-binary server, which lives in a static
//! and is never dropped — by a small watchdog process once the test process has exited.
//!
//! When neither is possible, [`fresh_database`] says why; under `CI=true`
//! [`fresh_database_or_skip`] fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Where the test databases live.
enum Source {
    /// A server someone else runs (`MASON_TEST_POSTGRES_URL`).
    External(String),
    /// Our private server for this test binary.
    Local(PgServer),
}

static SOURCE: OnceLock<Result<Source, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);
static SWEPT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A private PostgreSQL server (stopped and removed on drop).
pub struct PgServer {
    /// Temporary directory holding the data directory, the log and the socket.
    root: PathBuf,
    /// Directory of `initdb`, `pg_ctl`, `postgres`.
    bin: PathBuf,
    /// TCP port on 127.0.0.1.
    port: u16,
    /// Whether commands must run as the `postgres` user (we are root).
    as_postgres: bool,
}

impl PgServer {
    /// Create and start a server tuned for tests (no fsync).
    pub fn start() -> Result<Self, String> {
        Self::start_with(&[
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
        ])
    }

    /// Create and start a server with extra `postgresql.conf` settings.
    pub fn start_with(settings: &[(&str, &str)]) -> Result<Self, String> {
        let bin = find_bindir()?;
        let as_postgres = running_as_root();
        let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("mason-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).map_err(|e| format!("create {}: {e}", root.display()))?;
        let mut server = Self {
            root,
            bin,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let uid = id_of("-u")?;
            let gid = id_of("-g")?;
            std::os::unix::fs::chown(&server.root, Some(uid), Some(gid))
                .map_err(|e| format!("chown {} to postgres: {e}", server.root.display()))?;
        }
        server.spawn_watchdog();
        let data = server.data_dir();
        server.pg(
            "initdb",
            &[
                "-D",
                path_str(&data)?,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let mut conf = String::from("listen_addresses = '127.0.0.1'\nmax_connections = 300\n");
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            path_str(&server.root)?
        ));
        for (k, v) in settings {
            conf.push_str(&format!("{k} = '{v}'\n"));
        }
        let conf_path = data.join("postgresql.auto.conf");
        std::fs::write(&conf_path, conf)
            .map_err(|e| format!("write {}: {e}", conf_path.display()))?;
        if as_postgres {
            let uid = id_of("-u")?;
            std::os::unix::fs::chown(&conf_path, Some(uid), None).map_err(|e| e.to_string())?;
        }
        let mut last = String::new();
        for _ in 0..3 {
            server.port = free_port()?;
            match server.start_again() {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Start the (stopped) server again on the same port and data directory.
    pub fn start_again(&self) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.root.join("postgres.log");
        let opts = format!("-p {}", self.port);
        self.pg(
            "pg_ctl",
            &[
                "-D",
                path_str(&data)?,
                "-l",
                path_str(&log)?,
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("{e}\n--- postgres.log ---\n{log}")
        })
    }

    /// Stop the server at once (`-m immediate`, like a crash).
    pub fn stop(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.pg(
            "pg_ctl",
            &["-D", path_str(&data)?, "-m", "immediate", "-w", "stop"],
        )
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `db` as the superuser.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Run one of the server's programs (as `postgres` when we are root).
    fn pg(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {args:?} failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// A detached shell that stops the server and removes its directory once this test
    /// process has gone, however it ended.
    fn spawn_watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let runner = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {runner}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{root}'",
            pid = std::process::id(),
            pg_ctl = pg_ctl.display(),
            data = self.data_dir().display(),
            root = self.root.display(),
        );
        let _ = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("non-UTF-8 path {}", p.display()))
}

/// The directory holding `initdb` and `pg_ctl`: the newest `/usr/lib/postgresql/N/bin`,
/// else `pg_config --bindir`, else the first `initdb` on `PATH`.
fn find_bindir() -> Result<PathBuf, String> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return Ok(dir);
        }
    }
    Err(
        "no PostgreSQL server programs found (looked in /usr/lib/postgresql/*/bin, \
         pg_config --bindir and PATH); install Debian's `postgresql` package or set \
         MASON_TEST_POSTGRES_URL"
            .into(),
    )
}

/// Whether this process runs as root (the owner of `/proc/self` is our effective uid).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// `id -u postgres` / `id -g postgres`.
fn id_of(flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .args([flag, "postgres"])
        .output()
        .map_err(|e| format!("cannot run id: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            "tests run as root but there is no `postgres` user to run PostgreSQL as".into()
        })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn source() -> Result<&'static Source, String> {
    SOURCE
        .get_or_init(|| match std::env::var("MASON_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Ok(Source::External(url)),
            _ => PgServer::start().map(Source::Local),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Replace the database of a `postgres://` URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Empty a store's tables in the database at `url` (resources, pools, the request queue,
/// the history), so one database can serve many short cases (a property test's) without
/// creating a database for each. `event_head` is locked first, as a numbering pass does
/// (one statement batch is one transaction), so a store's pass running meanwhile is
/// waited for rather than deadlocked with.
pub async fn empty_store(url: &str) -> Result<(), String> {
    admin(
        url,
        "LOCK TABLE event_head IN ACCESS EXCLUSIVE MODE; \
         TRUNCATE resources, drlcs, requests, events, holder_counts RESTART IDENTITY; \
         UPDATE event_head SET last_id = 0",
    )
    .await
}

/// Run one SQL command on the server's `postgres` database (external: the given one).
async fn admin(admin_url: &str, sql: &str) -> Result<(), String> {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to the test PostgreSQL at {admin_url}: {e}"))?;
    let task = tokio::spawn(conn);
    let outcome = client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
    outcome
}

/// Drop the `mason_test_<pid>_<n>` databases that earlier runs left on a shared server,
/// when their process is gone (best effort: a database still in use refuses to go, and
/// the sweep simply stops if the test process exits first).
async fn sweep_stale_databases(admin_url: &str) {
    let Ok((client, conn)) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls).await else {
        return;
    };
    let task = tokio::spawn(conn);
    let names: Vec<String> = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'mason\\_test\\_%'",
            &[],
        )
        .await
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default();
    for name in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
        if !alive {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
    drop(client);
    let _ = task.await;
}

/// The URL of a new, empty database for one test.
pub async fn fresh_database() -> Result<String, String> {
    let source = source()?;
    let url_of = |db: &str| match source {
        Source::External(url) => with_database(url, db),
        Source::Local(server) => server.url(db),
    };
    let admin_url = match source {
        Source::External(url) => url.clone(),
        Source::Local(_) => url_of("postgres"),
    };
    if let Source::External(_) = source {
        if !SWEPT.swap(true, Ordering::SeqCst) {
            // In the background: each DROP DATABASE waits for a checkpoint.
            let url = admin_url.clone();
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(sweep_stale_databases(&url));
                }
            });
        }
    }
    let name = format!(
        "mason_test_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let mut last = String::new();
    for _ in 0..10 {
        match admin(&admin_url, &format!("CREATE DATABASE {name}")).await {
            Ok(()) => return Ok(url_of(&name)),
            // Concurrent CREATE DATABASE may find the template busy: try again.
            Err(e) if e.contains("being accessed by other users") => {
                last = e;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Like [`fresh_database`], but when no PostgreSQL is available: under `CI=true` the test
/// fails; elsewhere it prints a loud notice and returns `None` (the caller skips).
pub async fn fresh_database_or_skip(test: &str) -> Option<String> {
    match fresh_database().await {
        Ok(url) => Some(url),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: PostgreSQL is required under CI=true: {e}")
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPING {test}: no PostgreSQL available: {e}\n");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_in_urls() {
        assert_eq!(
            super::with_database("postgres://u@h:1/db", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            super::with_database("postgres://u@h:1", "x"),
            "postgres://u@h:1/x"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
