//! Tests of the exec converter with real shell scripts in a temporary directory.

use std::os::unix::fs::PermissionsExt;
use std::time::Instant;

use super::*;

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn virtual_resource() -> Resource {
    let mut r = Resource::new(
        "vtype",
        "v-1",
        "cleaning",
        mason_types::Timestamp::UNIX_EPOCH,
    );
    r.owner = "mason".into();
    r
}

fn leased() -> TypeToResources {
    let p = Resource::new("ptype", "p-1", "leased", mason_types::Timestamp::UNIX_EPOCH);
    [("ptype".to_string(), vec![p])].into_iter().collect()
}

async fn run(content: &str, dir: &Path) -> Result<UserData, ConstructError> {
    let m = ExecMasonable::parse(content, dir).unwrap();
    m.construct(&virtual_resource(), &leased(), CancellationToken::new())
        .await
}

#[tokio::test]
async fn runs_relative_program_with_input_env_and_merges_output() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "build.sh",
        r#"cat > input.json
printf '{"endpoint":"https://%s","region":"%s","arg":"%s"}' "$MASON_RESOURCE_NAME" "$REGION" "$1""#,
    );
    let out = run(
        "command: [./build.sh, fast]\ntimeout: 30s\nenv: {REGION: eu-west-1}\n",
        dir.path(),
    )
    .await
    .unwrap();
    assert_eq!(out.get("endpoint"), Some("https://v-1"));
    assert_eq!(out.get("region"), Some("eu-west-1"));
    assert_eq!(out.get("arg"), Some("fast"));
    // The program ran in the config directory and got the documented JSON on stdin.
    let raw = std::fs::read_to_string(dir.path().join("input.json")).unwrap();
    // Keys in wire order, so line-oriented tools can pick fields out.
    assert!(
        raw.starts_with(
            r#"{"resource":{"type":"vtype","name":"v-1","state":"cleaning","owner":"mason","#
        ),
        "{raw}"
    );
    assert!(
        raw.contains(r#"},"leased":{"ptype":[{"type":"ptype","name":"p-1","state":"leased""#),
        "{raw}"
    );
    let input: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(input["resource"]["name"], "v-1");
    assert_eq!(input["resource"]["owner"], "mason");
    assert_eq!(input["leased"]["ptype"][0]["name"], "p-1");
    assert_eq!(input["leased"]["ptype"][0]["state"], "leased");
}

#[tokio::test]
async fn bare_program_names_come_from_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(r#"command: [sh, -c, 'echo "{\"a\": \"1\"}"']"#, dir.path())
        .await
        .unwrap();
    assert_eq!(out, [("a", "1")].into_iter().collect());
}

#[tokio::test]
async fn non_zero_exit_fails_with_stderr_tail() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "fail.sh", "echo 'quota exceeded' >&2\nexit 3");
    let err = run("command: [./fail.sh]", dir.path()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ConstructError::Failed(_)), "{text}");
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(text.ends_with(": quota exceeded"), "{text}");
}

#[tokio::test]
async fn bad_output_fails() {
    let dir = tempfile::tempdir().unwrap();
    for (body, expect) in [
        ("true", "printed nothing on stdout"),
        (
            "echo not json",
            "stdout is not one JSON object of string values",
        ),
        (
            r#"echo '{"n": 1}'"#,
            "stdout is not one JSON object of string values",
        ),
        (
            r#"echo '{"a":"1"}{"b":"2"}'"#,
            "stdout is not one JSON object of string values",
        ),
        (
            r#"echo '["a"]'"#,
            "stdout is not one JSON object of string values",
        ),
    ] {
        script(dir.path(), "out.sh", body);
        let err = run("command: [./out.sh]", dir.path()).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{body}: {err}");
    }
}

