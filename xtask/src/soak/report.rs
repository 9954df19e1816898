//! What one soak run measured, the side-by-side table of a clean and an
//! abusive run, the goals (delivery 1.0, p99 within 2× of the clean run,
//! RSS bounded) and the JSON file. Pure: built from numbers, tested.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{Value, json};

use super::brute::BruteReport;
use super::plan::Plan;
use super::rss::RssSummary;
use super::sink::{FeedReport, SinkReport};
use crate::util;

/// The abusive run's p99 may be this many times the clean run's.
pub(crate) const P99_FACTOR: f64 = 2.0;

/// What the flooders saw, once the run is over.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FloodSummary {
    /// Flooding accounts, and how many logged in.
    pub(crate) accounts: usize,
    pub(crate) logged_in: u64,
    /// Requests sent.
    pub(crate) sent: u64,
    /// Requests that reached a user of the server under test.
    pub(crate) reached_users: u64,
    /// `subscribed` / `unsubscribed` answers.
    pub(crate) approved: u64,
    pub(crate) refused: u64,
    /// Presence errors back, by condition.
    pub(crate) errors: BTreeMap<String, u64>,
    /// Sessions ended or logins failed, by why.
    pub(crate) ended: BTreeMap<String, u64>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunResult {
    /// `clean` or `abusive`.
    pub(crate) label: &'static str,
    /// Normal users logged in, and failed logins.
    pub(crate) logged_in: usize,
    pub(crate) login_failed: usize,
    /// Messages between normal users, sent and received (whole run,
    /// after the drain).
    pub(crate) sent: u64,
    pub(crate) received: u64,
    /// Delivery latency in the measurement window.
    pub(crate) p50: Option<Duration>,
    pub(crate) p99: Option<Duration>,
    /// Messages received in the measurement window.
    pub(crate) measured: u64,
    /// Presence changes and roster gets.
    pub(crate) presence_sent: u64,
    pub(crate) roster_sent: u64,
    pub(crate) roster_answered: u64,
    pub(crate) roster_p99: Option<Duration>,
    /// Error replies to normal users' messages.
    pub(crate) error_replies: u64,
    /// Normal sessions the server ended.
    pub(crate) disconnects: u64,
    /// Ticks a user skipped because the server was not reading it.
    pub(crate) write_blocked: u64,
    /// Messages to the never-reader, and its bounces.
    pub(crate) sent_to_sink: u64,
    pub(crate) sink_bounces: u64,
    /// Server CPU seconds over the traffic phase.
    pub(crate) server_cpu: f64,
    /// The server's RSS over the run.
    pub(crate) rss: RssSummary,
    /// The server process died.
    pub(crate) crashed: bool,
    /// Warning and error lines in its log: how many, the first ones.
    pub(crate) log_warnings: usize,
    pub(crate) log_lines: Vec<String>,
    /// The generator's problems, with counts.
    pub(crate) problems: Vec<(String, u64)>,
    /// Anything else worth saying.
    pub(crate) notes: Vec<String>,
    /// The abusers' reports (abusive runs).
    pub(crate) sink: Option<SinkReport>,
    pub(crate) feed: Option<FeedReport>,
    pub(crate) flood: Option<FloodSummary>,
    pub(crate) brute: Option<BruteReport>,
}

impl RunResult {
    /// Received over sent, between normal users.
    pub(crate) fn delivery(&self) -> Option<f64> {
        (self.sent > 0).then(|| self.received as f64 / self.sent as f64)
    }
}

/// The goals, judged on a clean and an abusive run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// Every message between normal users delivered in the abusive run.
    pub(crate) delivery: bool,
    /// p99 abusive / p99 clean.
    pub(crate) p99_ratio: Option<f64>,
    /// Whether that is within [`P99_FACTOR`].
    pub(crate) p99: bool,
}

/// Judges the abusive run against the clean one.
pub(crate) fn verdict(clean: &RunResult, abusive: &RunResult) -> Verdict {
    let ratio = match (clean.p99, abusive.p99) {
        (Some(c), Some(a)) if !c.is_zero() => Some(a.as_secs_f64() / c.as_secs_f64()),
        _ => None,
    };
    Verdict {
        delivery: abusive.sent > 0 && abusive.received >= abusive.sent,
        p99_ratio: ratio,
        p99: ratio.is_some_and(|r| r <= P99_FACTOR),
    }
}

