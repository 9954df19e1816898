//! What the c2s negotiator asks of the server: served domains and
//! resource binding (with the conflict policy and the resource limit).

use std::sync::Arc;

use starling_auth::negotiate::ServerHooks;
use starling_jid::{BareJid, DomainPart, FullJid};
use starling_stanza::{StanzaError, StanzaErrorCondition as Cond};
use starling_stream::{Condition, StreamError};
use tracing::info;

use crate::config::ConflictPolicy;
use crate::hub::Hub;
use crate::queue::Inbox;
use crate::registry::{Insert, SessionHandle};

/// The negotiator's view of the server; after binding it holds the new
/// session's handle and queue until the session task takes them.
pub(super) struct Hooks {
    pub(super) hub: Arc<Hub>,
    pub(super) id: u64,
    pub(super) bound: Option<(Arc<SessionHandle>, Inbox)>,
    /// XEP-0198 state, once enabled (here so that everything written on
    /// the stream is counted, whoever writes it).
    pub(super) sm: Option<super::sm::Sm>,
}

impl ServerHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        self.hub.serves(domain.as_str())
    }

    fn default_domain(&self) -> Option<DomainPart> {
        self.hub.config().hosts.first().map(|h| h.domain.clone())
    }

    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        let jid = match requested {
            Some(r) => user
                .with_resource_str(r)
                .map_err(|_| StanzaError::new(Cond::BadRequest))?,
            None => user
                .with_resource_str(&format!("starling-{}", &crate::random_id()[..12]))
                .map_err(|_| StanzaError::new(Cond::InternalServerError))?,
        };
        let config = self.hub.config();
        let limits = &config.limits;
        let (handle, rx) = SessionHandle::new(jid.clone(), self.id, limits.queue());
        let replace = config.c2s.resource_conflict == ConflictPolicy::Replace;
        let inserted =
            self.hub
                .sessions()
                .insert(handle.clone(), replace, limits.max_resources_per_account);
        match inserted {
            Insert::Bound(old) => {
                if let Some(old) = old {
                    info!(jid = %jid, "resource taken over by a new session");
                    old.request_close(
                        StreamError::new(Condition::Conflict)
                            .with_text("another session bound this resource"),
                    );
                }
                self.bound = Some((handle, rx));
                Ok(jid)
            }
            Insert::Conflict => Err(StanzaError::new(Cond::Conflict)),
            Insert::TooMany => Err(StanzaError::new(Cond::ResourceConstraint)
                .with_text("too many sessions for this account")),
        }
    }
}
