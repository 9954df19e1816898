//! When a dialback verification may run (sans-IO).
//!
//! Each `<db:result/>` a peer sends makes us connect to the claimed
//! domain's authoritative server — a host and port chosen by whoever runs
//! that domain's DNS. [`VerifyPolicy`] decides, for a remote domain and the
//! time, whether a verification starts or is refused at once: at most
//! `max_total` run at a time, at most `max_per_domain` for one domain, and
//! a domain whose verifications failed (unreachable, timed out, an error
//! answer) is answered from that remembered failure for a backoff that
//! doubles with each further failure, up to a maximum.
//!
//! Valid or invalid *verdicts* are deliberately not cached per domain: a
//! dialback key is bound to one stream's id, so a "valid" remembered for a
//! domain would let anyone claim that domain, and an "invalid" would let
//! anyone lock it out by sending a wrong key. The negotiator already
//! answers a repeated `<db:result/>` on the same stream itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition as Cond;

/// Failing domains remembered at most (the oldest is forgotten beyond).
pub(crate) const MAX_REMEMBERED: usize = 4096;

/// The limits of [`VerifyPolicy`] (`[s2s]` keys).
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifyLimits {
    /// Verifications running at once (`max_verifications`).
    pub(crate) max_total: usize,
    /// Verifications running at once for one remote domain
    /// (`max_verifications_per_domain`).
    pub(crate) max_per_domain: usize,
    /// The backoff after a first failure (`verify_backoff`).
    pub(crate) backoff: Duration,
    /// The longest backoff (`verify_backoff_max`).
    pub(crate) backoff_max: Duration,
}

/// What to do with a verification request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Run it: a slot is taken, to give back with [`VerifyPolicy::finish`].
    Start,
    /// Refused: `max_total` verifications are running.
    Busy,
    /// Refused: `max_per_domain` verifications for this domain are running.
    DomainBusy,
    /// Refused: the domain's verifications failed recently; the answer is
    /// that failure, until `until`.
    Failing {
        /// When a new attempt is allowed.
        until: Instant,
    },
}

impl Decision {
    /// The dialback error that answers a refused request (XEP-0220 §2.4):
    /// `resource-constraint` (wait) when over a cap,
    /// `remote-server-not-found` while backing off.
    pub(crate) fn condition(self) -> Option<Cond> {
        match self {
            Decision::Start => None,
            Decision::Busy | Decision::DomainBusy => Some(Cond::ResourceConstraint),
            Decision::Failing { .. } => Some(Cond::RemoteServerNotFound),
        }
    }
}

/// How a verification that was started ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The authoritative server answered (valid or invalid).
    Answered,
    /// It could not be asked: unreachable, timed out, an error answer.
    Failed,
}

/// A remote domain's recent failures.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// In a row.
    count: u32,
    /// No attempt before this.
    until: Instant,
}

/// The verification policy: counts of running verifications and the
/// domains that failed.
#[derive(Debug)]
pub(crate) struct VerifyPolicy {
    limits: VerifyLimits,
    running: usize,
    per_domain: HashMap<DomainPart, usize>,
    failures: HashMap<DomainPart, Failures>,
}

impl VerifyPolicy {
    /// A policy with nothing running and nothing remembered.
    pub(crate) fn new(limits: VerifyLimits) -> VerifyPolicy {
        VerifyPolicy {
            limits,
            running: 0,
            per_domain: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// Decides about a verification for `remote` at `now`; on
    /// [`Decision::Start`] a slot is taken.
    pub(crate) fn decide(&mut self, remote: &DomainPart, now: Instant) -> Decision {
        if let Some(f) = self.failures.get(remote) {
            if now < f.until {
                return Decision::Failing { until: f.until };
            }
            // Long past its backoff: forgotten.
            if now >= f.until + self.limits.backoff_max {
                self.failures.remove(remote);
            }
        }
        if self.running >= self.limits.max_total {
            return Decision::Busy;
        }
        let n = self.per_domain.entry(remote.clone()).or_insert(0);
        if *n >= self.limits.max_per_domain {
            return Decision::DomainBusy;
        }
        *n += 1;
        self.running += 1;
        Decision::Start
    }

    /// A started verification for `remote` ended at `now`: its slot is
    /// given back; a failure starts or lengthens the domain's backoff, an
    /// answer ends it.
    pub(crate) fn finish(&mut self, remote: &DomainPart, outcome: Outcome, now: Instant) {
        self.running = self.running.saturating_sub(1);
        if let Some(n) = self.per_domain.get_mut(remote) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_domain.remove(remote);
            }
        }
        match outcome {
            Outcome::Answered => {
                self.failures.remove(remote);
            }
            Outcome::Failed => self.failed(remote, now),
        }
    }

    fn failed(&mut self, remote: &DomainPart, now: Instant) {
        let count = self.failures.get(remote).map_or(0, |f| f.count) + 1;
        let until = now + self.backoff(count);
        if !self.failures.contains_key(remote) && self.failures.len() >= MAX_REMEMBERED {
            self.forget_one(now);
        }
        self.failures
            .insert(remote.clone(), Failures { count, until });
    }

    /// The backoff after `count` failures in a row: doubling from
    /// `backoff`, at most `backoff_max`.
    fn backoff(&self, count: u32) -> Duration {
        let doublings = count.saturating_sub(1).min(31);
        self.limits
            .backoff
            .saturating_mul(1 << doublings)
            .min(self.limits.backoff_max)
    }

    /// Makes room in the failure table: the expired entries, else the one
    /// that ends first.
    fn forget_one(&mut self, now: Instant) {
        self.failures.retain(|_, f| f.until > now);
        if self.failures.len() < MAX_REMEMBERED {
            return;
        }
        let first = self
            .failures
            .iter()
            .min_by_key(|(_, f)| f.until)
            .map(|(d, _)| d.clone());
        if let Some(d) = first {
            self.failures.remove(&d);
        }
    }

