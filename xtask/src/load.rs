//! `cargo xtask load`: the same load scenario against Starling and Prosody,
//! one after the other, with a comparison table at the end.
//!
//! For each server: start it with N accounts (idle RSS measured), log the N
//! users in at R logins/s over STARTTLS with SCRAM-SHA-1 and send initial
//! presence (login latency, RSS with N sessions), then either
//!
//! * the message phase: every user sends a chat message to a random online
//!   user every T seconds for D seconds (delivered messages/s, delivery
//!   latency, server CPU time), or
//! * with `--saturation`, a ramp of offered total message rates, each for a
//!   few seconds (the first second of each step is not measured), until two
//!   steps in a row fail: the saturation rate is the highest step that
//!   delivered ≥ 95 % of the offered rate with a p99 under the bound.
//!
//! The generator runs in this process (built in release: a debug build
//! re-runs itself from `target/release/xtask`), on the same machine as the
//! server: the report shows its CPU time next to the server's.

pub(crate) mod generator;
pub(crate) mod health;
pub(crate) mod mix;
pub(crate) mod procstat;
pub(crate) mod servers;
pub(crate) mod stats;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::args::LoadOptions;
use crate::util::{self, Result};
use generator::{Phase, Shared, Target};
use health::Health;
use servers::Server;

/// A saturation step passes when at least this share of the offered rate is
/// delivered (and the p99 is under the bound).
const DELIVERED_SHARE: f64 = 0.95;

/// After the senders stop, messages in flight are waited for until this
/// long passes without one arriving (or [`DRAIN_LIMIT`]).
const DRAIN_QUIET: Duration = Duration::from_secs(3);

/// The longest wait for messages in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Time for the server to settle before a memory reading.
const SETTLE: Duration = Duration::from_secs(2);

/// The Cargo target directory.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs `cargo xtask load`.
pub(crate) fn run(options: &LoadOptions) -> Result<bool> {
    let root = util::workspace_root();
    if build_release(&root, options.no_build, &options.servers)? {
        return Ok(true);
    }
    check_open_files(options.users);
    let accounts = servers::accounts(options.users);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let extras = if options.sm {
        servers::Extras::Mobile
    } else {
        servers::Extras::None
    };
    let (results, all) = health::measure_each(
        &options.servers,
        |name| {
            println!("\n== {name}: {} users ==", options.users);
            Server::start(name, &accounts, &root, options.baseline.as_deref(), extras)
        },
        |server| runtime.block_on(measure(server, &accounts, options)),
        |m| &mut m.health,
    );
    println!();
    print!("{}", report(options, &results));
    Ok(all && results.iter().all(|m| !m.health.crashed))
}

/// Builds this tool (and Starling when `servers` has it) in release
/// unless `no_build`; then, in a debug build, runs the release build with
/// the same arguments and returns `true` (its run is the command's run).
pub(crate) fn build_release(root: &Path, no_build: bool, servers: &[String]) -> Result<bool> {
    if !no_build {
        let mut build = util::cargo(root);
        build.args(["build", "--release", "-p", "xtask"]);
        if servers.iter().any(|s| s == "starling") {
            build.args(["-p", "starling-server", "--features", "starling-server/cli"]);
        }
        util::run(&mut build)?;
    }
    if cfg!(debug_assertions) {
        // A debug build of the generator would measure itself: run the
        // release build with the same arguments.
        let release = target_dir(root).join("release").join("xtask");
        let mut command = Command::new(&release);
        command
            .args(std::env::args_os().skip(1))
            .arg("--no-build")
            .current_dir(root)
            .env("CARGO_MANIFEST_DIR", root.join("xtask"));
        util::run(&mut command)?;
        return Ok(true);
    }
    Ok(false)
}

