//! `<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'/>`: what a
//! node's owner does (XEP-0060 §8).

use super::item::{AffiliationInfo, SubscriptionInfo};
use crate::ext::xep0004::DataForm;

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
