//! Running the cargo-fuzz targets in `fuzz/`.
//!
//! cargo-fuzz needs unstable compiler flags (the sanitizers); the stable
//! toolchain accepts them with `RUSTC_BOOTSTRAP=1`, which is set for every
//! cargo-fuzz command run here and nowhere else.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::args::FuzzOptions;
use crate::util::{self, Result, Stream};

/// Per-input time limit (seconds) unless the caller passes `-timeout=`: a
/// hang is reported as a failure instead of eating the whole time budget.
const UNIT_TIMEOUT_SECS: u64 = 10;

/// `cargo xtask fuzz`: runs one target or all of them and reports.
pub(crate) fn run(options: &FuzzOptions) -> Result<bool> {
    let root = util::workspace_root();
    ensure_cargo_fuzz(&root)?;
    let available = list_targets(&root)?;
    let targets = match &options.target {
        Some(target) if available.contains(target) => vec![target.clone()],
        Some(target) => bail!(
            "no fuzz target `{target}`; the targets are: {}",
            available.join(", ")
        ),
        None => available,
    };
    let reports = build_and_run(
        &root,
        &targets,
        options.time,
        &options.libfuzzer_args,
        Progress::Show,
    )?;
    Ok(reports.iter().all(TargetReport::passed))
}

/// The fuzz step of `cargo xtask ci`: every target for `secs` seconds.
pub(crate) fn smoke(root: &Path, secs: u64) -> Result<()> {
    ensure_cargo_fuzz(root)?;
    let targets = list_targets(root)?;
    if targets.is_empty() {
        bail!("`cargo fuzz list` found no fuzz targets");
    }
    let reports = build_and_run(root, &targets, secs, &[], Progress::Hide)?;
    let failed: Vec<&str> = reports
        .iter()
        .filter(|report| !report.passed())
        .map(|report| report.target.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("fuzz target(s) failed: {}", failed.join(", "))
    }
}

/// Installs cargo-fuzz unless `cargo fuzz --version` works.
fn ensure_cargo_fuzz(root: &Path) -> Result<()> {
    if util::probe(util::cargo(root).args(["fuzz", "--version"])) {
        return Ok(());
    }
    println!("cargo-fuzz is not installed; installing it");
    util::run(util::cargo(root).args(["install", "cargo-fuzz", "--locked"]))
}

/// A cargo-fuzz command with the environment it needs on a stable toolchain.
fn cargo_fuzz(root: &Path) -> Command {
    let mut command = util::cargo(root);
    command.env("RUSTC_BOOTSTRAP", "1").arg("fuzz");
    command
}

/// The fuzz targets, as `cargo fuzz list` names them.
fn list_targets(root: &Path) -> Result<Vec<String>> {
    let output = util::capture(cargo_fuzz(root).arg("list"))?;
    Ok(output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Whether libFuzzer's progress lines (`#1234\tNEW cov: ...`) are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// Show everything libFuzzer prints.
    Show,
    /// Leave out the progress lines (thousands in a CI log); everything else,
    /// crash reports included, is shown.
    Hide,
}

/// Whether a line is one of libFuzzer's progress lines.
fn is_progress_line(line: &str) -> bool {
    line.strip_prefix('#').is_some_and(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with('\t')
    })
}

/// Builds all targets once, then runs each for `secs` seconds and prints a
/// summary table.
fn build_and_run(
    root: &Path,
    targets: &[String],
    secs: u64,
    extra: &[String],
    progress: Progress,
) -> Result<Vec<TargetReport>> {
    // One build for all targets; `cargo fuzz run` below then finds them up to
    // date (it uses the same default build flags).
    let mut build = cargo_fuzz(root);
    build.arg("build");
    if let [single] = targets {
        build.arg(single);
    }
    util::run(&mut build)?;
    let mut reports = Vec::new();
    for target in targets {
        let note = match progress {
            Progress::Show => "",
            Progress::Hide => " (progress lines hidden)",
        };
        println!("\n==> fuzzing `{target}` for {secs} s{note}");
        reports.push(run_target(root, target, secs, extra, progress)?);
    }
    print_summary(&reports);
    Ok(reports)
}

