//! Server Dialback on an incoming stream (XEP-0220 §2.2): requests from
//! the peer, and the application's answers to them.

use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition;
use starling_stream::{Condition, StreamError};

use super::{InboundEvent, S2sInbound};
use crate::dialback::{self, DbElement, DbKind};
use crate::negotiate::s2s::{AuthMethod, S2sHooks};

impl<H: S2sHooks> S2sInbound<H> {
    /// Reports the verification of a [`InboundEvent::DialbackRequest`]
    /// (XEP-0220 §2.2.1): `<db:result type='valid'/>` authenticates the
    /// pair (and [`InboundEvent::Authenticated`] follows);
    /// `type='invalid'` is sent and the stream closed with
    /// `not-authorized`, as the XEP requires (no event follows:
    /// [`is_closed`](Self::is_closed) is true). False (and nothing sent)
    /// if no such request is pending on this stream.
    pub fn dialback_result(&mut self, from: &DomainPart, to: &DomainPart, valid: bool) -> bool {
        if !self.take_pending(from, to) {
            return false;
        }
        let el = dialback::answer(DbKind::Result, to, from, None, valid);
        self.send_or_defer(el);
        if valid {
            self.authenticate(from.clone(), to.clone(), AuthMethod::Dialback);
        } else {
            self.write_error(
                &StreamError::new(Condition::NotAuthorized)
                    .with_text("dialback authentication failed"),
            );
        }
        true
    }

    /// Answers a [`InboundEvent::DialbackRequest`] with a dialback error
    /// (XEP-0220 §2.4) instead: `remote-connection-failed`,
    /// `remote-server-not-found` or `remote-server-timeout` when the
    /// Authoritative Server could not be asked, `forbidden` to refuse a
    /// key found invalid without closing the stream. The stream stays
    /// open. False if no such request is pending.
    pub fn dialback_error(
        &mut self,
        from: &DomainPart,
        to: &DomainPart,
        condition: StanzaErrorCondition,
    ) -> bool {
        if !self.take_pending(from, to) {
            return false;
        }
        self.send_or_defer(dialback::error(DbKind::Result, to, from, None, condition));
        true
    }

    fn take_pending(&mut self, from: &DomainPart, to: &DomainPart) -> bool {
        if self.c.is_closed() {
            return false;
        }
        match self.pending.iter().position(|(f, t)| f == from && t == to) {
            Some(i) => {
                self.pending.remove(i);
                true
            }
            None => false,
        }
    }

    pub(super) fn on_dialback(&mut self, db: DbElement) {
        if db.answer.is_some() {
            // XEP-0220 §2.2: only requests travel this way (answers on an
            // incoming stream are the "unsolicited dialback" attack).
            self.fail(
                StreamError::new(Condition::UnsupportedStanzaType)
                    .with_text("dialback answers are not accepted on an incoming stream"),
            );
            return;
        }
        match db.kind {
            DbKind::Result => self.on_db_result(db),
            DbKind::Verify => self.on_db_verify(db),
        }
    }

    /// XEP-0220 §2.2.1: the peer asks to send from `db.from` to `db.to`.
    fn on_db_result(&mut self, db: DbElement) {
        let DbElement { from, to, key, .. } = db;
        let refuse = if !self.settings.dialback_allowed {
            Some(StanzaErrorCondition::NotAuthorized)
        } else if self.tls.is_none() && self.settings.tls_required {
            Some(StanzaErrorCondition::PolicyViolation)
        } else if !self.hooks.serves(&to) {
            Some(StanzaErrorCondition::ItemNotFound)
        } else {
            None
        };
        if let Some(c) = refuse {
            self.send_or_defer(dialback::error(DbKind::Result, &to, &from, None, c));
            return;
        }
        if self.is_authenticated(&from, &to) {
            self.send_or_defer(dialback::answer(DbKind::Result, &to, &from, None, true));
            return;
        }
        if self.pending.iter().any(|(f, t)| *f == from && *t == to) {
            // Already being verified: the answer to the first request
            // answers this one too.
            return;
        }
        if self.pairs.len() + self.pending.len() >= self.settings.max_domain_pairs {
            self.send_or_defer(dialback::error(
                DbKind::Result,
                &to,
                &from,
                None,
                StanzaErrorCondition::ResourceConstraint,
            ));
            return;
        }
        let Some(stream_id) = self.stream_id.clone() else {
            return;
        };
        self.pending.push((from.clone(), to.clone()));
        self.c.push(InboundEvent::DialbackRequest {
            from,
            to,
            key,
            stream_id,
        });
    }

    /// XEP-0220 §2.2.2: we are the Authoritative Server for `db.to`.
    fn on_db_verify(&mut self, db: DbElement) {
        let DbElement {
            from, to, id, key, ..
        } = db;
        let Some(id) = id else { return };
        let refuse = if self.tls.is_none()
            && self.settings.tls_required
            && !self.settings.verify_without_tls
        {
            Some(StanzaErrorCondition::PolicyViolation)
        } else if !self.hooks.serves(&to) {
            Some(StanzaErrorCondition::ItemNotFound)
        } else {
            None
        };
        if let Some(c) = refuse {
            self.send_or_defer(dialback::error(DbKind::Verify, &to, &from, Some(&id), c));
            return;
        }
        let valid = dialback::verify(
            &self.settings.dialback_secret,
            from.as_str(),
            to.as_str(),
            &id,
            &key,
        );
        self.send_or_defer(dialback::answer(
            DbKind::Verify,
            &to,
            &from,
            Some(&id),
            valid,
        ));
        self.c.push(InboundEvent::VerifyAnswered {
            from,
            to,
            id,
            valid,
        });
    }
}
