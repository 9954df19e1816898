//! Output for people reading a test run: notes that show even when the
//! harness captures output, and the tails of log files.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::Path;

/// Writes a line to standard error even while the test harness captures
/// output (it captures only the print macros): for what must be seen when a
/// test passes, such as why it skipped its work.
pub fn note(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// The last `lines` lines of `text`, preceded by how many were left out.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    if all.len() > lines {
        let _ = writeln!(out, "[… {} earlier lines]", all.len() - lines);
    }
    for line in &all[all.len().saturating_sub(lines)..] {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The contents of a file as text (lossy UTF-8), or an empty string when it
/// cannot be read.
pub fn read_or_empty(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// `==> PATH <==` and the tail of each file, for a failure report.
pub fn tails(paths: &[impl AsRef<Path>], lines: usize) -> String {
    let mut out = String::new();
    for path in paths {
        let path = path.as_ref();
        let _ = writeln!(out, "==> {} <==", path.display());
        match fs::read(path) {
            Ok(bytes) => out.push_str(&tail(&String::from_utf8_lossy(&bytes), lines)),
            Err(error) => {
                let _ = writeln!(out, "(cannot read: {error})");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_counts_what_it_leaves_out() {
        assert_eq!(tail("a\nb\nc\n", 2), "[… 1 earlier lines]\nb\nc\n");
        assert_eq!(tail("a\nb\n", 5), "a\nb\n");
        assert_eq!(tail("", 3), "");
    }
}
