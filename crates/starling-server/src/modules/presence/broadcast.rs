//! A client's own presence: broadcast (RFC 6121 §4.2, §4.4), directed
//! presence (§4.6), unavailable presence (§4.5), probes (§4.3).

use std::collections::HashSet;
use std::sync::Arc;

use starling_jid::{BareJid, Jid};
use starling_stanza::{PresenceType, StanzaKind};

use super::{Directed, Presence};
use crate::hub::Hub;
use crate::module::{Session, SessionEvent};
use crate::routed::Routed;
use crate::storage::{PresenceState, StorageError, SubscriptionRequest};

impl Presence {
    /// A presence without `to` from a bound session: broadcast.
    pub(super) async fn client_broadcast(&self, hub: &Hub, s: &mut Session<'_>, st: Routed) {
        match st.kind() {
            StanzaKind::Presence(PresenceType::Available, prio) => {
                self.go_available(hub, s, st, prio).await;
            }
            StanzaKind::Presence(PresenceType::Unavailable, _) => {
                self.go_unavailable(hub, s, Some(st)).await;
                let event = SessionEvent::Unavailable;
                hub.modules().session_event(hub, s, event).await;
            }
            _ => {}
        }
    }

    async fn go_available(&self, hub: &Hub, s: &mut Session<'_>, st: Routed, prio: i8) {
        let me = s.handle().clone();
        let bare = me.jid.bare();
        let from = Jid::from(me.jid.clone());
        let initial = !me.is_available();
        let mut stored = st.clone();
        stored.clear_to();
        me.set_presence(Some((stored, i32::from(prio))));
        // Initial presence needs the pending requests too: one trip.
        let state = if initial {
            self.store.presence_state(&bare).await
        } else {
            self.store
                .roster(&bare)
                .await
                .map(|(_, items)| PresenceState {
                    items,
                    requests: Vec::new(),
                })
        };
        let PresenceState {
            items: roster,
            requests,
        } = state.unwrap_or_else(|e| {
            tracing::error!(error = %e, "storage failed");
            PresenceState::default()
        });
        for item in &roster {
            if item.subscription.has_from() {
                hub.route(st.readdressed(&from, &Jid::from(item.jid.clone())))
                    .await;
            }
        }
        // The user's own resources, including this one.
        for other in hub.sessions().sessions(&bare) {
            if other.is_available() {
                let to = Jid::from(other.jid.clone());
                other.deliver(Arc::new(st.readdressed(&from, &to)));
            }
        }
        if initial {
            self.initial_presence(hub, s, &roster, requests, &from)
                .await;
        }
        let event = SessionEvent::Available {
            initial,
            priority: prio,
        };
        hub.modules().session_event(hub, s, event).await;
    }

    /// After initial presence: probes to the contacts, the other
    /// resources' presence, pending subscription requests (§3.1.3).
    async fn initial_presence(
        &self,
        hub: &Hub,
        s: &mut Session<'_>,
        roster: &[crate::storage::RosterEntry],
        requests: Vec<SubscriptionRequest>,
        from: &Jid,
    ) {
        let me = s.handle().clone();
        let bare = me.jid.bare();
        for item in roster {
            if item.subscription.has_to() {
                let to = Jid::from(item.jid.clone());
                hub.route(Routed::presence(PresenceType::Probe, from, &to))
                    .await;
            }
        }
        for other in hub.sessions().sessions(&bare) {
            if other.id != me.id {
                if let Some(p) = other.presence() {
                    let p = p.readdressed(&Jid::from(other.jid.clone()), from);
                    me.deliver(Arc::new(p));
                }
            }
        }
        for request in requests {
            if let Ok(p) = Routed::parse(request.to_presence(&bare)) {
                me.deliver(Arc::new(p));
            }
        }
    }

