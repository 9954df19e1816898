//! XEP-0402 §5: XEP-0048 bookmarks in private storage
//! (`<storage xmlns='storage:bookmarks'/>`) kept in step with the PEP
//! native bookmarks node `urn:xmpp:bookmarks:1`.
//!
//! * A private storage set of `<storage/>`: each `<conference jid/>`
//!   becomes the item of id `jid` (`<conference xmlns='urn:xmpp:bookmarks:1'
//!   name autojoin><nick/><password/></conference>`), published with the
//!   node options of XEP-0402 §3 only when it is new or changed (an
//!   item's `<extensions/>`, which XEP-0048 cannot carry, is kept); the
//!   items of rooms no longer listed are retracted, with notifications.
//!   A conference without a valid bare `jid` is not converted.
//! * A private storage get of `<storage/>`: built from the node's items
//!   (`jid` from the item id), with the `<url/>` bookmarks of the stored
//!   private value, which PEP bookmarks do not have; when the node has no
//!   item, the stored private value as it is.

use std::collections::HashSet;

use starling_jid::BareJid;
use starling_stanza::{AccessModel, Item, MaxItems, NodeConfig, SendLastPublished, StanzaError};
use starling_stanza::{StanzaErrorCondition as Cond, ns};
use starling_xml::Element;

use crate::hub::Hub;
use crate::pep::PepAccess;

/// The node options XEP-0402 §3 asks for (sent as publish-options).
pub(crate) fn publish_options() -> NodeConfig {
    NodeConfig {
        persist_items: Some(true),
        max_items: Some(MaxItems::Max),
        send_last_published_item: Some(SendLastPublished::Never),
        access_model: Some(AccessModel::Whitelist),
        ..NodeConfig::default()
    }
}

/// An `xs:boolean` as XEP-0048 clients write it.
fn truthy(v: &str) -> bool {
    matches!(v.trim(), "true" | "1")
}

/// Copies the `<nick/>` and `<password/>` texts of `from` (namespace
/// `from_ns`) into `to`.
fn copy_texts(from: &Element, from_ns: &str, to: &mut Element) {
    for name in ["nick", "password"] {
        if let Some(c) = from.get_child(name, from_ns) {
            let mut e = Element::new(name, to.ns());
            e.append_text(c.text());
            to.append_child(e);
        }
    }
}

/// Whether two `urn:xmpp:bookmarks:1` conferences say the same (name,
/// autojoin, nick, password, extensions), however written.
fn same(a: &Element, b: &Element) -> bool {
    let view = |c: &Element| {
        let text = |n: &str| c.get_child(n, ns::BOOKMARKS2).map(Element::text);
        (
            c.attr("name").map(str::to_owned),
            c.attr("autojoin").is_some_and(truthy),
            text("nick"),
            text("password"),
            c.get_child("extensions", ns::BOOKMARKS2).cloned(),
        )
    };
    view(a) == view(b)
}

/// The PEP items of a `<storage xmlns='storage:bookmarks'/>`: (room,
/// `<conference/>`), one per room (the first one listed).
pub(crate) fn from_storage(storage: &Element) -> Vec<(BareJid, Element)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for c in storage.children() {
        if !c.is("conference", ns::BOOKMARKS) {
            continue;
        }
        let Some(room) = c.attr("jid").and_then(|j| BareJid::new(j).ok()) else {
            continue;
        };
        if !seen.insert(room.clone()) {
            continue;
        }
        let mut conf = Element::new("conference", ns::BOOKMARKS2);
        if let Some(name) = c.attr("name") {
            conf.set_attr("name", Some(name));
        }
        if let Some(a) = c.attr("autojoin") {
            conf.set_attr("autojoin", Some(if truthy(a) { "true" } else { "false" }));
        }
        copy_texts(c, ns::BOOKMARKS, &mut conf);
        out.push((room, conf));
    }
    out
}

/// The `<storage/>` of the node's `items`, with the `<url/>` bookmarks of
/// `stored` (the private value).
pub(crate) fn to_storage(items: &[Item], stored: Option<&Element>) -> Element {
    let mut storage = Element::new("storage", ns::BOOKMARKS);
    for item in items {
        let (Some(id), Some(conf)) = (&item.id, &item.payload) else {
            continue;
        };
        if !conf.is("conference", ns::BOOKMARKS2) {
            continue;
        }
        let mut c = Element::new("conference", ns::BOOKMARKS);
        c.set_attr("jid", Some(id));
        if let Some(name) = conf.attr("name") {
            c.set_attr("name", Some(name));
        }
        let autojoin = conf.attr("autojoin").is_some_and(truthy);
        c.set_attr("autojoin", Some(if autojoin { "true" } else { "false" }));
        copy_texts(conf, ns::BOOKMARKS2, &mut c);
        storage.append_child(c);
    }
    for url in stored
        .into_iter()
        .flat_map(|s| s.children())
        .filter(|u| u.is("url", ns::BOOKMARKS))
    {
        storage.append_child(url.clone());
    }
    storage
}

