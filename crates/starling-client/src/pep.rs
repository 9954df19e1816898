//! Publish-subscribe (XEP-0060) on the account's own PEP service
//! (XEP-0163: requests without `to`) or on a pubsub service: publish,
//! retract, fetch items, delete and purge nodes, read and change a
//! node's configuration. A `pubsub#errors` condition in an error answer
//! comes back as [`Error::PubSub`].

use starling_jid::Jid;
use starling_stanza::{FormType, Iq, Item, NodeConfig, Payload, PubSub, PubSubOwner, ns};

use crate::client::ClientHandle;
use crate::error::Error;

/// An iq of `kind` (`get`/`set`) with `payload`, to `to` (none: the
/// account's own PEP service).
pub(crate) fn pubsub_iq(id: String, set: bool, to: Option<Jid>, payload: impl Payload) -> Iq {
    let iq = if set {
        Iq::set(id, payload)
    } else {
        Iq::get(id, payload)
    };
    match to {
        Some(j) => iq.with_to(j),
        None => iq,
    }
}

/// The publish request: one item, with `options` as publish-options.
pub(crate) fn publish_payload(node: &str, item: Item, options: Option<&NodeConfig>) -> PubSub {
    let p = PubSub::publish(node, item);
    match options {
        Some(o) => p.with_publish_options(o),
        None => p,
    }
}

/// The id of the published item: the one the result names, else the one
/// the request gave (a service may answer an item with an id with an
/// empty result, XEP-0060 §7.1.2).
pub(crate) fn published_id(reply: &Iq, sent: Option<&str>) -> Result<String, Error> {
    let from_reply = match reply.payload_as::<PubSub>() {
        Some(Ok(PubSub::Publish { items, .. })) => items.into_iter().find_map(|i| i.id),
        Some(Err(e)) => return Err(Error::Invalid(format!("publish result: {e}"))),
        _ => None,
    };
    from_reply
        .or_else(|| sent.map(str::to_owned))
        .ok_or_else(|| Error::Invalid("the publish result names no item id".to_owned()))
}