/// Warns when the open-files limit is too low for the users (the servers
/// inherit it).
pub(crate) fn check_open_files(users: usize) {
    match procstat::open_files_limit() {
        Some(limit) if limit < users as u64 + 200 => println!(
            "warning: the open-files limit is {limit}, too low for {users} connections \
             (raise it with `ulimit -n` or `prlimit`)"
        ),
        Some(limit) => println!("open-files limit: {limit} (this process and the servers)"),
        None => {}
    }
}

/// The results of one measurement window (the message phase, or one
/// saturation step).
#[derive(Debug, Clone, Default)]
struct Step {
    /// The total message rate asked for.
    offered: f64,
    /// The rate the generator sent at.
    sent: f64,
    /// The rate messages arrived at.
    delivered: f64,
    /// Delivery latency.
    p50: Option<Duration>,
    p99: Option<Duration>,
    /// Server CPU seconds in the window.
    server_cpu: f64,
    /// Generator CPU seconds in the window.
    generator_cpu: f64,
    /// CPU seconds other processes of the machine used in the window.
    other_cpu: f64,
    /// Length of the window.
    seconds: f64,
    /// Whether it passed (saturation steps).
    passed: bool,
}

/// Everything measured on one server.
#[derive(Debug, Default)]
struct Measurement {
    name: String,
    logged_in: usize,
    login_failed: usize,
    login_seconds: f64,
    login_p50: Option<Duration>,
    login_p99: Option<Duration>,
    login_cpu: f64,
    rss_idle: u64,
    rss_sessions: u64,
    rss_after: u64,
    rss_peak: u64,
    steps: Vec<Step>,
    sent: u64,
    received: u64,
    error_replies: u64,
    disconnects: u64,
    health: Health,
}

impl Measurement {
    /// Server memory per session, in KiB.
    fn rss_per_connection(&self) -> Option<f64> {
        (self.logged_in > 0)
            .then(|| (self.rss_sessions as f64 - self.rss_idle as f64) / self.logged_in as f64)
    }

    /// The highest passing saturation step.
    fn saturation(&self) -> Option<&Step> {
        self.steps
            .iter()
            .filter(|s| s.passed)
            .max_by(|a, b| a.offered.total_cmp(&b.offered))
    }
}

