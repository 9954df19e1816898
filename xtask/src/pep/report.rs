//! What `cargo xtask bench-pep` measured on each server, and the
//! comparison table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::args::PepOptions;
use crate::load::health::Health;
use crate::util;

/// Everything measured on one server.
#[derive(Debug, Default)]
pub(crate) struct Measurement {
    pub(crate) name: String,
    pub(crate) contacts: usize,
    pub(crate) logged_in: usize,
    pub(crate) login_failed: usize,
    pub(crate) subscribed: usize,
    /// The subscriptions were written into the server's files before the
    /// logins (Prosody), not made over the protocol.
    pub(crate) subscriptions_preset: bool,
    /// How long making them over the protocol took.
    pub(crate) subscribe_seconds: Option<f64>,
    /// Time from the caps presences to the last contact notified of a
    /// probe; `None` when not every contact was.
    pub(crate) caps_seconds: Option<f64>,
    pub(crate) probes: usize,
    pub(crate) probed: usize,
    pub(crate) disco_queries: u64,
    pub(crate) caps_cpu: f64,
    /// RSS (KiB): idle; with every session and subscription; after the
    /// caps were learned; the peak.
    pub(crate) rss_idle: u64,
    pub(crate) rss_online: u64,
    pub(crate) rss_caps: u64,
    pub(crate) rss_peak: u64,
    pub(crate) items: usize,
    pub(crate) complete_items: usize,
    pub(crate) incomplete_items: usize,
    pub(crate) fan_out_p50: Option<Duration>,
    pub(crate) fan_out_p99: Option<Duration>,
    pub(crate) fan_out_max: Option<Duration>,
    pub(crate) notify_p50: Option<Duration>,
    pub(crate) notify_p99: Option<Duration>,
    pub(crate) notifications: u64,
    pub(crate) duplicates: u64,
    pub(crate) publish_seconds: f64,
    pub(crate) publish_cpu: f64,
    pub(crate) generator_cpu: f64,
    pub(crate) publish_acks: u64,
    pub(crate) publish_errors: u64,
    pub(crate) error_stanzas: u64,
    pub(crate) stray: u64,
    pub(crate) disconnects: u64,
    pub(crate) health: Health,
}

impl Measurement {
    /// Whether every item reached every contact.
    pub(crate) fn complete(&self) -> bool {
        self.contacts > 0
            && self.probed == self.contacts
            && self.items > 0
            && self.complete_items == self.items
    }
}

/// A value for a row: `None` prints `-`.
type Value = fn(&Measurement) -> Option<f64>;

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> Option<f64> {
    Some(kib as f64 / 1024.0)
}

fn count(n: usize) -> Option<f64> {
    Some(n as f64)
}

/// The rows: label, value, whether it is a count (printed whole).
const ROWS: &[(&str, Value, bool)] = &[
    ("contacts logged in", |m| count(m.logged_in), true),
    ("login failures", |m| count(m.login_failed), true),
    (
        "mutual subscriptions made over the protocol (- : written in its files)",
        |m| (!m.subscriptions_preset).then_some(m.subscribed as f64),
        true,
    ),
    ("time to make them (s)", |m| m.subscribe_seconds, false),
    (
        "disco#info queries from the server",
        |m| Some(m.disco_queries as f64),
        true,
    ),
    (
        "time until every contact's caps were learned (s)",
        |m| m.caps_seconds,
        false,
    ),
    (
        "server CPU, learning the caps (s)",
        |m| Some(m.caps_cpu),
        false,
    ),
    ("items published", |m| count(m.items), true),
    (
        "items that reached every contact",
        |m| count(m.complete_items),
        true,
    ),
    (
        "publish → last notification, median (ms)",
        |m| ms(m.fan_out_p50),
        false,
    ),
    (
        "publish → last notification, p99 (ms)",
        |m| ms(m.fan_out_p99),
        false,
    ),
    (
        "publish → last notification, max (ms)",
        |m| ms(m.fan_out_max),
        false,
    ),
    (
        "publish → each notification, median (ms)",
        |m| ms(m.notify_p50),
        false,
    ),
    (
        "publish → each notification, p99 (ms)",
        |m| ms(m.notify_p99),
        false,
    ),
    (
        "notifications received (one per item and contact)",
        |m| Some(m.notifications as f64),
        true,
    ),
    (
        "duplicate notifications (an item again to the same contact)",
        |m| Some(m.duplicates as f64),
        true,
    ),
    (
        "notifications/s (publish phase)",
        |m| (m.publish_seconds > 0.0).then(|| m.notifications as f64 / m.publish_seconds),
        true,
    ),
    (
        "server CPU per publish (ms)",
        |m| (m.items > 0).then(|| m.publish_cpu * 1e3 / m.items as f64),
        false,
    ),
    (
        "server CPU per 1000 notifications (ms)",
        |m| (m.notifications > 0).then(|| m.publish_cpu * 1e6 / m.notifications as f64),
        false,
    ),
    (
        "generator CPU, publish phase (s)",
        |m| Some(m.generator_cpu),
        false,
    ),
    (
        "errors (publishes refused, other error stanzas)",
        |m| Some((m.publish_errors + m.error_stanzas) as f64),
        true,
    ),
    (
        "sessions dropped by the server",
        |m| Some(m.disconnects as f64),
        true,
    ),
    ("server RSS idle (MiB)", |m| mib(m.rss_idle), false),
    (
        "server RSS, sessions + subscriptions, before caps (MiB)",
        |m| mib(m.rss_online),
        false,
    ),
    ("server RSS, caps learned (MiB)", |m| mib(m.rss_caps), false),
    (
        "caps learned: RSS growth (KiB)",
        |m| Some(m.rss_caps as f64 - m.rss_online as f64),
        false,
    ),
    (
        "caps learned: RSS growth per contact (bytes)",
        |m| {
            (m.logged_in > 0)
                .then(|| (m.rss_caps as f64 - m.rss_online as f64) * 1024.0 / m.logged_in as f64)
        },
        false,
    ),
    ("server peak RSS (MiB)", |m| mib(m.rss_peak), false),
];