/// Runs one target with its corpus (and read-only seeds, if any).
fn run_target(
    root: &Path,
    target: &str,
    secs: u64,
    extra: &[String],
    progress: Progress,
) -> Result<TargetReport> {
    let fuzz_dir = root.join("fuzz");
    let corpus = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .map_err(|error| format!("cannot create {}: {error}", corpus.display()))?;
    let seeds = fuzz_dir.join("seeds").join(target);

    let mut command = cargo_fuzz(root);
    command.args(["run", target]).arg(&corpus);
    // libFuzzer writes new inputs to the first directory only, so the seeds
    // stay untouched.
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    command.arg("--").arg(format!("-max_total_time={secs}"));
    command.arg("-print_final_stats=1");
    if !extra.iter().any(|arg| arg.starts_with("-timeout=")) {
        command.arg(format!("-timeout={UNIT_TIMEOUT_SECS}"));
    }
    command.args(extra);

    let started = Instant::now();
    let mut stats = FuzzStats::default();
    let status = util::run_tee(&mut command, Stream::Stderr, |line| {
        stats.observe(line);
        progress == Progress::Show || !is_progress_line(line)
    })?;
    Ok(TargetReport {
        target: target.to_owned(),
        exit_ok: status.success(),
        exit: status.to_string(),
        wall_secs: started.elapsed().as_secs_f64(),
        stats,
        corpus,
    })
}

/// What libFuzzer reported about one run.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FuzzStats {
    /// Inputs executed (`Done N runs` or `stat::number_of_executed_units`).
    pub(crate) runs: Option<u64>,
    /// Average executions per second.
    pub(crate) execs_per_sec: Option<u64>,
    /// New corpus entries found.
    pub(crate) new_units: Option<u64>,
    /// Peak resident memory in MB.
    pub(crate) peak_rss_mb: Option<u64>,
    /// Files libFuzzer wrote for failing (or slow) inputs.
    pub(crate) artifacts: Vec<String>,
}

impl FuzzStats {
    /// Takes in one line of libFuzzer's output.
    pub(crate) fn observe(&mut self, line: &str) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Done ") {
            // `Done 1860227 runs in 4 second(s)`
            if let Some(runs) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
                self.runs = Some(runs);
            }
        } else if let Some(rest) = line.strip_prefix("stat::") {
            let Some((key, value)) = rest.split_once(':') else {
                return;
            };
            let Ok(value) = value.trim().parse::<u64>() else {
                return;
            };
            match key.trim() {
                "number_of_executed_units" | "number_of_executed_runs" => self.runs = Some(value),
                "average_exec_per_sec" => self.execs_per_sec = Some(value),
                "new_units_added" => self.new_units = Some(value),
                "peak_rss_mb" => self.peak_rss_mb = Some(value),
                _ => {}
            }
        } else if let Some((_, path)) = line.split_once("Test unit written to ") {
            let path = path.trim().to_owned();
            if !self.artifacts.contains(&path) {
                self.artifacts.push(path);
            }
        }
    }

    /// Artifacts of real failures (crash, leak, timeout, out of memory), not
    /// the slow-unit reports that libFuzzer also writes.
    pub(crate) fn failures(&self) -> impl Iterator<Item = &str> {
        self.artifacts.iter().map(String::as_str).filter(|path| {
            let name = Path::new(path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            !name.starts_with("slow-unit-")
        })
    }
}

/// The outcome of running one fuzz target.
#[derive(Debug)]
struct TargetReport {
    target: String,
    exit_ok: bool,
    exit: String,
    wall_secs: f64,
    stats: FuzzStats,
    corpus: PathBuf,
}

impl TargetReport {
    fn passed(&self) -> bool {
        self.exit_ok && self.stats.failures().next().is_none()
    }
}

fn or_unknown(value: Option<u64>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| v.to_string())
}