/// Sleeps without blocking the generator.
async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Runs the scenario against a started server.
async fn measure(
    server: &Server,
    accounts: &[servers::Account],
    options: &LoadOptions,
) -> Result<Measurement> {
    let pid = server.pid;
    let me = std::process::id();
    let cpu = |pid| procstat::cpu_seconds(pid).unwrap_or(0.0);
    let windows = if options.saturation {
        options.steps.len()
    } else {
        1
    };
    let mix = mix::Mix {
        sm: options.sm,
        ..mix::Mix::default()
    };
    let shared = Arc::new(Shared::with_mix(servers::DOMAIN, accounts, windows, mix)?);
    let target = Target::new(&server.address, &server.ca_file)?;
    let mut m = Measurement {
        name: server.name.to_owned(),
        ..Measurement::default()
    };

    pause(SETTLE).await;
    m.rss_idle = procstat::rss_kib(pid).unwrap_or(0);
    let sampler = procstat::Sampler::start(pid);

    // Logins.
    let (phase, _) = watch::channel(Phase::Idle);
    let login_start = Instant::now();
    let cpu_before = cpu(pid);
    let mut tasks =
        generator::start_users(&shared, accounts, &target, options.login_rate, &phase).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done =
            shared.logged_in.load(Ordering::Relaxed) + shared.login_failed.load(Ordering::Relaxed);
        if done >= accounts.len() {
            break;
        }
        if Instant::now() >= deadline {
            m.health.notes.push(format!(
                "only {done} of {} logins had finished 120 s after the last one started",
                accounts.len()
            ));
            break;
        }
        pause(Duration::from_millis(20)).await;
    }
    m.login_seconds = login_start.elapsed().as_secs_f64();
    m.login_cpu = cpu(pid) - cpu_before;
    m.logged_in = shared.logged_in.load(Ordering::Relaxed);
    m.login_failed = shared.login_failed.load(Ordering::Relaxed);
    m.login_p50 = shared.logins.quantile(0.5);
    m.login_p99 = shared.logins.quantile(0.99);
    println!(
        "{}: {} logged in, {} failed in {:.1} s; login p99 {} ms",
        server.name,
        m.logged_in,
        m.login_failed,
        m.login_seconds,
        millis(m.login_p99)
    );
    pause(SETTLE).await;
    m.rss_sessions = procstat::rss_kib(pid).unwrap_or(0);

    if m.logged_in > 1 {
        let users = m.logged_in as f64;
        if options.saturation {
            let mut failures = 0;
            for (index, &rate) in options.steps.iter().enumerate() {
                let every = Duration::from_secs_f64(users / rate as f64);
                let warm_up = Duration::from_secs(1).min(options.step_duration / 4);
                let mut step = window(
                    &shared,
                    index,
                    &phase,
                    every,
                    warm_up,
                    options.step_duration - warm_up,
                    (pid, me),
                )
                .await;
                step.offered = rate as f64;
                step.passed = step.delivered >= DELIVERED_SHARE * step.offered
                    && step.p99.is_some_and(|p99| p99 <= options.max_p99);
                println!(
                    "{}: offered {rate} msg/s: sent {:.0}, delivered {:.0} msg/s, p99 {} ms, \
                     CPU (cores): server {:.2}, generator {:.2}, other processes {:.2}: {}",
                    server.name,
                    step.sent,
                    step.delivered,
                    millis(step.p99),
                    step.server_cpu / step.seconds,
                    step.generator_cpu / step.seconds,
                    step.other_cpu / step.seconds,
                    if step.passed { "pass" } else { "FAIL" }
                );
                failures = if step.passed { 0 } else { failures + 1 };
                m.steps.push(step);
                if failures == 2 || !server.is_running() {
                    break;
                }
                if failures > 0 {
                    // Let the backlog drain before the next step.
                    phase.send_replace(Phase::Idle);
                    drain(&shared).await;
                }
            }
        } else {
            let mut step = window(
                &shared,
                0,
                &phase,
                options.interval,
                Duration::ZERO,
                options.duration,
                (pid, me),
            )
            .await;
            step.offered = users / options.interval.as_secs_f64();
            m.steps.push(step);
        }
    }
    phase.send_replace(Phase::Idle);
    drain(&shared).await;
    m.sent = shared.sent.load(Ordering::Relaxed);
    m.received = shared.received.load(Ordering::Relaxed);
    m.error_replies = shared.error_replies.load(Ordering::Relaxed);
    m.disconnects = shared.disconnects.load(Ordering::Relaxed);

    // Log everybody out.
    phase.send_replace(Phase::Quit);
    let quit_deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !tasks.is_empty() {
        match tokio::time::timeout_at(quit_deadline, tasks.join_next()).await {
            Ok(_) => {}
            Err(_) => {
                m.health
                    .notes
                    .push(format!("{} user tasks did not end; aborted", tasks.len()));
                tasks.abort_all();
                break;
            }
        }
    }
    pause(SETTLE).await;
    m.rss_after = procstat::rss_kib(pid).unwrap_or(0);
    m.rss_peak = sampler
        .finish()
        .max(procstat::peak_rss_kib(pid).unwrap_or(0));
    m.health.crashed = !server.is_running();
    if let Ok(problems) = shared.problems.lock() {
        m.health.problems = problems.iter().map(|(k, v)| (k.clone(), *v)).collect();
    }
    Ok(m)
}

/// Waits until every message sent has arrived, or none has for
/// [`DRAIN_QUIET`], or [`DRAIN_LIMIT`] has passed.
pub(crate) async fn drain(shared: &Shared) {
    let started = Instant::now();
    let mut last = shared.received.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    // Let the senders see the phase change.
    pause(Duration::from_millis(100)).await;
    while started.elapsed() < DRAIN_LIMIT && quiet_since.elapsed() < DRAIN_QUIET {
        let received = shared.received.load(Ordering::Relaxed);
        if received >= shared.sent.load(Ordering::Relaxed) {
            break;
        }
        if received != last {
            last = received;
            quiet_since = Instant::now();
        }
        pause(Duration::from_millis(100)).await;
    }
}

