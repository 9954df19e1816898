//! Server Dialback requests on an outgoing stream (XEP-0220 §2.1, §2.5):
//! the first domain pair, further pairs on the same stream, and
//! verification requests to an Authoritative Server.

use std::time::Instant;

use starling_jid::DomainPart;
use starling_stream::Condition;

use super::{OutboundEvent, Pending, Phase, QueuedVerify, S2sOutbound};
use crate::dialback::{self, DbElement, DbKind, DbType};
use crate::negotiate::s2s::{AuthMethod, S2sError};

impl S2sOutbound {
    /// Asks to authenticate another of our domains to `remote` on this
    /// stream (XEP-0220 §2.5.1, sender multiplexing), by dialback; the
    /// answer is [`OutboundEvent::PairReady`] or
    /// [`OutboundEvent::PairFailed`], due before `now` plus the timeout.
    /// False (nothing sent) if the stream is not established, is a
    /// verifier, dialback is not allowed or not supported by the peer, or
    /// the pair is already authenticated or pending.
    pub fn authenticate_additional(&mut self, local: DomainPart, now: Instant) -> bool {
        let possible = self.c.phase == Phase::Ready
            && !self.verifier
            && self.settings.dialback_allowed
            && self.peer_dialback
            && !self.pairs.contains(&local)
            && !self.pending_pairs.iter().any(|p| p.what == local.as_str());
        if !possible {
            return false;
        }
        self.send_db_result(local, now.checked_add(self.settings.timeout))
    }

    /// Asks `remote`'s Authoritative Server whether `key` is the dialback
    /// key for the stream `stream_id` from `remote` to `local` (XEP-0220
    /// §2.1.2); the answer is [`OutboundEvent::Verified`] or
    /// [`OutboundEvent::VerifyFailed`], due before `now` plus the timeout.
    /// Requests made before the stream is established wait for it. False
    /// if the stream is closed or a request for `stream_id` is
    /// outstanding.
    pub fn verify(&mut self, stream_id: &str, key: &str, now: Instant) -> bool {
        let outstanding = self.pending_verifies.iter().any(|p| p.what == stream_id)
            || self
                .queued_verifies
                .iter()
                .any(|q| q.stream_id == stream_id);
        if self.c.is_closed() || outstanding {
            return false;
        }
        self.queued_verifies.push(QueuedVerify {
            stream_id: stream_id.to_owned(),
            key: key.to_owned(),
            deadline: now.checked_add(self.settings.timeout),
        });
        if self.c.phase == Phase::Ready {
            self.flush_verifies();
        }
        true
    }

