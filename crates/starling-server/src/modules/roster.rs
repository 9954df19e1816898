//! RFC 6121 §2: the roster — get (with versioning, §2.6), set, remove
//! (which cancels both subscriptions, §2.5.2), and roster pushes to the
//! resources that requested the roster. The presence module changes
//! roster items through `save_and_push` as subscriptions change.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::{BareJid, Jid};
use starling_stanza::{
    IqType, Payload, Roster as RosterPayload, RosterItem, StanzaError,
    StanzaErrorCondition as Cond, ns,
};

use crate::hub::{Hub, storage_error};
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};
use crate::modules::presence;
use crate::routed::Routed;
use crate::storage::{RosterEntry, RosterStore, StorageError, Subscription};

/// The roster module (`[modules.roster]`).
pub struct Roster {
    store: Arc<dyn RosterStore>,
}

impl std::fmt::Debug for Roster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roster").finish_non_exhaustive()
    }
}

impl Roster {
    /// The module on its store.
    pub fn new(store: Arc<dyn RosterStore>) -> Roster {
        Roster { store }
    }
}

#[async_trait]
impl Module for Roster {
    fn name(&self) -> &'static str {
        "roster"
    }

    fn register(&self, r: &mut Registrar) {
        for scope in [IqScope::Server, IqScope::Account] {
            r.iq(scope, IqType::Get, ns::ROSTER, "query");
            r.iq(scope, IqType::Set, ns::ROSTER, "query");
        }
        r.disco_feature(ns::ROSTER);
        r.disco_feature("urn:xmpp:features:rosterver");
        r.stream_features(|f| f.roster_ver = true);
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        // A roster request to the server's domain or to another account is
        // not the user's own (RFC 6121 §2.1.3).
        if !req.from_self {
            return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
        }
        let owner = req.to.bare();
        let result = match RosterPayload::from_element(req.payload) {
            Err(e) => Err(e.to_stanza_error()),
            Ok(q) if req.stanza.kind() == starling_stanza::StanzaKind::Iq(IqType::Get) => {
                self.get(hub, &req, &owner, q).await
            }
            Ok(q) => self.set(hub, &owner, q).await,
        };
        match result {
            Ok(payload) => IqOutcome::Result(payload),
            Err(e) => IqOutcome::Error(e),
        }
    }
}

impl Roster {
    /// RFC 6121 §2.1.3, §2.6.3: the roster, or nothing if the client's
    /// version is current (pushes follow).
    async fn get(
        &self,
        hub: &Hub,
        req: &IqRequest<'_>,
        owner: &BareJid,
        q: RosterPayload,
    ) -> Result<Option<starling_xml::Element>, StanzaError> {
        if !q.items.is_empty() {
            return Err(StanzaError::new(Cond::BadRequest).with_text("a roster get has no items"));
        }
        if let Ok(full) = req.from().clone().try_into_full() {
            if let Some(s) = hub.sessions().get(&full) {
                s.set_interested();
            }
        }
        let (ver, items) = self
            .store
            .roster(owner)
            .await
            .map_err(|e| storage_error(&e))?;
        let ver = ver.to_string();
        if q.ver.as_deref() == Some(ver.as_str()) {
            return Ok(None);
        }
        let out = RosterPayload {
            ver: Some(ver),
            items: items.iter().map(to_item).collect(),
        };
        Ok(Some(out.to_element()))
    }

    /// RFC 6121 §2.1.5, §2.5: add, update or remove one item.
    async fn set(
        &self,
        hub: &Hub,
        owner: &BareJid,
        q: RosterPayload,
    ) -> Result<Option<starling_xml::Element>, StanzaError> {
        if q.items.len() != 1 {
            return Err(
                StanzaError::new(Cond::BadRequest).with_text("a roster set has exactly one item")
            );
        }
        let item = &q.items[0];
        check_item(item)?;
        let existing = self
            .store
            .roster_item(owner, &item.jid)
            .await
            .map_err(|e| storage_error(&e))?;
        if item.subscription == starling_stanza::Subscription::Remove {
            let Some(existing) = existing else {
                return Err(StanzaError::new(Cond::ItemNotFound));
            };
            remove_contact(hub, self.store.as_ref(), owner, existing)
                .await
                .map_err(|e| storage_error(&e))?;
            return Ok(None);
        }
        let mut entry = existing.unwrap_or_else(|| RosterEntry::new(item.jid.clone()));
        entry.name = item.name.clone().filter(|n| !n.is_empty());
        entry.groups = item.groups.clone();
        save_and_push(hub, self.store.as_ref(), owner, &entry)
            .await
            .map_err(|e| storage_error(&e))?;
        Ok(None)
    }
}

