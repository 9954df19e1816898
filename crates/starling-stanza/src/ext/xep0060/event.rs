//! `<event xmlns='http://jabber.org/protocol/pubsub#event'/>`:
//! notifications (XEP-0060 §7.1.2, §7.2.2, §8.2.5, §8.4.2, §8.5.2).

use starling_xml::Element;

use super::item::{Item, SubscriptionInfo};
use super::owner::{redirect_in, write_delete};
use super::xml::{
    append_form, form_in, node_required, parse_item, parse_subscription, verb, with_node,
    write_item, write_subscription,
};
use crate::error::ParseError;
use crate::ext::expect;
use crate::ext::xep0004::DataForm;
use crate::ns;
use crate::payload::Payload;

/// A `pubsub#event` payload, carried in a `<message/>`.
///
/// ```
/// use starling_stanza::{Item, Message, Payload, PubSubEvent};
/// use starling_xml::Element;
///
/// let el: Element = "<message xmlns='jabber:client' from='juliet@capulet.lit' to='romeo@montague.lit'>\
///     <event xmlns='http://jabber.org/protocol/pubsub#event'>\
///     <items node='http://jabber.org/protocol/tune'><item id='bffe6584-0f9c-11dc-84ba-001143d5d5db'>\
///     <tune xmlns='http://jabber.org/protocol/tune'><artist>Gerald Finzi</artist></tune>\
///     </item></items></event></message>".parse().unwrap();
/// let msg = Message::from_element(&el).unwrap();
/// let event = msg.payload::<PubSubEvent>().unwrap().unwrap();
/// let PubSubEvent::Items { node, items, .. } = &event else { panic!() };
/// assert_eq!(node, "http://jabber.org/protocol/tune");
/// assert_eq!(items[0].payload.as_ref().unwrap().name(), "tune");
///
/// let built = PubSubEvent::items("http://jabber.org/protocol/tune", items.clone());
/// assert_eq!(built, event);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PubSubEvent {
    /// `<items node=…>`: published items (with or without payload) and
    /// `<retract id=…/>`s.
    Items {
        /// The node.
        node: String,
        /// Published items.
        items: Vec<Item>,
        /// Retracted item ids.
        retracts: Vec<String>,
    },
    /// `<purge node=…/>`.
    Purge {
        /// The node.
        node: String,
    },
    /// `<delete node=…>` (+ `<redirect uri=…/>`).
    Delete {
        /// The node.
        node: String,
        /// Where to go instead.
        redirect: Option<String>,
    },
    /// `<configuration node=…>` (+ form).
    Configuration {
        /// The node.
        node: String,
        /// The new configuration, when payloads are delivered.
        form: Option<DataForm>,
    },
    /// `<subscription/>`: a subscription changed.
    Subscription(SubscriptionInfo),
}

const VERBS: &[&str] = &["items", "purge", "delete", "configuration", "subscription"];

impl PubSubEvent {
    /// A notification of published items.
    pub fn items(node: impl Into<String>, items: Vec<Item>) -> Self {
        PubSubEvent::Items {
            node: node.into(),
            items,
            retracts: Vec::new(),
        }
    }

    /// A notification of retracted items.
    pub fn retracts(node: impl Into<String>, ids: Vec<String>) -> Self {
        PubSubEvent::Items {
            node: node.into(),
            items: Vec::new(),
            retracts: ids,
        }
    }

    /// The node the event is about (`None` for a subscription change
    /// without node).
    pub fn node(&self) -> Option<&str> {
        match self {
            PubSubEvent::Items { node, .. }
            | PubSubEvent::Purge { node }
            | PubSubEvent::Delete { node, .. }
            | PubSubEvent::Configuration { node, .. } => Some(node),
            PubSubEvent::Subscription(s) => s.node.as_deref(),
        }
    }
}

impl Payload for PubSubEvent {
    const NAME: &'static str = "event";
    const NS: &'static str = ns::PUBSUB_EVENT;

    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let v = verb(el, Self::NS, VERBS)?;
        Ok(match v.name() {
            "items" => {
                let mut items = Vec::new();
                let mut retracts = Vec::new();
                for c in v.children().filter(|c| c.ns() == Self::NS) {
                    match c.name() {
                        "item" => items.push(parse_item(c)?),
                        "retract" => retracts.push(crate::ext::required(c, "id")?.to_owned()),
                        _ => {}
                    }
                }
                PubSubEvent::Items {
                    node: node_required(v)?,
                    items,
                    retracts,
                }
            }
            "purge" => PubSubEvent::Purge {
                node: node_required(v)?,
            },
            "delete" => PubSubEvent::Delete {
                node: node_required(v)?,
                redirect: redirect_in(v)?,
            },
            "configuration" => PubSubEvent::Configuration {
                node: node_required(v)?,
                form: form_in(v)?,
            },
            _ => PubSubEvent::Subscription(parse_subscription(v)?),
        })
    }

    fn to_element(&self) -> Element {
        const NS: &str = ns::PUBSUB_EVENT;
        let v = match self {
            PubSubEvent::Items {
                node,
                items,
                retracts,
            } => {
                let mut v = with_node("items", NS, Some(node));
                for i in items {
                    v.append_child(write_item(i, NS));
                }
                for id in retracts {
                    let mut r = Element::new("retract", NS);
                    r.set_attr("id", Some(id));
                    v.append_child(r);
                }
                v
            }
            PubSubEvent::Purge { node } => with_node("purge", NS, Some(node)),
            PubSubEvent::Delete { node, redirect } => write_delete(NS, node, redirect.as_deref()),
            PubSubEvent::Configuration { node, form } => {
                let mut v = with_node("configuration", NS, Some(node));
                append_form(&mut v, form.as_ref());
                v
            }
            PubSubEvent::Subscription(s) => write_subscription(s, NS),
        };
        let mut top = Element::new(Self::NAME, NS);
        top.append_child(v);
        top
    }
}
