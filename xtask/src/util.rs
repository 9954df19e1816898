//! Running commands, finding the workspace, formatting.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// The error type of all xtask operations: a message for the developer.
pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// The result type of all xtask operations.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// The root of the Cargo workspace (the parent of the `xtask` directory).
pub(crate) fn workspace_root() -> PathBuf {
    // `cargo run` sets CARGO_MANIFEST_DIR at run time too; the compile-time
    // value is the fallback when the binary is started directly.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.clone(), Path::to_path_buf)
}

/// A `cargo` command (the same Cargo that runs xtask) in the workspace root.
pub(crate) fn cargo(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root);
    command
}

/// A command line as a developer would type it, with the environment
/// variables the command sets.
pub(crate) fn describe(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            words.push(format!(
                "{}={}",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or_else(|| command.get_program());
    words.push(quote(&program.to_string_lossy()));
    words.extend(command.get_args().map(|arg| quote(&arg.to_string_lossy())));
    words.join(" ")
}

/// Quotes a word for display if it contains anything a shell would split on.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Prints the command line about to run.
fn announce(command: &Command) {
    println!("$ {}", describe(command));
    let _ = io::stdout().flush();
}

fn spawn_error(command: &Command, error: &io::Error) -> Error {
    format!("could not start `{}`: {error}", describe(command)).into()
}

/// Turns a failed exit status into an error.
pub(crate) fn check_status(command: &Command, status: ExitStatus) -> Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("`{}` failed ({status})", describe(command))
    }
}

/// Runs a command with inherited standard streams; fails if it fails.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    announce(command);
    let status = command
        .status()
        .map_err(|error| spawn_error(command, &error))?;
    check_status(command, status)
}

/// Runs a command quietly and tells whether it succeeded (for probes such as
/// `cargo fuzz --version`).
pub(crate) fn probe(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs a command and returns its standard output; standard error is passed
/// through. Fails if the command fails.
pub(crate) fn capture(command: &mut Command) -> Result<String> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| spawn_error(command, &error))?;
    check_status(command, output.status)?;
    String::from_utf8(output.stdout)
        .map_err(|_| format!("`{}` printed invalid UTF-8", describe(command)).into())
}

/// Which output stream of a child [`run_tee`] reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Runs a command, handing each line of one of its output streams (without
/// its line ending) to `on_line` and copying the line through to our own
/// stream when `on_line` returns `true`. Returns the exit status; the caller
/// decides what a failure means.
pub(crate) fn run_tee(
    command: &mut Command,
    stream: Stream,
    mut on_line: impl FnMut(&str) -> bool,
) -> Result<ExitStatus> {
    announce(command);
    match stream {
        Stream::Stdout => command.stdout(Stdio::piped()),
        Stream::Stderr => command.stderr(Stdio::piped()),
    };
    let mut child = command
        .spawn()
        .map_err(|error| spawn_error(command, &error))?;
    let pipe: Option<Box<dyn Read>> = match stream {
        Stream::Stdout => child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read>),
        Stream::Stderr => child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read>),
    };
    if let Some(pipe) = pipe {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(error.into());
                }
            }
            let text = String::from_utf8_lossy(&line);
            if !on_line(text.trim_end_matches(['\n', '\r'])) {
                continue;
            }
            // A closed terminal must not abort the run: ignore write errors.
            let _ = match stream {
                Stream::Stdout => write_and_flush(&mut io::stdout().lock(), &line),
                Stream::Stderr => write_and_flush(&mut io::stderr().lock(), &line),
            };
        }
    }
    Ok(child.wait()?)
}

fn write_and_flush(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.flush()
}

/// Whether the last component of `path` is `name`.
pub(crate) fn file_name_is(path: &Path, name: &str) -> bool {
    path.file_name() == Some(OsStr::new(name))
}

/// Formats a duration given in nanoseconds with three significant digits,
/// the way criterion does (`812 ps`, `12.3 ns`, `1.05 ms`, `2.00 s`).
pub(crate) fn format_nanos(nanos: f64) -> String {
    const UNITS: [(f64, &str); 5] = [
        (1e-3, "ps"),
        (1.0, "ns"),
        (1e3, "µs"),
        (1e6, "ms"),
        (1e9, "s"),
    ];
    // The first unit in which the value still rounds to less than 1000.
    let (scale, unit) = UNITS
        .iter()
        .copied()
        .find(|(scale, _)| nanos / scale < 999.5)
        .unwrap_or(UNITS[UNITS.len() - 1]);
    format!("{} {unit}", three_digits(nanos / scale))
}

/// Formats a number with three significant digits (for values below 1000;
/// larger ones are printed without a fraction).
pub(crate) fn three_digits(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 99.95 {
        format!("{value:.0}")
    } else if magnitude >= 9.995 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_env_and_quotes() {
        let mut command = Command::new("/usr/bin/cargo");
        command
            .env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--workspace"]);
        assert_eq!(
            describe(&command),
            "RUSTDOCFLAGS='-D warnings' cargo doc --workspace"
        );
    }

    #[test]
    fn nanos_formatting() {
        assert_eq!(format_nanos(0.5), "500 ps");
        assert_eq!(format_nanos(12.34), "12.3 ns");
        assert_eq!(format_nanos(1_049.0), "1.05 µs");
        assert_eq!(format_nanos(999_960.0), "1.00 ms");
        assert_eq!(format_nanos(123_456_789.0), "123 ms");
        assert_eq!(format_nanos(2e9), "2.00 s");
    }
}
