//! The outcome of a scenario script (`tests/slixmpp/*.py`): the process's
//! exit and the one JSON report it prints on its last JSON line of standard
//! output:
//!
//! ```text
//! {"scenario": "NAME", "ok": true, "error": null,
//!  "checks": [{"name": "...", "ok": true, "detail": "..."}],
//!  "facts": {"...": "..."}}
//! ```
//!
//! Exit status 0 means every check passed, 1 that one failed or the
//! scenario stopped early (`error` says why), 3 that it ran out of time.
//!
//! ```
//! use starling_testkit::script::ScriptReport;
//!
//! let report = ScriptReport::parse(
//!     "noise\n{\"ok\": true, \"error\": null, \"checks\": [{\"name\": \"a\", \"ok\": true}]}\n",
//! );
//! assert!(report.problems(true, &["a"]).is_empty());
//! assert_eq!(report.problems(true, &["b"]), ["check b was not run"]);
//! ```

use crate::json::{self, Value};
use crate::process::Finished;

/// The JSON report of one run of a scenario script.
#[derive(Debug, Clone)]
pub struct ScriptReport {
    /// The report, or why it could not be read.
    pub report: Result<Value, String>,
}

impl ScriptReport {
    /// Reads the last line of `stdout` that starts with `{`.
    pub fn parse(stdout: &str) -> ScriptReport {
        let report = stdout
            .lines()
            .rev()
            .find(|line| line.trim_start().starts_with('{'))
            .ok_or_else(|| "no JSON line on standard output".to_owned())
            .and_then(|line| json::parse(line.trim()));
        ScriptReport { report }
    }

    /// What is wrong with a run: its exit (`exited_ok` is false), the
    /// report's `error`, every failed check, and each of `expected` that
    /// was not checked at all (so a scenario that silently skipped a check
    /// fails too). Empty when the run passed.
    pub fn problems(&self, exited_ok: bool, expected: &[&str]) -> Vec<String> {
        let mut problems = Vec::new();
        if !exited_ok {
            problems.push("the script did not exit with status 0".to_owned());
        }
        let mut seen = Vec::new();
        match &self.report {
            Err(e) => problems.push(format!("cannot read the script's JSON: {e}")),
            Ok(report) => {
                if let Some(error) = report.get("error").and_then(Value::as_str) {
                    problems.push(format!("the scenario stopped early: {error}"));
                }
                if report.get("ok").and_then(Value::as_bool) != Some(true) {
                    problems.push("the script reports ok=false".to_owned());
                }
                for check in self.checks() {
                    let name = check.get("name").and_then(Value::as_str).unwrap_or("?");
                    if check.get("ok").and_then(Value::as_bool) != Some(true) {
                        let detail = check.get("detail").and_then(Value::as_str).unwrap_or("");
                        problems.push(format!("FAILED check {name}: {detail}"));
                    }
                    seen.push(name.to_owned());
                }
            }
        }
        for name in expected {
            if !seen.iter().any(|s| s == name) {
                problems.push(format!("check {name} was not run"));
            }
        }
        problems
    }

    /// The report's checks (empty when it could not be read).
    pub fn checks(&self) -> &[Value] {
        self.report
            .as_ref()
            .ok()
            .and_then(|r| r.get("checks"))
            .map_or(&[][..], Value::as_array)
    }

    /// The fact `key`.
    pub fn fact(&self, key: &str) -> Option<&Value> {
        self.report.as_ref().ok()?.get("facts")?.get(key)
    }

    /// The fact `key`, when it is a string.
    pub fn fact_str(&self, key: &str) -> Option<&str> {
        self.fact(key).and_then(Value::as_str)
    }

    /// The strings of the fact `key`, when it is an array.
    pub fn fact_strings(&self, key: &str) -> Vec<String> {
        self.fact(key)
            .map_or(&[][..], Value::as_array)
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

/// Why a finished script did not exit with 0, in words (`None` when it
/// did).
pub fn exit_problem(finished: &Finished) -> Option<String> {
    if finished.success() {
        return None;
    }
    Some(match finished.code() {
        Some(3) => "the scenario ran out of time (exit status 3)".to_owned(),
        Some(code) => format!("the script exited with status {code}"),
        None => "the script was killed at the time limit or by a signal".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::ScriptReport;

    #[test]
    fn problems_of_reports() {
        let cases: [(&str, bool, &[&str], &[&str]); 5] = [
            (
                r#"{"ok": true, "error": null, "checks": [{"name": "a", "ok": true}]}"#,
                true,
                &["a"],
                &[],
            ),
            (
                "nothing",
                true,
                &[],
                &["cannot read the script's JSON: no JSON line on standard output"],
            ),
            (
                r#"{"ok": false, "error": "stopped", "checks": [{"name": "a", "ok": false, "detail": "d"}]}"#,
                true,
                &["a"],
                &[
                    "the scenario stopped early: stopped",
                    "the script reports ok=false",
                    "FAILED check a: d",
                ],
            ),
            (
                r#"{"ok": true, "error": null, "checks": []}"#,
                false,
                &["x"],
                &[
                    "the script did not exit with status 0",
                    "check x was not run",
                ],
            ),
            (
                r#"{"ok": true, "error": null, "checks": [], "facts": {"k": "v"}}"#,
                true,
                &[],
                &[],
            ),
        ];
        for (stdout, exited_ok, expected, want) in cases {
            let report = ScriptReport::parse(stdout);
            assert_eq!(report.problems(exited_ok, expected), want, "{stdout}");
        }
        let report = ScriptReport::parse(r#"{"facts": {"k": "v", "l": ["a", 1, "b"]}}"#);
        assert_eq!(report.fact_str("k"), Some("v"));
        assert_eq!(report.fact_strings("l"), ["a", "b"]);
    }
}
