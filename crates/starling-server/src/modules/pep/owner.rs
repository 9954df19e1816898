//! `pubsub#owner` requests (XEP-0060 §8): configure, default
//! configuration, delete, purge, and the node's subscriptions and
//! affiliations (whitelist members). Only the account itself asks these.

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    Affiliation, AffiliationInfo, FormType, NodeConfig, Payload, PubSubError, PubSubEvent,
    PubSubOwner, StanzaError, StanzaErrorCondition as Cond, SubscriptionInfo, SubscriptionState,
    ns,
};

use super::settings::Settings;
use super::{Answer, OrStorage, Pep};
use crate::hub::Hub;
use crate::storage::StoredSubscription;

/// An affiliation's name.
pub(super) fn affiliation_str(a: Affiliation) -> &'static str {
    match a {
        Affiliation::Owner => "owner",
        Affiliation::Publisher => "publisher",
        Affiliation::PublishOnly => "publish-only",
        Affiliation::Member => "member",
        Affiliation::None => "none",
        Affiliation::Outcast => "outcast",
    }
}

/// An affiliation by name.
pub(super) fn parse_affiliation(s: &str) -> Option<Affiliation> {
    [
        Affiliation::Owner,
        Affiliation::Publisher,
        Affiliation::PublishOnly,
        Affiliation::Member,
        Affiliation::None,
        Affiliation::Outcast,
    ]
    .into_iter()
    .find(|a| affiliation_str(*a) == s)
}

fn node_required(node: Option<String>) -> Result<String, StanzaError> {
    node.filter(|n| !n.is_empty())
        .ok_or_else(|| PubSubError::NodeIdRequired.stanza_error())
}

fn config_form(settings: &Settings) -> starling_stanza::DataForm {
    settings
        .to_config()
        .to_form(FormType::Form, ns::PUBSUB_NODE_CONFIG)
}

impl Pep {
    /// A `pubsub#owner` request from the account itself.
    pub(super) async fn owner_request(
        &self,
        hub: &Hub,
        owner: &BareJid,
        op: PubSubOwner,
        set: bool,
    ) -> Answer {
        let pubsub = &hub.stores().pubsub;
        match (op, set) {
            (PubSubOwner::Configure { node, .. }, false) => {
                let node = node_required(node)?;
                let settings = self.existing(hub, owner, &node).await?;
                let form = Some(config_form(&settings));
                let node = Some(node);
                Ok(Some(PubSubOwner::Configure { node, form }.to_element()))
            }
            (PubSubOwner::Configure { node, form }, true) => {
                let node = node_required(node)?;
                let mut settings = self.existing(hub, owner, &node).await?;
                let Some(form) = form.filter(|f| f.form_type != FormType::Cancel) else {
                    return Ok(None);
                };
                let config = NodeConfig::from_form(&form).map_err(|e| e.to_stanza_error())?;
                settings
                    .apply(&config, self.config.max_items)
                    .map_err(|u| {
                        StanzaError::new(Cond::NotAcceptable)
                            .with_text(format!("unsupported: {}", u.0))
                    })?;
                pubsub
                    .set_config(owner.as_str(), &node, &settings.encode())
                    .await
                    .or_storage()?;
                if settings.notify_config {
                    let form = settings.deliver_payloads.then(|| config_form(&settings));
                    let event = PubSubEvent::Configuration {
                        node: node.clone(),
                        form,
                    };
                    self.broadcast(hub, owner, &node, &settings, &event).await;
                }
                Ok(None)
            }
            (PubSubOwner::Default { .. }, false) => {
                let form = Some(config_form(&Settings::default()));
                Ok(Some(PubSubOwner::Default { form }.to_element()))
            }
            (PubSubOwner::Delete { node, redirect }, true) => {
                let settings = self.existing(hub, owner, &node).await?;
                if settings.notify_delete {
                    let event = PubSubEvent::Delete {
                        node: node.clone(),
                        redirect,
                    };
                    self.broadcast(hub, owner, &node, &settings, &event).await;
                }
                pubsub
                    .delete_node(owner.as_str(), &node)
                    .await
                    .or_storage()?;
                Ok(None)
            }
            (PubSubOwner::Purge { node }, true) => {
                let settings = self.existing(hub, owner, &node).await?;
                pubsub.purge(owner.as_str(), &node).await.or_storage()?;
                let event = PubSubEvent::Purge { node: node.clone() };
                self.broadcast(hub, owner, &node, &settings, &event).await;
                Ok(None)
            }
            (PubSubOwner::Subscriptions { node, list }, set) => {
                self.existing(hub, owner, &node).await?;
                if set {
                    self.change_subscriptions(hub, owner, &node, list).await
                } else {
                    let list = self.node_subscriptions(hub, owner, &node).await?;
                    Ok(Some(PubSubOwner::Subscriptions { node, list }.to_element()))
                }
            }
            (PubSubOwner::Affiliations { node, list }, set) => {
                self.existing(hub, owner, &node).await?;
                if set {
                    self.change_affiliations(hub, owner, &node, list).await
                } else {
                    let mut all = vec![AffiliationInfo {
                        node: None,
                        jid: Some(Jid::from(owner.clone())),
                        affiliation: Affiliation::Owner,
                    }];
                    for (jid, a) in pubsub
                        .affiliations(owner.as_str(), &node)
                        .await
                        .or_storage()?
                    {
                        if let (Ok(jid), Some(affiliation)) = (jid.parse(), parse_affiliation(&a)) {
                            all.push(AffiliationInfo {
                                node: None,
                                jid: Some(jid),
                                affiliation,
                            });
                        }
                    }
                    Ok(Some(
                        PubSubOwner::Affiliations { node, list: all }.to_element(),
                    ))
                }
            }
            (_, set) => Err(StanzaError::new(Cond::BadRequest).with_text(format!(
                "not a pubsub#owner {} request",
                if set { "set" } else { "get" }
            ))),
        }
    }

