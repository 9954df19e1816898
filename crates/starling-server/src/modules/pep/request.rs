//! `pubsub` requests (XEP-0060 §6–§7): publish, retract, retrieve,
//! create, subscribe, and the requester's own subscriptions and
//! affiliations.

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    Affiliation, AffiliationInfo, Item, NodeConfig, Payload, PubSub, PubSubError, PubSubEvent,
    SendLastPublished, StanzaError, StanzaErrorCondition as Cond, SubscriptionInfo,
    SubscriptionState,
};

use super::notify::event_item;
use super::settings::Settings;
use super::{Answer, OrStorage, Pep};
use crate::hub::Hub;
use crate::storage::{Admission, PubSubFull, StoredItem, StoredSubscription};

fn bad_request(why: &str) -> StanzaError {
    StanzaError::new(Cond::BadRequest).with_text(why)
}

fn required_node(node: Option<String>) -> Result<String, StanzaError> {
    node.filter(|n| !n.is_empty())
        .ok_or_else(|| PubSubError::NodeIdRequired.stanza_error())
}

fn full(e: PubSubFull) -> StanzaError {
    match e {
        PubSubFull::Nodes(_) => PubSubError::MaxNodesExceeded.stanza_error(),
        PubSubFull::Bytes(max) => StanzaError::new(Cond::ResourceConstraint)
            .with_text(format!("the account's PEP storage is full ({max} bytes)")),
    }
}

impl Pep {
    /// A `pubsub` request from `from` to `owner`'s service.
    pub(super) async fn request(
        &self,
        hub: &Hub,
        owner: &BareJid,
        from: &Jid,
        from_self: bool,
        op: PubSub,
        set: bool,
    ) -> Answer {
        match (op, set) {
            (
                PubSub::Publish {
                    node,
                    items,
                    options,
                },
                true,
            ) => {
                if !from_self {
                    return Err(StanzaError::new(Cond::Forbidden));
                }
                let mut items = items.into_iter();
                let (Some(item), None) = (items.next(), items.next()) else {
                    return Err(PubSubError::InvalidPayload.stanza_error());
                };
                let options = options
                    .map(|f| NodeConfig::from_form(&f))
                    .transpose()
                    .map_err(|e| e.to_stanza_error())?;
                let id = self
                    .publish_item(hub, owner, &node, item, options.as_ref(), Some(from))
                    .await?;
                let result = PubSub::Publish {
                    node,
                    items: vec![Item {
                        id: Some(id),
                        ..Item::default()
                    }],
                    options: None,
                };
                Ok(Some(result.to_element()))
            }
            (PubSub::Retract { node, notify, ids }, true) => {
                if !from_self {
                    return Err(StanzaError::new(Cond::Forbidden));
                }
                if ids.is_empty() {
                    return Err(PubSubError::ItemRequired.stanza_error());
                }
                let settings = self.existing(hub, owner, &node).await?;
                let gone = self
                    .retract_items(hub, owner, &node, &settings, &ids, notify)
                    .await?;
                if gone.is_empty() {
                    return Err(StanzaError::new(Cond::ItemNotFound));
                }
                Ok(None)
            }
            (
                PubSub::Items {
                    node,
                    max_items,
                    items,
                    ..
                },
                false,
            ) => {
                let settings = self.existing(hub, owner, &node).await?;
                self.check_read(hub, owner, &node, &settings, from).await?;
                let ids: Vec<String> = items.into_iter().filter_map(|i| i.id).collect();
                let max = max_items.map(|n| n as usize);
                let mut stored = hub
                    .stores()
                    .pubsub
                    .items(owner.as_str(), &node, &ids, max)
                    .await
                    .or_storage()?;
                // Oldest first, as published.
                stored.reverse();
                let result = PubSub::Items {
                    node,
                    max_items: None,
                    subid: None,
                    items: stored.iter().map(|i| event_item(i, true)).collect(),
                };
                Ok(Some(result.to_element()))
            }
            (PubSub::Create { node, config }, true) => {
                if !from_self {
                    return Err(StanzaError::new(Cond::Forbidden));
                }
                let config = config
                    .map(|f| NodeConfig::from_form(&f))
                    .transpose()
                    .map_err(|e| e.to_stanza_error())?;
                let node = node.unwrap_or_else(crate::random_id);
                self.create(hub, owner, &node, config.as_ref()).await?;
                let result = PubSub::Create {
                    node: Some(node),
                    config: None,
                };
                Ok(Some(result.to_element()))
            }
            (PubSub::Subscribe { node, jid, .. }, true) => {
                let node = required_node(node)?;
                self.subscribe(hub, owner, from, &node, &jid).await
            }
            (PubSub::Unsubscribe { node, jid, .. }, true) => {
                let node = required_node(node)?;
                if jid.bare() != from.bare() {
                    return Err(PubSubError::InvalidJid.stanza_error());
                }
                self.existing(hub, owner, &node).await?;
                let pubsub = &hub.stores().pubsub;
                if !pubsub
                    .unsubscribe(owner.as_str(), &node, jid.as_str())
                    .await
                    .or_storage()?
                {
                    return Err(PubSubError::NotSubscribed.stanza_error());
                }
                Ok(None)
            }
            (PubSub::Subscriptions { node, .. }, false) => {
                let list = self
                    .own_subscriptions(hub, owner, from, node.as_deref())
                    .await?;
                Ok(Some(PubSub::Subscriptions { node, list }.to_element()))
            }
            (PubSub::Affiliations { node, .. }, false) => {
                let list = self
                    .own_affiliations(hub, owner, from, node.as_deref())
                    .await?;
                Ok(Some(PubSub::Affiliations { node, list }.to_element()))
            }
            (PubSub::Options { .. } | PubSub::Default { .. }, _) => {
                Err(PubSubError::Unsupported("subscription-options".to_owned()).stanza_error())
            }
            (op, set) => Err(bad_request(&format!(
                "not a pubsub {} request: {}",
                if set { "set" } else { "get" },
                op.to_element().children().next().map_or("", |c| c.name())
            ))),
        }
    }

