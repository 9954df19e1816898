//! `cargo xtask ci`: every check, in order, with a summary.
//!
//! To add a check, add a [`Step`] to [`STEPS`]: a name (used by `--skip` and
//! `--only`), a one-line description, the steps it needs to have passed, and
//! the function that runs it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::args::{CiOptions, parse_seconds};
use crate::util::{self, Result, Stream};
use crate::{fuzz, layering, peers};

/// Seconds per fuzz target in the fuzz step unless told otherwise.
pub(crate) const DEFAULT_FUZZ_SECS: u64 = 20;

/// The environment variable that sets the seconds per fuzz target.
pub(crate) const FUZZ_SECS_VAR: &str = "STARLING_FUZZ_SECS";

/// The environment variable that tells the end-to-end suites which
/// `starling` binary to test (`starling_testkit::server::starling_bin`);
/// without it they build one themselves.
pub(crate) const STARLING_BIN_VAR: &str = "STARLING_BIN";

/// One check of the CI run.
pub(crate) struct Step {
    /// Short name, for `--skip`/`--only` and the summary.
    pub(crate) name: &'static str,
    /// What the step does, for `--list`.
    pub(crate) about: &'static str,
    /// Steps that must not have failed for this one to be worth running
    /// (a step that was not selected does not block).
    pub(crate) needs: &'static [&'static str],
    /// Runs the step; an error is a failure.
    pub(crate) run: fn(&mut Ctx) -> Result<()>,
}

/// What the steps share.
pub(crate) struct Ctx {
    /// The workspace root.
    pub(crate) root: PathBuf,
    /// Seconds per fuzz target.
    pub(crate) fuzz_secs: u64,
    /// Test counts summed over every `cargo test` run.
    pub(crate) tests: TestCounts,
    /// Whether the build step passed in this run.
    pub(crate) built: bool,
}

/// The checks, in the order they run.
pub(crate) const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        about: "cargo fmt --check (workspace and fuzz crate)",
        needs: &[],
        run: fmt,
    },
    Step {
        name: "layering",
        about: "crate layering rules (see `cargo xtask layering`)",
        needs: &[],
        run: layering,
    },
    Step {
        name: "peers",
        about: "install the interop tests' XMPP servers (prosody, ejabberd) if missing; fatal only with CI=true",
        needs: &[],
        run: peers,
    },
    Step {
        name: "build",
        about: "cargo build --workspace --all-targets --all-features",
        needs: &[],
        run: build,
    },
    Step {
        name: "clippy",
        about: "cargo clippy --workspace --all-targets --all-features -- -D warnings",
        needs: &["build"],
        run: clippy,
    },
    Step {
        name: "test",
        about: "cargo test --workspace --all-features --all-targets (unit, integration, property tests, benches in test mode; STARLING_BIN is the build step's target/debug/starling)",
        needs: &["build"],
        run: test,
    },
    Step {
        name: "doctest",
        about: "cargo test --workspace --all-features --doc",
        needs: &["build"],
        run: doctest,
    },
    Step {
        name: "doc",
        about: "cargo doc --workspace --no-deps --all-features with RUSTDOCFLAGS=-D warnings",
        needs: &["build"],
        run: doc,
    },
    Step {
        name: "fuzz",
        about: "build every fuzz target, run each for STARLING_FUZZ_SECS (default 20) seconds",
        needs: &["build"],
        run: fuzz,
    },
];

fn fmt(ctx: &mut Ctx) -> Result<()> {
    let mut unformatted = Vec::new();
    if util::run(util::cargo(&ctx.root).args(["fmt", "--all", "--", "--check"])).is_err() {
        unformatted.push("the workspace (run `cargo fmt --all`)");
    }
    let fuzz_manifest = ctx.root.join("fuzz").join("Cargo.toml");
    if fuzz_manifest.is_file() {
        let checked = util::run(
            util::cargo(&ctx.root)
                // Without `--all`, which would check the path dependencies
                // (the workspace crates) a second time.
                .args(["fmt", "--manifest-path"])
                .arg(&fuzz_manifest)
                .args(["--", "--check"]),
        );
        if checked.is_err() {
            unformatted.push("the fuzz crate (run `cargo fmt --manifest-path fuzz/Cargo.toml`)");
        }
    }
    if unformatted.is_empty() {
        Ok(())
    } else {
        bail!("not formatted: {}", unformatted.join("; "))
    }
}

fn layering(ctx: &mut Ctx) -> Result<()> {
    match layering::check(&ctx.root)? {
        0 => Ok(()),
        n => bail!("{n} layering violation(s)"),
    }
}

fn peers(_ctx: &mut Ctx) -> Result<()> {
    peers::ci_step()
}