/// Quantile `q` of some durations (nearest rank), and their maximum.
pub(crate) fn quantile(durations: &[Duration], q: f64) -> Option<Duration> {
    if durations.is_empty() {
        return None;
    }
    let mut sorted = durations.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_owned(),
        |d| util::three_digits(d.as_secs_f64() * 1e3),
    )
}

fn mib(kib: u64) -> String {
    util::three_digits(kib as f64 / 1024.0)
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
}

/// One row of the table: label and a value per run.
type Row = (String, Vec<String>);

fn rows(runs: &[RunResult]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut row = |label: &str, value: &dyn Fn(&RunResult) -> String| {
        rows.push((label.to_owned(), runs.iter().map(value).collect()));
    };
    row("users logged in (failed)", &|r| {
        format!("{} ({})", r.logged_in, r.login_failed)
    });
    row("messages sent (user to user)", &|r| r.sent.to_string());
    row("messages delivered", &|r| r.received.to_string());
    row("delivery ratio", &|r| {
        r.delivery()
            .map_or_else(|| "-".to_owned(), |d| format!("{d:.4}"))
    });
    row("latency median (ms)", &|r| ms(r.p50));
    row("latency p99 (ms)", &|r| ms(r.p99));
    row("presence changes sent", &|r| r.presence_sent.to_string());
    row("roster gets answered / sent", &|r| {
        format!("{} / {}", r.roster_answered, r.roster_sent)
    });
    row("roster get p99 (ms)", &|r| ms(r.roster_p99));
    row("error replies", &|r| r.error_replies.to_string());
    row("user sessions ended by the server", &|r| {
        r.disconnects.to_string()
    });
    row("user ticks skipped (server not reading)", &|r| {
        r.write_blocked.to_string()
    });
    row("server CPU, traffic phase (s)", &|r| {
        util::three_digits(r.server_cpu)
    });
    row("server RSS min / median / max (MiB)", &|r| {
        format!(
            "{} / {} / {}",
            mib(r.rss.min),
            mib(r.rss.median),
            mib(r.rss.max)
        )
    });
    row("server RSS last / first quarter", &|r| {
        ratio(r.rss.growth())
    });
    row("server log warnings", &|r| r.log_warnings.to_string());
    row("server exited during the run", &|r| {
        if r.crashed {
            "YES".to_owned()
        } else {
            "no".to_owned()
        }
    });
    rows
}

/// The side-by-side table (markdown), with an abusive/clean column when
/// both runs are there.
pub(crate) fn table(runs: &[RunResult]) -> String {
    let pair = pair(runs);
    let mut out = String::new();
    let labels: Vec<&str> = runs.iter().map(|r| r.label).collect();
    let _ = write!(out, "| metric | {} |", labels.join(" | "));
    if pair.is_some() {
        out.push_str(" abusive/clean |");
    }
    let _ = writeln!(out);
    let _ = write!(out, "| --- |{}", " ---: |".repeat(runs.len()));
    if pair.is_some() {
        out.push_str(" ---: |");
    }
    let _ = writeln!(out);
    for (label, values) in rows(runs) {
        let _ = write!(out, "| {label} | {} |", values.join(" | "));
        if let Some((clean, abusive)) = pair {
            let r = match label.as_str() {
                "latency p99 (ms)" => verdict(clean, abusive).p99_ratio,
                "latency median (ms)" => match (clean.p50, abusive.p50) {
                    (Some(c), Some(a)) if !c.is_zero() => Some(a.as_secs_f64() / c.as_secs_f64()),
                    _ => None,
                },
                "server RSS min / median / max (MiB)" => {
                    (clean.rss.max > 0).then(|| abusive.rss.max as f64 / clean.rss.max as f64)
                }
                _ => None,
            };
            let _ = write!(out, " {} |", ratio(r));
        }
        let _ = writeln!(out);
    }
    out
}

/// The clean and the abusive run, when both are there.
fn pair(runs: &[RunResult]) -> Option<(&RunResult, &RunResult)> {
    let clean = runs.iter().find(|r| r.label == "clean")?;
    let abusive = runs.iter().find(|r| r.label == "abusive")?;
    Some((clean, abusive))
}

