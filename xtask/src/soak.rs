//! `cargo xtask soak`: mixed traffic for a long time, with and without
//! abusers next to the normal users, side by side.
//!
//! One run: start the release `starling` on loopback (c2s and s2s) with N
//! accounts, log the N users in, then for `--duration` every user sends a
//! chat message per second to a random online user, and now and then
//! changes its presence or asks for its roster (the load generator of
//! `cargo xtask load`, [`crate::load::generator`]). The server's RSS is read
//! every few seconds. In the abusive run, at the same time:
//!
//! - a never-reader ([`sink`]) logs in, becomes a contact of many users,
//!   is sent a share of their messages and a stream of large ones by a
//!   feeder, and never reads its socket;
//! - flooders ([`flood`]) on a second `starling` send subscription
//!   requests to the users over loopback s2s, from many JIDs;
//! - a brute-forcer ([`brute`]) tries wrong passwords for `u0`,
//!   reconnecting after each failure.
//!
//! `--both` (the default) runs the clean run and then the abusive one with
//! the same seed, and prints them side by side with the goals of issue 14:
//! delivery 1.0 and p99 within 2× of the clean run, RSS bounded. Every
//! wait is bounded; the servers are stopped by PID.

mod brute;
mod flood;
mod plan;
mod report;
mod rss;
mod servers;
mod sink;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use starling_jid::Jid;
use starling_testkit::ports::free_ports;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::args::{SoakMode, SoakOptions};
use crate::load::generator::{self, Phase, Shared, Target};
use crate::load::mix::Mix;
use crate::load::servers::{self as load_servers, Account, DOMAIN, Server};
use crate::load::{self, procstat};
use crate::util::{self, Result};
use plan::Plan;
use report::{FloodSummary, RunResult};
use servers::{Ports, REMOTE_DOMAIN, Running, SoakConfig};

/// The never-reader's account on the server under test.
const SINK_USER: &str = "sink";

/// The account that sends the never-reader large messages.
const FEEDER_USER: &str = "feeder";

/// How long the users may take to log in, at most.
const LOGIN_LIMIT: Duration = Duration::from_secs(120);

