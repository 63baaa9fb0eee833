//! Finding a program the way a shell would, to check at start-up (or in `check-config`)
//! that a configured program exists, instead of failing on every run later.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where `program` is: with a `/` in it, that path (relative ones against `base`);
/// otherwise the first executable file of that name in `PATH`. `Err` says what was
/// looked at and why it does not do.
pub(crate) fn locate(program: &Path, base: &Path) -> Result<PathBuf, String> {
    let text = program.to_string_lossy();
    if text.is_empty() {
        return Err("the program is empty".to_string());
    }
    if text.contains('/') {
        let path = if program.is_relative() {
            base.join(program)
        } else {
            program.to_path_buf()
        };
        return check_executable(&path).map(|()| path);
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&dirs) {
        let candidate = dir.join(program);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!("{text} is not found in PATH"))
}

fn check_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{} does not exist", path.display()),
        _ => format!("{}: {e}", path.display()),
    })?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!(
            "{} is not executable (chmod +x {})",
            path.display(),
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_like_a_shell() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("build.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = locate(Path::new("./build.sh"), dir.path()).unwrap_err();
        assert!(err.contains("not executable"), "{err}");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            locate(Path::new("./build.sh"), dir.path()).unwrap(),
            dir.path().join("./build.sh")
        );
        let err = locate(Path::new("./nope.sh"), dir.path()).unwrap_err();
        assert!(err.ends_with("nope.sh does not exist"), "{err}");
        assert!(locate(Path::new("sh"), dir.path()).is_ok(), "found in PATH");
        let err = locate(Path::new("no-such-program-xyz"), dir.path()).unwrap_err();
        assert_eq!(err, "no-such-program-xyz is not found in PATH");
    }
}