    async fn node_subscriptions(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
    ) -> Result<Vec<SubscriptionInfo>, StanzaError> {
        let subs = hub
            .stores()
            .pubsub
            .subscriptions(owner.as_str(), node)
            .await
            .or_storage()?;
        Ok(subs
            .into_iter()
            .filter_map(|s| {
                Some(SubscriptionInfo {
                    node: None,
                    jid: s.jid.parse().ok()?,
                    subid: Some(s.subid),
                    state: Some(SubscriptionState::Subscribed),
                })
            })
            .collect())
    }

    async fn change_subscriptions(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        list: Vec<SubscriptionInfo>,
    ) -> Answer {
        let pubsub = &hub.stores().pubsub;
        for s in list {
            match s.state {
                Some(SubscriptionState::Subscribed) => {
                    let sub = StoredSubscription {
                        jid: s.jid.to_string(),
                        subid: crate::random_id(),
                    };
                    let max = self.config.max_subscriptions;
                    if pubsub
                        .subscribe(owner.as_str(), node, &sub, max)
                        .await
                        .or_storage()?
                        .is_none()
                    {
                        return Err(PubSubError::TooManySubscriptions.stanza_error());
                    }
                }
                Some(SubscriptionState::None) => {
                    pubsub
                        .unsubscribe(owner.as_str(), node, s.jid.as_str())
                        .await
                        .or_storage()?;
                }
                _ => {
                    return Err(StanzaError::new(Cond::NotAcceptable)
                        .with_text("only 'subscribed' and 'none' can be set"));
                }
            }
        }
        Ok(None)
    }

    async fn change_affiliations(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        list: Vec<AffiliationInfo>,
    ) -> Answer {
        let mut changes = Vec::with_capacity(list.len());
        for a in list {
            let Some(jid) = a.jid else {
                return Err(PubSubError::JidRequired.stanza_error());
            };
            let bare = jid.bare();
            if bare == *owner || a.affiliation == Affiliation::Owner {
                return Err(StanzaError::new(Cond::NotAcceptable)
                    .with_text("the account is the only owner of its PEP nodes"));
            }
            let value = (a.affiliation != Affiliation::None)
                .then(|| affiliation_str(a.affiliation).to_owned());
            changes.push((bare.to_string(), value));
        }
        hub.stores()
            .pubsub
            .set_affiliations(owner.as_str(), node, &changes)
            .await
            .or_storage()?;
        Ok(None)
    }
}
