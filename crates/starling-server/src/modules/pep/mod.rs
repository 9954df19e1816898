//! XEP-0163 Personal Eventing Protocol on a XEP-0060 publish-subscribe
//! core: every account's bare JID is a pubsub service whose nodes the
//! account owns.
//!
//! * **Requests** (`pubsub` and `pubsub#owner` iq to the account's bare
//!   JID, or without `to` from the account): publish (auto-creating the
//!   node; publish-options are preconditions on an existing node,
//!   XEP-0060 §7.1.5), retract, retrieve items (all, by id, newest N),
//!   create (also instant nodes), configure (data forms), default
//!   configuration, purge, delete, explicit subscribe / unsubscribe,
//!   the requester's subscriptions and affiliations, the owner's view
//!   and changes of a node's subscriptions and affiliations (whitelist
//!   members), and the nodes in the account's disco#items (those the
//!   requester may read, XEP-0060 §5.2). See `request.rs` and `owner.rs`.
//! * **Access**: `presence` (PEP's default), `open`, `roster`,
//!   `whitelist` (`access.rs`); the owner publishes.
//! * **Notifications** (`notify.rs`): to the resources — the account's
//!   own and its contacts' that sent it available presence — whose
//!   XEP-0115 caps ([`crate::caps`]) list `NODE+notify` and that may read
//!   the node, and to explicit subscribers; the last item of each node
//!   to such a resource when its presence or its interest arrives.
//! * **Bounds** (`[modules.pep]`): nodes per account, items per node,
//!   bytes per item and per account, subscriptions per node.
//!
//! Other modules reach an account's nodes through [`PepAccess`].

mod access;
mod notify;
mod owner;
mod request;
mod seen;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use async_trait::async_trait;
use starling_jid::{BareJid, FullJid, Jid};
use starling_stanza::{
    DiscoItem, IqType, Item, NodeConfig, Payload, PresenceType, PubSub, PubSubOwner, StanzaError,
    StanzaErrorCondition as Cond, StanzaKind, ns,
};

use crate::caps::CapsInfo;
use crate::config::PepConfig;
use crate::hub::{Hub, storage_error};
use crate::module::{
    Flow, Hook, IqOutcome, IqRequest, IqScope, Kinds, Module, Registrar, Session, SessionEvent,
};
use crate::pep::PepAccess;
use crate::routed::Routed;
use crate::storage::{PubSubLimits, StorageError};
use seen::Seen;
use settings::Settings;

/// The XEP-0060 features the service advertises (`pubsub#NAME`).
const FEATURES: &[&str] = &[
    "access-open",
    "access-presence",
    "access-roster",
    "access-whitelist",
    "auto-create",
    "auto-subscribe",
    "config-node",
    "config-node-max",
    "create-and-configure",
    "create-nodes",
    "delete-items",
    "delete-nodes",
    "filtered-notifications",
    "instant-nodes",
    "item-ids",
    "last-published",
    "manage-subscriptions",
    "modify-affiliations",
    "multi-items",
    "outcast-affiliation",
    "persistent-items",
    "presence-access",
    "presence-notifications",
    "publish",
    "publish-options",
    "purge-nodes",
    "retract-items",
    "retrieve-affiliations",
    "retrieve-default",
    "retrieve-items",
    "retrieve-subscriptions",
    "subscribe",
];

/// An answer to a request.
type Answer = Result<Option<starling_xml::Element>, StanzaError>;

/// Storage failures as stanza errors.
trait OrStorage<T> {
    fn or_storage(self) -> Result<T, StanzaError>;
}

impl<T> OrStorage<T> for Result<T, StorageError> {
    fn or_storage(self) -> Result<T, StanzaError> {
        self.map_err(|e| storage_error(&e))
    }
}

/// The PEP module.
#[derive(Debug)]
pub struct Pep {
    config: PepConfig,
    seen: Seen,
}

impl Pep {
    /// The module with `config`'s bounds.
    pub fn new(config: PepConfig) -> Pep {
        Pep {
            config,
            seen: Seen::default(),
        }
    }

    fn limits(&self) -> PubSubLimits {
        PubSubLimits {
            max_nodes: self.config.max_nodes,
            max_bytes: self.config.max_bytes,
        }
    }

    /// A node's settings, `None` when it does not exist.
    async fn settings(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
    ) -> Result<Option<Settings>, StanzaError> {
        let stored = hub
            .stores()
            .pubsub
            .node(owner.as_str(), node)
            .await
            .or_storage()?;
        Ok(stored.map(|n| Settings::decode(&n.config)))
    }

    /// A node's settings, or `item-not-found`.
    async fn existing(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
    ) -> Result<Settings, StanzaError> {
        self.settings(hub, owner, node)
            .await?
            .ok_or_else(|| StanzaError::new(Cond::ItemNotFound))
    }

    /// The stored affiliations of a node, by bare JID.
    async fn affiliation_map(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
    ) -> HashMap<BareJid, String> {
        match hub.stores().pubsub.affiliations(owner.as_str(), node).await {
            Ok(list) => list
                .into_iter()
                .filter_map(|(j, a)| Some((j.parse().ok()?, a)))
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "storage failed; affiliations unknown");
                HashMap::new()
            }
        }
    }

    /// Checks that `requester` may read `node`.
    async fn check_read(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        settings: &Settings,
        requester: &Jid,
    ) -> Result<(), StanzaError> {
        let bare = requester.bare();
        if bare == *owner {
            return Ok(());
        }
        let roster = hub
            .stores()
            .rosters
            .roster_item(owner, &bare)
            .await
            .or_storage()?;
        let affiliations = self.affiliation_map(hub, owner, node).await;
        let v = access::Viewer {
            owner: false,
            roster: roster.as_ref(),
            affiliation: affiliations.get(&bare).map(String::as_str),
        };
        access::may_read(settings.access, &settings.roster_groups, v)
    }
}

