//! The brute-forcer: one connection after another, each trying a wrong
//! password for an existing account (STARTTLS, SCRAM-SHA-1), reconnecting
//! after each failure, at most one attempt per [`Plan::brute_every`].
//! Reports how each attempt ended and how long it took (a server that
//! delays failures shows it here).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use starling_jid::Jid;
use tokio::sync::watch;

use super::plan::Plan;
use crate::load::generator::{self, Target};
use crate::load::servers::Account;

/// The longest one attempt may take.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(30);

/// What the brute-forcer saw.
#[derive(Debug, Clone, Default)]
pub(crate) struct BruteReport {
    /// Attempts made.
    pub(crate) attempts: u64,
    /// How the attempts ended, with counts.
    pub(crate) outcomes: BTreeMap<String, u64>,
    /// How long each attempt took, from the TCP connect to its end.
    pub(crate) durations: Vec<Duration>,
}

impl BruteReport {
    /// Attempts that logged in: must be 0.
    pub(crate) fn accepted(&self) -> u64 {
        self.outcomes.get(ACCEPTED).copied().unwrap_or(0)
    }
}

/// The outcome of an attempt that logged in with the wrong password.
pub(crate) const ACCEPTED: &str = "ACCEPTED (wrong password logged in)";

/// A short name for how an attempt ended, from the login's result.
pub(crate) fn classify(result: &Result<(), String>) -> String {
    let error = match result {
        Ok(()) => return ACCEPTED.to_owned(),
        Err(error) => error.as_str(),
    };
    if let Some(rest) = error.strip_prefix("authentication failed: ") {
        // `SASL failure <not-authorized/>: text`: the element's name.
        let named = rest.split_once('<').map_or(rest, |(_, after)| after);
        let condition = named
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .find(|word| !word.is_empty())
            .unwrap_or("?");
        return format!("refused: {condition}");
    }
    let known = [
        ("policy-violation", "stream error: policy-violation"),
        ("connecting", "could not connect"),
        ("timed out", "timed out"),
        ("TLS", "TLS failed"),
        ("the server closed the stream", "closed by the server"),
        ("reading:", "connection reset"),
        ("writing:", "connection reset"),
    ];
    for (needle, name) in known {
        if error.contains(needle) {
            return name.to_owned();
        }
    }
    let short: String = error.chars().take(60).collect();
    format!("other: {short}")
}

/// Tries wrong passwords for `victim` until `stop` turns true.
pub(crate) async fn run(
    target: Target,
    victim: Jid,
    plan: Plan,
    mut stop: watch::Receiver<bool>,
) -> BruteReport {
    let mut report = BruteReport::default();
    let mut buf = vec![0u8; 8192];
    let user = victim.node().unwrap_or_default().to_owned();
    while !*stop.borrow() {
        let started = Instant::now();
        let account = Account {
            user: user.clone(),
            password: format!("wrong-{}", report.attempts),
        };
        let attempt = tokio::time::timeout(
            ATTEMPT_LIMIT,
            generator::login(&victim, &account, &target, &mut buf),
        );
        let result = tokio::select! {
            result = attempt => match result {
                Ok(Ok(_session)) => Ok(()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err("timed out".to_owned()),
            },
            _ = stop.changed() => break,
        };
        report.attempts += 1;
        report.durations.push(started.elapsed());
        *report.outcomes.entry(classify(&result)).or_default() += 1;
        let next = tokio::time::Instant::from_std(started + plan.brute_every);
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            _ = stop.changed() => break,
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_have_short_names() {
        let table = [
            (Ok(()), ACCEPTED),
            (
                Err("authentication failed: SASL failure <not-authorized/>: bad password"),
                "refused: not-authorized",
            ),
            (
                Err("authentication failed: not-authorized"),
                "refused: not-authorized",
            ),
            (
                Err("authentication failed: <temporary-auth-failure/>"),
                "refused: temporary-auth-failure",
            ),
            (
                Err("stream error: policy-violation: too many failures"),
                "stream error: policy-violation",
            ),
            (
                Err("connecting: Connection refused (os error 111)"),
                "could not connect",
            ),
            (Err("timed out"), "timed out"),
            (Err("TLS: handshake eof"), "TLS failed"),
            (Err("the server closed the stream"), "closed by the server"),
            (Err("reading: Connection reset by peer"), "connection reset"),
            (Err("something new"), "other: something new"),
        ];
        for (result, name) in table {
            let result = result.map_err(str::to_owned);
            assert_eq!(classify(&result), name, "{result:?}");
        }
        let mut report = BruteReport::default();
        assert_eq!(report.accepted(), 0);
        report.outcomes.insert(ACCEPTED.to_owned(), 2);
        assert_eq!(report.accepted(), 2);
    }
}