    /// The session becomes unavailable (presence or disconnect): tell the
    /// subscribers, our other resources and directed-presence recipients.
    pub(super) async fn go_unavailable(&self, hub: &Hub, s: &mut Session<'_>, st: Option<Routed>) {
        let me = s.handle().clone();
        if !me.is_available() {
            return;
        }
        me.set_presence(None);
        let bare = me.jid.bare();
        let from = Jid::from(me.jid.clone());
        let st = st.unwrap_or_else(|| Routed::presence(PresenceType::Unavailable, &from, &from));
        let mut sent: HashSet<Jid> = HashSet::new();
        if let Ok((_, roster)) = self.store.roster(&bare).await {
            for item in roster {
                if item.subscription.has_from() {
                    let to = Jid::from(item.jid);
                    hub.route(st.readdressed(&from, &to)).await;
                    sent.insert(to);
                }
            }
        }
        for other in hub.sessions().sessions(&bare) {
            if other.is_available() || other.id == me.id {
                let to = Jid::from(other.jid.clone());
                other.deliver(Arc::new(st.readdressed(&from, &to)));
            }
        }
        let directed = s.ext().take::<Directed>().unwrap_or_default();
        for to in directed.0 {
            if !sent.contains(&to) {
                hub.route(st.readdressed(&from, &to)).await;
            }
        }
    }

    /// Directed presence, or a probe, from a client (RFC 6121 §4.6).
    pub(super) async fn client_directed(
        &self,
        hub: &Hub,
        s: &mut Session<'_>,
        st: Routed,
        to: Jid,
    ) {
        match st.kind() {
            StanzaKind::Presence(PresenceType::Available, _) => {
                let user = s.jid().bare();
                let tracked = !matches!(
                    self.store.roster_item(&user, &to.bare()).await,
                    Ok(Some(e)) if e.subscription.has_from()
                );
                if s.handle().is_available() && tracked {
                    s.ext().get_or_default::<Directed>().0.insert(to);
                }
            }
            StanzaKind::Presence(PresenceType::Unavailable, _) => {
                s.ext().get_or_default::<Directed>().0.remove(&to);
            }
            // Clients do not probe (RFC 6121 §4.3); a probe is answered
            // from state anyway for local contacts.
            _ => {}
        }
        hub.route(st).await;
    }

    /// Answers a probe from `st`'s sender about the local account `of`
    /// (RFC 6121 §4.3.2) with the last presence of each available
    /// resource, if the prober is subscribed.
    pub(super) async fn answer_probe(
        &self,
        hub: &Hub,
        st: &Routed,
        of: &BareJid,
    ) -> Result<(), StorageError> {
        let Some(from) = st.from() else {
            return Ok(());
        };
        let subscribed = from.bare() == *of
            || matches!(
                self.store.roster_item(of, &from.bare()).await?,
                Some(e) if e.subscription.has_from()
            );
        if !subscribed {
            return Ok(());
        }
        let mut any = false;
        for s in hub.sessions().sessions(of) {
            if let Some(p) = s.presence() {
                any = true;
                hub.route(p.readdressed(&Jid::from(s.jid.clone()), from))
                    .await;
            }
        }
        if !any {
            // RFC 6121 §4.3.2: no available resource: unavailable.
            let p = Routed::presence(PresenceType::Unavailable, &Jid::from(of.clone()), from);
            hub.route(p).await;
        }
        Ok(())
    }
}

/// Presence of each available resource of `owner` (or unavailable), sent
/// to `to`.
pub(crate) async fn send_current_presence(hub: &Hub, owner: &BareJid, to: &Jid, unavailable: bool) {
    for s in hub.sessions().sessions(owner) {
        if !s.is_available() {
            continue;
        }
        let from = Jid::from(s.jid.clone());
        let st = if unavailable {
            Some(Routed::presence(PresenceType::Unavailable, &from, to))
        } else {
            s.presence().map(|p| p.readdressed(&from, to))
        };
        if let Some(st) = st {
            hub.route(st).await;
        }
    }
}
