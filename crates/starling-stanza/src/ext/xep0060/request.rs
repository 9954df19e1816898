//! `<pubsub xmlns='http://jabber.org/protocol/pubsub'/>`: requests and
//! their results.

use starling_jid::Jid;
use starling_xml::Element;

use super::error::PubSubError;
use super::item::{AffiliationInfo, Item, SubscriptionInfo};
use super::xml::{
    append_form, form_in, jid_required, node_opt, node_required, parse_affiliations, parse_items,
    parse_subscription, parse_subscriptions, set_opt, verb, with_node, wrap_form, wrapped_form,
    write_affiliation, write_item, write_subscription,
};
use crate::error::ParseError;
use crate::ext::xep0004::DataForm;
use crate::ext::{expect, opt_bool, opt_u32};
use crate::ns;
use crate::payload::Payload;

/// A `pubsub` payload (XEP-0060 §6–§7): one verb, with what it carries.
/// Results use the same shapes (a publish result is [`PubSub::Publish`]
/// with the item ids; an items result is [`PubSub::Items`] with the
/// items).
///
/// ```
/// use starling_stanza::{Item, Iq, NodeConfig, AccessModel, Payload, PubSub};
/// use starling_xml::Element;
///
/// // Publish with a precondition (XEP-0060 §7.1.5).
/// let options = NodeConfig { access_model: Some(AccessModel::Presence), ..NodeConfig::default() };
/// let tune = Element::new("tune", "http://jabber.org/protocol/tune");
/// let req = PubSub::publish("http://jabber.org/protocol/tune", Item::new(Some("current".into()), tune))
///     .with_publish_options(&options);
/// let iq = Iq::set("pub1", req.clone());
/// assert_eq!(iq.payload_as::<PubSub>().unwrap().unwrap(), req);
///
/// // An items result.
/// let el: Element = "<pubsub xmlns='http://jabber.org/protocol/pubsub'>\
///     <items node='princely_musings'><item id='368866411b877c30064a5f62b917cffe'>\
///     <entry xmlns='http://www.w3.org/2005/Atom'><title>The Uses of This World</title></entry>\
///     </item></items></pubsub>".parse().unwrap();
/// let PubSub::Items { node, items, .. } = PubSub::from_element(&el).unwrap() else { panic!() };
/// assert_eq!(node, "princely_musings");
/// assert_eq!(items[0].payload.as_ref().unwrap().name(), "entry");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PubSub {
    /// `<create node=…/>` (+ `<configure>` with a form), §8.1. `node` is
    /// absent for an instant node.
    Create {
        /// The node to create.
        node: Option<String>,
        /// The configuration form of `<configure/>`, if any.
        config: Option<DataForm>,
    },
    /// `<publish node=…><item/>…</publish>` (+ `<publish-options>` with
    /// a form), §7.1.
    Publish {
        /// The node.
        node: String,
        /// The items (one in a request).
        items: Vec<Item>,
        /// The `pubsub#publish-options` form (§7.1.5).
        options: Option<DataForm>,
    },
    /// `<retract node=… notify=…><item id=…/>…</retract>`, §7.2.
    Retract {
        /// The node.
        node: String,
        /// Notify subscribers of the retraction.
        notify: bool,
        /// The ids to retract (at least one).
        ids: Vec<String>,
    },
    /// `<items node=… max_items=…>` (+ `<item id=…/>`), §6.5; the result
    /// carries the items.
    Items {
        /// The node.
        node: String,
        /// At most this many (the most recent).
        max_items: Option<u32>,
        /// The subscription id.
        subid: Option<String>,
        /// Requested ids (request) or items (result).
        items: Vec<Item>,
    },
    /// `<subscribe node=… jid=…/>` (+ `<options>` form), §6.1.
    Subscribe {
        /// The node.
        node: Option<String>,
        /// The subscribing JID.
        jid: Jid,
        /// Subscription options (`<options><x/></options>`).
        options: Option<DataForm>,
    },
    /// `<unsubscribe node=… jid=… subid=…/>`, §6.2.
    Unsubscribe {
        /// The node.
        node: Option<String>,
        /// The subscribed JID.
        jid: Jid,
        /// The subscription id.
        subid: Option<String>,
    },
    /// `<subscription/>`: the result of a subscribe, §6.1.2.
    Subscription(SubscriptionInfo),
    /// `<subscriptions node=…/>`: the requester's subscriptions, §5.6.
    Subscriptions {
        /// Limited to this node.
        node: Option<String>,
        /// The list (result).
        list: Vec<SubscriptionInfo>,
    },
    /// `<affiliations node=…/>`: the requester's affiliations, §5.7.
    Affiliations {
        /// Limited to this node.
        node: Option<String>,
        /// The list (result).
        list: Vec<AffiliationInfo>,
    },
    /// `<options node=… jid=… subid=…>` + form: subscription options,
    /// §6.3.
    Options {
        /// The node.
        node: Option<String>,
        /// The subscriber.
        jid: Jid,
        /// The subscription id.
        subid: Option<String>,
        /// The form.
        form: Option<DataForm>,
    },
    /// `<default node=…/>` in `pubsub`: default subscription options,
    /// §6.4.
    Default {
        /// The node.
        node: Option<String>,
        /// The form (result).
        form: Option<DataForm>,
    },
    /// `<configure node=…>` + form in `pubsub` (as sent inside
    /// `<create/>` by some clients on its own), §8.1.3.
    Configure {
        /// The node.
        node: Option<String>,
        /// The form.
        form: Option<DataForm>,
    },
}