/// The RSS time series of each run (seconds → MiB, the largest reading in
/// each slice).
pub(crate) fn series(runs: &[RunResult]) -> String {
    let mut out = String::new();
    for run in runs {
        let points: Vec<String> = run
            .rss
            .series
            .iter()
            .map(|(t, kib)| format!("{t:.0}s {}", mib(*kib)))
            .collect();
        let _ = writeln!(
            out,
            "{} RSS over time (MiB, {} readings): {}",
            run.label,
            run.rss.samples,
            points.join(", ")
        );
    }
    out
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, v)| format!("{v} × {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What happened to the abusers.
pub(crate) fn abusers(run: &RunResult) -> String {
    let mut out = String::new();
    if let Some(sink) = &run.sink {
        let closed: Vec<String> = sink
            .closed()
            .map(|s| format!("{:.0} s", s.lasted))
            .collect();
        let open = sink.sessions.iter().filter(|s| s.ended.is_none()).count();
        let _ = writeln!(
            out,
            "- never-reader: {} session(s); closed by the server after {}; {} still open at the end; \
             asked {} users for their presence; {} messages were sent to it, {} bounced; {} failed login(s)",
            sink.sessions.len(),
            if closed.is_empty() {
                "—".to_owned()
            } else {
                closed.join(", ")
            },
            open,
            sink.subscriptions_sent,
            run.sent_to_sink,
            run.sink_bounces,
            sink.login_failures.len(),
        );
        if let Some(why) = sink.closed().filter_map(|s| s.ended.as_deref()).next() {
            let _ = writeln!(out, "  (first close: {why})");
        }
    }
    if let Some(feed) = &run.feed {
        let _ = writeln!(
            out,
            "- feeder of the never-reader: {} large messages sent; longest write wait {:.1} s{}",
            feed.sent,
            feed.longest_wait,
            feed.ended
                .as_deref()
                .map_or_else(String::new, |why| format!("; {why}")),
        );
    }
    if let Some(flood) = &run.flood {
        let _ = writeln!(
            out,
            "- subscription flood: {}/{} accounts logged in on the second server; {} requests sent, \
             {} reached a user; {} approved, {} refused; errors back: {}; sessions ended: {}",
            flood.logged_in,
            flood.accounts,
            flood.sent,
            flood.reached_users,
            flood.approved,
            flood.refused,
            counts(&flood.errors),
            counts(&flood.ended),
        );
    }
    if let Some(brute) = &run.brute {
        let _ = writeln!(
            out,
            "- brute-forcer: {} attempts ({}); attempt time median {} ms, p99 {} ms, max {} ms",
            brute.attempts,
            counts(&brute.outcomes),
            ms(quantile(&brute.durations, 0.5)),
            ms(quantile(&brute.durations, 0.99)),
            ms(quantile(&brute.durations, 1.0)),
        );
    }
    out
}

/// The goals, met or missed.
pub(crate) fn goals(runs: &[RunResult]) -> String {
    let mut out = String::new();
    let Some((clean, abusive)) = pair(runs) else {
        return out;
    };
    let v = verdict(clean, abusive);
    let word = |ok: bool| if ok { "met" } else { "MISSED" };
    let _ = writeln!(out, "Goals (abusive run against the clean one):");
    let _ = writeln!(
        out,
        "- delivery 1.0 to the other users: {} ({})",
        abusive
            .delivery()
            .map_or_else(|| "-".to_owned(), |d| format!("{d:.4}")),
        word(v.delivery)
    );
    let _ = writeln!(
        out,
        "- p99 within {P99_FACTOR}× of the clean run: {} ms vs {} ms = {} ({})",
        ms(abusive.p99),
        ms(clean.p99),
        ratio(v.p99_ratio),
        word(v.p99)
    );
    if let Some(brute) = &abusive.brute {
        let _ = writeln!(
            out,
            "- no wrong password accepted: {} of {} attempts logged in ({})",
            brute.accepted(),
            brute.attempts,
            word(brute.accepted() == 0)
        );
    }
    let _ = writeln!(
        out,
        "- RSS bounded: max {} MiB abusive vs {} MiB clean; last/first quarter {} (see the series)",
        mib(abusive.rss.max),
        mib(clean.rss.max),
        ratio(abusive.rss.growth())
    );
    out
}

fn duration_json(d: Option<Duration>) -> Value {
    d.map_or(Value::Null, |d| json!(d.as_secs_f64() * 1e3))
}

fn run_json(run: &RunResult) -> Value {
    let sink = run.sink.as_ref().map(|s| {
        json!({
            "sessions": s.sessions.iter().map(|x| json!({
                "started_s": x.started, "lasted_s": x.lasted, "ended": x.ended,
            })).collect::<Vec<_>>(),
            "subscriptions_sent": s.subscriptions_sent,
            "login_failures": s.login_failures,
            "messages_sent_to_it": run.sent_to_sink,
            "bounces": run.sink_bounces,
        })
    });
    let feed = run
        .feed
        .as_ref()
        .map(|f| json!({ "sent": f.sent, "longest_wait_s": f.longest_wait, "ended": f.ended }));
    let flood = run.flood.as_ref().map(|f| {
        json!({
            "accounts": f.accounts, "logged_in": f.logged_in, "sent": f.sent,
            "reached_users": f.reached_users, "approved": f.approved, "refused": f.refused,
            "errors": f.errors, "ended": f.ended,
        })
    });
    let brute = run.brute.as_ref().map(|b| {
        json!({
            "attempts": b.attempts, "outcomes": b.outcomes,
            "median_ms": duration_json(quantile(&b.durations, 0.5)),
            "p99_ms": duration_json(quantile(&b.durations, 0.99)),
            "max_ms": duration_json(quantile(&b.durations, 1.0)),
        })
    });
    json!({
        "label": run.label,
        "logged_in": run.logged_in, "login_failed": run.login_failed,
        "sent": run.sent, "received": run.received, "delivery": run.delivery(),
        "latency_median_ms": duration_json(run.p50), "latency_p99_ms": duration_json(run.p99),
        "measured_messages": run.measured,
        "presence_sent": run.presence_sent,
        "roster_sent": run.roster_sent, "roster_answered": run.roster_answered,
        "roster_p99_ms": duration_json(run.roster_p99),
        "error_replies": run.error_replies, "disconnects": run.disconnects,
        "write_blocked": run.write_blocked,
        "server_cpu_s": run.server_cpu,
        "rss_kib": {
            "min": run.rss.min, "median": run.rss.median, "max": run.rss.max,
            "first_quarter": run.rss.first_quarter, "last_quarter": run.rss.last_quarter,
            "samples": run.rss.samples,
            "series": run.rss.series.iter().map(|(t, k)| json!([t, k])).collect::<Vec<_>>(),
        },
        "crashed": run.crashed, "log_warnings": run.log_warnings, "log_lines": run.log_lines,
        "problems": run.problems.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "notes": run.notes,
        "never_reader": sink, "feeder": feed, "subscription_flood": flood, "brute_forcer": brute,
    })
}

/// The JSON document of a soak: the plan, each run, the goals.
pub(crate) fn to_json(plan: &Plan, command: &str, runs: &[RunResult]) -> Value {
    let goals = pair(runs).map(|(clean, abusive)| {
        let v = verdict(clean, abusive);
        json!({
            "delivery_met": v.delivery, "p99_ratio": v.p99_ratio, "p99_met": v.p99,
            "p99_factor": P99_FACTOR,
        })
    });
    json!({
        "command": command,
        "plan": {
            "feed_per_s": plan.feed_rate, "feed_bytes": plan.feed_size,
            "users": plan.users, "duration_s": plan.duration.as_secs_f64(),
            "warm_up_s": plan.warm_up.as_secs_f64(),
            "measured_s": plan.measured().as_secs_f64(),
            "messages_per_s": plan.offered_rate(),
            "presence_share": plan.presence_share, "roster_share": plan.roster_share,
            "sink_share": plan.sink_share, "sink_contacts": plan.sink_contacts,
            "flood_accounts": plan.flood_accounts, "flood_per_s": plan.flood_rate(),
            "brute_interval_ms": plan.brute_every.as_secs_f64() * 1e3,
            "rss_interval_s": plan.rss_every.as_secs_f64(),
        },
        "runs": runs.iter().map(run_json).collect::<Vec<_>>(),
        "goals": goals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(label: &'static str, sent: u64, received: u64, p99_ms: u64) -> RunResult {
        RunResult {
            label,
            sent,
            received,
            p50: Some(Duration::from_millis(1)),
            p99: Some(Duration::from_millis(p99_ms)),
            ..RunResult::default()
        }
    }

    #[test]
    fn verdicts() {
        // clean p99, abusive sent, received, p99 → delivery, ratio, p99 met
        let table = [
            (10, 100, 100, 20, true, Some(2.0), true),
            (10, 100, 99, 5, false, Some(0.5), true),
            (10, 100, 100, 21, true, Some(2.1), false),
            (10, 0, 0, 1, false, Some(0.1), true),
        ];
        for (clean_p99, sent, received, p99, delivery, ratio, p99_met) in table {
            let v = verdict(
                &run("clean", 1, 1, clean_p99),
                &run("abusive", sent, received, p99),
            );
            assert_eq!(v.delivery, delivery);
            assert_eq!(v.p99, p99_met);
            match (v.p99_ratio, ratio) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{a} vs {b}"),
                other => panic!("{other:?}"),
            }
        }
        let mut clean = run("clean", 1, 1, 1);
        clean.p99 = None;
        assert_eq!(verdict(&clean, &run("abusive", 1, 1, 1)).p99_ratio, None);
    }

    #[test]
    fn quantiles_of_durations() {
        let d: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.5), Some(Duration::from_millis(50)));
        assert_eq!(quantile(&d, 0.99), Some(Duration::from_millis(99)));
        assert_eq!(quantile(&d, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn table_goals_and_json() {
        let runs = [run("clean", 10, 10, 4), run("abusive", 10, 9, 12)];
        let text = table(&runs);
        assert!(
            text.starts_with("| metric | clean | abusive | abusive/clean |"),
            "{text}"
        );
        assert!(
            text.contains("| latency p99 (ms) | 4.00 | 12.0 | 3.00 |"),
            "{text}"
        );
        assert!(
            text.contains("| delivery ratio | 1.0000 | 0.9000 | - |"),
            "{text}"
        );
        let goals = goals(&runs);
        assert!(
            goals.contains("delivery 1.0 to the other users: 0.9000 (MISSED)"),
            "{goals}"
        );
        assert!(goals.contains("= 3.00 (MISSED)"), "{goals}");
        let json = to_json(&Plan::new(20, Duration::from_secs(20)), "soak", &runs);
        assert_eq!(json["runs"][1]["received"], 9);
        assert_eq!(json["goals"]["delivery_met"], false);
        assert_eq!(json["plan"]["users"], 20);
        // One run alone: no ratio column and no goals.
        let alone = table(&runs[..1]);
        assert!(alone.starts_with("| metric | clean |\n"), "{alone}");
        assert!(super::goals(&runs[..1]).is_empty());
        assert_eq!(
            to_json(&Plan::new(20, Duration::from_secs(20)), "soak", &runs[..1])["goals"],
            Value::Null
        );
    }

    #[test]
    fn abusers_are_described() {
        let mut r = run("abusive", 1, 1, 1);
        r.brute = Some(BruteReport {
            attempts: 2,
            outcomes: BTreeMap::from([("refused: not-authorized".to_owned(), 2)]),
            durations: vec![Duration::from_millis(3), Duration::from_millis(5)],
        });
        r.flood = Some(FloodSummary {
            accounts: 10,
            logged_in: 10,
            sent: 50,
            reached_users: 40,
            ..FloodSummary::default()
        });
        let text = abusers(&r);
        assert!(
            text.contains("brute-forcer: 2 attempts (2 × refused: not-authorized)"),
            "{text}"
        );
        assert!(text.contains("max 5.00 ms"), "{text}");
        assert!(
            text.contains("50 requests sent, 40 reached a user"),
            "{text}"
        );
        assert!(!text.contains("never-reader"), "{text}");
        r.feed = Some(FeedReport {
            sent: 7,
            longest_wait: 10.04,
            ended: None,
        });
        let text = abusers(&r);
        assert!(
            text.contains(
                "feeder of the never-reader: 7 large messages sent; longest write wait 10.0 s\n"
            ),
            "{text}"
        );
    }
}