    /// Requests unanswered at `now` fail alone.
    pub(super) fn expire_requests(&mut self, now: Instant) {
        let expired = |d: Option<Instant>| d.is_some_and(|d| now >= d);
        let mut i = 0;
        while i < self.pending_pairs.len() {
            if expired(self.pending_pairs[i].deadline) {
                let p = self.pending_pairs.remove(i);
                self.pair_failed(&p.what, S2sError::Timeout);
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.pending_verifies.len() {
            if expired(self.pending_verifies[i].deadline) {
                let p = self.pending_verifies.remove(i);
                self.c.push(OutboundEvent::VerifyFailed {
                    stream_id: p.what,
                    error: S2sError::Timeout,
                });
            } else {
                i += 1;
            }
        }
        let mut i = 0;
        while i < self.queued_verifies.len() {
            if expired(self.queued_verifies[i].deadline) {
                let q = self.queued_verifies.remove(i);
                self.c.push(OutboundEvent::VerifyFailed {
                    stream_id: q.stream_id,
                    error: S2sError::Timeout,
                });
            } else {
                i += 1;
            }
        }
    }

    /// Pending requests fail with `error` (XEP-0220 §2.1.2: a closed
    /// connection fails them).
    pub(super) fn fail_outstanding(&mut self, error: &S2sError) {
        let pairs: Vec<_> = self.pending_pairs.drain(..).collect();
        for p in pairs {
            if self.method.is_some() {
                self.pair_failed(&p.what, error.clone());
            }
        }
        let verifies: Vec<String> = self
            .pending_verifies
            .drain(..)
            .map(|p| p.what)
            .chain(self.queued_verifies.drain(..).map(|q| q.stream_id))
            .collect();
        for stream_id in verifies {
            self.c.push(OutboundEvent::VerifyFailed {
                stream_id,
                error: error.clone(),
            });
        }
    }

    pub(super) fn pair_failed(&mut self, local: &str, error: S2sError) {
        if let Ok(local) = DomainPart::new(local) {
            self.c.push(OutboundEvent::PairFailed {
                local,
                remote: self.remote.clone(),
                error,
            });
        }
    }

    /// Dialback for the first pair, or the failure that nothing is left.
    pub(super) fn start_dialback(&mut self, sasl_failure: Option<crate::sasl::Failure>) {
        if self.settings.dialback_allowed && self.peer_dialback {
            self.send_db_result(self.local.clone(), None);
            self.c.phase = Phase::Dialback;
        } else {
            self.fail(sasl_failure.map_or(S2sError::NoAuthMethod, S2sError::AuthFailed));
        }
    }

    pub(super) fn send_db_result(&mut self, local: DomainPart, deadline: Option<Instant>) -> bool {
        let Some(id) = self.stream_id.as_deref() else {
            return false;
        };
        let key = dialback::key(
            &self.settings.dialback_secret,
            self.remote.as_str(),
            local.as_str(),
            id,
        );
        let el = dialback::request(DbKind::Result, &local, &self.remote, None, &key);
        self.c.send(&el);
        self.pending_pairs.push(Pending {
            what: local.to_string(),
            deadline,
        });
        true
    }

    pub(super) fn flush_verifies(&mut self) {
        let queued: Vec<_> = self.queued_verifies.drain(..).collect();
        for q in queued {
            if !self.peer_dialback {
                self.c.push(OutboundEvent::VerifyFailed {
                    stream_id: q.stream_id,
                    error: S2sError::NoAuthMethod,
                });
                continue;
            }
            let el = dialback::request(
                DbKind::Verify,
                &self.local,
                &self.remote,
                Some(&q.stream_id),
                &q.key,
            );
            self.c.send(&el);
            self.pending_verifies.push(Pending {
                what: q.stream_id,
                deadline: q.deadline,
            });
        }
    }

    pub(super) fn on_dialback(&mut self, db: DbElement) {
        let Some(answer) = db.answer else {
            // Requests come on the peer's own outgoing streams.
            self.violation(
                Condition::UnsupportedStanzaType,
                "dialback requests are not accepted on an outgoing stream",
            );
            return;
        };
        if db.from != self.remote {
            self.violation(
                Condition::InvalidFrom,
                "the dialback answer does not come from the peer's domain",
            );
            return;
        }
        match db.kind {
            DbKind::Result => {
                let Some(i) = self
                    .pending_pairs
                    .iter()
                    .position(|p| p.what == db.to.as_str())
                else {
                    self.violation(
                        Condition::UnsupportedStanzaType,
                        "unsolicited dialback result",
                    );
                    return;
                };
                self.pending_pairs.remove(i);
                self.on_db_result(db.to, answer);
            }
            DbKind::Verify => {
                let id = db.id.unwrap_or_default();
                let position = self.pending_verifies.iter().position(|p| p.what == id);
                let (Some(i), true) = (position, db.to == self.local) else {
                    self.violation(
                        Condition::UnsupportedStanzaType,
                        "unsolicited dialback verification",
                    );
                    return;
                };
                self.pending_verifies.remove(i);
                self.c.push(match answer {
                    DbType::Valid => OutboundEvent::Verified {
                        stream_id: id,
                        valid: true,
                    },
                    DbType::Invalid => OutboundEvent::Verified {
                        stream_id: id,
                        valid: false,
                    },
                    DbType::Error(c) => OutboundEvent::VerifyFailed {
                        stream_id: id,
                        error: S2sError::DialbackError(c),
                    },
                });
            }
        }
    }

    pub(super) fn on_db_result(&mut self, local: DomainPart, answer: DbType) {
        let first = self.method.is_none();
        let error = match answer {
            DbType::Valid if first => {
                self.ready(AuthMethod::Dialback);
                return;
            }
            DbType::Valid => {
                self.pairs.push(local.clone());
                self.c.push(OutboundEvent::PairReady {
                    local,
                    remote: self.remote.clone(),
                });
                return;
            }
            DbType::Invalid => S2sError::DialbackInvalid,
            DbType::Error(c) => S2sError::DialbackError(c),
        };
        if first {
            self.fail(error);
        } else {
            self.c.push(OutboundEvent::PairFailed {
                local,
                remote: self.remote.clone(),
                error,
            });
        }
    }
}