/// Sends at one message per user per `every`; after `warm_up`, measures
/// for `length` in window `index`. `pids` are the server's and ours.
async fn window(
    shared: &Shared,
    index: usize,
    phase: &watch::Sender<Phase>,
    every: Duration,
    warm_up: Duration,
    length: Duration,
    (server, me): (u32, u32),
) -> Step {
    let cpu = |pid| procstat::cpu_seconds(pid).unwrap_or(0.0);
    phase.send_replace(Phase::Send(every));
    pause(warm_up).await;
    let started = Instant::now();
    let (server_before, me_before) = (cpu(server), cpu(me));
    let machine_before = procstat::machine_busy_seconds().unwrap_or(0.0);
    shared.open_window(index);
    pause(length).await;
    shared.close_window();
    let seconds = started.elapsed().as_secs_f64();
    let counters = &shared.windows[index];
    let server_cpu = cpu(server) - server_before;
    let generator_cpu = cpu(me) - me_before;
    let machine = procstat::machine_busy_seconds().unwrap_or(0.0) - machine_before;
    Step {
        sent: counters.sent.load(Ordering::Relaxed) as f64 / seconds,
        delivered: counters.received.load(Ordering::Relaxed) as f64 / seconds,
        p50: counters.latency.quantile(0.5),
        p99: counters.latency.quantile(0.99),
        server_cpu,
        generator_cpu,
        other_cpu: (machine - server_cpu - generator_cpu).max(0.0),
        seconds,
        ..Step::default()
    }
}

/// A duration in milliseconds with three significant digits, or `-`.
fn millis(duration: Option<Duration>) -> String {
    duration.map_or_else(
        || "-".to_owned(),
        |d| util::three_digits(d.as_secs_f64() * 1e3),
    )
}

