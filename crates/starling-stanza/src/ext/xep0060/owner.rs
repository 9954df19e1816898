//! `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'/>`: what a
//! node's owner does (XEP-0060 §8).

use starling_xml::Element;

use super::item::{AffiliationInfo, SubscriptionInfo};
use super::xml::{
    append_form, form_in, node_opt, node_required, parse_affiliations, parse_subscriptions, verb,
    with_node, write_affiliation, write_subscription,
};
use crate::error::ParseError;
use crate::ext::expect;
use crate::ext::xep0004::DataForm;
use crate::ns;
use crate::payload::Payload;

/// A `pubsub#owner` payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PubSubOwner {
    /// `<configure node=…>` + form: get (no form) or set the node
    /// configuration, §8.2.
    Configure {
        /// The node.
        node: Option<String>,
        /// The form (`form` in a get result, `submit`/`cancel` in a set).
        form: Option<DataForm>,
    },
    /// `<default/>`: the default node configuration, §8.3.
    Default {
        /// The form (result).
        form: Option<DataForm>,
    },
    /// `<delete node=…>` (+ `<redirect uri=…/>`), §8.4.
    Delete {
        /// The node.
        node: String,
        /// Where subscribers should go instead.
        redirect: Option<String>,
    },
    /// `<purge node=…/>`, §8.5.
    Purge {
        /// The node.
        node: String,
    },
    /// `<subscriptions node=…>`: the node's subscriptions, §8.8.
    Subscriptions {
        /// The node.
        node: String,
        /// The list.
        list: Vec<SubscriptionInfo>,
    },
    /// `<affiliations node=…>`: the node's affiliations, §8.9.
    Affiliations {
        /// The node.
        node: String,
        /// The list (each with `jid`).
        list: Vec<AffiliationInfo>,
    },
}

const VERBS: &[&str] = &[
    "configure",
    "default",
    "delete",
    "purge",
    "subscriptions",
    "affiliations",
];

/// The `uri` of a `<redirect/>` child of `el`, if any (`uri` required).
pub(super) fn redirect_in(el: &Element) -> Result<Option<String>, ParseError> {
    el.get_child("redirect", el.ns())
        .map(|r| crate::ext::required(r, "uri").map(str::to_owned))
        .transpose()
}

/// `<delete node=…>` with an optional `<redirect uri=…/>`, in `namespace`.
pub(super) fn write_delete(namespace: &str, node: &str, redirect: Option<&str>) -> Element {
    let mut v = with_node("delete", namespace, Some(node));
    if let Some(uri) = redirect {
        let mut r = Element::new("redirect", namespace);
        r.set_attr("uri", Some(uri));
        v.append_child(r);
    }
    v
}

impl PubSubOwner {
    /// Delete `node` (§8.4.1).
    pub fn delete(node: impl Into<String>) -> Self {
        PubSubOwner::Delete {
            node: node.into(),
            redirect: None,
        }
    }

    /// Purge every item of `node` (§8.5.1).
    pub fn purge(node: impl Into<String>) -> Self {
        PubSubOwner::Purge { node: node.into() }
    }

    /// Ask for the configuration form of `node` (§8.2.1).
    pub fn configure(node: impl Into<String>) -> Self {
        PubSubOwner::Configure {
            node: Some(node.into()),
            form: None,
        }
    }
}

impl Payload for PubSubOwner {
    const NAME: &'static str = "pubsub";
    const NS: &'static str = ns::PUBSUB_OWNER;

    /// ```
    /// use starling_stanza::{Payload, PubSubOwner};
    ///
    /// let el = "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\
    ///     <delete node='princely_musings'><redirect uri='xmpp:hamlet@denmark.lit?;node=blog'/></delete>\
    ///     </pubsub>".parse().unwrap();
    /// let PubSubOwner::Delete { node, redirect } = PubSubOwner::from_element(&el).unwrap() else { panic!() };
    /// assert_eq!(node, "princely_musings");
    /// assert_eq!(redirect.as_deref(), Some("xmpp:hamlet@denmark.lit?;node=blog"));
    /// ```
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let v = verb(el, Self::NS, VERBS)?;
        Ok(match v.name() {
            "configure" => PubSubOwner::Configure {
                node: node_opt(v),
                form: form_in(v)?,
            },
            "default" => PubSubOwner::Default { form: form_in(v)? },
            "delete" => PubSubOwner::Delete {
                node: node_required(v)?,
                redirect: redirect_in(v)?,
            },
            "purge" => PubSubOwner::Purge {
                node: node_required(v)?,
            },
            "subscriptions" => PubSubOwner::Subscriptions {
                node: node_required(v)?,
                list: parse_subscriptions(v)?,
            },
            _ => PubSubOwner::Affiliations {
                node: node_required(v)?,
                list: parse_affiliations(v)?,
            },
        })
    }

    fn to_element(&self) -> Element {
        const NS: &str = ns::PUBSUB_OWNER;
        let v = match self {
            PubSubOwner::Configure { node, form } => {
                let mut v = with_node("configure", NS, node.as_deref());
                append_form(&mut v, form.as_ref());
                v
            }
            PubSubOwner::Default { form } => {
                let mut v = Element::new("default", NS);
                append_form(&mut v, form.as_ref());
                v
            }
            PubSubOwner::Delete { node, redirect } => write_delete(NS, node, redirect.as_deref()),
            PubSubOwner::Purge { node } => with_node("purge", NS, Some(node)),
            PubSubOwner::Subscriptions { node, list } => {
                let mut v = with_node("subscriptions", NS, Some(node));
                for s in list {
                    v.append_child(write_subscription(s, NS));
                }
                v
            }
            PubSubOwner::Affiliations { node, list } => {
                let mut v = with_node("affiliations", NS, Some(node));
                for a in list {
                    v.append_child(write_affiliation(a, NS));
                }
                v
            }
        };
        let mut top = Element::new(Self::NAME, NS);
        top.append_child(v);
        top
    }
}
