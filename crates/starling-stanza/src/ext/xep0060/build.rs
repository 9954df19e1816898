//! Constructors for the common [`PubSub`] requests.

use super::config::NodeConfig;
use super::item::Item;
use super::request::PubSub;
use crate::ext::xep0004::FormType;
use crate::ns;

impl PubSub {
    /// Publish one item to `node` (§7.1.1).
    pub fn publish(node: impl Into<String>, item: Item) -> Self {
        PubSub::Publish {
            node: node.into(),
            items: vec![item],
            options: None,
        }
    }

    /// Adds publish options (§7.1.5) to a [`PubSub::Publish`] (other
    /// verbs are returned unchanged).
    #[must_use]
    pub fn with_publish_options(mut self, config: &NodeConfig) -> Self {
        if let PubSub::Publish { options, .. } = &mut self {
            *options = Some(config.to_form(FormType::Submit, ns::PUBSUB_PUBLISH_OPTIONS));
        }
        self
    }

    /// All items of `node` (§6.5.2).
    pub fn items(node: impl Into<String>) -> Self {
        PubSub::Items {
            node: node.into(),
            max_items: None,
            subid: None,
            items: Vec::new(),
        }
    }

    /// The item `id` of `node` (§6.5.8).
    pub fn item(node: impl Into<String>, id: impl Into<String>) -> Self {
        PubSub::Items {
            node: node.into(),
            max_items: None,
            subid: None,
            items: vec![Item::with_id(id)],
        }
    }

    /// Retract the item `id` of `node`, notifying subscribers (§7.2).
    pub fn retract(node: impl Into<String>, id: impl Into<String>) -> Self {
        PubSub::Retract {
            node: node.into(),
            notify: true,
            ids: vec![id.into()],
        }
    }

    /// The verb's element name (`publish`, `items`, …).
    pub fn verb(&self) -> &'static str {
        match self {
            PubSub::Create { .. } => "create",
            PubSub::Publish { .. } => "publish",
            PubSub::Retract { .. } => "retract",
            PubSub::Items { .. } => "items",
            PubSub::Subscribe { .. } => "subscribe",
            PubSub::Unsubscribe { .. } => "unsubscribe",
            PubSub::Subscription(_) => "subscription",
            PubSub::Subscriptions { .. } => "subscriptions",
            PubSub::Affiliations { .. } => "affiliations",
            PubSub::Options { .. } => "options",
            PubSub::Default { .. } => "default",
            PubSub::Configure { .. } => "configure",
        }
    }
}