/// The items of an items result for `node`; an empty result is no items.
pub(crate) fn items_of(reply: &Iq, node: &str) -> Result<Vec<Item>, Error> {
    match reply.payload_as::<PubSub>() {
        Some(Ok(PubSub::Items { node: n, items, .. })) if n == node => Ok(items),
        Some(Ok(other)) => Err(Error::Invalid(format!(
            "expected the items of {node:?}, got <{}/>",
            other.verb()
        ))),
        Some(Err(e)) => Err(Error::Invalid(format!("items result: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// The configuration in a `pubsub#owner` configure result.
pub(crate) fn config_of(reply: &Iq) -> Result<NodeConfig, Error> {
    match reply.payload_as::<PubSubOwner>() {
        Some(Ok(PubSubOwner::Configure { form: Some(f), .. })) => NodeConfig::from_form(&f)
            .map_err(|e| Error::Invalid(format!("node configuration: {e}"))),
        Some(Err(e)) => Err(Error::Invalid(format!("configure result: {e}"))),
        _ => Err(Error::Invalid(
            "the configure result carries no form".to_owned(),
        )),
    }
}

impl ClientHandle {
    async fn pubsub(&self, set: bool, to: Option<Jid>, payload: impl Payload) -> Result<Iq, Error> {
        self.request(pubsub_iq(self.new_id(), set, to, payload))
            .await
            .map_err(Error::with_pubsub_condition)
    }

    /// Publishes `item` to the account's own PEP node `node` (XEP-0163
    /// §7.1; the node is created on first publish), with `options` as
    /// publish-options preconditions (XEP-0060 §7.1.5: a node whose
    /// configuration differs gives [`Error::PubSub`] with
    /// `precondition-not-met`). Returns the item's id (the service picks
    /// one when `item.id` is `None`).
    pub async fn publish(
        &self,
        node: &str,
        item: Item,
        options: Option<NodeConfig>,
    ) -> Result<String, Error> {
        self.publish_at(None, node, item, options).await
    }

    /// [`publish`](Self::publish) to a pubsub service.
    pub async fn publish_to(
        &self,
        service: Jid,
        node: &str,
        item: Item,
        options: Option<NodeConfig>,
    ) -> Result<String, Error> {
        self.publish_at(Some(service), node, item, options).await
    }

    async fn publish_at(
        &self,
        to: Option<Jid>,
        node: &str,
        item: Item,
        options: Option<NodeConfig>,
    ) -> Result<String, Error> {
        let sent = item.id.clone();
        let reply = self
            .pubsub(true, to, publish_payload(node, item, options.as_ref()))
            .await?;
        published_id(&reply, sent.as_deref())
    }

    /// Retracts the item `id` from `node` of `service` (none: the own PEP
    /// service), notifying subscribers (XEP-0060 §7.2).
    pub async fn retract(&self, service: Option<Jid>, node: &str, id: &str) -> Result<(), Error> {
        self.pubsub(true, service, PubSub::retract(node, id))
            .await
            .map(|_| ())
    }

    /// The items of `node` at `jid` (a contact's bare JID for their PEP
    /// node, a service; none: the own account), the most recent
    /// `max_items` if given (XEP-0060 §6.5).
    pub async fn items(
        &self,
        jid: Option<Jid>,
        node: &str,
        max_items: Option<u32>,
    ) -> Result<Vec<Item>, Error> {
        let req = PubSub::Items {
            node: node.to_owned(),
            max_items,
            subid: None,
            items: Vec::new(),
        };
        let reply = self.pubsub(false, jid, req).await?;
        items_of(&reply, node)
    }

    /// The item `id` of `node` at `jid` (none: the own account), or `None`
    /// when the node has no such item (XEP-0060 §6.5.8).
    pub async fn item(
        &self,
        jid: Option<Jid>,
        node: &str,
        id: &str,
    ) -> Result<Option<Item>, Error> {
        let reply = self.pubsub(false, jid, PubSub::item(node, id)).await?;
        Ok(items_of(&reply, node)?
            .into_iter()
            .find(|i| i.id.as_deref() == Some(id)))
    }

    /// Deletes `node` (XEP-0060 §8.4; owner only).
    pub async fn delete_node(&self, service: Option<Jid>, node: &str) -> Result<(), Error> {
        self.pubsub(true, service, PubSubOwner::delete(node))
            .await
            .map(|_| ())
    }

    /// Removes every item of `node` (XEP-0060 §8.5; owner only).
    pub async fn purge(&self, service: Option<Jid>, node: &str) -> Result<(), Error> {
        self.pubsub(true, service, PubSubOwner::purge(node))
            .await
            .map(|_| ())
    }

    /// The configuration of `node` (XEP-0060 §8.2; owner only).
    pub async fn node_config(&self, service: Option<Jid>, node: &str) -> Result<NodeConfig, Error> {
        let reply = self
            .pubsub(false, service, PubSubOwner::configure(node))
            .await?;
        config_of(&reply)
    }

    /// Changes the configuration of `node`: the fields set in `config`
    /// (XEP-0060 §8.2.4; owner only).
    pub async fn configure_node(
        &self,
        service: Option<Jid>,
        node: &str,
        config: &NodeConfig,
    ) -> Result<(), Error> {
        let req = PubSubOwner::Configure {
            node: Some(node.to_owned()),
            form: Some(config.to_form(FormType::Submit, ns::PUBSUB_NODE_CONFIG)),
        };
        self.pubsub(true, service, req).await.map(|_| ())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use starling_stanza::{AccessModel, PubSubError, StanzaError, StanzaErrorCondition};
    use starling_xml::Element;

    use super::*;

    /// An iq from its XML.
    pub(crate) fn iq(xml: &str) -> Iq {
        let el: Element = xml.parse().expect("xml");
        Iq::from_element(&el).expect("iq")
    }

    #[test]
    fn publish_requests_go_to_the_own_account_with_options() {
        let options = NodeConfig {
            access_model: Some(AccessModel::Presence),
            ..NodeConfig::default()
        };
        let item = Item::new(
            Some("current".into()),
            Element::new("tune", "http://jabber.org/protocol/tune"),
        );
        let req = pubsub_iq(
            "p1".into(),
            true,
            None,
            publish_payload("http://jabber.org/protocol/tune", item, Some(&options)),
        );
        let el = req.to_element();
        assert_eq!(el.attr("to"), None);
        assert_eq!(el.attr("type"), Some("set"));
        let PubSub::Publish {
            node,
            items,
            options: Some(form),
        } = req.payload_as::<PubSub>().expect("pubsub").expect("parses")
        else {
            panic!("{el}");
        };
        assert_eq!(node, "http://jabber.org/protocol/tune");
        assert_eq!(items[0].id.as_deref(), Some("current"));
        assert_eq!(form.form_type_value(), Some(ns::PUBSUB_PUBLISH_OPTIONS));
        assert_eq!(NodeConfig::from_form(&form).expect("form"), options);
        let to: Jid = "pubsub.example".parse().expect("jid");
        let req = pubsub_iq("p2".into(), false, Some(to.clone()), PubSub::items("n"));
        assert_eq!(req.header.to, Some(to));
    }

    #[test]
    fn published_ids() {
        let ps = "xmlns='http://jabber.org/protocol/pubsub'";
        let table: &[(String, Option<&str>, Option<&str>)] = &[
            (
                format!(
                    "<iq xmlns='jabber:client' type='result' id='a'><pubsub {ps}><publish node='n'><item id='srv'/></publish></pubsub></iq>"
                ),
                None,
                Some("srv"),
            ),
            (
                format!(
                    "<iq xmlns='jabber:client' type='result' id='a'><pubsub {ps}><publish node='n'><item id='srv'/></publish></pubsub></iq>"
                ),
                Some("mine"),
                Some("srv"),
            ),
            (
                "<iq xmlns='jabber:client' type='result' id='a'/>".to_owned(),
                Some("mine"),
                Some("mine"),
            ),
            (
                "<iq xmlns='jabber:client' type='result' id='a'/>".to_owned(),
                None,
                None,
            ),
        ];
        for (xml, sent, want) in table {
            assert_eq!(
                published_id(&iq(xml), *sent).ok().as_deref(),
                *want,
                "{xml}"
            );
        }
    }

    #[test]
    fn items_results() {
        let ps = "xmlns='http://jabber.org/protocol/pubsub'";
        let ok = iq(&format!(
            "<iq xmlns='jabber:client' type='result' id='a'><pubsub {ps}><items node='n'>\
             <item id='1'><x xmlns='urn:x'/></item><item id='2'/></items></pubsub></iq>"
        ));
        let items = items_of(&ok, "n").expect("items");
        assert_eq!(items.len(), 2);
        assert!(items[0].payload.is_some());
        assert!(items_of(&ok, "other").is_err());
        assert!(
            items_of(&iq("<iq xmlns='jabber:client' type='result' id='a'/>"), "n")
                .expect("empty")
                .is_empty()
        );
        let bad = iq(&format!(
            "<iq xmlns='jabber:client' type='result' id='a'><pubsub {ps}><items/></pubsub></iq>"
        ));
        assert!(items_of(&bad, "n").is_err());
    }

    #[test]
    fn node_config_results() {
        let reply = iq(
            "<iq xmlns='jabber:client' type='result' id='a'><pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\
            <configure node='n'><x xmlns='jabber:x:data' type='form'>\
            <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
            <field var='pubsub#access_model' type='list-single'><value>whitelist</value></field></x></configure></pubsub></iq>",
        );
        assert_eq!(
            config_of(&reply).expect("config").access_model,
            Some(AccessModel::Whitelist)
        );
        assert!(config_of(&iq("<iq xmlns='jabber:client' type='result' id='a'/>")).is_err());
    }

    #[test]
    fn pubsub_conditions_are_typed() {
        let e = Error::Stanza(Box::new(PubSubError::PreconditionNotMet.stanza_error()))
            .with_pubsub_condition();
        assert!(
            matches!(
                e,
                Error::PubSub {
                    condition: PubSubError::PreconditionNotMet,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.stanza_error().map(|s| s.condition.clone()),
            Some(StanzaErrorCondition::Conflict)
        );
        let plain = Error::Stanza(Box::new(StanzaError::new(
            StanzaErrorCondition::ItemNotFound,
        )))
        .with_pubsub_condition();
        assert!(matches!(plain, Error::Stanza(_)));
    }
}
