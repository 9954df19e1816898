//! The subscription state machine (RFC 6121 §3 and Appendix A): a user's
//! outbound subscription stanzas, and inbound ones at the contact's
//! server, with pre-approval (§3.4).

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    ErrorType, PresenceType as P, StanzaError, StanzaErrorCondition as Cond, StanzaKind,
};

use super::Presence;
use crate::hub::Hub;
use crate::modules::roster::save_and_push;
use crate::routed::Routed;
use crate::storage::{Admission, RequestsFull, RosterEntry, StorageError, SubscriptionRequest};

use super::broadcast::send_current_presence;

impl Presence {
    async fn entry(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError> {
        self.store.roster_item(owner, contact).await
    }

    async fn save(
        &self,
        hub: &Hub,
        owner: &BareJid,
        entry: &RosterEntry,
    ) -> Result<(), StorageError> {
        save_and_push(hub, self.store.as_ref(), owner, entry).await
    }

    /// A subscription stanza from the user's client to `contact`.
    pub(super) async fn outbound_subscription(
        &self,
        hub: &Hub,
        user: &BareJid,
        contact: &BareJid,
        mut st: Routed,
    ) -> Result<(), StorageError> {
        // Subscription stanzas carry bare JIDs (RFC 6121 §3.1.1).
        st.set_from(Jid::from(user.clone()));
        st.set_to(Jid::from(contact.clone()));
        let item = self.entry(user, contact).await?;
        let contact_jid = Jid::from(contact.clone());
        match st.kind() {
            StanzaKind::Presence(P::Subscribe, _) => {
                let mut item = item.unwrap_or_else(|| RosterEntry::new(contact.clone()));
                if !item.subscription.has_to() && !item.ask {
                    item.ask = true;
                    self.save(hub, user, &item).await?;
                }
                hub.route(st).await;
            }
            StanzaKind::Presence(P::Subscribed, _) => {
                let pending = self
                    .store
                    .remove_subscription_request(user, contact)
                    .await?;
                let mut item = item.unwrap_or_else(|| RosterEntry::new(contact.clone()));
                if pending {
                    item.subscription = item.subscription.with_from(true);
                    item.approved = false;
                    self.save(hub, user, &item).await?;
                    hub.route(st).await;
                    send_current_presence(hub, user, &contact_jid, false).await;
                } else if !item.subscription.has_from() && !item.approved {
                    // Pre-approval (RFC 6121 §3.4).
                    item.approved = true;
                    self.save(hub, user, &item).await?;
                }
            }
            StanzaKind::Presence(P::Unsubscribe, _) => {
                if let Some(mut item) = item {
                    if item.subscription.has_to() || item.ask {
                        item.subscription = item.subscription.with_to(false);
                        item.ask = false;
                        self.save(hub, user, &item).await?;
                    }
                }
                hub.route(st).await;
            }
            StanzaKind::Presence(P::Unsubscribed, _) => {
                let pending = self
                    .store
                    .remove_subscription_request(user, contact)
                    .await?;
                let mut had_from = false;
                if let Some(mut item) = item {
                    if item.subscription.has_from() || item.approved {
                        had_from = item.subscription.has_from();
                        item.subscription = item.subscription.with_from(false);
                        item.approved = false;
                        self.save(hub, user, &item).await?;
                    }
                }
                if had_from {
                    send_current_presence(hub, user, &contact_jid, true).await;
                }
                if had_from || pending {
                    hub.route(st).await;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `subscribe` from `user` arrives for the local `contact`.
    pub(super) async fn inbound_subscribe(
        &self,
        hub: &Hub,
        mut st: Routed,
        contact: &BareJid,
        user: &BareJid,
    ) -> Result<(), StorageError> {
        let (c, u) = (Jid::from(contact.clone()), Jid::from(user.clone()));
        if let Some(mut item) = self.entry(contact, user).await? {
            if item.subscription.has_from() {
                // Already subscribed: answer on the contact's behalf.
                hub.route(Routed::presence(P::Subscribed, &c, &u)).await;
                return Ok(());
            }
            if item.approved {
                // Pre-approved (RFC 6121 §3.4).
                item.approved = false;
                item.subscription = item.subscription.with_from(true);
                self.save(hub, contact, &item).await?;
                hub.route(Routed::presence(P::Subscribed, &c, &u)).await;
                send_current_presence(hub, contact, &u, false).await;
                return Ok(());
            }
        }
        st.set_from(u);
        st.set_to(c);
        // Stored as a small record (what §3.1.3 needs to present it again
        // at login); available resources get the request as sent.
        let request = SubscriptionRequest::from_presence(user.clone(), st.element());
        let added = self
            .store
            .add_subscription_request(contact, &request, self.limits)
            .await?;
        match added {
            Admission::Stored => to_resources(hub, contact, st),
            Admission::Refused(full) => {
                tracing::debug!(%contact, from = %user, ?full, "subscription request refused");
                // To the requester's bare JID (subscription stanzas carry
                // bare JIDs): its available resources get it.
                hub.bounce(&st, requests_full_error(full)).await;
            }
        }
        Ok(())
    }

    /// `subscribed` from `contact` arrives for the local `user`.
    pub(super) async fn inbound_subscribed(
        &self,
        hub: &Hub,
        st: Routed,
        user: &BareJid,
        contact: &BareJid,
    ) -> Result<(), StorageError> {
        let Some(mut item) = self.entry(user, contact).await? else {
            return Ok(());
        };
        if !item.ask {
            if item.subscription.has_to() {
                // Already subscribed (the contact's server answered a
                // repeated request): confirm it, nothing changes.
                to_resources(hub, user, st);
            }
            return Ok(());
        }
        item.ask = false;
        item.subscription = item.subscription.with_to(true);
        self.save(hub, user, &item).await?;
        to_resources(hub, user, st);
        Ok(())
    }

    /// `unsubscribe` from `user` arrives for the local `contact`.
    pub(super) async fn inbound_unsubscribe(
        &self,
        hub: &Hub,
        st: Routed,
        contact: &BareJid,
        user: &BareJid,
    ) -> Result<(), StorageError> {
        let pending = self
            .store
            .remove_subscription_request(contact, user)
            .await?;
        let mut changed = false;
        if let Some(mut item) = self.entry(contact, user).await? {
            if item.subscription.has_from() {
                item.subscription = item.subscription.with_from(false);
                self.save(hub, contact, &item).await?;
                changed = true;
            }
        }
        if changed || pending {
            to_resources(hub, contact, st);
        }
        if changed {
            // RFC 6121 §3.3.3: the user no longer sees the contact.
            send_current_presence(hub, contact, &Jid::from(user.clone()), true).await;
        }
        Ok(())
    }

    /// `unsubscribed` from `contact` arrives for the local `user`.
    pub(super) async fn inbound_unsubscribed(
        &self,
        hub: &Hub,
        st: Routed,
        user: &BareJid,
        contact: &BareJid,
    ) -> Result<(), StorageError> {
        let Some(mut item) = self.entry(user, contact).await? else {
            return Ok(());
        };
        if !item.subscription.has_to() && !item.ask {
            return Ok(());
        }
        item.ask = false;
        item.subscription = item.subscription.with_to(false);
        self.save(hub, user, &item).await?;
        to_resources(hub, user, st);
        Ok(())
    }
}

/// The error a refused subscription request is bounced with:
/// `resource-constraint` (type `wait`: the sender may try again once the
/// user has answered some of the pending requests).
fn requests_full_error(full: RequestsFull) -> StanzaError {
    let text = match full {
        RequestsFull::Total => "too many pending subscription requests",
        RequestsFull::Domain => "too many pending subscription requests from your domain",
    };
    StanzaError::new(Cond::ResourceConstraint)
        .with_type(ErrorType::Wait)
        .with_text(text)
}

/// A stanza to every available resource of `owner`, one shared copy.
fn to_resources(hub: &Hub, owner: &BareJid, st: Routed) {
    let st = std::sync::Arc::new(st);
    for s in hub.sessions().sessions(owner) {
        if s.is_available() {
            s.deliver(st.clone());
        }
    }
}