fn print_summary(reports: &[TargetReport]) {
    println!("\nFuzzing summary:");
    println!(
        "{:<24} {:>12} {:>10} {:>8} {:>8} {:>8}  result",
        "target", "runs", "exec/s", "new", "crashes", "seconds"
    );
    for report in reports {
        let crashes = report.stats.failures().count();
        let result = if report.passed() {
            "ok".to_owned()
        } else if crashes > 0 {
            "CRASH".to_owned()
        } else {
            format!("FAILED ({})", report.exit)
        };
        println!(
            "{:<24} {:>12} {:>10} {:>8} {:>8} {:>8.1}  {result}",
            report.target,
            or_unknown(report.stats.runs),
            or_unknown(report.stats.execs_per_sec),
            or_unknown(report.stats.new_units),
            crashes,
            report.wall_secs,
        );
    }
    for report in reports {
        for artifact in report.stats.failures() {
            println!(
                "{}: failing input saved at {artifact}\n  reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run {} {artifact}",
                report.target, report.target
            );
        }
        if !report.passed() && report.stats.failures().next().is_none() {
            println!(
                "{}: the fuzzer failed without saving an input ({}); see its output above",
                report.target, report.exit
            );
        }
    }
    if let Some(report) = reports.first() {
        let corpus_root = report.corpus.parent().unwrap_or(&report.corpus);
        println!("Corpora: {}/<target>", corpus_root.display());
    }
    if reports.iter().any(|r| r.stats.runs.is_none()) {
        println!(
            "(`?`: libFuzzer printed no final statistics, e.g. with -jobs/-fork the workers log to fuzz-N.log)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe_all(text: &str) -> FuzzStats {
        let mut stats = FuzzStats::default();
        for line in text.lines() {
            stats.observe(line);
        }
        stats
    }

    #[test]
    fn clean_run() {
        let stats = observe_all(
            "\
INFO: Seed: 3329640739
#2\tINITED cov: 14 ft: 14 corp: 1/1b exec/s: 0 rss: 33Mb
#1860227\tDONE   cov: 14 ft: 14 corp: 1/1b lim: 4096 exec/s: 465056 rss: 179Mb
Done 1860227 runs in 4 second(s)
stat::number_of_executed_units: 1860227
stat::average_exec_per_sec:     465056
stat::new_units_added:          3
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              179
",
        );
        assert_eq!(
            stats,
            FuzzStats {
                runs: Some(1_860_227),
                execs_per_sec: Some(465_056),
                new_units: Some(3),
                peak_rss_mb: Some(179),
                artifacts: Vec::new(),
            }
        );
        assert_eq!(stats.failures().count(), 0);
    }

    #[test]
    fn done_line_alone_gives_runs() {
        let stats = observe_all("Done 42 runs in 1 second(s)\n");
        assert_eq!(stats.runs, Some(42));
    }

    #[test]
    fn crash_run() {
        let stats = observe_all(
            "\
==5352== ERROR: libFuzzer: deadly signal
SUMMARY: libFuzzer: deadly signal
MS: 2 ChangeBit-CrossOver-; base unit: 0
artifact_prefix='/w/fuzz/artifacts/xml_raw/'; Test unit written to /w/fuzz/artifacts/xml_raw/crash-56d2347144b3f3f3
Base64: RlVaIQ==
stat::number_of_executed_units: 44487
stat::average_exec_per_sec:     0
stat::new_units_added:          12
",
        );
        assert_eq!(stats.runs, Some(44_487));
        assert_eq!(
            stats.failures().collect::<Vec<_>>(),
            ["/w/fuzz/artifacts/xml_raw/crash-56d2347144b3f3f3"]
        );
    }

    #[test]
    fn progress_lines() {
        assert!(is_progress_line(
            "#1048576\tpulse  cov: 14 ft: 14 corp: 1/1b exec/s: 524288 rss: 118Mb"
        ));
        assert!(is_progress_line("#2\tINITED cov: 14 ft: 14"));
        assert!(!is_progress_line(
            "    #0 0x55d1 in __sanitizer_print_stack_trace"
        ));
        assert!(!is_progress_line("###### Recommended dictionary. ######"));
        assert!(!is_progress_line("Done 42 runs in 1 second(s)"));
    }

    #[test]
    fn slow_units_are_not_failures() {
        let stats = observe_all(
            "artifact_prefix='a/'; Test unit written to a/slow-unit-0123\n\
             artifact_prefix='a/'; Test unit written to a/timeout-4567\n",
        );
        assert_eq!(stats.artifacts.len(), 2);
        assert_eq!(stats.failures().collect::<Vec<_>>(), ["a/timeout-4567"]);
    }
}