    /// Creates `node` with `config` applied to PEP's defaults.
    pub(super) async fn create(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        config: Option<&NodeConfig>,
    ) -> Result<Settings, StanzaError> {
        if self.settings(hub, owner, node).await?.is_some() {
            return Err(StanzaError::new(Cond::Conflict));
        }
        let mut settings = Settings::default();
        if let Some(c) = config {
            settings.apply(c, self.config.max_items).map_err(|u| {
                StanzaError::new(Cond::NotAcceptable).with_text(format!("unsupported: {}", u.0))
            })?;
        }
        let pubsub = &hub.stores().pubsub;
        match pubsub
            .create_node(owner.as_str(), node, &settings.encode(), self.limits())
            .await
            .or_storage()?
        {
            Admission::Stored => Ok(settings),
            Admission::Refused(e) => Err(full(e)),
        }
    }

    /// Publishes one item (auto-creating the node) and notifies.
    pub(super) async fn publish_item(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        item: Item,
        options: Option<&NodeConfig>,
        publisher: Option<&Jid>,
    ) -> Result<String, StanzaError> {
        let payload = item
            .payload
            .ok_or_else(|| PubSubError::PayloadRequired.stanza_error())?;
        let text = payload.to_string();
        if text.len() > self.config.max_item_bytes {
            return Err(PubSubError::PayloadTooBig.stanza_error());
        }
        let cap = self.config.max_items;
        let settings = match self.settings(hub, owner, node).await? {
            Some(s) if options.is_some_and(|o| !s.satisfies(o, cap)) => {
                return Err(PubSubError::PreconditionNotMet.stanza_error());
            }
            Some(s) => s,
            None => match self.create(hub, owner, node, options).await {
                Err(e) if e.condition == Cond::NotAcceptable => {
                    return Err(PubSubError::PreconditionNotMet.stanza_error());
                }
                other => other?,
            },
        };
        let id = item
            .id
            .filter(|i| !i.is_empty())
            .unwrap_or_else(crate::random_id);
        let stored = StoredItem {
            id: id.clone(),
            publisher: publisher.map(|p| p.bare().to_string()),
            payload: text,
        };
        let kept = settings.kept(cap);
        let pubsub = &hub.stores().pubsub;
        if let Admission::Refused(e) = pubsub
            .publish(owner.as_str(), node, &stored, kept, self.limits())
            .await
            .or_storage()?
        {
            return Err(full(e));
        }
        let event = PubSubEvent::Items {
            node: node.to_owned(),
            items: vec![Item {
                id: Some(id.clone()),
                publisher: None,
                payload: settings.deliver_payloads.then_some(payload),
            }],
            retracts: Vec::new(),
        };
        self.broadcast(hub, owner, node, &settings, &event).await;
        Ok(id)
    }

