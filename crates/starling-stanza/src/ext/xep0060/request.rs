//! `<pubsub xmlns='http://jabber.org/protocol/pubsub'/>`: requests and
//! their results.

use starling_jid::Jid;

use super::item::{AffiliationInfo, Item, SubscriptionInfo};
use crate::ext::xep0004::DataForm;

/// A `pubsub` payload (XEP-0060 §6–§7): one verb, with what it carries.
/// Results use the same shapes (a publish result is [`PubSub::Publish`]
/// with the item ids; an items result is [`PubSub::Items`] with the
/// items).
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
