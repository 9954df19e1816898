//! RFC 6121 §3 and §4: subscriptions and presence — broadcast of a
//! client's presence to its subscribers and its own resources, probes,
//! directed presence, unavailable presence when a session ends, and the
//! subscription state machine on both sides (with pre-approval, §3.4).
//!
//! Each local session keeps the set of entities it sent directed presence
//! to (§4.6) in its extensions; the last broadcast presence is on its
//! [`SessionHandle`](crate::registry::SessionHandle), where probes and
//! other resources read it.

mod broadcast;
mod subscription;

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::{BareJid, Jid};
use starling_stanza::{PresenceType, StanzaKind};

use crate::hub::Hub;
use crate::module::{Flow, Hook, Kinds, Module, Registrar, Session, SessionEvent};
use crate::routed::Routed;
use crate::storage::{RequestLimits, RosterStore};

pub(crate) use broadcast::send_current_presence;

/// The presence module (`[modules.presence]`).
pub struct Presence {
    store: Arc<dyn RosterStore>,
    limits: RequestLimits,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence").finish_non_exhaustive()
    }
}

/// The entities a session sent directed presence to while available
/// (RFC 6121 §4.6): they get its unavailable presence.
#[derive(Debug, Default)]
pub(crate) struct Directed(pub(crate) std::collections::HashSet<Jid>);

impl Presence {
    /// The module on the roster store (subscription states and pending
    /// requests live there), storing inbound subscription requests within
    /// `limits`.
    pub fn new(store: Arc<dyn RosterStore>, limits: RequestLimits) -> Presence {
        Presence { store, limits }
    }
}

#[async_trait]
impl Module for Presence {
    fn name(&self) -> &'static str {
        "presence"
    }

    fn register(&self, r: &mut Registrar) {
        r.hook_for(Hook::ClientStanza, Kinds::PRESENCE);
        r.hook_for(Hook::AccountPresence, Kinds::PRESENCE);
        r.hook(Hook::SessionEvents);
        r.disco_feature("urn:xmpp:features:pre-approval");
        r.stream_features(|f| f.pre_approval = true);
    }

    async fn client_stanza(&self, hub: &Hub, s: &mut Session<'_>, st: Routed) -> Flow {
        let StanzaKind::Presence(t, _) = st.kind() else {
            return Flow::Continue(st);
        };
        match st.to().cloned() {
            None => self.client_broadcast(hub, s, st).await,
            Some(to) if t.is_subscription() => {
                let (user, contact) = (s.jid().bare(), to.bare());
                let copy = st.clone();
                if let Err(e) = self.outbound_subscription(hub, &user, &contact, st).await {
                    hub.storage_failed(&copy, &e).await;
                }
            }
            Some(to) => self.client_directed(hub, s, st, to).await,
        }
        Flow::Handled
    }

    async fn account_presence(&self, hub: &Hub, st: Routed, to: &BareJid) -> Flow {
        let Some(from) = st.from().map(Jid::bare) else {
            return Flow::Handled;
        };
        let StanzaKind::Presence(t, _) = st.kind() else {
            return Flow::Continue(st);
        };
        let copy = st.clone();
        let r = match t {
            PresenceType::Subscribe => self.inbound_subscribe(hub, st, to, &from).await,
            PresenceType::Subscribed => self.inbound_subscribed(hub, st, to, &from).await,
            PresenceType::Unsubscribe => self.inbound_unsubscribe(hub, st, to, &from).await,
            PresenceType::Unsubscribed => self.inbound_unsubscribed(hub, st, to, &from).await,
            PresenceType::Probe => self.answer_probe(hub, &st, to).await,
            _ => return Flow::Continue(st),
        };
        if let Err(e) = r {
            hub.storage_failed(&copy, &e).await;
        }
        Flow::Handled
    }

    async fn session_event(&self, hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        if event == SessionEvent::Closed {
            self.go_unavailable(hub, s, None).await;
        }
    }
}
