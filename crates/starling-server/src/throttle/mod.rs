//! Login throttling, sans-IO: failed SASL attempts counted per source
//! (IPv4 address, IPv6 /64) and per claimed account, turned into a delay
//! before each `<failure/>` and, past a threshold, a refusal
//! (`<temporary-auth-failure/>`, RFC 6120 §6.5.11) given without checking
//! the credentials.
//!
//! The rules:
//!
//! 1. **Counts decay.** Each key forgets one failure per `decay` since its
//!    last counted failure.
//! 2. **Delay.** The `n`-th recent failure of a key is answered at once
//!    while `n <= free_failures`, then after `base_delay × 2^(n − free − 1)`,
//!    capped at `max_delay`. A failure waits for the larger of its
//!    source's and its account's delays. Only failures wait: a correct
//!    password is never delayed.
//! 3. **Per source first.** A source with `refuse_after` recent failures
//!    is refused, whatever it sends, until its count decays below that; a
//!    successful login from a source clears its count. Its attempts in
//!    progress count as failures until they end, so parallel connections
//!    from one source get no more guesses than one connection.
//! 4. **Per account, without locking the owner out.** An account's count
//!    grows only with failures from a source other than the one of its
//!    previous failure, so one address hammering an account is the per
//!    source rule's business, and many addresses (a distributed guess)
//!    raise it. Past `refuse_after`, the account's count refuses only
//!    sources that have failed themselves recently; a source with no
//!    recent failure is never refused because of the account, only its
//!    failures are delayed. A success does not clear the account's count.
//! 5. **Existence is not revealed.** Accounts are counted by the name
//!    claimed, whether the account exists or not; the delays and refusals
//!    depend on counts only.
//! 6. **Bounded memory.** Each table holds at most `max_entries` keys
//!    (accounts as 64-bit keyed hashes of the bare JID); when full,
//!    forgotten keys go first, then those that failed longest ago.

mod prefix;
mod table;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub(crate) use prefix::source_prefix;
use table::Table;

use crate::config::Limits;

/// The throttling policy (from `[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Failures of a key answered without delay.
    pub(crate) free_failures: u32,
    /// The first delay.
    pub(crate) base_delay: Duration,
    /// The longest delay.
    pub(crate) max_delay: Duration,
    /// Recent failures after which a source is refused.
    pub(crate) refuse_after: u32,
    /// One failure is forgotten per this much time.
    pub(crate) decay: Duration,
    /// Keys held per table (sources, accounts).
    pub(crate) max_entries: usize,
}

impl Policy {
    /// The policy of the configuration's `[limits]`.
    pub(crate) fn from_limits(l: &Limits) -> Policy {
        Policy {
            free_failures: l.login_free_failures,
            base_delay: l.login_delay,
            max_delay: l.login_max_delay,
            refuse_after: l.login_refuse_after,
            decay: l.login_failure_decay,
            max_entries: l.login_throttle_entries,
        }
    }

    /// The delay before answering the `n`-th recent failure of a key.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let Some(over) = n.checked_sub(self.free_failures + 1) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(over.min(31)).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// What to do with a SASL step before checking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Check it.
    Allow,
    /// Answer `<temporary-auth-failure/>` after `delay`, unchecked.
    Refuse {
        /// How long to wait before answering.
        delay: Duration,
    },
}

/// The login throttle of a server: failure counts per source and account.
#[derive(Debug)]
pub(crate) struct LoginThrottle {
    policy: Policy,
    sources: Table<IpAddr>,
    accounts: Table<u64>,
    /// Admitted attempts not yet ended, per source (bounded by the
    /// connections).
    in_flight: HashMap<IpAddr, u32>,
    hasher: std::hash::RandomState,
}

impl LoginThrottle {
    /// An empty throttle.
    pub(crate) fn new(policy: Policy) -> LoginThrottle {
        LoginThrottle {
            policy,
            sources: Table::new(policy.decay, policy.max_entries),
            accounts: Table::new(policy.decay, policy.max_entries),
            in_flight: HashMap::new(),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn account_key(&self, account: &str) -> u64 {
        self.hasher.hash_one(account)
    }

    /// Whether a step from `ip` for `account` (the bare JID it claims, if
    /// any) may be checked at `now` (rules 3 and 4).
    pub(crate) fn check(&self, ip: IpAddr, account: Option<&str>, now: Instant) -> Verdict {
        let p = &self.policy;
        let source = source_prefix(ip);
        let running = self.in_flight.get(&source).copied().unwrap_or(0);
        let own = self.sources.count(&source, now).saturating_add(running);
        if own >= p.refuse_after {
            return Verdict::Refuse {
                delay: p.delay(own),
            };
        }
        if let Some(a) = account {
            let theirs = self.accounts.count(&self.account_key(a), now);
            if own > 0 && theirs >= p.refuse_after {
                return Verdict::Refuse {
                    delay: p.delay(theirs),
                };
            }
        }
        Verdict::Allow
    }

    /// [`check`](Self::check), and when the attempt may go on, counts it
    /// as in progress until [`failed`](Self::failed),
    /// [`succeeded`](Self::succeeded) or [`ended`](Self::ended).
    pub(crate) fn admit(&mut self, ip: IpAddr, account: Option<&str>, now: Instant) -> Verdict {
        let verdict = self.check(ip, account, now);
        if verdict == Verdict::Allow {
            let n = self.in_flight.entry(source_prefix(ip)).or_insert(0);
            *n = n.saturating_add(1);
        }
        verdict
    }

    /// An admitted attempt from `ip` ended without a verdict on the
    /// credentials (a challenge, a malformed message, the connection
    /// gone).
    pub(crate) fn ended(&mut self, ip: IpAddr) {
        let source = source_prefix(ip);
        if let Some(n) = self.in_flight.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&source);
            }
        }
    }

    /// Counts a failed attempt from `ip` for `account` at `now`; returns
    /// how long to wait before answering it (rules 2 and 4).
    pub(crate) fn failed(&mut self, ip: IpAddr, account: Option<&str>, now: Instant) -> Duration {
        self.ended(ip);
        let source = source_prefix(ip);
        let own = self.sources.fail(source, source, false, now);
        let theirs = match account.map(|a| self.account_key(a)) {
            Some(key) => self.accounts.fail(key, source, true, now),
            None => 0,
        };
        self.policy.delay(own).max(self.policy.delay(theirs))
    }

    /// A successful login from `ip`: its source starts afresh (rule 3).
    pub(crate) fn succeeded(&mut self, ip: IpAddr) {
        self.ended(ip);
        self.sources.clear(&source_prefix(ip));
    }

    /// Keys held: (sources, accounts).
    pub(crate) fn entries(&self) -> (usize, usize) {
        (self.sources.len(), self.accounts.len())
    }

    /// Attempts in progress, all sources together.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.values().sum()
    }
}
