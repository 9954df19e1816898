//! Publish-subscribe nodes and their items (XEP-0060), for PEP services
//! (XEP-0163: one service per account, named by its bare JID) and, later,
//! standalone services.
//!
//! [`PubSubStore`] is what the `pep` module uses; [`PubSubs`] is its
//! blocking twin for SQLite, run off the async workers by [`OnPool`].
//! Node configurations and item payloads are opaque strings here (the
//! module serialises them). A service is bounded ([`PubSubLimits`]: nodes,
//! and the bytes of all its items), checked in the transaction of the
//! change; a node keeps at most `max_items` items (the oldest go first).

use async_trait::async_trait;

use super::blocking::OnPool;
use super::{Admission, StorageError};

/// A node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNode {
    /// Its name.
    pub name: String,
    /// Its configuration, as the module serialised it.
    pub config: String,
}

/// An item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredItem {
    /// Its id.
    pub id: String,
    /// Who published it (a JID).
    pub publisher: Option<String>,
    /// The payload, serialised XML.
    pub payload: String,
}

/// The bounds of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubSubLimits {
    /// Nodes.
    pub max_nodes: usize,
    /// Bytes of all items' payloads.
    pub max_bytes: usize,
}

/// A change was refused: it would take the service over a bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSubFull {
    /// Too many nodes.
    Nodes(usize),
    /// Too many bytes.
    Bytes(usize),
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    /// The subscriber (a full or bare JID).
    pub jid: String,
    /// Its id.
    pub subid: String,
}