/// The comparison tables (markdown) and the targets.
fn report(options: &LoadOptions, results: &[Measurement]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", describe_run(options));
    let starling = results.iter().find(|m| m.name == "starling");
    // The ratios shown: Starling against each other server measured.
    let others: Vec<&Measurement> = ["baseline", "prosody"]
        .iter()
        .filter_map(|n| results.iter().find(|m| m.name == *n))
        .filter(|_| starling.is_some())
        .collect();

    // One row: label, one value per server, the ratios to Starling.
    let mut rows: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    let mut row = |label: &str, value: &dyn Fn(&Measurement) -> Option<f64>, digits: bool| {
        let text = |v: Option<f64>| match v {
            Some(v) if digits => util::three_digits(v),
            Some(v) => format!("{v:.0}"),
            None => "-".to_owned(),
        };
        let values = results.iter().map(|m| text(value(m))).collect();
        let ratios = others
            .iter()
            .map(|o| match (starling.and_then(value), value(o)) {
                (Some(s), Some(p)) if p.abs() > f64::EPSILON => format!("{:.2}", s / p),
                _ => "-".to_owned(),
            })
            .collect();
        rows.push((label.to_owned(), values, ratios));
    };
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let as_mib = |kib: u64| Some(kib as f64 / 1024.0);
    row("users logged in", &|m| Some(m.logged_in as f64), false);
    row("login failures", &|m| Some(m.login_failed as f64), false);
    row("login latency median (ms)", &|m| ms(m.login_p50), true);
    row("login latency p99 (ms)", &|m| ms(m.login_p99), true);
    row("server CPU, login phase (s)", &|m| Some(m.login_cpu), true);
    if !options.saturation {
        let step = |m: &Measurement| m.steps.first().cloned();
        row("offered msg/s", &|m| step(m).map(|s| s.offered), false);
        row("sent msg/s", &|m| step(m).map(|s| s.sent), false);
        row("delivered msg/s", &|m| step(m).map(|s| s.delivered), false);
        row(
            "delivery latency median (ms)",
            &|m| step(m).and_then(|s| ms(s.p50)),
            true,
        );
        row(
            "delivery latency p99 (ms)",
            &|m| step(m).and_then(|s| ms(s.p99)),
            true,
        );
        row(
            "server CPU, message phase (s)",
            &|m| step(m).map(|s| s.server_cpu),
            true,
        );
        row(
            "server CPU per 1000 messages (ms)",
            &|m| {
                step(m)
                    .filter(|s| s.delivered > 0.0)
                    .map(|s| s.server_cpu * 1e6 / (s.delivered * s.seconds))
            },
            true,
        );
        row(
            "generator CPU, message phase (s)",
            &|m| step(m).map(|s| s.generator_cpu),
            true,
        );
        row(
            "other processes' CPU, message phase (s)",
            &|m| step(m).map(|s| s.other_cpu),
            true,
        );
    }
    row(
        "messages not delivered (sent − received)",
        &|m| Some(m.sent.saturating_sub(m.received) as f64),
        false,
    );
    row("error replies", &|m| Some(m.error_replies as f64), false);
    row(
        "sessions dropped by the server",
        &|m| Some(m.disconnects as f64),
        false,
    );
    row("server RSS idle (MiB)", &|m| as_mib(m.rss_idle), true);
    row(
        &format!("server RSS with {} sessions (MiB)", options.users),
        &|m| as_mib(m.rss_sessions),
        true,
    );
    row(
        "server RSS per connection (KiB)",
        &Measurement::rss_per_connection,
        true,
    );
    row("server peak RSS (MiB)", &|m| as_mib(m.rss_peak), true);
    if options.sm {
        // The users dropped their connections without closing their
        // streams: every session is detached, waiting for resumption.
        row(
            &format!("server RSS with {} detached sessions (MiB)", options.users),
            &|m| as_mib(m.rss_after),
            true,
        );
        row(
            "server RSS per detached session (KiB, above idle)",
            &|m| {
                let n = m.logged_in.max(1) as f64;
                Some((m.rss_after.saturating_sub(m.rss_idle)) as f64 / n)
            },
            true,
        );
    } else {
        row(
            "server RSS after logout (MiB)",
            &|m| as_mib(m.rss_after),
            true,
        );
    }

    let names: Vec<&str> = results.iter().map(|m| m.name.as_str()).collect();
    let _ = write!(out, "| metric | {} |", names.join(" | "));
    for o in &others {
        let _ = write!(out, " starling/{} |", o.name);
    }
    let _ = writeln!(out);
    let _ = write!(out, "| --- |{}", " ---: |".repeat(names.len()));
    let _ = writeln!(out, "{}", " ---: |".repeat(others.len()));
    for (label, values, ratios) in rows {
        let _ = write!(out, "| {label} | {} |", values.join(" | "));
        for r in ratios {
            let _ = write!(out, " {r} |");
        }
        let _ = writeln!(out);
    }

    if options.saturation {
        let _ = writeln!(
            out,
            "\nSaturation ramp (delivered msg/s, p99 ms, CPU in cores used by the server / the generator / other processes; ✓ = ≥ 95 % delivered and p99 ≤ {} ms):\n",
            millis(Some(options.max_p99))
        );
        let _ = write!(out, "| offered msg/s |");
        for name in &names {
            let _ = write!(out, " {name} delivered | p99 | CPU srv/gen/other | |");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| ---: |{}",
            " ---: | ---: | ---: | :-: |".repeat(names.len())
        );
        for (index, rate) in options.steps.iter().enumerate() {
            if results.iter().all(|m| m.steps.len() <= index) {
                break;
            }
            let _ = write!(out, "| {rate} |");
            for m in results {
                match m.steps.get(index) {
                    Some(s) => {
                        let _ = write!(
                            out,
                            " {:.0} | {} | {:.2} / {:.2} / {:.2} | {} |",
                            s.delivered,
                            millis(s.p99),
                            s.server_cpu / s.seconds,
                            s.generator_cpu / s.seconds,
                            s.other_cpu / s.seconds,
                            if s.passed { "✓" } else { "✗" }
                        );
                    }
                    None => {
                        let _ = write!(out, " - | - | - | |");
                    }
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out);
        for m in results {
            match m.saturation() {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "{}: saturation rate {:.0} msg/s (p99 {} ms at that step)",
                        m.name,
                        s.offered,
                        millis(s.p99)
                    );
                }
                None => {
                    let _ = writeln!(out, "{}: no step passed", m.name);
                }
            }
        }
    }
    let prosody = results.iter().find(|m| m.name == "prosody");
    let _ = write!(out, "{}", targets(options, starling, prosody));
    out
}

