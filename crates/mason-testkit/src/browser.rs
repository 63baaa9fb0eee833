//! A real headless Chromium for dashboard tests, driven over the W3C WebDriver protocol
//! through `chromedriver`.
//!
//! The client is a few calls over `reqwest` + `serde_json` rather than a WebDriver crate:
//! a test needs about ten commands (open a page, run a script, find and click, type keys,
//! resize, screenshot), plus chromedriver's browser-log endpoint (`/se/log`, outside the
//! W3C protocol) to catch console errors, and this way the suite gains no dependency tree
//! (fantoccini would bring its own hyper client stack and TLS features for the same).
//!
//! [`Browser::launch`] finds `chromium` and `chromedriver` (`MASON_CHROMIUM` and
//! `MASON_CHROMEDRIVER` override the paths, otherwise `PATH`), starts chromedriver on a
//! free 127.0.0.1 port in its own process group, and opens a session with a fresh
//! profile directory and the flags a closed network needs (no sync, no component
//! updates, no background networking, no QUIC). The port comes from
//! [`crate::ports::free_port`] (outside the kernel's ephemeral range, so no outgoing
//! connection takes it before chromedriver binds it); a failed start is still retried a
//! few times, each on a fresh port with a fresh profile, and the final panic carries what
//! chromedriver printed on each attempt. When either program is missing it
//! returns `None` after printing why, so the test can skip loudly, except under
//! `CI=true`, where it panics: CI must not silently lose the browser test.
//! Dropping a [`Browser`] ends the session and kills the process group.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// How long one WebDriver command may take (chromium is slow to start on a busy machine).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long chromedriver gets to start listening.
const DRIVER_START: Duration = Duration::from_secs(30);
/// How many times [`Browser::launch`] starts chromedriver (each on a fresh port with a
/// fresh profile) before it gives up.
const DRIVER_ATTEMPTS: u32 = 3;
/// The WebDriver key code of Enter.
pub const ENTER: &str = "\u{E007}";
/// The WebDriver key code of Tab.
pub const TAB: &str = "\u{E004}";

/// One line of the browser's console log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, …
    pub level: String,
    /// The text, with its source.
    pub message: String,
}

