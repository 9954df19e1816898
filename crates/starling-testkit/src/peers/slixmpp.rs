//! slixmpp, a real XMPP client (Python, from PyPI), in a virtualenv.
//!
//! The client is pinned in `slixmpp-requirements.txt` (beside this file),
//! installed once into `<target>/slixmpp-venv` (`python3 -m venv`, then
//! pip) and reused while the pinned requirements are unchanged. When
//! Python, venv or pip is missing, or the install fails, [`python`] says
//! why: a failure with `CI=true`, a note and `None` otherwise.
//!
//! Set `STARLING_PYTHON` to use another interpreter than `python3` for the
//! virtualenv.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::host::missing;
use crate::process::run_with_limit;

/// The pinned client (its text is also the venv's freshness stamp).
pub const REQUIREMENTS: &str = include_str!("slixmpp-requirements.txt");

/// The file in the venv recording the requirements it was made from.
const STAMP: &str = "starling-requirements.txt";

/// How long `python3 -m venv` may take.
const VENV_LIMIT: Duration = Duration::from_secs(300);

/// How long `pip install` may take.
const PIP_LIMIT: Duration = Duration::from_secs(600);

/// The venv's Python with slixmpp importable, made once per test process.
/// `Ok(None)` (after a note) when it cannot be made here and this is not
/// CI.
///
/// # Errors
///
/// When it cannot be made and `CI=true`.
pub fn python() -> Result<Option<PathBuf>, String> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match VENV.get_or_init(prepare) {
        Ok(python) => Ok(Some(python.clone())),
        Err(e) => missing(
            "slixmpp",
            &format!("cannot prepare the Python client: {e}"),
            "install python3 with venv and pip",
        ),
    }
}

/// The workspace's target directory: `CARGO_TARGET_DIR` when set, else
/// `target` at the workspace root.
fn target_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Whether `venv` was made from the current requirements and imports
/// slixmpp.
fn is_current(venv: &Path) -> bool {
    if fs::read_to_string(venv.join(STAMP)).ok().as_deref() != Some(REQUIREMENTS) {
        return false;
    }
    let mut command = Command::new(python_in(venv));
    command.args(["-c", "import slixmpp"]);
    run_with_limit(&mut command, Duration::from_secs(60)).is_ok_and(|f| f.success())
}

/// Reuses `<target>/slixmpp-venv` when current; otherwise builds a new one
/// beside it and moves it into place (so that concurrent test processes
/// never see a half-made venv).
fn prepare() -> Result<PathBuf, String> {
    let target = target_dir();
    let venv = target.join("slixmpp-venv");
    if is_current(&venv) {
        return Ok(python_in(&venv));
    }
    fs::create_dir_all(&target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    let building = target.join(format!("slixmpp-venv.building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&building);
    if let Err(e) = build(&building) {
        let _ = fs::remove_dir_all(&building);
        return Err(e);
    }
    if venv.exists() && !is_current(&venv) {
        // Stale (other requirements) or broken.
        let _ = fs::remove_dir_all(&venv);
    }
    if fs::rename(&building, &venv).is_err() {
        // Another process put a venv there first; use it if it is current.
        let _ = fs::remove_dir_all(&building);
        if !is_current(&venv) {
            return Err(format!("cannot move the new venv to {}", venv.display()));
        }
    }
    if is_current(&venv) {
        Ok(python_in(&venv))
    } else {
        Err(format!(
            "the venv at {} does not import slixmpp after installing",
            venv.display()
        ))
    }
}

/// Makes a venv in `dir` and installs the requirements into it.
fn build(dir: &Path) -> Result<(), String> {
    let python = env::var("STARLING_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut command = Command::new(&python);
    command.args(["-m", "venv"]).arg(dir);
    let made = run_with_limit(&mut command, VENV_LIMIT)?;
    if !made.success() {
        return Err(format!(
            "`{python} -m venv {}` failed: {}",
            dir.display(),
            made.describe()
        ));
    }
    let requirements = dir.join("requirements.txt");
    fs::write(&requirements, REQUIREMENTS)
        .map_err(|e| format!("writing {}: {e}", requirements.display()))?;
    let mut command = Command::new(python_in(dir));
    command
        .args(["-m", "pip", "install"])
        .args(["--disable-pip-version-check", "--no-input", "--quiet"])
        .arg("-r")
        .arg(&requirements)
        .env("PIP_NO_INPUT", "1");
    let installed = run_with_limit(&mut command, PIP_LIMIT)?;
    if !installed.success() {
        return Err(format!(
            "pip install -r {} failed: {}",
            requirements.display(),
            installed.describe()
        ));
    }
    fs::write(dir.join(STAMP), REQUIREMENTS)
        .map_err(|e| format!("writing {}: {e}", dir.join(STAMP).display()))
}

/// Where a scenario script of `tests/slixmpp/` (`interop.py`, `pep.py`)
/// connects, and its limits: the arguments every such script takes.
#[derive(Debug, Clone, Copy)]
pub struct ScriptTarget<'a> {
    /// The server's c2s STARTTLS port on 127.0.0.1.
    pub port: u16,
    /// The accounts' domain (also the name the certificate is checked for).
    pub domain: &'a str,
    /// The only CA the script trusts.
    pub ca: &'a Path,
    /// Where slixmpp's debug log goes.
    pub log: &'a Path,
    /// The limit of one wait or request (`--step-timeout`).
    pub step_timeout_secs: u32,
    /// The limit of the whole scenario (`--timeout`).
    pub timeout_secs: u32,
}

/// `python SCRIPT SCENARIO` with the arguments of `target`, and the
/// environment the scripts run with (no bytecode files written into the
/// source tree, unbuffered output); the caller adds the script's own.
pub fn script_command(
    python: &Path,
    script: &str,
    scenario: &str,
    target: &ScriptTarget<'_>,
) -> Command {
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg(scenario)
        .args(["--host", "127.0.0.1", "--port"])
        .arg(target.port.to_string())
        .arg("--domain")
        .arg(target.domain)
        .arg("--ca")
        .arg(target.ca)
        .arg("--step-timeout")
        .arg(target.step_timeout_secs.to_string())
        .arg("--timeout")
        .arg(target.timeout_secs.to_string())
        .arg("--log")
        .arg(target.log)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    command
}
