//! The strict config check: upstream's validation, plus everything a strict reading finds
//! (`mason_types::config::lint`: unknown keys with a "did you mean", settings without
//! effect, pools never built), plus what only a builder knows: which converters exist
//! and whether the content of the built-in `exec` converter can run (its keys, its
//! timeout, and a command that exists, relative paths taken from the config file's
//! directory as `mason up` and `mason builder --config` run them).
//!
//! `mason check-config` fails on any of it; `mason up` logs the converter findings as
//! warnings (the server already warns about the rest, see `mason_server::config`).

use std::path::{Path, PathBuf};

use mason_controllers::builder::{ExecMasonable, EXEC_CONVERTER};
use mason_types::config::lint::{self, Converters, Finding};
use mason_types::BoskosConfig;

use crate::cli::program;

/// The converters this binary's builder serves.
pub(crate) const BUILT_IN: &[&str] = &[EXEC_CONVERTER];

/// The keys of `exec` content.
const EXEC_KEYS: &[&str] = &["command", "timeout", "env"];

/// What checking a config text found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Upstream's validation errors (a server refuses such a file).
    pub(crate) invalid: Vec<String>,
    /// The strict reading's findings (a server loads such a file, with warnings).
    pub(crate) findings: Vec<Finding>,
}

impl Report {
    /// Whether nothing was found.
    pub(crate) fn is_clean(&self) -> bool {
        self.invalid.is_empty() && self.findings.is_empty()
    }

    /// Every problem as one line each: the strict findings first (an unknown key often
    /// explains a validation error that follows).
    pub(crate) fn lines(&self) -> Vec<String> {
        self.findings
            .iter()
            .map(ToString::to_string)
            .chain(self.invalid.iter().cloned())
            .collect()
    }
}

/// Read and validate the config file `path` at start-up, before anything else happens,
/// so a missing or invalid file stops `command` (`mason serve`) with exit 2 and changes
/// nothing anywhere. (The server reads it again when it starts; that load logs the
/// strict reading's warnings.)
pub(crate) fn preload(path: &Path, command: &str) -> Result<BoskosConfig, crate::exit::Exit> {
    use crate::exit::{Exit, USAGE};
    let text = std::fs::read_to_string(path).map_err(|e| {
        Exit::new(
            USAGE,
            format!("{command}: cannot read config file {}: {e}", path.display()),
        )
    })?;
    BoskosConfig::parse_and_validate(&text).map_err(|e| {
        Exit::new(
            USAGE,
            format!("{command}: invalid config {}: {e}", path.display()),
        )
    })
}

/// The directory relative programs of a config are taken from.
pub(crate) fn base_dir(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Check `text` (from a file in `base`) with `converters` known to the builder.
pub(crate) fn check(text: &str, base: &Path, converters: &[&str]) -> Report {
    let mut report = Report::default();
    match lint::lint_keys(text) {
        Ok(found) => report.findings.extend(found),
        Err(e) => {
            report.invalid = e.problems();
            return report;
        }
    }
    let config = match BoskosConfig::from_yaml(text) {
        Ok(config) => config,
        Err(e) => {
            report.invalid = e.problems();
            return report;
        }
    };
    if let Err(e) = mason_types::config::validate(&config) {
        report.invalid = e.problems();
    }
    report
        .findings
        .extend(lint::lint_pools(&config, Converters::Known(converters)));
    report.findings.extend(exec_findings(&config, base));
    report
}

/// The findings only a builder can make, for `mason up` to warn about: converters it
/// does not serve and `exec` content that cannot run.
pub(crate) fn builder_findings(config: &BoskosConfig, base: &Path) -> Vec<Finding> {
    let unknown = lint::lint_pools(config, Converters::Known(BUILT_IN))
        .into_iter()
        .filter(|f| f.path.ends_with(".config.type"));
    unknown.chain(exec_findings(config, base)).collect()
}

/// Problems of each dynamic pool's `exec` content.
fn exec_findings(config: &BoskosConfig, base: &Path) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, entry) in config.resources.iter().enumerate() {
        if !entry.is_dynamic() || entry.config.ctype != EXEC_CONVERTER {
            continue;
        }
        let at = format!("resources[{i}].config.content");
        let format_help = "exec content is YAML: command: [PROGRAM, ARGS...] (required), \
                           timeout: 10m, env: {NAME: VALUE}";
        let keys = match lint::lint_content_keys(&entry.config.content, EXEC_KEYS, &at) {
            Ok(keys) => keys,
            Err(e) => {
                findings.push(Finding::new(&at, format!("not YAML ({e})"), format_help));
                continue;
            }
        };
        let typo = !keys.is_empty();
        findings.extend(keys);
        let exec = match ExecMasonable::parse(&entry.config.content, base) {
            Ok(exec) => exec,
            Err(_) if typo => continue,
            Err(e) => {
                findings.push(Finding::new(&at, e.0, format_help));
                continue;
            }
        };
        if let Err(why) = program::locate(&exec.program, base) {
            let relative = exec.program.starts_with(&exec.dir);
            let fix = if relative {
                format!(
                    "create it, or fix the path (relative paths start from {}, the config \
                     file's directory)",
                    base.display()
                )
            } else {
                "install it, or give its path".to_string()
            };
            findings.push(Finding::new(format!("{at}.command[0]"), why, fix));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn pool(content: &str) -> String {
        format!(
            "resources:\n- type: d\n  state: dirty\n  max-count: 1\n  config:\n    type: exec\n    content: |\n{}",
            content
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        )
    }

    #[test]
    fn exec_content_is_checked_against_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("build.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check(&pool("command: [./build.sh]"), dir.path(), BUILT_IN).is_clean());

        let report = check(&pool("commnd: [./build.sh]"), dir.path(), BUILT_IN);
        assert_eq!(report.lines().len(), 1, "{:?}", report.lines());
        assert!(report.lines()[0].contains("did you mean \"command\"?"));

        let report = check(&pool("command: [./missing.sh]"), dir.path(), BUILT_IN);
        let line = &report.lines()[0];
        assert!(
            line.starts_with("resources[0].config.content.command[0]: ")
                && line.contains("missing.sh does not exist"),
            "{line}"
        );
        let report = check(
            &pool("command: [./build.sh]\ntimeout: soon"),
            dir.path(),
            BUILT_IN,
        );
        assert!(
            report.lines()[0].contains("timeout"),
            "{:?}",
            report.lines()
        );
        let report = check(&pool("timeout: 1m"), dir.path(), BUILT_IN);
        assert!(
            report.lines()[0].contains("command must be set"),
            "{:?}",
            report.lines()
        );
    }

    #[test]
    fn declared_converters_are_known() {
        let text =
            "resources:\n- type: d\n  state: dirty\n  max-count: 1\n  config: {type: Custom}\n";
        let dir = Path::new(".");
        let report = check(text, dir, BUILT_IN);
        assert!(report.lines()[0].contains("no builder serves converter \"Custom\""));
        assert!(check(text, dir, &["exec", "Custom"]).is_clean());
    }

    #[test]
    fn upstream_errors_come_after_the_key_that_explains_them() {
        let report = check(
            "resources:\n- type: a\n  nmes: [x]\n",
            Path::new("."),
            BUILT_IN,
        );
        assert_eq!(
            report.lines(),
            [
                "resources[0].nmes: unknown key \"nmes\" (ignored); did you mean \"names\"?",
                ".0.max-count: must be >0",
            ]
        );
    }
}