/// A headless Chromium session.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
    /// The fresh profile (`profile/`) and chromedriver's output (`chromedriver.log`);
    /// removed on drop.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a headless Chromium with a `width`×`height` window, or
    /// `None` (with a message on stderr) when they are not installed outside CI.
    pub async fn launch(width: u32, height: u32) -> Option<Browser> {
        let (chromium, driver) = match (
            find("MASON_CHROMIUM", "chromium"),
            find("MASON_CHROMEDRIVER", "chromedriver"),
        ) {
            (Some(c), Some(d)) => (c, d),
            (c, d) => {
                let missing = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                    .iter()
                    .filter(|(_, m)| *m)
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(" and ");
                let why = format!(
                    "{missing} not found (install Debian's chromium and chromium-driver, or set MASON_CHROMIUM / MASON_CHROMEDRIVER)"
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("browser test under CI=true: {why}");
                }
                eprintln!("SKIPPED: the browser test needs a real Chromium: {why}");
                return None;
            }
        };
        let mut failures = Vec::new();
        for attempt in 1..=DRIVER_ATTEMPTS {
            match Browser::start(&driver, &chromium, width, height).await {
                Ok(browser) => return Some(browser),
                Err(why) => failures.push(format!("attempt {attempt}: {why}")),
            }
        }
        panic!(
            "chromedriver did not start a session in {DRIVER_ATTEMPTS} attempts:\n{}",
            failures.join("\n")
        );
    }

    /// One start: chromedriver on a fresh free port with its output in a file, then a
    /// session with a fresh profile. An `Err` (the driver's own output included) means
    /// the caller may try again: the free port can be taken between the probe and
    /// chromedriver's bind (on 127.0.0.1 or [::1]; chromedriver then exits with 1), and
    /// Chromium can fail to come up on a busy machine.
    async fn start(
        driver: &Path,
        chromium: &Path,
        width: u32,
        height: u32,
    ) -> Result<Browser, String> {
        let profile = tempfile::tempdir().expect("a profile directory");
        let log_path = profile.path().join("chromedriver.log");
        let log = std::fs::File::create(&log_path).expect("a chromedriver log file");
        let port = crate::ports::free_port();
        let mut command = Command::new(driver);
        command
            // No `--allowed-ips`: with an allowlist chromedriver listens on every
            // interface; without one it binds loopback only (127.0.0.1 and ::1).
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a second log handle"))
            .stderr(log);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let http = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .expect("an HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        // From here on, dropping `browser` kills the driver's process group.
        let mut browser = Browser {
            http,
            session: String::new(),
            driver: child,
            _profile: profile,
        };
        let output = |why: String| {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            format!("{why} (port {port}); chromedriver said: {:?}", text.trim())
        };
        browser.wait_for_driver(&base).await.map_err(output)?;
        let args = chromium_args(&browser._profile.path().join("profile"), width, height);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer = browser
            .try_command(
                reqwest::Method::POST,
                &format!("{base}/session"),
                Some(capabilities),
            )
            .await
            .map_err(output)?;
        let id = answer["sessionId"]
            .as_str()
            .ok_or_else(|| output(format!("no session id in {answer}")))?;
        browser.session = format!("{base}/session/{id}");
        browser.set_window_size(width, height).await;
        Ok(browser)
    }

    async fn wait_for_driver(&mut self, base: &str) -> Result<(), String> {
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Ok(r) = self.http.get(format!("{base}/status")).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    if v["value"]["ready"] == json!(true) {
                        return Ok(());
                    }
                }
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                return Err(format!("chromedriver exited at start: {status}"));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver did not start within {DRIVER_START:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Send one command; returns its `value`, panicking with the driver's error.
    async fn command(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
        self.try_command(method, url, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Send one command; returns its `value` or the driver's error.
    async fn try_command(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self.http.request(method.clone(), url);
        if let Some(body) = body {
            request = request.json(&body);
        } else if method == reqwest::Method::POST {
            request = request.json(&json!({}));
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("webdriver {method} {url}: {e}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("webdriver {method} {url}: unreadable answer: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "webdriver {method} {url}: {status}: {}",
                body["value"]
            ));
        }
        Ok(body["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            &format!("{}{path}", self.session),
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(
            reqwest::Method::GET,
            &format!("{}{path}", self.session),
            None,
        )
        .await
    }

    /// Open `url` and wait for the document to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Resize the window.
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its result.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// The first element matching `css`, as a WebDriver element id.
    async fn find(&self, css: &str) -> String {
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element id for {css:?} in {found}"))
            .to_string()
    }

    /// Click the first element matching `css`.
    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Type `text` into the first element matching `css` (key codes such as [`ENTER`]
    /// work).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// Press keys on whatever has the focus (e.g. [`TAB`], [`ENTER`]), like a user.
    pub async fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let c = c.to_string();
                [
                    json!({"type": "keyDown", "value": c}),
                    json!({"type": "keyUp", "value": c}),
                ]
            })
            .collect();
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
        self.command(
            reqwest::Method::DELETE,
            &format!("{}/actions", self.session),
            None,
        )
        .await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.get("/url")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.get("/screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("a base64 screenshot"))
            .expect("valid base64")
    }

    /// Write a PNG of the viewport to `path` (directories created).
    pub async fn save_screenshot(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, self.screenshot().await)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Console entries logged since the last call (chromedriver's `browser` log).
    pub async fn console(&self) -> Vec<LogEntry> {
        let entries = self.post("/se/log", json!({"type": "browser"})).await;
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_string(),
                message: e["message"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Evaluate `script` (a function body returning a value or `null`) until it returns
    /// something other than `null`/`false`, for at most `limit`; panics naming `what`.
    pub async fn wait_for(&self, what: &str, limit: Duration, script: &str) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.execute(script, json!([])).await;
            if !value.is_null() && value != json!(false) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the session (chromedriver then stops Chromium), then the process group:
        // chromedriver and anything of Chromium still running.
        if !self.session.is_empty() {
            delete_blocking(&self.session);
        }
        let pid = rustix::process::Pid::from_raw(self.driver.id() as i32);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.driver.wait();
    }
}

/// `DELETE url` over a plain socket (Drop cannot await), with short timeouts.
fn delete_blocking(url: &str) {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return;
    };
    let Some((host, path)) = rest.split_once('/') else {
        return;
    };
    let Ok(addr) = host.parse::<std::net::SocketAddr>() else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
}

/// `env` when set, else `program` found on `PATH`.
fn find(env: &str, program: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// Chromium's flags: headless with a fresh profile, and nothing that reaches for the
/// network on its own (the test machines have none).
fn chromium_args(profile: &Path, width: u32, height: u32) -> Vec<String> {
    vec![
        "--headless".to_string(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        format!("--user-data-dir={}", profile.display()),
        format!("--window-size={width},{height}"),
    ]
}