    /// Verifications running now.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DomainPart {
        DomainPart::new(s).unwrap()
    }

    fn limits() -> VerifyLimits {
        VerifyLimits {
            max_total: 3,
            max_per_domain: 2,
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
        }
    }

    enum Step {
        /// decide(domain, at seconds) == expected
        Decide(&'static str, u64, Decision),
        /// decide(domain, at) is Failing until at+backoff seconds
        Failing(&'static str, u64, u64),
        /// finish(domain, outcome, at)
        Finish(&'static str, Outcome, u64),
    }
    use Decision::{Busy, DomainBusy, Start};
    use Outcome::{Answered, Failed};
    use Step::{Decide, Failing, Finish};

    fn run(steps: &[Step]) {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut p = VerifyPolicy::new(limits());
        for (i, step) in steps.iter().enumerate() {
            match step {
                Decide(dom, t, want) => assert_eq!(p.decide(&d(dom), at(*t)), *want, "step {i}"),
                Failing(dom, t, until) => assert_eq!(
                    p.decide(&d(dom), at(*t)),
                    Decision::Failing { until: at(*until) },
                    "step {i}"
                ),
                Finish(dom, o, t) => p.finish(&d(dom), *o, at(*t)),
            }
        }
    }

    #[test]
    fn caps_global_and_per_domain() {
        run(&[
            Decide("a.example", 0, Start),
            Decide("a.example", 0, Start),
            Decide("a.example", 0, DomainBusy),
            Decide("b.example", 0, Start),
            Decide("c.example", 0, Busy),
            // A slot given back is free again.
            Finish("b.example", Answered, 1),
            Decide("c.example", 1, Start),
            Decide("d.example", 1, Busy),
            Finish("a.example", Answered, 2),
            Decide("a.example", 2, Start),
        ]);
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_maximum() {
        run(&[
            Decide("x.example", 0, Start),
            Finish("x.example", Failed, 10),
            Failing("x.example", 11, 15),
            Failing("x.example", 14, 15),
            // Other domains are not affected.
            Decide("y.example", 14, Start),
            Finish("y.example", Answered, 14),
            Decide("x.example", 15, Start),
            Finish("x.example", Failed, 20),
            Failing("x.example", 21, 30),
            Decide("x.example", 30, Start),
            Finish("x.example", Failed, 30),
            Failing("x.example", 30, 50),
            Decide("x.example", 50, Start),
            Finish("x.example", Failed, 50),
            Failing("x.example", 50, 90),
            Decide("x.example", 90, Start),
            // 80 s would be next: capped at 60.
            Finish("x.example", Failed, 90),
            Failing("x.example", 90, 150),
            Decide("x.example", 150, Start),
            Finish("x.example", Failed, 150),
            Failing("x.example", 200, 210),
        ]);
    }

    #[test]
    fn an_answer_ends_the_backoff() {
        run(&[
            Decide("x.example", 0, Start),
            Finish("x.example", Failed, 0),
            Decide("x.example", 5, Start),
            Finish("x.example", Answered, 6),
            Decide("x.example", 6, Start),
            // Counted from one again.
            Finish("x.example", Failed, 6),
            Failing("x.example", 7, 11),
        ]);
    }

    #[test]
    fn a_failure_long_past_is_forgotten() {
        run(&[
            Decide("x.example", 0, Start),
            Finish("x.example", Failed, 0),
            // 5 s backoff, then forgotten 60 s after it ended.
            Decide("x.example", 100, Start),
            Finish("x.example", Failed, 100),
            Failing("x.example", 101, 105),
        ]);
    }

    #[test]
    fn refused_requests_take_no_slot() {
        let t = Instant::now();
        let mut p = VerifyPolicy::new(limits());
        for _ in 0..100 {
            p.decide(&d("a.example"), t);
        }
        assert_eq!(p.running(), 2);
        p.finish(&d("a.example"), Answered, t);
        p.finish(&d("a.example"), Answered, t);
        assert_eq!(p.running(), 0);
        // More finishes than starts do not underflow.
        p.finish(&d("a.example"), Answered, t);
        assert_eq!(p.running(), 0);
        assert_eq!(p.decide(&d("a.example"), t), Start);
    }

    #[test]
    fn the_failure_table_is_bounded() {
        let t = Instant::now();
        let mut p = VerifyPolicy::new(VerifyLimits {
            max_total: usize::MAX,
            max_per_domain: 1,
            ..limits()
        });
        for i in 0..MAX_REMEMBERED + 10 {
            let dom = d(&format!("n{i}.example"));
            assert_eq!(p.decide(&dom, t), Start);
            p.finish(&dom, Failed, t + Duration::from_millis(i as u64));
        }
        assert_eq!(p.failures.len(), MAX_REMEMBERED);
        // The earliest were forgotten, the latest remembered.
        assert_eq!(p.decide(&d("n0.example"), t), Start);
        let last = d(&format!("n{}.example", MAX_REMEMBERED + 9));
        assert!(matches!(p.decide(&last, t), Decision::Failing { .. }));
    }

    #[test]
    fn refusal_conditions() {
        assert_eq!(Start.condition(), None);
        assert_eq!(Busy.condition(), Some(Cond::ResourceConstraint));
        assert_eq!(DomainBusy.condition(), Some(Cond::ResourceConstraint));
        let f = Decision::Failing {
            until: Instant::now(),
        };
        assert_eq!(f.condition(), Some(Cond::RemoteServerNotFound));
    }
}