/// How long the abusers and the users may take to stop, at most.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Runs `cargo xtask soak`.
pub(crate) fn run(options: &SoakOptions) -> Result<bool> {
    let root = util::workspace_root();
    if !options.no_build {
        let mut build = util::cargo(&root);
        build.args([
            "build",
            "--release",
            "-p",
            "xtask",
            "-p",
            "starling-server",
            "--features",
            "starling-server/cli",
        ]);
        util::run(&mut build)?;
    }
    if cfg!(debug_assertions) {
        // A debug build of the generator would measure itself.
        let release = load::target_dir(&root).join("release").join("xtask");
        let mut command = Command::new(&release);
        command
            .args(std::env::args_os().skip(1))
            .arg("--no-build")
            .env("CARGO_MANIFEST_DIR", root.join("xtask"));
        util::run(&mut command)?;
        return Ok(true);
    }
    let plan = Plan::new(options.users, options.duration);
    let binary = load::target_dir(&root).join("release").join("starling");
    load::check_open_files(plan.connections() + plan.flood_accounts);
    let private = probe_private_addresses(&binary)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let command = describe_command();
    println!("{command}");
    println!("{}", describe_plan(&plan));
    let mut runs = Vec::new();
    let mut failed = false;
    for abusive in runs_of(options.mode) {
        let label = if abusive { "abusive" } else { "clean" };
        println!(
            "\n== {label} run: {} users, {} s ==",
            plan.users,
            plan.duration.as_secs()
        );
        match one_run(&runtime, &plan, &binary, abusive, private, options.seed) {
            Ok(mut result) => {
                if !private {
                    result.notes.push(
                        "the server does not know [s2s] allow_private_addresses; not written"
                            .to_owned(),
                    );
                }
                print_notes(&result);
                runs.push(result);
            }
            Err(error) => {
                println!("{label}: the run failed: {error}");
                failed = true;
            }
        }
    }
    println!("\n{command}\n{}\n", describe_plan(&plan));
    print!("{}", report::table(&runs));
    println!();
    print!("{}", report::series(&runs));
    for run in runs.iter().filter(|r| r.label == "abusive") {
        println!("\nAbusers:");
        print!("{}", report::abusers(run));
    }
    println!();
    print!("{}", report::goals(&runs));
    if let Some(path) = &options.json {
        let json = report::to_json(&plan, &command, &runs);
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(!failed && runs.iter().all(|r| !r.crashed))
}

/// Whether each run has abusers, in order.
fn runs_of(mode: SoakMode) -> Vec<bool> {
    match mode {
        SoakMode::Clean => vec![false],
        SoakMode::Abusive => vec![true],
        SoakMode::Both => vec![false, true],
    }
}

/// Asks the binary whether it knows `[s2s] allow_private_addresses`.
fn probe_private_addresses(binary: &std::path::Path) -> Result<bool> {
    let dir = load_servers::server_dir("soak-probe")?;
    let known = servers::private_addresses_key(binary, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let known = known?;
    println!(
        "[s2s] allow_private_addresses: {}",
        if known {
            "known, set to true"
        } else {
            "not known by this server, left out"
        }
    );
    Ok(known)
}

/// The never-reader's account.
fn sink_account() -> Account {
    Account {
        user: SINK_USER.to_owned(),
        password: "sink-Secret".to_owned(),
    }
}

/// The feeder's account.
fn feeder_account() -> Account {
    Account {
        user: FEEDER_USER.to_owned(),
        password: "feeder-Secret".to_owned(),
    }
}

/// The flooding accounts `f0` … on the second server.
fn flood_accounts(n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| Account {
            user: format!("f{i}"),
            password: format!("flood-{i}-Secret"),
        })
        .collect()
}

/// Starts the servers, measures, stops them.
fn one_run(
    runtime: &tokio::runtime::Runtime,
    plan: &Plan,
    binary: &std::path::Path,
    abusive: bool,
    private_addresses: bool,
    seed: u64,
) -> Result<RunResult> {
    let ports = free_ports(4)?;
    let (a_ports, b_ports) = (
        Ports {
            c2s: ports[0],
            s2s: ports[1],
            peer_s2s: ports[3],
        },
        Ports {
            c2s: ports[2],
            s2s: ports[3],
            peer_s2s: ports[1],
        },
    );
    let mut accounts = load_servers::accounts(plan.users);
    accounts.push(sink_account());
    accounts.push(feeder_account());
    let dir = load_servers::server_dir("soak")?;
    let data = dir.join("data");
    let config = SoakConfig {
        data: &data,
        domain: DOMAIN,
        peer: REMOTE_DOMAIN,
        ports: a_ports,
        connections: plan.connections(),
        private_addresses,
    };
    let a = servers::start("starling", binary, &config, dir, &accounts)?;
    let b = if abusive {
        let dir = load_servers::server_dir("soak-remote")?;
        let data = dir.join("data");
        let config = SoakConfig {
            data: &data,
            domain: REMOTE_DOMAIN,
            peer: DOMAIN,
            ports: b_ports,
            connections: plan.flood_accounts + 50,
            private_addresses,
        };
        Some(servers::start(
            "remote",
            binary,
            &config,
            dir,
            &flood_accounts(plan.flood_accounts),
        )?)
    } else {
        None
    };
    let measured = runtime.block_on(measure(
        a.server(),
        b.as_ref().map(Running::server),
        plan,
        seed,
    ));
    let (warnings, lines) = a.server().log_problems();
    let running = a.server().is_running();
    let remote_problems = b.as_ref().map(|b| b.server().log_problems());
    let mut notes = Vec::new();
    if let Some(b) = b {
        if let Err(error) = b.stop() {
            notes.push(format!("stopping the second server: {error}"));
        }
    }
    if let Err(error) = a.stop() {
        notes.push(format!("stopping the server: {error}"));
    }
    let mut result = measured?;
    result.label = if abusive { "abusive" } else { "clean" };
    result.log_warnings = warnings;
    result.log_lines = lines;
    result.crashed |= !running;
    if let Some((count, lines)) = remote_problems.filter(|(count, _)| *count > 0) {
        notes.push(format!(
            "the second server logged {count} warnings, the first: {}",
            lines.first().map_or("", String::as_str)
        ));
    }
    result.notes.extend(notes);
    Ok(result)
}

/// The abusers' tasks.
struct Abusers {
    sink: tokio::task::JoinHandle<sink::SinkReport>,
    feed: tokio::task::JoinHandle<sink::FeedReport>,
    brute: tokio::task::JoinHandle<brute::BruteReport>,
    flood: JoinSet<()>,
    flood_counters: Arc<flood::FloodCounters>,
}

/// Starts the abusers against `a` (and the flood from `b`).
async fn start_abusers(
    shared: &Arc<Shared>,
    (a, b): (&Server, &Server),
    plan: &Plan,
    seed: u64,
    stop: &watch::Receiver<bool>,
) -> Result<Abusers> {
    let target = Target::new(&a.address, &a.ca_file)?;
    let remote = Target::for_domain(&b.address, &b.ca_file, REMOTE_DOMAIN)?;
    let users: Vec<Jid> = (0..plan.users).map(|i| shared.jid(i).clone()).collect();
    let accounts = flood_accounts(plan.flood_accounts);
    let jids = accounts
        .iter()
        .map(|a| format!("{}@{REMOTE_DOMAIN}", a.user).parse::<Jid>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("a flood JID: {e}"))?;
    let (flood, flood_counters) = flood::start(
        (jids, accounts),
        remote,
        Arc::new(users.clone()),
        plan,
        seed,
        stop,
    )
    .await;
    let sink_jid: Jid = format!("{SINK_USER}@{DOMAIN}")
        .parse()
        .map_err(|e| format!("the sink's JID: {e}"))?;
    let contacts = users.iter().take(plan.sink_contacts).cloned().collect();
    let feeder_jid: Jid = format!("{FEEDER_USER}@{DOMAIN}")
        .parse()
        .map_err(|e| format!("the feeder's JID: {e}"))?;
    let feed = tokio::spawn(sink::feed(
        Arc::clone(shared),
        (feeder_jid, feeder_account()),
        target.clone(),
        sink_jid.clone(),
        plan.clone(),
        stop.clone(),
    ));
    let sink = tokio::spawn(sink::run(
        Arc::clone(shared),
        (sink_jid, sink_account()),
        target.clone(),
        contacts,
        plan.clone(),
        stop.clone(),
    ));
    let brute = tokio::spawn(brute::run(
        target,
        users[0].clone(),
        plan.clone(),
        stop.clone(),
    ));
    Ok(Abusers {
        sink,
        feed,
        brute,
        flood,
        flood_counters,
    })
}

/// Stops the abusers (bounded) and puts their reports into `result`.
async fn stop_abusers(abusers: Abusers, shared: &Shared, plan: &Plan, result: &mut RunResult) {
    let Abusers {
        sink,
        feed,
        brute,
        mut flood,
        flood_counters,
    } = abusers;
    let deadline = tokio::time::Instant::now() + STOP_LIMIT;
    match tokio::time::timeout_at(deadline, sink).await {
        Ok(Ok(report)) => result.sink = Some(report),
        _ => result
            .notes
            .push("the never-reader did not stop in time".to_owned()),
    }
    match tokio::time::timeout_at(deadline, feed).await {
        Ok(Ok(report)) => result.feed = Some(report),
        _ => result
            .notes
            .push("the feeder did not stop in time".to_owned()),
    }
    match tokio::time::timeout_at(deadline, brute).await {
        Ok(Ok(report)) => result.brute = Some(report),
        _ => result
            .notes
            .push("the brute-forcer did not stop in time".to_owned()),
    }
    while !flood.is_empty() {
        if tokio::time::timeout_at(deadline, flood.join_next())
            .await
            .is_err()
        {
            result.notes.push(format!(
                "{} flooders did not stop in time; aborted",
                flood.len()
            ));
            flood.abort_all();
            break;
        }
    }
    let c = &flood_counters;
    result.flood = Some(FloodSummary {
        accounts: plan.flood_accounts,
        logged_in: c.logged_in.load(Ordering::Relaxed),
        sent: c.sent.load(Ordering::Relaxed),
        reached_users: shared
            .mixed
            .remote_subscription_requests
            .load(Ordering::Relaxed),
        approved: c.approved.load(Ordering::Relaxed),
        refused: c.refused.load(Ordering::Relaxed),
        errors: flood::FloodCounters::snapshot(&c.errors),
        ended: flood::FloodCounters::snapshot(&c.ended),
    });
}

/// Logs the users in, runs the traffic (and the abusers, with `b`), and
/// collects what happened.
async fn measure(a: &Server, b: Option<&Server>, plan: &Plan, seed: u64) -> Result<RunResult> {
    let pid = a.pid;
    let accounts = load_servers::accounts(plan.users);
    let sink_jid: Jid = format!("{SINK_USER}@{DOMAIN}")
        .parse()
        .map_err(|e| format!("the sink's JID: {e}"))?;
    let mix = Mix {
        presence: plan.presence_share,
        roster: plan.roster_share,
        sink: Some((sink_jid, plan.sink_share)),
        seed,
        sm: false,
    };
    let shared = Arc::new(Shared::with_mix(DOMAIN, &accounts, 1, mix)?);
    let target = Target::new(&a.address, &a.ca_file)?;
    let recorder = rss::RssRecorder::start(pid, plan.rss_every);
    let mut result = RunResult::default();

    let (phase, _) = watch::channel(Phase::Idle);
    let mut users =
        generator::start_users(&shared, &accounts, &target, plan.login_rate, &phase).await;
    let deadline = Instant::now() + LOGIN_LIMIT;
    while shared.logged_in.load(Ordering::Relaxed) + shared.login_failed.load(Ordering::Relaxed)
        < accounts.len()
    {
        if Instant::now() >= deadline {
            result
                .notes
                .push("not every login ended within 120 s".to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    result.logged_in = shared.logged_in.load(Ordering::Relaxed);
    result.login_failed = shared.login_failed.load(Ordering::Relaxed);
    println!(
        "{} users logged in, {} failed",
        result.logged_in, result.login_failed
    );

    let (stop, stop_rx) = watch::channel(false);
    let abusers = match b {
        Some(b) => Some(start_abusers(&shared, (a, b), plan, seed, &stop_rx).await?),
        None => None,
    };
    let cpu_before = procstat::cpu_seconds(pid).unwrap_or(0.0);
    traffic(&shared, a, plan, &phase, &recorder, &mut result).await;
    let _ = stop.send(true);
    phase.send_replace(Phase::Idle);
    load::drain(&shared).await;
    result.server_cpu = procstat::cpu_seconds(pid).unwrap_or(0.0) - cpu_before;
    if let Some(abusers) = abusers {
        stop_abusers(abusers, &shared, plan, &mut result).await;
    }
    collect(&shared, &mut result);

    phase.send_replace(Phase::Quit);
    let deadline = tokio::time::Instant::now() + STOP_LIMIT;
    while !users.is_empty() {
        if tokio::time::timeout_at(deadline, users.join_next())
            .await
            .is_err()
        {
            result
                .notes
                .push(format!("{} user tasks did not end; aborted", users.len()));
            users.abort_all();
            break;
        }
    }
    result.rss = rss::summarise(&recorder.finish());
    result.crashed = !a.is_running();
    Ok(result)
}

/// The traffic phase: sends for the plan's duration, measuring after the
/// warm-up, with a progress line now and then; stops early if the server
/// exits.
async fn traffic(
    shared: &Shared,
    server: &Server,
    plan: &Plan,
    phase: &watch::Sender<Phase>,
    recorder: &rss::RssRecorder,
    result: &mut RunResult,
) {
    let started = Instant::now();
    phase.send_replace(Phase::Send(plan.message_every));
    let mut window_open = false;
    let mut next_progress = started + plan.progress_every;
    while started.elapsed() < plan.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if !window_open && started.elapsed() >= plan.warm_up {
            shared.open_window(0);
            window_open = true;
        }
        if Instant::now() >= next_progress {
            next_progress += plan.progress_every;
            println!(
                "[{:>5.0} s] sent {} delivered {} server RSS {} MiB, never-reader {}",
                started.elapsed().as_secs_f64(),
                shared.sent.load(Ordering::Relaxed),
                shared.received.load(Ordering::Relaxed),
                recorder.latest().map_or_else(
                    || "-".to_owned(),
                    |kib| util::three_digits(kib as f64 / 1024.0)
                ),
                if shared.mixed.sink_online.load(Ordering::Relaxed) {
                    "online"
                } else {
                    "offline"
                },
            );
        }
        if !server.is_running() {
            result.notes.push(format!(
                "the server exited after {:.0} s of traffic",
                started.elapsed().as_secs_f64()
            ));
            break;
        }
    }
    shared.close_window();
}

/// Copies the generator's counters into `result`.
fn collect(shared: &Shared, result: &mut RunResult) {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let window = &shared.windows[0];
    let mixed = &shared.mixed;
    result.sent = load(&shared.sent);
    result.received = load(&shared.received);
    result.measured = load(&window.received);
    result.p50 = window.latency.quantile(0.5);
    result.p99 = window.latency.quantile(0.99);
    result.presence_sent = load(&mixed.presence_sent);
    result.roster_sent = load(&mixed.roster_sent);
    result.roster_answered = load(&mixed.roster_answered);
    result.roster_p99 = mixed.roster_latency.quantile(0.99);
    result.error_replies = load(&shared.error_replies);
    result.disconnects = load(&shared.disconnects);
    result.write_blocked = load(&mixed.write_blocked);
    result.sent_to_sink = load(&mixed.sent_to_sink);
    result.sink_bounces = load(&mixed.sink_bounces);
    if let Ok(problems) = shared.problems.lock() {
        result.problems = problems.iter().map(|(k, v)| (k.clone(), *v)).collect();
    }
}

/// Prints a run's problems and notes right after it.
fn print_notes(run: &RunResult) {
    if run.crashed {
        println!("{}: THE SERVER PROCESS EXITED during the run", run.label);
    }
    for (problem, count) in &run.problems {
        println!("{}: {count} × {problem}", run.label);
    }
    if run.log_warnings > 0 {
        println!(
            "{}: {} warning/error lines in the server's log, the first ones:",
            run.label, run.log_warnings
        );
        for line in &run.log_lines {
            println!("    {line}");
        }
    }
    for note in &run.notes {
        println!("{}: {note}", run.label);
    }
}

/// The command line.
fn describe_command() -> String {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--no-build")
        .collect();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!(
        "`cargo xtask {}` — {cpus} CPUs, server and generator on 127.0.0.1",
        args.join(" ")
    )
}

/// The plan in one paragraph.
fn describe_plan(plan: &Plan) -> String {
    format!(
        "{} users at {} logins/s; {:.0} msg/s user to user for {} s (first {:.0} s not measured), \
         presence change on {:.0} % and roster get on {:.0} % of the ticks. Abusive run: a \
         never-reader (contact of {} users, {:.0} % of the messages, and {:.0} messages/s of \
         {} bytes from a feeder), {} flooding accounts \
         ({:.0} subscription requests/s over s2s), a brute-forcer (≤ {:.0} attempts/s). RSS read \
         every {} s.",
        plan.users,
        plan.login_rate,
        plan.offered_rate(),
        plan.duration.as_secs(),
        plan.warm_up.as_secs_f64(),
        plan.presence_share * 100.0,
        plan.roster_share * 100.0,
        plan.sink_contacts,
        plan.sink_share * 100.0,
        plan.feed_rate,
        plan.feed_size,
        plan.flood_accounts,
        plan.flood_rate(),
        1.0 / plan.brute_every.as_secs_f64(),
        plan.rss_every.as_secs(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_accounts() {
        assert_eq!(runs_of(SoakMode::Both), [false, true]);
        assert_eq!(runs_of(SoakMode::Clean), [false]);
        assert_eq!(runs_of(SoakMode::Abusive), [true]);
        let flood = flood_accounts(3);
        assert_eq!(flood[2].user, "f2");
        assert!(
            !load_servers::accounts(3)
                .iter()
                .any(|a| a.user == SINK_USER)
        );
        let text = describe_plan(&Plan::new(20, Duration::from_secs(20)));
        assert!(
            text.starts_with("20 users at 100 logins/s; 20 msg/s"),
            "{text}"
        );
    }
}
