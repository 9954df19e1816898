//! XEP-0060 Publish-Subscribe: requests (`pubsub`), owner requests
//! (`pubsub#owner`), notifications (`pubsub#event`), node configuration
//! and the `pubsub#errors` conditions.
//!
//! One type per namespace: [`PubSub`], [`PubSubOwner`], [`PubSubEvent`];
//! [`NodeConfig`] is the typed view of a `pubsub#node_config` (or
//! `pubsub#publish-options`) data form; [`PubSubError`] builds the
//! stanza errors of XEP-0060 §7–§8.

mod build;
mod config;
mod error;
mod event;
mod form;
mod item;
mod owner;
mod request;
mod xml;

pub use config::{AccessModel, MaxItems, NodeConfig, PublishModel, SendLastPublished};
pub use error::PubSubError;
pub use event::PubSubEvent;
pub use item::{Affiliation, AffiliationInfo, Item, SubscriptionInfo, SubscriptionState};
pub use owner::PubSubOwner;
pub use request::PubSub;

#[cfg(test)]
mod config_tests;
#[cfg(test)]
mod event_tests;
#[cfg(test)]
mod tests;
