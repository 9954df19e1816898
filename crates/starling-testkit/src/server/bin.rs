//! Finding the `starling` binary under test.
//!
//! Cargo tells a package's own tests where its binaries are
//! (`CARGO_BIN_EXE_*`), but the suites that drive `starling` live in this
//! crate, which does not depend on `starling-server`. So: the binary named
//! by `STARLING_BIN` when set (CI sets it to the one its build step made);
//! otherwise, once per test process, `cargo build -p starling-server --bin
//! starling` (with `--features cli` when the server's manifest declares
//! that feature) in the profile and target directory of the running test
//! executable, and the binary it leaves there.
//!
//! The nested build does not wait for the outer `cargo test`: Cargo
//! releases its lock on the target directory once the test executables are
//! built, before it runs them.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::logs::note;
use crate::process::run_with_limit;

/// The environment variable naming the `starling` binary to test.
pub const BIN_VAR: &str = "STARLING_BIN";

/// How long building the binary may take (a cold build of the server on a
/// small machine).
const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);

/// The `starling` binary under test: `$STARLING_BIN`, or the one built for
/// this test process (see the module documentation).
///
/// # Panics
///
/// When `STARLING_BIN` names no file, or the build fails.
pub fn starling_bin() -> &'static Path {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BIN.get_or_init(locate) {
        Ok(path) => path,
        Err(error) => panic!("the starling binary under test: {error}"),
    }
}

fn locate() -> Result<PathBuf, String> {
    match env::var_os(BIN_VAR) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(path)
            } else {
                Err(format!("{BIN_VAR}={} is not a file", path.display()))
            }
        }
        _ => build(),
    }
}

/// The workspace root (this crate is `crates/starling-testkit`).
fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Where Cargo puts the build of one profile, and how to ask for it.
#[derive(Debug, PartialEq, Eq)]
struct Output {
    /// The target directory.
    target_dir: PathBuf,
    /// The profile's directory in it (`debug`, `release`, or a custom
    /// profile's name).
    profile_dir: String,
}

impl Output {
    /// The output of the build that made `exe`, a test executable in
    /// `<target>/<profile>/deps/`; `None` for an executable elsewhere.
    fn of_test_exe(exe: &Path) -> Option<Output> {
        let deps = exe.parent()?;
        if deps.file_name()? != "deps" {
            return None;
        }
        let profile = deps.parent()?;
        Some(Output {
            target_dir: profile.parent()?.to_owned(),
            profile_dir: profile.file_name()?.to_str()?.to_owned(),
        })
    }

    /// The debug build in `CARGO_TARGET_DIR`, else in the workspace's
    /// `target`.
    fn default_for(root: &Path) -> Output {
        let target_dir = match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Output {
            target_dir,
            profile_dir: "debug".to_owned(),
        }
    }

    /// The Cargo options that select this output.
    fn cargo_args(&self) -> Vec<String> {
        let mut args = vec![
            "--target-dir".to_owned(),
            self.target_dir.display().to_string(),
        ];
        match self.profile_dir.as_str() {
            "debug" => {}
            "release" => args.push("--release".to_owned()),
            other => args.extend(["--profile".to_owned(), other.to_owned()]),
        }
        args
    }

    /// Where the binary `name` ends up.
    fn binary(&self, name: &str) -> PathBuf {
        self.target_dir.join(&self.profile_dir).join(name)
    }
}

/// Whether the manifest text declares the feature `name` in `[features]`.
fn declares_feature(manifest: &str, name: &str) -> Result<bool, String> {
    let table: toml::Table = manifest.parse().map_err(|e| format!("{e}"))?;
    Ok(table
        .get("features")
        .and_then(toml::Value::as_table)
        .is_some_and(|features| features.contains_key(name)))
}

/// Builds the binary as the module documentation says.
fn build() -> Result<PathBuf, String> {
    let root = workspace_root();
    let output = env::current_exe()
        .ok()
        .and_then(|exe| Output::of_test_exe(&exe))
        .unwrap_or_else(|| Output::default_for(&root));
    let manifest_path = root.join("crates/starling-server/Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("reading {}: {e}", manifest_path.display()))?;
    let cli = declares_feature(&manifest, "cli")
        .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--package", "starling-server", "--bin", "starling"])
        .args(output.cargo_args());
    if cli {
        command.args(["--features", "cli"]);
    }
    note(&format!(
        "building the binary under test ({BIN_VAR} is not set): {command:?}"
    ));
    let started = Instant::now();
    let finished = run_with_limit(&mut command, BUILD_LIMIT)?;
    if !finished.success() {
        return Err(format!("{command:?} failed: {}", finished.describe()));
    }
    let binary = output.binary("starling");
    if !binary.is_file() {
        return Err(format!("{command:?} made no {}", binary.display()));
    }
    note(&format!(
        "built {} in {:.1} s",
        binary.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_follows_the_test_executable() {
        let output = Output::of_test_exe(Path::new("/w/target/release/deps/e2e-0123")).unwrap();
        assert_eq!(
            output.binary("starling"),
            Path::new("/w/target/release/starling")
        );
        assert_eq!(
            output.cargo_args(),
            ["--target-dir", "/w/target", "--release"]
        );
        let output = Output::of_test_exe(Path::new("/t/debug/deps/e2e-0123")).unwrap();
        assert_eq!(output.cargo_args(), ["--target-dir", "/t"]);
        let output = Output::of_test_exe(Path::new("/t/ci/deps/e2e-0123")).unwrap();
        assert_eq!(
            output.cargo_args(),
            ["--target-dir", "/t", "--profile", "ci"]
        );
        assert_eq!(Output::of_test_exe(Path::new("/usr/bin/e2e")), None);
    }

    #[test]
    fn features_are_read_from_the_manifest() {
        let with = "[package]\nname = \"x\"\n\n[features]\ndefault = []\ncli = [\"dep:clap\"]\n";
        assert_eq!(declares_feature(with, "cli"), Ok(true));
        let without = "[package]\nname = \"x\"\n[dependencies]\ncli = \"1\"\n";
        assert_eq!(declares_feature(without, "cli"), Ok(false));
        assert!(declares_feature("[features", "cli").is_err());
    }
}
