//! Facts about the machine the tests run on: CI or not, installed
//! programs, users; and what to do when a peer cannot run here.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::logs::note;

/// Whether this is a CI run (`CI=true`), where a missing peer is an error.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// What a test does when something it needs cannot run here: with
/// `CI=true` an error (`Err`), otherwise a note and `Ok(None)`, so that the
/// test passes without doing its work. `what` names the missing thing,
/// `reason` says why, `hint` how to get it.
pub fn missing<T>(what: &str, reason: &str, hint: &str) -> Result<Option<T>, String> {
    let reason = format!("{what}: {reason}");
    if in_ci() {
        return Err(format!("{reason}; CI=true, so this is a failure ({hint})"));
    }
    note(&format!(
        "{reason}; skipping the tests that need it ({hint})"
    ));
    Ok(None)
}

/// The path of `program` in `PATH` or in the system directories that a
/// non-root `PATH` often lacks.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// The real user id of this process, from `/proc/self/status`.
pub fn uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    uid() == Some(0)
}

/// Whether `/etc/passwd` has the user `user`.
pub fn user_exists(user: &str) -> bool {
    passwd_entry(|fields| fields[0] == user).is_some()
}

/// The name of the user the tests run as.
pub fn current_user() -> Option<String> {
    let uid = uid()?.to_string();
    passwd_entry(|fields| fields[2] == uid)
}

/// The name of the first `/etc/passwd` entry matching `matches`.
fn passwd_entry(matches: impl Fn(&[&str]) -> bool) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && matches(fields))
        .map(|fields| fields[0].to_owned())
}

/// Why a server that refuses to run as root cannot be started as the
/// system user `user` here (through `setpriv`), if it cannot. `None` when
/// the tests do not run as root.
pub fn cannot_drop_root_to(user: &str) -> Option<String> {
    if !is_root() {
        return None;
    }
    if find_program("setpriv").is_none() {
        return Some("`setpriv` is missing (needed to drop root)".to_owned());
    }
    if !user_exists(user) {
        return Some(format!("no `{user}` system user"));
    }
    None
}