    /// Retracts items; notifies when asked to or when the node says so.
    pub(super) async fn retract_items(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        settings: &Settings,
        ids: &[String],
        notify: bool,
    ) -> Result<Vec<String>, StanzaError> {
        let pubsub = &hub.stores().pubsub;
        let gone = pubsub
            .retract(owner.as_str(), node, ids)
            .await
            .or_storage()?;
        if !gone.is_empty() && (notify || settings.notify_retract) {
            let event = PubSubEvent::Items {
                node: node.to_owned(),
                items: Vec::new(),
                retracts: gone.clone(),
            };
            self.broadcast(hub, owner, node, settings, &event).await;
        }
        Ok(gone)
    }

    async fn subscribe(
        &self,
        hub: &Hub,
        owner: &BareJid,
        from: &Jid,
        node: &str,
        jid: &Jid,
    ) -> Answer {
        if jid.bare() != from.bare() {
            return Err(PubSubError::InvalidJid.stanza_error());
        }
        let settings = self.existing(hub, owner, node).await?;
        self.check_read(hub, owner, node, &settings, from).await?;
        let sub = StoredSubscription {
            jid: jid.to_string(),
            subid: crate::random_id(),
        };
        let pubsub = &hub.stores().pubsub;
        let Some(sub) = pubsub
            .subscribe(owner.as_str(), node, &sub, self.config.max_subscriptions)
            .await
            .or_storage()?
        else {
            return Err(PubSubError::TooManySubscriptions.stanza_error());
        };
        if settings.send_last != SendLastPublished::Never
            && let Ok(full) = jid.clone().try_into_full()
        {
            self.send_last(hub, owner, &full, |n| n == node).await;
        }
        let info = SubscriptionInfo {
            node: Some(node.to_owned()),
            jid: jid.clone(),
            subid: Some(sub.subid),
            state: Some(SubscriptionState::Subscribed),
        };
        Ok(Some(PubSub::Subscription(info).to_element()))
    }

    async fn own_subscriptions(
        &self,
        hub: &Hub,
        owner: &BareJid,
        from: &Jid,
        only: Option<&str>,
    ) -> Result<Vec<SubscriptionInfo>, StanzaError> {
        let pubsub = &hub.stores().pubsub;
        let nodes = pubsub.nodes(owner.as_str()).await.or_storage()?;
        let mut list = Vec::new();
        for n in nodes.iter().filter(|n| only.is_none_or(|o| o == n.name)) {
            for s in pubsub
                .subscriptions(owner.as_str(), &n.name)
                .await
                .or_storage()?
            {
                let Ok(jid) = s.jid.parse::<Jid>() else {
                    continue;
                };
                if jid.bare() == from.bare() {
                    list.push(SubscriptionInfo {
                        node: Some(n.name.clone()),
                        jid,
                        subid: Some(s.subid),
                        state: Some(SubscriptionState::Subscribed),
                    });
                }
            }
        }
        Ok(list)
    }

    async fn own_affiliations(
        &self,
        hub: &Hub,
        owner: &BareJid,
        from: &Jid,
        only: Option<&str>,
    ) -> Result<Vec<AffiliationInfo>, StanzaError> {
        let nodes = hub
            .stores()
            .pubsub
            .nodes(owner.as_str())
            .await
            .or_storage()?;
        let mut list = Vec::new();
        for n in nodes.iter().filter(|n| only.is_none_or(|o| o == n.name)) {
            let affiliation = if from.bare() == *owner {
                Some(Affiliation::Owner)
            } else {
                let map = self.affiliation_map(hub, owner, &n.name).await;
                map.get(&from.bare())
                    .and_then(|a| super::owner::parse_affiliation(a))
            };
            if let Some(affiliation) = affiliation {
                list.push(AffiliationInfo {
                    node: Some(n.name.clone()),
                    jid: None,
                    affiliation,
                });
            }
        }
        Ok(list)
    }
}