/// The comparison table (markdown), with Starling/Prosody ratios when both
/// were measured.
pub(crate) fn table(options: &PepOptions, results: &[Measurement]) -> String {
    let mut out = crate::load::run_header();
    let _ = writeln!(
        out,
        "1 publisher, {} contacts (caps with `{}+notify`, {} distinct caps), {} items of {} bytes \
         published one at a time.\n",
        options.contacts,
        super::caps::BENCH_NODE,
        options.caps_variants,
        options.items,
        options.payload_bytes
    );
    if results.is_empty() {
        out.push_str("No server was measured.\n");
        return out;
    }
    let starling = results.iter().find(|m| m.name == "starling");
    let prosody = results.iter().find(|m| m.name == "prosody");
    let ratio = starling.zip(prosody);
    let names: Vec<&str> = results.iter().map(|m| m.name.as_str()).collect();
    let _ = write!(out, "| metric | {} |", names.join(" | "));
    if ratio.is_some() {
        out.push_str(" starling/prosody |");
    }
    let _ = write!(out, "\n| --- |{}", " ---: |".repeat(names.len()));
    if ratio.is_some() {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for (label, value, whole) in ROWS {
        let text = |v: Option<f64>| match v {
            Some(v) if *whole => format!("{v:.0}"),
            Some(v) => util::three_digits(v),
            None => "-".to_owned(),
        };
        let values: Vec<String> = results.iter().map(|m| text(value(m))).collect();
        let _ = write!(out, "| {label} | {} |", values.join(" | "));
        if let Some((s, p)) = ratio {
            match (value(s), value(p)) {
                (Some(s), Some(p)) if p.abs() > f64::EPSILON => {
                    let _ = write!(out, " {:.2} |", s / p);
                }
                _ => out.push_str(" - |"),
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_metric_and_the_ratio() {
        let measured = |name: &str, p50: u64| Measurement {
            name: name.to_owned(),
            contacts: 2,
            logged_in: 2,
            probed: 2,
            items: 1,
            complete_items: 1,
            fan_out_p50: Some(Duration::from_millis(p50)),
            rss_online: 1024,
            rss_caps: 2048,
            ..Measurement::default()
        };
        let results = [measured("starling", 1), measured("prosody", 4)];
        assert!(results.iter().all(Measurement::complete));
        let table = table(&PepOptions::default(), &results);
        let median = table
            .lines()
            .find(|l| l.starts_with("| publish → last notification, median"))
            .unwrap();
        assert_eq!(
            median,
            "| publish → last notification, median (ms) | 1.00 | 4.00 | 0.25 |"
        );
        let growth = table
            .lines()
            .find(|l| l.starts_with("| caps learned: RSS growth per contact"))
            .unwrap();
        assert!(growth.contains("| 524288 | 524288 | 1.00 |"), "{growth}");
        assert_eq!(
            table.lines().filter(|l| l.starts_with("| ")).count(),
            ROWS.len() + 2
        );
        assert!(!Measurement::default().complete());
        assert!(super::table(&PepOptions::default(), &[]).ends_with("No server was measured.\n"));
    }
}
