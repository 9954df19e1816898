//! Developer tooling for the Starling workspace, run as `cargo xtask <command>`.
//!
//! The commands are:
//!
//! - `ci`: the single test command (format, layering, build, clippy, tests,
//!   docs, fuzz smoke run) with a summary table at the end;
//! - `fuzz`: run the cargo-fuzz targets for a while and report what they did;
//! - `bench`: run the criterion benchmarks and print comparison tables;
//! - `layering`: check the crate layering rules;
//! - `load`: a load benchmark of the Starling server against Prosody;
//! - `soak`: a long run of mixed traffic with and without abusers;
//! - `bench-pep`: PEP fan-out, Starling against Prosody;
//! - `peers`: install the XMPP servers the interop tests run against.
//!
//! `cargo xtask help` prints the full usage.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool: its reports go to standard output"
)]

/// Returns early with a formatted error message.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(format!($($arg)*).into())
    };
}

mod args;
mod bench;
mod ci;
mod fuzz;
mod layering;
mod load;
mod peers;
mod pep;
mod soak;
mod util;

use std::process::ExitCode;

use args::Command;
use util::Result;

/// The usage text printed by `cargo xtask help`.
const USAGE: &str = "\
cargo xtask <command> [options]

Commands:
  ci [--skip STEPS] [--only STEPS] [--fuzz-secs N] [--list]
      Run every check in order: fmt, layering, peers, build, clippy, test,
      doctest, doc, fuzz. Each step is timed; the run goes on after a
      failure (steps that need a failed step are skipped) and ends with a
      summary table.
      STEPS is a comma-separated list of step names (see --list).
      --fuzz-secs N  seconds per fuzz target in the fuzz step (default: the
                     STARLING_FUZZ_SECS environment variable, else 20).

  fuzz [TARGET] [--time SECONDS] [-- LIBFUZZER_ARGS...]
      Run one fuzz target, or all of them one after another, for SECONDS
      each (default 60), then report runs executed and crashes per target.
      Installs cargo-fuzz when it is missing. Arguments after `--` go to
      libFuzzer (for example `-- -jobs=2 -max_len=512`).

  bench [NAME] [-p PACKAGE] [--quick] [--report] [-- CRITERION_ARGS...]
      Run the criterion benchmarks (all, or the bench target NAME, or those
      of PACKAGE), then print one markdown table per benchmark group: mean
      time, throughput and Starling's speed relative to each peer.
      --quick   shorter warm-up and measurement (1 s / 2 s per benchmark)
      --report  do not run anything; print the tables for every result
                already stored under target/criterion

  layering
      Check the crate layering rules: Starling crates depend only on lower
      layers (xml and jid, stream, stanza, auth, net, then client and server
      as siblings that never depend on each other); starling-testkit is a
      dev-dependency only and depends normally on net and below. Then check
      resolved trees: the lower crates pull in no async runtime, TLS or DNS
      resolver; auth without default features has no TLS crates, the client
      with default features no CLI crates (once those features exist); the
      server's tree has no starling-client, dev-dependencies included.

  load [--users N] [--login-rate R] [--interval T] [--duration D]
       [--servers LIST] [--saturation] [--max-p99-ms MS] [--steps RATES]
       [--step-duration S] [--baseline PATH] [--no-build]
      Load benchmark: build Starling (and this tool) in release, then run
      the same scenario against each server of LIST (default
      starling,prosody), each started on 127.0.0.1 from a private
      configuration, and print a comparison table. N users (default 1000)
      log in over STARTTLS with SCRAM-SHA-1 at R logins/s (default 200) and
      send initial presence; then each sends a chat message every T seconds
      (default 1) to a random online user, for D seconds (default 20).
      Reports delivered messages/s, delivery latency (median, p99), login
      latency, the server's RSS (peak, per connection) and CPU time.
      --saturation  instead of the message phase, offer RATES in turn
                    (total msg/s, default 1000,1500,2000,3000,...,160000;
                    S seconds each, default 8) until two steps in a row
                    fail, and report the highest rate each server delivers
                    at >= 95% with a p99 under MS milliseconds (default 100).
      --baseline PATH  also measure the starling binary at PATH (say, a
                    build of an earlier commit) as the server `baseline`,
                    right after Starling, for a before/after comparison.
      --no-build    use the binaries already in target/release.

  soak [--duration SECS] [--users N] [--abusers|--clean|--both]
       [--json PATH] [--seed N] [--no-build]
      Soak run: build Starling (and this tool) in release, start it on
      127.0.0.1 with N users (default 300) and run mixed traffic for SECS
      seconds (default 1800): one chat message per user per second to a
      random online user, some presence changes and roster gets. With
      abusers, at the same time: a client that never reads its socket (a
      contact of many, sent some of their messages and a stream of large
      ones by a feeder account), accounts of a second
      Starling flooding the users with subscription requests over loopback
      s2s, and a brute-forcer trying wrong passwords for u0. Reports the
      normal users' delivery ratio and latency (median, p99), the server's
      RSS over time and what happened to each abuser. --both (default)
      runs clean, then abusive with the same seed (N, default 1), side by
      side with the ratios and the goals (delivery 1.0, p99 within 2x of
      the clean run); --json writes the results to PATH.

  bench-pep [--contacts N] [--items K] [--caps-variants V] [--payload-bytes B]
       [--item-timeout S] [--login-rate R] [--servers LIST] [--no-build]
      PEP fan-out benchmark: build Starling (and this tool) in release, then
      for each server of LIST (default starling,prosody; Prosody with its
      `pep` module): u0 publishes, u1..uN (default 500) are its contacts
      with mutual presence subscriptions made over the protocol, each
      online with XEP-0115 caps wanting the node's notifications (V
      distinct disco#info sets, default 1) and answering the server's
      disco#info queries. Once a probe publish reaches all N, u0 publishes K
      items (default 200, B bytes each, default 100) one at a time, each
      when the previous reached every contact or after S seconds (default
      10). Reports the time from a publish to its last notification
      (median, p99), notifications/s, server CPU per publish, and the
      server's RSS before and after it learned the contacts' caps.

  peers
      Install the XMPP servers that the interop tests run against (prosody,
      ejabberd, openssl) with apt-get when any of them is missing, and stop
      any system daemon the installation started. The `peers` step of `ci`
      does the same, and fails only when CI=true.

  help
      Print this text.
";

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).peekable();
    // `peers` takes no options, so it needs nothing from the parser.
    if argv.peek().is_some_and(|arg| arg == "peers") {
        if let Some(extra) = argv.nth(1) {
            eprintln!("error: `peers` takes no arguments (got `{extra}`)\n\n{USAGE}");
            return ExitCode::from(2);
        }
        return report(peers::run());
    }
    let command = match args::parse(argv) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    report(run(command))
}

/// The exit code for a command's result, printing its error if any.
fn report(result: Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command. `Ok(false)` means the command ran and reported a failure
/// itself.
fn run(command: Command) -> Result<bool> {
    match command {
        Command::Help => {
            print!("{USAGE}");
            Ok(true)
        }
        Command::Ci(options) => ci::run(&options),
        Command::Fuzz(options) => fuzz::run(&options),
        Command::Bench(options) => bench::run(&options),
        Command::Load(options) => load::run(&options),
        Command::Soak(options) => soak::run(&options),
        Command::BenchPep(options) => pep::run(&options),
        Command::Layering => {
            let violations = layering::check(&util::workspace_root())?;
            Ok(violations == 0)
        }
    }
}