/// The node's items; none when it does not exist.
async fn current(
    hub: &Hub,
    pep: &dyn PepAccess,
    owner: &BareJid,
) -> Result<Vec<Item>, StanzaError> {
    match pep.items(hub, owner, ns::BOOKMARKS2, None).await {
        Err(e) if e.condition == Cond::ItemNotFound => Ok(Vec::new()),
        r => r,
    }
}

/// Makes the node hold the rooms of `storage`: publishes the new and
/// changed ones, retracts the others.
pub(crate) async fn sync(
    hub: &Hub,
    pep: &dyn PepAccess,
    owner: &BareJid,
    storage: &Element,
) -> Result<(), StanzaError> {
    let old = current(hub, pep, owner).await?;
    let wanted = from_storage(storage);
    for (room, mut conf) in wanted.iter().cloned() {
        let before = old
            .iter()
            .find(|i| i.id.as_deref() == Some(room.as_str()))
            .and_then(|i| i.payload.as_ref());
        if let Some(ext) = before.and_then(|b| b.get_child("extensions", ns::BOOKMARKS2)) {
            conf.append_child(ext.clone());
        }
        if before.is_some_and(|b| same(b, &conf)) {
            continue;
        }
        let item = Item {
            id: Some(room.as_str().to_owned()),
            publisher: None,
            payload: Some(conf),
        };
        pep.publish(hub, owner, ns::BOOKMARKS2, item, Some(publish_options()))
            .await?;
    }
    for id in old.iter().filter_map(|i| i.id.as_deref()) {
        if !wanted.iter().any(|(room, _)| room.as_str() == id) {
            pep.retract(hub, owner, ns::BOOKMARKS2, id, true).await?;
        }
    }
    Ok(())
}

/// The `<storage/>` built from the node, or `None` when it has no item
/// (or cannot be read): the caller answers with the stored value then.
pub(crate) async fn read(
    hub: &Hub,
    pep: &dyn PepAccess,
    owner: &BareJid,
    stored: Option<&Element>,
) -> Option<Element> {
    let items = current(hub, pep, owner).await.ok()?;
    (!items.is_empty()).then(|| to_storage(&items, stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(s: &str) -> Element {
        s.parse().unwrap()
    }

    #[test]
    fn storage_to_items_and_back() {
        let storage = el("<storage xmlns='storage:bookmarks'>\
            <conference name='The Play' autojoin='1' jid='theplay@conference.shakespeare.lit'>\
            <nick>JC</nick><password>pw</password></conference>\
            <conference jid='orchard@conference.shakespeare.lit'/>\
            <conference jid='theplay@conference.shakespeare.lit' name='again'/>\
            <conference name='no jid'/><conference jid='not a jid@@'/>\
            <url name='Site' url='https://x.example/'/></storage>");
        let items = from_storage(&storage);
        let ids: Vec<_> = items.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(
            ids,
            [
                "theplay@conference.shakespeare.lit",
                "orchard@conference.shakespeare.lit"
            ]
        );
        assert_eq!(
            items[0].1,
            el(
                "<conference xmlns='urn:xmpp:bookmarks:1' name='The Play' autojoin='true'>\
                <nick>JC</nick><password>pw</password></conference>"
            )
        );
        assert_eq!(items[1].1, el("<conference xmlns='urn:xmpp:bookmarks:1'/>"));
        let pep: Vec<Item> = items
            .into_iter()
            .map(|(r, c)| Item {
                id: Some(r.as_str().to_owned()),
                publisher: None,
                payload: Some(c),
            })
            .collect();
        let back = to_storage(&pep, Some(&storage));
        assert_eq!(
            back,
            el("<storage xmlns='storage:bookmarks'>\
                <conference jid='theplay@conference.shakespeare.lit' name='The Play' autojoin='true'>\
                <nick>JC</nick><password>pw</password></conference>\
                <conference jid='orchard@conference.shakespeare.lit' autojoin='false'/>\
                <url name='Site' url='https://x.example/'/></storage>")
        );
        let opts = publish_options();
        assert_eq!(opts.access_model, Some(AccessModel::Whitelist));
        assert_eq!(opts.max_items, Some(MaxItems::Max));
    }
}