#[tokio::test]
async fn a_script_held_open_for_writing_for_a_moment_still_runs() {
    // While any process holds the script open for writing, exec fails with ETXTBSY
    // (this is what a concurrent fork does to a script just written). The converter
    // retries the spawn, so the construct succeeds once the writer closes.
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "busy.sh", r#"echo '{"built":"yes"}'"#);
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("busy.sh"))
        .unwrap();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        drop(writer);
    });
    let out = run("command: [./busy.sh]", dir.path()).await.unwrap();
    assert_eq!(out.get("built"), Some("yes"));
    closer.join().unwrap();
}

#[tokio::test]
async fn missing_program_fails_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = run("command: [./nowhere.sh]", dir.path())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot start "), "{err}");
}

fn process_alive(pid: &str) -> bool {
    // A killed child may linger as a zombie until its parent (init) reaps it.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.contains(") Z "),
        Err(_) => false,
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    script(
        dir.path(),
        "hang.sh",
        "sleep 60 &\necho $! > grandchild.pid\nwait",
    );
    let err = run("command: [./hang.sh]\ntimeout: 300ms", dir.path())
        .await
        .unwrap_err();
    assert!(matches!(err, ConstructError::TimedOut(d) if d == Duration::from_millis(300)));
    assert_eq!(err.to_string(), "construct timed out after 300ms");
    let pid = std::fs::read_to_string(dir.path().join("grandchild.pid")).unwrap();
    let pid = pid.trim().to_string();
    wait_until("the grandchild is killed", || !process_alive(&pid)).await;
}

#[tokio::test]
async fn cancellation_stops_the_program() {
    let dir = tempfile::tempdir().unwrap();
    script(dir.path(), "hang.sh", "echo $$ > self.pid\nsleep 60");
    let m = ExecMasonable::parse("command: [./hang.sh]", dir.path()).unwrap();
    let cancel = CancellationToken::new();
    let pid_file = dir.path().join("self.pid");
    let task = {
        let cancel = cancel.clone();
        tokio::spawn(async move { m.construct(&virtual_resource(), &leased(), cancel).await })
    };
    wait_until("the program started", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    })
    .await;
    cancel.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, ConstructError::Cancelled), "{err}");
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_string();
    wait_until("the program is killed", || !process_alive(&pid)).await;
}

#[test]
fn content_is_validated() {
    let dir = Path::new("/etc/mason");
    let ok = ExecMasonable::parse("command: [bin/x, -v]\nenv: {A: b}", dir).unwrap();
    assert_eq!(ok.program, PathBuf::from("/etc/mason/bin/x"));
    assert_eq!(ok.args, vec!["-v"]);
    assert_eq!(ok.timeout, DEFAULT_EXEC_TIMEOUT);
    assert_eq!(ok.env.get("A").map(String::as_str), Some("b"));
    assert_eq!(ok.dir, PathBuf::from("/etc/mason"));
    let abs = ExecMasonable::parse("command: [/usr/bin/env]\ntimeout: 1h30m", dir).unwrap();
    assert_eq!(abs.program, PathBuf::from("/usr/bin/env"));
    assert_eq!(abs.timeout, Duration::from_secs(5400));
    assert_eq!(
        ExecMasonable::parse("command: [sh]", dir).unwrap().program,
        PathBuf::from("sh")
    );

    for (content, expect) in [
        ("", "command must be set"),
        ("command: []", "command must be set"),
        ("command: ['']", "command[0] must not be empty"),
        ("command: [x]\ntimeout: forever", "timeout"),
        ("command: [x]\ntimeout: 0s", "timeout must be positive"),
        ("command: [x]\ncomand: [y]", "unknown field `comand`"),
        ("command: x", "invalid exec config"),
    ] {
        let err = ExecMasonable::parse(content, dir).unwrap_err();
        assert!(err.to_string().contains(expect), "{content:?}: {err}");
    }
}

#[test]
fn converter_builds_from_base_dir() {
    let convert = exec_converter("/srv/pools");
    assert!(convert("command: [./a.sh]").is_ok());
    assert!(convert("nonsense: 1").is_err());
}