/// The pubsub store (asynchronous; see the [module docs](self)).
/// `service` is the service's JID (for PEP, the account's bare JID: its
/// nodes are deleted with the account).
#[async_trait]
pub trait PubSubStore: Send + Sync + 'static {
    /// Every node of `service`, sorted by name.
    async fn nodes(&self, service: &str) -> Result<Vec<StoredNode>, StorageError>;

    /// One node.
    async fn node(&self, service: &str, node: &str) -> Result<Option<StoredNode>, StorageError>;

    /// Creates a node; `Ok(Stored)` also when it existed (the caller
    /// checks first; the existing one is kept).
    async fn create_node(
        &self,
        service: &str,
        node: &str,
        config: &str,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError>;

    /// Replaces a node's configuration; false when there is no such node.
    async fn set_config(
        &self,
        service: &str,
        node: &str,
        config: &str,
    ) -> Result<bool, StorageError>;

    /// Deletes a node with its items, affiliations and subscriptions.
    async fn delete_node(&self, service: &str, node: &str) -> Result<bool, StorageError>;

    /// Stores `item` as the newest of `node` (replacing an item with its
    /// id), then keeps the newest `max_items`; returns the ids of the
    /// items that went. Refused when the service would hold more than
    /// `limits.max_bytes`.
    async fn publish(
        &self,
        service: &str,
        node: &str,
        item: &StoredItem,
        max_items: usize,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError>;

    /// Items of `node`, newest first: those with `ids` (in that order of
    /// recency) when not empty, else the newest `max` (all when `None`).
    async fn items(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
        max: Option<usize>,
    ) -> Result<Vec<StoredItem>, StorageError>;

    /// Removes items; returns the ids that were there.
    async fn retract(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StorageError>;

    /// Removes every item of `node`.
    async fn purge(&self, service: &str, node: &str) -> Result<(), StorageError>;

    /// The affiliations of `node` other than the owner's: (JID, affiliation).
    async fn affiliations(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<(String, String)>, StorageError>;

    /// Sets affiliations (`None` removes one).
    async fn set_affiliations(
        &self,
        service: &str,
        node: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<(), StorageError>;

    /// The subscriptions of `node`.
    async fn subscriptions(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<StoredSubscription>, StorageError>;

    /// Subscribes `sub.jid` (one subscription per JID: an existing one is
    /// returned) unless the node has `max` subscriptions.
    async fn subscribe(
        &self,
        service: &str,
        node: &str,
        sub: &StoredSubscription,
        max: usize,
    ) -> Result<Option<StoredSubscription>, StorageError>;

    /// Removes `jid`'s subscription; false when there was none.
    async fn unsubscribe(&self, service: &str, node: &str, jid: &str)
    -> Result<bool, StorageError>;
}

/// [`PubSubStore`] for a backend whose calls block the thread (same
/// methods, same meaning).
#[allow(missing_docs)]
pub trait PubSubs: Send + Sync + 'static {
    fn nodes(&self, service: &str) -> Result<Vec<StoredNode>, StorageError>;
    fn node(&self, service: &str, node: &str) -> Result<Option<StoredNode>, StorageError>;
    fn create_node(
        &self,
        service: &str,
        node: &str,
        config: &str,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError>;
    fn set_config(&self, service: &str, node: &str, config: &str) -> Result<bool, StorageError>;
    fn delete_node(&self, service: &str, node: &str) -> Result<bool, StorageError>;
    fn publish(
        &self,
        service: &str,
        node: &str,
        item: &StoredItem,
        max_items: usize,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError>;
    fn items(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
        max: Option<usize>,
    ) -> Result<Vec<StoredItem>, StorageError>;
    fn retract(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StorageError>;
    fn purge(&self, service: &str, node: &str) -> Result<(), StorageError>;
    fn affiliations(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<(String, String)>, StorageError>;
    fn set_affiliations(
        &self,
        service: &str,
        node: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<(), StorageError>;
    fn subscriptions(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<StoredSubscription>, StorageError>;
    fn subscribe(
        &self,
        service: &str,
        node: &str,
        sub: &StoredSubscription,
        max: usize,
    ) -> Result<Option<StoredSubscription>, StorageError>;
    fn unsubscribe(&self, service: &str, node: &str, jid: &str) -> Result<bool, StorageError>;
}

/// Runs one blocking call on the pool with owned copies of its arguments.
macro_rules! on_pool {
    ($self:ident, |$b:ident| $call:expr, $($arg:ident),*) => {{
        $(let $arg = $arg.to_owned();)*
        let $b = $self.backend().clone();
        $self.executor().run(move || $call).await
    }};
}

#[async_trait]
impl<B: PubSubs> PubSubStore for OnPool<B> {
    async fn nodes(&self, service: &str) -> Result<Vec<StoredNode>, StorageError> {
        on_pool!(self, |b| b.nodes(&service), service)
    }
    async fn node(&self, service: &str, node: &str) -> Result<Option<StoredNode>, StorageError> {
        on_pool!(self, |b| b.node(&service, &node), service, node)
    }
    async fn create_node(
        &self,
        service: &str,
        node: &str,
        config: &str,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError> {
        on_pool!(
            self,
            |b| b.create_node(&service, &node, &config, limits),
            service,
            node,
            config
        )
    }
    async fn set_config(
        &self,
        service: &str,
        node: &str,
        config: &str,
    ) -> Result<bool, StorageError> {
        on_pool!(
            self,
            |b| b.set_config(&service, &node, &config),
            service,
            node,
            config
        )
    }
    async fn delete_node(&self, service: &str, node: &str) -> Result<bool, StorageError> {
        on_pool!(self, |b| b.delete_node(&service, &node), service, node)
    }
    async fn publish(
        &self,
        service: &str,
        node: &str,
        item: &StoredItem,
        max_items: usize,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError> {
        let item = item.clone();
        on_pool!(
            self,
            |b| b.publish(&service, &node, &item, max_items, limits),
            service,
            node
        )
    }
    async fn items(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
        max: Option<usize>,
    ) -> Result<Vec<StoredItem>, StorageError> {
        let ids = ids.to_vec();
        on_pool!(self, |b| b.items(&service, &node, &ids, max), service, node)
    }
    async fn retract(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StorageError> {
        let ids = ids.to_vec();
        on_pool!(self, |b| b.retract(&service, &node, &ids), service, node)
    }
    async fn purge(&self, service: &str, node: &str) -> Result<(), StorageError> {
        on_pool!(self, |b| b.purge(&service, &node), service, node)
    }
    async fn affiliations(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<(String, String)>, StorageError> {
        on_pool!(self, |b| b.affiliations(&service, &node), service, node)
    }
    async fn set_affiliations(
        &self,
        service: &str,
        node: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<(), StorageError> {
        let changes = changes.to_vec();
        on_pool!(
            self,
            |b| b.set_affiliations(&service, &node, &changes),
            service,
            node
        )
    }
    async fn subscriptions(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<StoredSubscription>, StorageError> {
        on_pool!(self, |b| b.subscriptions(&service, &node), service, node)
    }
    async fn subscribe(
        &self,
        service: &str,
        node: &str,
        sub: &StoredSubscription,
        max: usize,
    ) -> Result<Option<StoredSubscription>, StorageError> {
        let sub = sub.clone();
        on_pool!(
            self,
            |b| b.subscribe(&service, &node, &sub, max),
            service,
            node
        )
    }
    async fn unsubscribe(
        &self,
        service: &str,
        node: &str,
        jid: &str,
    ) -> Result<bool, StorageError> {
        on_pool!(
            self,
            |b| b.unsubscribe(&service, &node, &jid),
            service,
            node,
            jid
        )
    }
}