fn check_item(item: &RosterItem) -> Result<(), StanzaError> {
    if item.jid.as_str().is_empty() {
        return Err(StanzaError::new(Cond::BadRequest));
    }
    let mut seen = HashSet::new();
    for g in &item.groups {
        if g.is_empty() || g.len() > 1024 || !seen.insert(g) {
            return Err(StanzaError::new(Cond::BadRequest)
                .with_text("groups must be non-empty and distinct"));
        }
    }
    if item.name.as_ref().is_some_and(|n| n.len() > 1024) {
        return Err(StanzaError::new(Cond::NotAcceptable).with_text("name too long"));
    }
    Ok(())
}

/// The wire form of a stored item.
pub(crate) fn to_item(e: &RosterEntry) -> RosterItem {
    RosterItem {
        jid: e.jid.clone(),
        name: e.name.clone(),
        subscription: match e.subscription {
            Subscription::None => starling_stanza::Subscription::None,
            Subscription::To => starling_stanza::Subscription::To,
            Subscription::From => starling_stanza::Subscription::From,
            Subscription::Both => starling_stanza::Subscription::Both,
        },
        ask: e.ask,
        approved: e.approved,
        groups: e.groups.clone(),
    }
}

/// Saves an item and pushes it to the owner's interested resources.
pub(crate) async fn save_and_push(
    hub: &Hub,
    store: &dyn RosterStore,
    owner: &BareJid,
    entry: &RosterEntry,
) -> Result<(), StorageError> {
    let ver = store.roster_put(owner, entry).await?;
    push(hub, owner, to_item(entry), ver);
    Ok(())
}

/// A roster push (RFC 6121 §2.1.6) to every resource that requested the
/// roster.
pub(crate) fn push(hub: &Hub, owner: &BareJid, item: RosterItem, ver: u64) {
    let roster = RosterPayload {
        ver: Some(ver.to_string()),
        items: vec![item],
    };
    for s in hub.sessions().sessions(owner) {
        if s.is_interested() {
            let iq =
                starling_stanza::Iq::set(format!("push{}", crate::random_id()), roster.clone())
                    .with_to(Jid::from(s.jid.clone()));
            if let Ok(st) = Routed::parse(iq.to_element()) {
                s.deliver(Arc::new(st));
            }
        }
    }
}

/// RFC 6121 §2.5.2: removing an item cancels both subscriptions.
async fn remove_contact(
    hub: &Hub,
    store: &dyn RosterStore,
    user: &BareJid,
    entry: RosterEntry,
) -> Result<(), StorageError> {
    let contact = entry.jid.clone();
    let ver = store.roster_remove(user, &contact).await?;
    let pending = store.remove_subscription_request(user, &contact).await?;
    if let Some(ver) = ver {
        let mut item = to_item(&entry);
        item.subscription = starling_stanza::Subscription::Remove;
        item.ask = false;
        item.approved = false;
        push(hub, user, item, ver);
    }
    let (u, c) = (Jid::from(user.clone()), Jid::from(contact.clone()));
    use starling_stanza::PresenceType as P;
    if entry.subscription.has_to() || entry.ask {
        hub.route(Routed::presence(P::Unsubscribe, &u, &c)).await;
    }
    if entry.subscription.has_from() || pending {
        if entry.subscription.has_from() {
            presence::send_current_presence(hub, user, &c, true).await;
        }
        hub.route(Routed::presence(P::Unsubscribed, &u, &c)).await;
    }
    Ok(())
}
