//! What other modules may do with an account's PEP nodes (XEP-0163):
//! the `pep` module implements [`PepAccess`]; modules that convert
//! between PEP and older protocols (XEP-0398 vCard avatars, XEP-0402 §5
//! bookmarks in private storage) get it from [`crate::modules::build`].
//!
//! Every call acts as the account itself (its owner affiliation), with
//! the same rules, limits and notifications as a publish from one of the
//! account's clients.

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{Item, NodeConfig, StanzaError};

use crate::hub::Hub;

/// PEP operations on behalf of an account (see the [module docs](self)).
#[async_trait]
pub trait PepAccess: Send + Sync + 'static {
    /// Publishes `item` to `owner`'s node `node` (created with `options`
    /// applied when it does not exist; when it exists, `options` are
    /// publish-options preconditions, XEP-0060 §7.1.5); returns the item
    /// id. Contacts are notified as for a client's publish.
    async fn publish(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        item: Item,
        options: Option<NodeConfig>,
    ) -> Result<String, StanzaError>;

    /// The items of `owner`'s node `node`, newest first, at most
    /// `max_items` (all when `None`); `item-not-found` when the node does
    /// not exist.
    async fn items(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        max_items: Option<u32>,
    ) -> Result<Vec<Item>, StanzaError>;

    /// Retracts item `id` of `owner`'s node `node`, notifying contacts
    /// when `notify`; false when there was no such item.
    async fn retract(
        &self,
        hub: &Hub,
        owner: &BareJid,
        node: &str,
        id: &str,
        notify: bool,
    ) -> Result<bool, StanzaError>;
}
