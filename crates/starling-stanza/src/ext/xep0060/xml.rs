//! Reading and writing the pieces the three pubsub namespaces share:
//! items, subscriptions, affiliations, node attributes and wrapped forms.

use starling_jid::Jid;
use starling_xml::Element;

use super::error::PubSubError;
use super::item::{AffiliationInfo, Item, SubscriptionInfo};
use crate::error::ParseError;
use crate::ext::xep0004::DataForm;
use crate::ext::{req_jid, required};
use crate::ns;
use crate::payload::Payload;

/// The `node` attribute of an element that must name one: absent or
/// empty is `bad-request` with `<nodeid-required/>` (XEP-0060 §7.1.3.3).
pub(super) fn node_required(el: &Element) -> Result<String, ParseError> {
    match el.attr("node") {
        Some(n) if !n.is_empty() => Ok(n.to_owned()),
        _ => {
            Err(PubSubError::NodeIdRequired
                .parse_error(format!("<{}/> without a 'node'", el.name())))
        }
    }
}

/// The optional `node` attribute.
pub(super) fn node_opt(el: &Element) -> Option<String> {
    el.attr("node").map(str::to_owned)
}

/// A required `jid` attribute: absent is `bad-request` with
/// `<jid-required/>`; malformed is `jid-malformed`.
pub(super) fn jid_required(el: &Element) -> Result<Jid, ParseError> {
    if el.attr("jid").is_none() {
        return Err(
            PubSubError::JidRequired.parse_error(format!("<{}/> without a 'jid'", el.name()))
        );
    }
    req_jid(el, "jid")
}

/// An optional JID attribute.
pub(super) fn opt_jid(el: &Element, attr: &str) -> Result<Option<Jid>, ParseError> {
    el.attr(attr).map(|_| req_jid(el, attr)).transpose()
}

/// Sets an attribute when the value is present.
pub(super) fn set_opt(el: &mut Element, attr: &str, value: Option<&str>) {
    if value.is_some() {
        el.set_attr(attr, value);
    }
}

/// The data form inside `el` (the first `<x xmlns='jabber:x:data'/>`).
pub(super) fn form_in(el: &Element) -> Result<Option<DataForm>, ParseError> {
    el.get_child(DataForm::NAME, ns::DATA_FORMS)
        .map(DataForm::from_element)
        .transpose()
}

/// The form inside the child `name` of `parent` (`<configure><x/></configure>`).
pub(super) fn wrapped_form(
    parent: &Element,
    name: &str,
    namespace: &str,
) -> Result<Option<DataForm>, ParseError> {
    match parent.get_child(name, namespace) {
        Some(c) => form_in(c),
        None => Ok(None),
    }
}

/// Appends the form, if any, to `el`.
pub(super) fn append_form(el: &mut Element, form: Option<&DataForm>) {
    if let Some(f) = form {
        el.append_child(f.to_element());
    }
}

/// `<name xmlns=namespace><x/></name>` around a form.
pub(super) fn wrap_form(name: &str, namespace: &str, form: &DataForm) -> Element {
    let mut el = Element::new(name, namespace);
    el.append_child(form.to_element());
    el
}

/// An element with an optional `node` attribute.
pub(super) fn with_node(name: &str, namespace: &str, node: Option<&str>) -> Element {
    let mut el = Element::new(name, namespace);
    set_opt(&mut el, "node", node);
    el
}

/// Reads an `<item/>`: `id`, `publisher` and at most one payload element
/// (white space around it is ignored; a second element is `bad-request`).
pub(super) fn parse_item(el: &Element) -> Result<Item, ParseError> {
    let mut payloads = el.children();
    let payload = payloads.next().cloned();
    if payloads.next().is_some() {
        return Err(PubSubError::InvalidPayload
            .parse_error("an <item/> carries more than one payload element"));
    }
    Ok(Item {
        id: el.attr("id").map(str::to_owned),
        publisher: opt_jid(el, "publisher")?,
        payload,
    })
}

/// Writes an `<item/>` in `namespace`.
pub(super) fn write_item(item: &Item, namespace: &str) -> Element {
    let mut el = Element::new("item", namespace);
    set_opt(&mut el, "id", item.id.as_deref());
    set_opt(
        &mut el,
        "publisher",
        item.publisher.as_ref().map(AsRef::as_ref),
    );
    if let Some(p) = &item.payload {
        el.append_child(p.clone());
    }
    el
}

/// The `<item/>` children of `el` in its namespace.
pub(super) fn parse_items(el: &Element) -> Result<Vec<Item>, ParseError> {
    el.children()
        .filter(|c| c.is("item", el.ns()))
        .map(parse_item)
        .collect()
}

/// Reads a `<subscription/>`.
pub(super) fn parse_subscription(el: &Element) -> Result<SubscriptionInfo, ParseError> {
    Ok(SubscriptionInfo {
        node: node_opt(el),
        jid: jid_required(el)?,
        subid: el.attr("subid").map(str::to_owned),
        state: el.attr("subscription").map(str::parse).transpose()?,
    })
}

/// Writes a `<subscription/>` in `namespace`.
pub(super) fn write_subscription(s: &SubscriptionInfo, namespace: &str) -> Element {
    let mut el = with_node("subscription", namespace, s.node.as_deref());
    el.set_attr("jid", Some(s.jid.as_ref()));
    set_opt(&mut el, "subid", s.subid.as_deref());
    set_opt(&mut el, "subscription", s.state.map(|s| s.as_str()));
    el
}

/// Reads an `<affiliation/>` (`affiliation` required).
pub(super) fn parse_affiliation(el: &Element) -> Result<AffiliationInfo, ParseError> {
    Ok(AffiliationInfo {
        node: node_opt(el),
        jid: opt_jid(el, "jid")?,
        affiliation: required(el, "affiliation")?.parse()?,
    })
}

/// Writes an `<affiliation/>` in `namespace`.
pub(super) fn write_affiliation(a: &AffiliationInfo, namespace: &str) -> Element {
    let mut el = with_node("affiliation", namespace, a.node.as_deref());
    set_opt(&mut el, "jid", a.jid.as_ref().map(AsRef::as_ref));
    el.set_attr("affiliation", Some(a.affiliation.as_str()));
    el
}

/// The `<subscription/>` children of `el`.
pub(super) fn parse_subscriptions(el: &Element) -> Result<Vec<SubscriptionInfo>, ParseError> {
    el.children()
        .filter(|c| c.is("subscription", el.ns()))
        .map(parse_subscription)
        .collect()
}

/// The `<affiliation/>` children of `el`.
pub(super) fn parse_affiliations(el: &Element) -> Result<Vec<AffiliationInfo>, ParseError> {
    el.children()
        .filter(|c| c.is("affiliation", el.ns()))
        .map(parse_affiliation)
        .collect()
}

/// The one child of a pubsub wrapper that names the action: the first
/// child in `namespace` whose name is one of `verbs` (in the order of
/// `verbs`, so a verb wins over a companion such as `<configure/>`).
pub(super) fn verb<'a>(
    el: &'a Element,
    namespace: &str,
    verbs: &[&str],
) -> Result<&'a Element, ParseError> {
    verbs
        .iter()
        .find_map(|v| el.get_child(v, namespace))
        .ok_or_else(|| {
            ParseError::bad_request(format!(
                "<{}/> in {namespace:?} without a known child (one of {})",
                el.name(),
                verbs.join(", ")
            ))
        })
}
