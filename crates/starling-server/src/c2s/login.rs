//! The session's side of login throttling: each SASL step is checked
//! against the [`LoginThrottle`] before it runs (a refused one is answered
//! `<temporary-auth-failure/>` unchecked), its outcome is counted, and a
//! failure is held back for the throttle's delay. The session task waits
//! the delay out with a timer (no worker is held, the negotiation timeout
//! still runs); the negotiator processes no input meanwhile.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{SaslDone, SaslJob};
use starling_auth::sasl::{Condition, Failure, ServerStep};
use tracing::{debug, info};

use crate::listen::UnauthGuard;
use crate::throttle::{LoginThrottle, Verdict};

/// One connection's login state.
pub(super) struct Login {
    throttle: Arc<Mutex<LoginThrottle>>,
    /// Its place among the unauthenticated connections, until it
    /// authenticates.
    unauthenticated: Option<UnauthGuard>,
    /// The connection's remote address.
    peer: SocketAddr,
    /// A step admitted by the throttle and not settled yet, and the
    /// account it claims.
    attempt: Option<Option<String>>,
    /// An answer held back, and when it goes out.
    held: Option<(tokio::time::Instant, SaslDone)>,
}

/// What the outcome of a step means for the throttle.
enum Outcome {
    Failed,
    Succeeded,
    Other,
}

fn outcome(done: &SaslDone) -> Outcome {
    match done.step() {
        Some(ServerStep::Success { .. }) => Outcome::Succeeded,
        // A wrong password (or a proof that does not verify), for an
        // existing account or not: a guess.
        Some(ServerStep::Failure { failure, .. })
            if failure.condition == Condition::NotAuthorized =>
        {
            Outcome::Failed
        }
        _ => Outcome::Other,
    }
}

impl Login {
    pub(super) fn new(
        throttle: Arc<Mutex<LoginThrottle>>,
        unauthenticated: Option<UnauthGuard>,
        peer: SocketAddr,
    ) -> Login {
        Login {
            throttle,
            unauthenticated,
            peer,
            attempt: None,
            held: None,
        }
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, LoginThrottle> {
        self.throttle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection authenticated: it no longer counts as
    /// unauthenticated.
    pub(super) fn authenticated(&mut self) {
        self.unauthenticated = None;
    }

    /// The job to run, or `None` when the throttle refuses it (its answer
    /// is then held).
    pub(super) fn admit(&mut self, job: SaslJob) -> Option<SaslJob> {
        let peer = self.peer;
        let account = job.claimed_account().map(|j| j.as_str().to_owned());
        let verdict = self
            .throttle()
            .admit(peer.ip(), account.as_deref(), Instant::now());
        match verdict {
            Verdict::Allow => {
                self.attempt = Some(account);
                Some(job)
            }
            Verdict::Refuse { delay } => {
                info!(%peer, account = ?account, "login refused: too many failed attempts");
                // RFC 6120 §6.5.11: try again later.
                let failure = Failure::new(Condition::TemporaryAuthFailure)
                    .with_text("too many failed attempts, try again later");
                self.hold(job.refuse(failure), delay);
                None
            }
        }
    }

    /// Counts the outcome of a step; the answer to hand to the negotiator
    /// now, or `None` when it is held.
    pub(super) fn settle(&mut self, done: SaslDone) -> Option<SaslDone> {
        let peer = self.peer;
        let account = self.attempt.take().flatten();
        match outcome(&done) {
            Outcome::Succeeded => self.throttle().succeeded(peer.ip()),
            Outcome::Failed => {
                let (delay, entries, in_flight) = {
                    let mut t = self.throttle();
                    let d = t.failed(peer.ip(), account.as_deref(), Instant::now());
                    (d, t.entries(), t.in_flight())
                };
                if !delay.is_zero() {
                    debug!(
                        %peer, ?delay, throttle_entries = ?entries, in_flight,
                        "failed login answered after a delay"
                    );
                    self.hold(done, delay);
                    return None;
                }
            }
            Outcome::Other => self.throttle().ended(peer.ip()),
        }
        Some(done)
    }

    fn hold(&mut self, done: SaslDone, delay: Duration) {
        self.held = Some((tokio::time::Instant::now() + delay, done));
    }

    /// When the held answer goes out, if one is held.
    pub(super) fn held_until(&self) -> Option<tokio::time::Instant> {
        self.held.as_ref().map(|(at, _)| *at)
    }

    /// The held answer, now due.
    pub(super) fn release(&mut self) -> Option<SaslDone> {
        self.held.take().map(|(_, done)| done)
    }
}

impl Drop for Login {
    /// A step still running when the connection ends no longer counts as
    /// in progress.
    fn drop(&mut self) {
        if self.attempt.is_some() {
            self.throttle().ended(self.peer.ip());
        }
    }
}