fn build(ctx: &mut Ctx) -> Result<()> {
    // Same features as the later steps, so that `cargo test` reuses this
    // build instead of compiling everything again. It also makes the
    // `starling` binary that the test step hands to the end-to-end suites.
    util::run(util::cargo(&ctx.root).args([
        "build",
        "--workspace",
        "--all-targets",
        "--all-features",
    ]))?;
    ctx.built = true;
    Ok(())
}

fn clippy(ctx: &mut Ctx) -> Result<()> {
    util::run(util::cargo(&ctx.root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))
}

/// Runs `cargo test` with `args` and the environment `env`, passing its
/// output through and adding its counts to the totals.
fn cargo_test(ctx: &mut Ctx, args: &[&str], env: &[(&str, OsString)]) -> Result<()> {
    let mut command = util::cargo(&ctx.root);
    command.arg("test").args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut counts = TestCounts::default();
    let status = util::run_tee(&mut command, Stream::Stdout, |line| {
        counts.add_line(line);
        true
    })?;
    ctx.tests.add(counts);
    util::check_status(&command, status)
}

fn test(ctx: &mut Ctx) -> Result<()> {
    let env: Vec<(&str, OsString)> = binary_under_test(ctx)
        .map(|bin| (STARLING_BIN_VAR, bin.into_os_string()))
        .into_iter()
        .collect();
    cargo_test(
        ctx,
        &[
            "--workspace",
            "--all-features",
            "--all-targets",
            "--no-fail-fast",
        ],
        &env,
    )
}

/// The `starling` binary for the end-to-end suites: the one the build step
/// of this run made (with the same features as every other step), so that
/// the suites never compile the server a second time. `None` when
/// `STARLING_BIN` is set already (it is passed on as it is) or the build
/// step did not run.
fn binary_under_test(ctx: &Ctx) -> Option<PathBuf> {
    if std::env::var_os(STARLING_BIN_VAR).is_some_and(|v| !v.is_empty()) || !ctx.built {
        return None;
    }
    let bin = built_binary(&ctx.root, "starling");
    bin.is_file().then_some(bin)
}

/// Where `cargo build` (debug profile) puts the binary `name`.
fn built_binary(root: &Path, name: &str) -> PathBuf {
    // A relative CARGO_TARGET_DIR is relative to the workspace root, where
    // every cargo command of this tool runs.
    root.join(crate::load::target_dir(root))
        .join("debug")
        .join(name)
}

fn doctest(ctx: &mut Ctx) -> Result<()> {
    cargo_test(
        ctx,
        &["--workspace", "--all-features", "--doc", "--no-fail-fast"],
        &[],
    )
}

fn doc(ctx: &mut Ctx) -> Result<()> {
    let flags = match std::env::var("RUSTDOCFLAGS") {
        Ok(existing) if !existing.trim().is_empty() => format!("{existing} -D warnings"),
        _ => "-D warnings".to_owned(),
    };
    util::run(util::cargo(&ctx.root).env("RUSTDOCFLAGS", flags).args([
        "doc",
        "--workspace",
        "--no-deps",
        "--all-features",
    ]))
}

fn fuzz(ctx: &mut Ctx) -> Result<()> {
    fuzz::smoke(&ctx.root, ctx.fuzz_secs)
}

/// Test counts from libtest's `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TestCounts {
    /// Tests that passed.
    pub(crate) passed: u64,
    /// Tests that failed.
    pub(crate) failed: u64,
    /// Tests that were ignored.
    pub(crate) ignored: u64,
}