/// The targets, met or missed.
fn targets(
    options: &LoadOptions,
    starling: Option<&Measurement>,
    prosody: Option<&Measurement>,
) -> String {
    let (Some(s), Some(p)) = (starling, prosody) else {
        return String::new();
    };
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut out = String::from("\nTargets:\n");
    if options.saturation {
        if let (Some(ss), Some(ps)) = (s.saturation(), p.saturation()) {
            let ratio = ss.offered / ps.offered;
            let _ = writeln!(
                out,
                "- saturation ≥ 3× Prosody's: {ratio:.2}× ({})",
                verdict(ratio >= 3.0)
            );
            let _ = writeln!(
                out,
                "- p99 at saturation no worse than Prosody's: {} ms vs {} ms ({})",
                millis(ss.p99),
                millis(ps.p99),
                verdict(ss.p99 <= ps.p99)
            );
        } else {
            let _ = writeln!(
                out,
                "- saturation: not comparable (a server passed no step)"
            );
        }
    } else {
        if let Some(step) = s.steps.first() {
            let ok = step.p99.is_some_and(|p99| p99 <= Duration::from_millis(5));
            let _ = writeln!(
                out,
                "- p99 delivery ≤ 5 ms (the issue sets it at 5,000 users; this run: {}): {} ms ({})",
                options.users,
                millis(step.p99),
                verdict(ok)
            );
        }
        if let (Some(sm), Some(pm)) = (s.rss_per_connection(), p.rss_per_connection()) {
            let _ = writeln!(
                out,
                "- memory per connection ≤ 1/3 of Prosody's: {} KiB vs {} KiB = {:.2} ({})",
                util::three_digits(sm),
                util::three_digits(pm),
                sm / pm,
                verdict(sm * 3.0 <= pm)
            );
        }
    }
    out
}

/// The command, the date and the machine, for the report.
fn describe_run(options: &LoadOptions) -> String {
    let mut text = run_header();
    let _ = write!(
        text,
        "{} users, {} logins/s, STARTTLS + SCRAM-SHA-1; ",
        options.users, options.login_rate
    );
    if options.saturation {
        let _ = write!(
            text,
            "saturation ramp, {:.0} s per step (first second not measured).",
            options.step_duration.as_secs_f64()
        );
    } else {
        let _ = write!(
            text,
            "one message per user every {} s for {} s.",
            options.interval.as_secs_f64(),
            options.duration.as_secs_f64()
        );
    }
    text.push_str(
        "\nServer and load generator (this process, tokio) share the machine over 127.0.0.1.",
    );
    text
}

/// The first line of a report: the command, the date, the machine and
/// Prosody's version.
pub(crate) fn run_header() -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_default();
    let prosody = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "prosody"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--no-build")
        .collect();
    format!(
        "`cargo xtask {}` — {date}, {cpus} CPUs ({model}), Prosody {prosody}.\n",
        args.join(" ")
    )
}