#[async_trait]
impl Module for Pep {
    fn name(&self) -> &'static str {
        "pep"
    }

    fn register(&self, r: &mut Registrar) {
        for t in [IqType::Get, IqType::Set] {
            r.iq(IqScope::Account, t, ns::PUBSUB, "pubsub");
            r.iq(IqScope::Account, t, ns::PUBSUB_OWNER, "pubsub");
        }
        r.account_identity("pubsub", "pep", None);
        r.account_feature(ns::PUBSUB);
        for f in FEATURES {
            r.account_feature(&format!("{}{f}", ns::PUBSUB_FEATURE_PREFIX));
        }
        r.hook_for(Hook::Routing, Kinds::PRESENCE);
        r.hook(Hook::SessionEvents);
        r.hook(Hook::Caps);
        r.hook(Hook::AccountItems);
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        let owner = req.to.bare();
        let set = req.stanza.kind() == StanzaKind::Iq(IqType::Set);
        let answer = if req.payload.ns() == ns::PUBSUB_OWNER {
            match PubSubOwner::from_element(req.payload) {
                Err(e) => Err(e.to_stanza_error()),
                Ok(_) if !req.from_self => Err(StanzaError::new(Cond::Forbidden)),
                Ok(op) => self.owner_request(hub, &owner, op, set).await,
            }
        } else {
            match PubSub::from_element(req.payload) {
                Err(e) => Err(e.to_stanza_error()),
                Ok(op) => {
                    self.request(hub, &owner, req.from(), req.from_self, op, set)
                        .await
                }
            }
        };
        match answer {
            Ok(payload) => IqOutcome::Result(payload),
            Err(e) => IqOutcome::Error(e),
        }
    }

    async fn routing(&self, hub: &Hub, st: Routed, to: Option<&BareJid>) -> Flow {
        let (Some(account), Some(Ok(from))) = (to, st.from().map(|f| f.clone().try_into_full()))
        else {
            return Flow::Continue(st);
        };
        let from = &from;
        if from.bare() == *account {
            // Own resources come through session events.
            return Flow::Continue(st);
        }
        match st.kind() {
            StanzaKind::Presence(PresenceType::Available, _) => {
                self.seen.available(account, from);
                if let Some(caps) = hub.caps().get(from) {
                    self.serve(hub, account, from, &caps).await;
                }
            }
            StanzaKind::Presence(PresenceType::Unavailable | PresenceType::Error, _) => {
                self.seen.unavailable(account, from);
            }
            _ => {}
        }
        Flow::Continue(st)
    }

    async fn session_event(&self, hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        let jid = s.jid().clone();
        match event {
            SessionEvent::Available { .. } => {
                let account = jid.bare();
                self.seen.available(&account, &jid);
                if let Some(caps) = hub.caps().get(&jid) {
                    self.serve(hub, &account, &jid, &caps).await;
                }
            }
            SessionEvent::Unavailable | SessionEvent::Closed => self.seen.gone(&jid),
            SessionEvent::Bound => {}
        }
    }

    async fn account_items(&self, hub: &Hub, owner: &BareJid, requester: &Jid) -> Vec<DiscoItem> {
        let nodes = match hub.stores().pubsub.nodes(owner.as_str()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "storage failed; PEP nodes not listed");
                return Vec::new();
            }
        };
        let mut items = Vec::new();
        for n in nodes {
            let settings = Settings::decode(&n.config);
            if self
                .check_read(hub, owner, &n.name, &settings, requester)
                .await
                .is_ok()
            {
                items.push(DiscoItem {
                    jid: Jid::from(owner.clone()),
                    node: Some(n.name),
                    name: settings.title,
                });
            }
        }
        items
    }

    async fn caps_changed(&self, hub: &Hub, jid: &FullJid, caps: &std::sync::Arc<CapsInfo>) {
        for account in self.seen.accounts(jid) {
            self.serve(hub, &account, jid, caps).await;
        }
    }
}

#[async_trait]
impl PepAccess for Pep {
    async fn publish(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        item: Item,
        options: Option<NodeConfig>,
    ) -> Result<String, StanzaError> {
        self.publish_item(
            hub,
            owner,
            node,
            item,
            options.as_ref(),
            Some(&Jid::from(owner.clone())),
        )
        .await
    }

    async fn items(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        max_items: Option<u32>,
    ) -> Result<Vec<Item>, StanzaError> {
        self.existing(hub, owner, node).await?;
        let max = max_items.map(|n| n as usize);
        let items = hub
            .stores()
            .pubsub
            .items(owner.as_str(), node, &[], max)
            .await
            .or_storage()?;
        Ok(items.iter().map(|i| notify::event_item(i, true)).collect())
    }

    async fn retract(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        id: &str,
        notify: bool,
    ) -> Result<bool, StanzaError> {
        let settings = self.existing(hub, owner, node).await?;
        self.retract_items(hub, owner, node, &settings, &[id.to_owned()], notify)
            .await
            .map(|gone| !gone.is_empty())
    }
}