impl TestCounts {
    /// Adds the counts of a line like
    /// `test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; ...`;
    /// other lines are ignored.
    pub(crate) fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return;
        };
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            let (Some(number), Some(word)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match word {
                "passed" => self.passed += number,
                "failed" => self.failed += number,
                "ignored" => self.ignored += number,
                _ => {}
            }
        }
    }

    fn add(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

/// Decides which steps run: all of them, or those in `only`, less those in
/// `skip`. Unknown names are an error.
pub(crate) fn select(steps: &[Step], only: &[String], skip: &[String]) -> Result<Vec<bool>> {
    for name in only.iter().chain(skip) {
        if !steps.iter().any(|step| step.name == name) {
            bail!(
                "unknown step `{name}`; the steps are: {}",
                steps.iter().map(|s| s.name).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(steps
        .iter()
        .map(|step| {
            (only.is_empty() || only.iter().any(|n| n == step.name))
                && !skip.iter().any(|n| n == step.name)
        })
        .collect())
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// It passed, in this many seconds.
    Passed(f64),
    /// It failed, in this many seconds, with this message.
    Failed(f64, String),
    /// Left out by `--skip`/`--only`.
    NotSelected,
    /// Not run because this needed step failed.
    Blocked(&'static str),
}

/// Which step (if any) that `step` needs has failed or was blocked.
fn blocking_step(step: &Step, done: &[(&'static str, Outcome)]) -> Option<&'static str> {
    step.needs.iter().copied().find(|need| {
        done.iter().any(|(name, outcome)| {
            name == need && matches!(outcome, Outcome::Failed(..) | Outcome::Blocked(_))
        })
    })
}

/// `cargo xtask ci`.
pub(crate) fn run(options: &CiOptions) -> Result<bool> {
    if options.list {
        for step in STEPS {
            println!("{:<10} {}", step.name, step.about);
        }
        return Ok(true);
    }
    let selected = select(STEPS, &options.only, &options.skip)?;
    let fuzz_secs = match options.fuzz_secs {
        Some(secs) => secs,
        None => match std::env::var(FUZZ_SECS_VAR) {
            Ok(value) if !value.trim().is_empty() => parse_seconds(FUZZ_SECS_VAR, &value)?,
            _ => DEFAULT_FUZZ_SECS,
        },
    };
    let mut ctx = Ctx {
        root: util::workspace_root(),
        fuzz_secs,
        tests: TestCounts::default(),
        built: false,
    };
    print_toolchain(&ctx);

    let started = Instant::now();
    let mut done: Vec<(&'static str, Outcome)> = Vec::new();
    let count = selected.iter().filter(|&&s| s).count();
    let mut index = 0;
    for (step, &selected) in STEPS.iter().zip(&selected) {
        let outcome = if !selected {
            Outcome::NotSelected
        } else if let Some(need) = blocking_step(step, &done) {
            index += 1;
            println!(
                "\n==> [{index}/{count}] {}: skipped, `{need}` failed",
                step.name
            );
            Outcome::Blocked(need)
        } else {
            index += 1;
            println!("\n==> [{index}/{count}] {}: {}", step.name, step.about);
            let step_started = Instant::now();
            let result = (step.run)(&mut ctx);
            let secs = step_started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    println!("==> {}: PASS ({secs:.1} s)", step.name);
                    Outcome::Passed(secs)
                }
                Err(error) => {
                    println!("==> {}: FAIL ({secs:.1} s): {error}", step.name);
                    Outcome::Failed(secs, error.to_string())
                }
            }
        };
        done.push((step.name, outcome));
    }

    print!(
        "{}",
        summary(&done, ctx.tests, started.elapsed().as_secs_f64())
    );
    Ok(!done
        .iter()
        .any(|(_, outcome)| matches!(outcome, Outcome::Failed(..) | Outcome::Blocked(_))))
}

/// Prints the toolchain versions at the top of the log.
fn print_toolchain(ctx: &Ctx) {
    for tool in ["cargo", "rustc"] {
        let mut command = if tool == "cargo" {
            util::cargo(&ctx.root)
        } else {
            std::process::Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        };
        if let Ok(output) = command.arg("--version").output() {
            print!("{}", String::from_utf8_lossy(&output.stdout));
        }
    }
}

/// The summary table and the closing lines.
pub(crate) fn summary(
    done: &[(&'static str, Outcome)],
    tests: TestCounts,
    total_secs: f64,
) -> String {
    let mut out = String::from("\nCI summary\n\n");
    out.push_str(&format!(
        "{:<12} {:<6} {:>9}\n",
        "step", "result", "seconds"
    ));
    out.push_str(&format!("{:-<12} {:-<6} {:->9}\n", "", "", ""));
    let (mut passed, mut not_selected) = (0, 0);
    let (mut failed, mut blocked) = (Vec::new(), Vec::new());
    for (name, outcome) in done {
        let (result, secs, note) = match outcome {
            Outcome::Passed(secs) => {
                passed += 1;
                ("PASS", format!("{secs:.1}"), String::new())
            }
            Outcome::Failed(secs, message) => {
                failed.push(*name);
                ("FAIL", format!("{secs:.1}"), format!("  {message}"))
            }
            Outcome::NotSelected => {
                not_selected += 1;
                ("skip", "-".to_owned(), "  (not selected)".to_owned())
            }
            Outcome::Blocked(need) => {
                blocked.push(*name);
                ("SKIP", "-".to_owned(), format!("  (`{need}` failed)"))
            }
        };
        out.push_str(&format!("{name:<12} {result:<6} {secs:>9}{note}\n"));
    }
    out.push_str(&format!("{:<12} {:<6} {total_secs:>9.1}\n\n", "total", ""));
    out.push_str(&format!(
        "tests: {} passed, {} failed, {} skipped\n",
        tests.passed, tests.failed, tests.ignored
    ));
    if failed.is_empty() && blocked.is_empty() {
        out.push_str(&format!(
            "ci: PASS ({passed} steps passed, {not_selected} not selected)\n"
        ));
    } else {
        let mut parts = vec![format!("failed: {}", failed.join(", "))];
        if !blocked.is_empty() {
            parts.push(format!("not run after a failure: {}", blocked.join(", ")));
        }
        out.push_str(&format!("ci: FAIL ({})\n", parts.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn step_names_are_unique_and_needs_come_first() {
        for (i, step) in STEPS.iter().enumerate() {
            assert!(
                STEPS[..i].iter().all(|s| s.name != step.name),
                "duplicate step {}",
                step.name
            );
            for need in step.needs {
                assert!(
                    STEPS[..i].iter().any(|s| s.name == *need),
                    "{} needs {need}, which must come before it",
                    step.name
                );
            }
        }
    }

    #[test]
    fn selection() {
        let all = select(STEPS, &[], &[]).unwrap();
        assert!(all.iter().all(|&s| s));

        let skipped = select(STEPS, &[], &names(&["fuzz", "doc"])).unwrap();
        let chosen: Vec<&str> = STEPS
            .iter()
            .zip(&skipped)
            .filter(|(_, s)| **s)
            .map(|(step, _)| step.name)
            .collect();
        assert_eq!(
            chosen,
            [
                "fmt", "layering", "peers", "build", "clippy", "test", "doctest"
            ]
        );

        let only = select(STEPS, &names(&["test", "fmt"]), &[]).unwrap();
        let chosen: Vec<&str> = STEPS
            .iter()
            .zip(&only)
            .filter(|(_, s)| **s)
            .map(|(step, _)| step.name)
            .collect();
        assert_eq!(chosen, ["fmt", "test"]);

        let error = select(STEPS, &names(&["tests"]), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown step `tests`"), "{error}");
    }

    #[test]
    fn failed_build_blocks_dependent_steps() {
        let test_step = STEPS.iter().find(|s| s.name == "test").unwrap();
        let failed = vec![("build", Outcome::Failed(1.0, "boom".into()))];
        assert_eq!(blocking_step(test_step, &failed), Some("build"));
        let passed = vec![("build", Outcome::Passed(1.0))];
        assert_eq!(blocking_step(test_step, &passed), None);
        let not_run = vec![("build", Outcome::NotSelected)];
        assert_eq!(blocking_step(test_step, &not_run), None);
    }

    #[test]
    fn the_built_binary_is_in_the_debug_profile() {
        let bin = built_binary(Path::new("/w"), "starling");
        assert!(bin.ends_with("debug/starling"), "{}", bin.display());
        assert!(bin.starts_with("/"), "{}", bin.display());
    }

    #[test]
    fn the_test_step_hands_over_the_binary_only_after_a_build() {
        let ctx = Ctx {
            root: PathBuf::from("/nonexistent-workspace"),
            fuzz_secs: 0,
            tests: TestCounts::default(),
            built: false,
        };
        assert_eq!(binary_under_test(&ctx), None);
        // Built, but no binary where it should be.
        let ctx = Ctx { built: true, ..ctx };
        assert_eq!(binary_under_test(&ctx), None);
    }

    #[test]
    fn counts_libtest_results() {
        let mut counts = TestCounts::default();
        for line in [
            "running 3 tests",
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "test result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1.50s",
            "test parse::works ... ok",
        ] {
            counts.add_line(line);
        }
        assert_eq!(
            counts,
            TestCounts {
                passed: 13,
                failed: 2,
                ignored: 1
            }
        );
    }

    #[test]
    fn summary_lists_every_step_and_ends_with_the_verdict() {
        let done = vec![
            ("fmt", Outcome::Passed(0.4)),
            (
                "build",
                Outcome::Failed(12.31, "`cargo build` failed".into()),
            ),
            ("test", Outcome::Blocked("build")),
            ("fuzz", Outcome::NotSelected),
        ];
        let text = summary(&done, TestCounts::default(), 13.0);
        assert!(text.contains("fmt          PASS         0.4\n"), "{text}");
        assert!(
            text.contains("build        FAIL        12.3  `cargo build` failed\n"),
            "{text}"
        );
        assert!(
            text.contains("test         SKIP           -  (`build` failed)\n"),
            "{text}"
        );
        assert!(
            text.contains("fuzz         skip           -  (not selected)\n"),
            "{text}"
        );
        assert!(
            text.contains("\ntests: 0 passed, 0 failed, 0 skipped\n"),
            "{text}"
        );
        assert!(
            text.ends_with("ci: FAIL (failed: build; not run after a failure: test)\n"),
            "{text}"
        );

        let text = summary(&[("fmt", Outcome::Passed(1.0))], TestCounts::default(), 1.0);
        assert!(
            text.ends_with("ci: PASS (1 steps passed, 0 not selected)\n"),
            "{text}"
        );
    }
}
