//! `<event xmlns='http://jabber.org/protocol/pubsub#event'/>`:
//! notifications (XEP-0060 §7.1.2, §7.2.2, §8.2.5, §8.4.2, §8.5.2).

use super::item::{Item, SubscriptionInfo};
use crate::ext::xep0004::DataForm;

/// A `pubsub#event` payload, carried in a `<message/>`.
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
