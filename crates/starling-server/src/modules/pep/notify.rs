//! Notifications (XEP-0163 §4.3, XEP-0060 §7.1.2): who gets an event
//! about a node, and the last published items a resource gets when its
//! presence or its interest (`NODE+notify` in its caps) arrives.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use starling_jid::{BareJid, FullJid, Jid};
use starling_stanza::{Item, Payload, PubSubEvent, SendLastPublished};
use starling_xml::Element;

use super::Pep;
use super::access::{Viewer, may_read};
use super::settings::Settings;
use crate::caps::CapsInfo;
use crate::hub::Hub;
use crate::routed::Routed;
use crate::storage::{RosterEntry, StoredItem};

/// A `<message type='headline'/>` from `owner` carrying `event`.
fn event_message(owner: &BareJid, event: &PubSubEvent) -> Option<Routed> {
    let mut msg = Element::new("message", starling_stanza::ns::CLIENT);
    msg.set_attr("from", Some(owner.as_str()));
    msg.set_attr("to", Some(owner.as_str()));
    msg.set_attr("type", Some("headline"));
    msg.set_attr("id", Some(&crate::random_id()));
    msg.append_child(event.to_element());
    Routed::parse(msg).ok()
}

/// A stored item as an event item (without its payload when the node
/// delivers none).
pub(super) fn event_item(item: &StoredItem, payload: bool) -> Item {
    Item {
        id: Some(item.id.clone()),
        publisher: None,
        payload: payload
            .then(|| item.payload.parse::<Element>().ok())
            .flatten(),
    }
}

impl Pep {
    /// The owner's roster, by contact, when a check needs it.
    async fn roster_map(&self, hub: &Hub, owner: &BareJid) -> HashMap<BareJid, RosterEntry> {
        match hub.stores().rosters.roster(owner).await {
            Ok((_, items)) => items.into_iter().map(|e| (e.jid.clone(), e)).collect(),
            Err(e) => {
                tracing::error!(error = %e, "storage failed; PEP notifications to contacts skipped");
                HashMap::new()
            }
        }
    }

    /// Sends `event` about `node` of `owner` to every resource that wants
    /// the node (caps) and may read it, and to explicit subscribers.
    pub(super) async fn broadcast(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        settings: &Settings,
        event: &PubSubEvent,
    ) {
        if !settings.deliver_notifications {
            return;
        }
        let interested: Vec<FullJid> = self
            .seen
            .resources(owner)
            .into_iter()
            .filter(|r| hub.caps().get(r).is_some_and(|c| c.wants_notify(node)))
            .collect();
        let subs = match hub
            .stores()
            .pubsub
            .subscriptions(owner.as_str(), node)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "storage failed; PEP subscriptions skipped");
                Vec::new()
            }
        };
        if interested.is_empty() && subs.is_empty() {
            return;
        }
        let roster = self.roster_map(hub, owner).await;
        let affiliations = self.affiliation_map(hub, owner, node).await;
        let allowed = |jid: &Jid| {
            let bare = jid.bare();
            let v = Viewer {
                owner: bare == *owner,
                roster: roster.get(&bare),
                affiliation: affiliations.get(&bare).map(String::as_str),
            };
            may_read(settings.access, &settings.roster_groups, v).is_ok()
        };
        let mut to: Vec<Jid> = interested
            .into_iter()
            .map(Jid::from)
            .filter(|j| allowed(j))
            .collect();
        let covered: HashSet<BareJid> = to.iter().map(Jid::bare).collect();
        for s in subs {
            let Ok(jid) = s.jid.parse::<Jid>() else {
                continue;
            };
            let dup = jid.resource().is_none() && covered.contains(&jid.bare());
            if !dup && !to.contains(&jid) && allowed(&jid) {
                to.push(jid);
            }
        }
        let Some(msg) = event_message(owner, event) else {
            return;
        };
        let from = Jid::from(owner.clone());
        for r in to {
            hub.route(msg.readdressed(&from, &r)).await;
        }
    }

    /// Sends `to` the last item of each of `owner`'s nodes that `wanted`
    /// selects and that sends its last item on presence.
    pub(super) async fn send_last(
        &self,
        hub: &Hub,
        owner: &BareJid,
        to: &FullJid,
        wanted: impl Fn(&str) -> bool + Send,
    ) {
        // Node configurations first; the last item only of the nodes the
        // resource wants (an avatar's data is not read for a contact that
        // wants only the metadata).
        let nodes = match hub.stores().pubsub.nodes(owner.as_str()).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "storage failed; last PEP items not sent");
                return;
            }
        };
        // One roster item (the recipient's), read once and only when a
        // node needs it: this runs for every contact whose presence or
        // caps arrive, often hundreds at once.
        let mut item: Option<Option<RosterEntry>> = None;
        let bare = to.bare();
        for node in nodes {
            let settings = Settings::decode(&node.config);
            if settings.send_last != SendLastPublished::OnSubAndPresence
                || !settings.deliver_notifications
                || !wanted(&node.name)
            {
                continue;
            }
            let pubsub = &hub.stores().pubsub;
            let last = match pubsub.items(owner.as_str(), &node.name, &[], Some(1)).await {
                Ok(mut items) => items.pop(),
                Err(e) => {
                    tracing::error!(error = %e, "storage failed; a last PEP item not sent");
                    continue;
                }
            };
            let Some(last) = last else { continue };
            if item.is_none() && bare != *owner {
                item = Some(match hub.stores().rosters.roster_item(owner, &bare).await {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::error!(error = %e, "storage failed; last PEP items not sent");
                        return;
                    }
                });
            }
            let affiliations = self.affiliation_map(hub, owner, &node.name).await;
            let v = Viewer {
                owner: bare == *owner,
                roster: item.as_ref().and_then(Option::as_ref),
                affiliation: affiliations.get(&bare).map(String::as_str),
            };
            if may_read(settings.access, &settings.roster_groups, v).is_err() {
                continue;
            }
            let event = PubSubEvent::Items {
                node: node.name.clone(),
                items: vec![event_item(&last, settings.deliver_payloads)],
                retracts: Vec::new(),
            };
            if let Some(msg) = event_message(owner, &event) {
                let from = Jid::from(owner.clone());
                hub.route(msg.readdressed(&from, &Jid::from(to.clone())))
                    .await;
            }
        }
    }

    /// `resource`'s interest may be new for `account`: sends the last
    /// items of the nodes its caps want that it was not served for yet.
    pub(super) async fn serve(
        &self,
        hub: &Hub,
        account: &BareJid,
        resource: &FullJid,
        caps: &Arc<CapsInfo>,
    ) {
        let Some(previous) = self.seen.serve(account, resource, caps) else {
            return;
        };
        if caps.notify_nodes().next().is_none() {
            return;
        }
        let old = previous.clone();
        let wanted = move |node: &str| {
            caps.wants_notify(node) && !old.as_ref().is_some_and(|p| p.wants_notify(node))
        };
        self.send_last(hub, account, resource, wanted).await;
    }
}