/// The verbs of `pubsub`, in the order they are looked for: a verb wins
/// over the companions `<configure/>` (of `<create/>`), `<options/>` (of
/// `<subscribe/>`) and `<publish-options/>`.
const VERBS: &[&str] = &[
    "create",
    "publish",
    "retract",
    "items",
    "subscribe",
    "unsubscribe",
    "subscription",
    "subscriptions",
    "affiliations",
    "options",
    "default",
    "configure",
];

fn parse_verb(top: &Element, v: &Element) -> Result<PubSub, ParseError> {
    const NS: &str = ns::PUBSUB;
    Ok(match v.name() {
        "create" => PubSub::Create {
            node: node_opt(v),
            config: wrapped_form(top, "configure", NS)?,
        },
        "publish" => PubSub::Publish {
            node: node_required(v)?,
            items: parse_items(v)?,
            options: wrapped_form(top, "publish-options", NS)?,
        },
        "retract" => {
            let node = node_required(v)?;
            let ids = v
                .children()
                .filter(|c| c.is("item", NS))
                .map(|c| match c.attr("id") {
                    Some(id) if !id.is_empty() => Ok(id.to_owned()),
                    _ => Err(PubSubError::ItemRequired.parse_error("<retract/> item without 'id'")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            if ids.is_empty() {
                return Err(PubSubError::ItemRequired.parse_error("<retract/> without an <item/>"));
            }
            PubSub::Retract {
                node,
                notify: opt_bool(v, "notify")?,
                ids,
            }
        }
        "items" => PubSub::Items {
            node: node_required(v)?,
            max_items: opt_u32(v, "max_items")?,
            subid: v.attr("subid").map(str::to_owned),
            items: parse_items(v)?,
        },
        "subscribe" => PubSub::Subscribe {
            node: node_opt(v),
            jid: jid_required(v)?,
            options: wrapped_form(top, "options", NS)?,
        },
        "unsubscribe" => PubSub::Unsubscribe {
            node: node_opt(v),
            jid: jid_required(v)?,
            subid: v.attr("subid").map(str::to_owned),
        },
        "subscription" => PubSub::Subscription(parse_subscription(v)?),
        "subscriptions" => PubSub::Subscriptions {
            node: node_opt(v),
            list: parse_subscriptions(v)?,
        },
        "affiliations" => PubSub::Affiliations {
            node: node_opt(v),
            list: parse_affiliations(v)?,
        },
        "options" => PubSub::Options {
            node: node_opt(v),
            jid: jid_required(v)?,
            subid: v.attr("subid").map(str::to_owned),
            form: form_in(v)?,
        },
        "default" => PubSub::Default {
            node: node_opt(v),
            form: form_in(v)?,
        },
        _ => PubSub::Configure {
            node: node_opt(v),
            form: form_in(v)?,
        },
    })
}

impl Payload for PubSub {
    const NAME: &'static str = "pubsub";
    const NS: &'static str = ns::PUBSUB;

    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        parse_verb(el, verb(el, Self::NS, VERBS)?)
    }

    fn to_element(&self) -> Element {
        const NS: &str = ns::PUBSUB;
        let mut top = Element::new(Self::NAME, NS);
        let (v, companion) = match self {
            PubSub::Create { node: n, config } => (
                with_node("create", NS, n.as_deref()),
                config.as_ref().map(|f| wrap_form("configure", NS, f)),
            ),
            PubSub::Publish {
                node: n,
                items,
                options,
            } => {
                let mut v = with_node("publish", NS, Some(n));
                for i in items {
                    v.append_child(write_item(i, NS));
                }
                (
                    v,
                    options
                        .as_ref()
                        .map(|f| wrap_form("publish-options", NS, f)),
                )
            }
            PubSub::Retract {
                node: n,
                notify,
                ids,
            } => {
                let mut v = with_node("retract", NS, Some(n));
                if *notify {
                    v.set_attr("notify", Some("true"));
                }
                for id in ids {
                    v.append_child(write_item(&Item::with_id(id.as_str()), NS));
                }
                (v, None)
            }
            PubSub::Items {
                node: n,
                max_items,
                subid,
                items,
            } => {
                let mut v = with_node("items", NS, Some(n));
                set_opt(
                    &mut v,
                    "max_items",
                    max_items.map(|m| m.to_string()).as_deref(),
                );
                set_opt(&mut v, "subid", subid.as_deref());
                for i in items {
                    v.append_child(write_item(i, NS));
                }
                (v, None)
            }
            PubSub::Subscribe {
                node: n,
                jid,
                options,
            } => {
                let mut v = with_node("subscribe", NS, n.as_deref());
                v.set_attr("jid", Some(jid.as_ref()));
                (v, options.as_ref().map(|f| wrap_form("options", NS, f)))
            }
            PubSub::Unsubscribe {
                node: n,
                jid,
                subid,
            } => {
                let mut v = with_node("unsubscribe", NS, n.as_deref());
                v.set_attr("jid", Some(jid.as_ref()));
                set_opt(&mut v, "subid", subid.as_deref());
                (v, None)
            }
            PubSub::Subscription(s) => (write_subscription(s, NS), None),
            PubSub::Subscriptions { node: n, list } => {
                let mut v = with_node("subscriptions", NS, n.as_deref());
                for s in list {
                    v.append_child(write_subscription(s, NS));
                }
                (v, None)
            }
            PubSub::Affiliations { node: n, list } => {
                let mut v = with_node("affiliations", NS, n.as_deref());
                for a in list {
                    v.append_child(write_affiliation(a, NS));
                }
                (v, None)
            }
            PubSub::Options {
                node: n,
                jid,
                subid,
                form,
            } => {
                let mut v = with_node("options", NS, n.as_deref());
                v.set_attr("jid", Some(jid.as_ref()));
                set_opt(&mut v, "subid", subid.as_deref());
                append_form(&mut v, form.as_ref());
                (v, None)
            }
            PubSub::Default { node: n, form } => {
                let mut v = with_node("default", NS, n.as_deref());
                append_form(&mut v, form.as_ref());
                (v, None)
            }
            PubSub::Configure { node: n, form } => {
                let mut v = with_node("configure", NS, n.as_deref());
                append_form(&mut v, form.as_ref());
                (v, None)
            }
        };
        top.append_child(v);
        if let Some(c) = companion {
            top.append_child(c);
        }
        top
    }
}
