//! Iq requests the server answers: dispatch to the module registered for
//! the payload, and the answer back to the requester.

use std::sync::Arc;

use starling_jid::Jid;
use starling_stanza::{StanzaError, StanzaErrorCondition as Cond, StanzaKind};

use super::Hub;
use crate::module::{Hook, IqOutcome, IqRequest, IqScope, Module, Session};
use crate::routed::Routed;

impl Hub {
    /// The module registered in `scope` for `st`, when `st` is an iq
    /// request.
    pub(super) fn iq_module(&self, scope: IqScope, st: &Routed) -> Option<Arc<dyn Module>> {
        match (st.kind(), st.payload()) {
            (StanzaKind::Iq(t), Some(p)) if t.is_request() => {
                self.modules.iq_handler(scope, t, p).cloned()
            }
            _ => None,
        }
    }

    /// An iq to one of our domains.
    pub(super) async fn server_iq(&self, st: Routed) {
        if !matches!(st.kind(), StanzaKind::Iq(t) if t.is_request()) {
            return;
        }
        match (self.iq_module(IqScope::Server, &st), st.to().cloned()) {
            (Some(m), Some(to)) => self.run_iq(m, st, &to, false, None).await,
            _ => {
                self.bounce(&st, StanzaError::new(Cond::ServiceUnavailable))
                    .await;
            }
        }
    }

    /// An iq to an account's bare JID `to`, answered on its behalf; the
    /// answer goes on `session`'s stream when given (the account's own
    /// request), else it is routed.
    pub(super) async fn account_iq(
        &self,
        st: Routed,
        to: &Jid,
        from_self: bool,
        session: Option<&mut Session<'_>>,
    ) {
        if !matches!(st.kind(), StanzaKind::Iq(t) if t.is_request()) {
            // A response to a request sent from the account's address: the
            // modules that sent one may be waiting for it.
            if matches!(st.kind(), StanzaKind::Iq(_)) && self.modules.has(Hook::IqResponse) {
                let _ = self.modules.iq_response(self, st, &to.bare()).await;
            }
            return;
        }
        match self.iq_module(IqScope::Account, &st) {
            Some(m) => self.run_iq(m, st, to, from_self, session).await,
            None => {
                let err = StanzaError::new(Cond::ServiceUnavailable);
                self.answer(&st, IqOutcome::Error(err), session).await;
            }
        }
    }

    /// Calls the module and sends its answer.
    pub(super) async fn run_iq(
        &self,
        m: Arc<dyn Module>,
        st: Routed,
        to: &Jid,
        from_self: bool,
        session: Option<&mut Session<'_>>,
    ) {
        let Some(payload) = st.payload() else { return };
        let req = IqRequest {
            stanza: &st,
            payload,
            to,
            from_self,
        };
        let outcome = m.iq(self, req).await;
        self.answer(&st, outcome, session).await;
    }

    /// Sends an iq's answer on the session's stream, or routes it.
    async fn answer(&self, st: &Routed, outcome: IqOutcome, session: Option<&mut Session<'_>>) {
        let reply = match outcome {
            IqOutcome::Done => return,
            IqOutcome::Result(payload) => Routed::parse(st.iq_result(payload)).ok(),
            IqOutcome::Error(err) => st.error_reply(&err),
        };
        let Some(reply) = reply else { return };
        match session {
            Some(s) => s.send(reply.element()),
            None => self.route(reply).await,
        }
    }
}
