//! Block lists (XEP-0191 Blocking Command): the JIDs each account blocks.
//!
//! [`BlocklistStore`] is what the `blocking` module uses;
//! [`Blocklists`] is its blocking twin for SQLite, run off the async
//! workers by [`OnPool`]. Items are JIDs as RFC 7622 normalises them
//! (full, bare or domain JIDs, with or without a resource); a list is
//! bounded per account ([`BlocklistFull`]), checked in the transaction of
//! the insert.

use async_trait::async_trait;
use starling_jid::{BareJid, Jid};

use super::blocking::OnPool;
use super::{Admission, StorageError};

/// A block was refused: it would take the account's list over its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlocklistFull {
    /// The cap (`[modules.blocking] max_items`).
    pub max_items: usize,
}

/// The block lists (asynchronous; see the [storage docs](super)).
#[async_trait]
pub trait BlocklistStore: Send + Sync + 'static {
    /// The JIDs `owner` blocks, sorted.
    async fn blocklist(&self, owner: &BareJid) -> Result<Vec<Jid>, StorageError>;

    /// Adds `items` to `owner`'s list (those already there are kept once)
    /// unless the list would then hold more than `max_items`; the check
    /// and the insert are one transaction.
    async fn block(
        &self,
        owner: &BareJid,
        items: &[Jid],
        max_items: usize,
    ) -> Result<Admission<BlocklistFull>, StorageError>;

    /// Removes `items` from `owner`'s list, or every item when `items` is
    /// empty; returns the items that were removed.
    async fn unblock(&self, owner: &BareJid, items: &[Jid]) -> Result<Vec<Jid>, StorageError>;

    /// The accounts whose list is not empty, sorted.
    async fn blockers(&self) -> Result<Vec<BareJid>, StorageError>;
}

/// [`BlocklistStore`] for a backend whose calls block the thread.
pub trait Blocklists: Send + Sync + 'static {
    /// As [`BlocklistStore::blocklist`].
    fn blocklist(&self, owner: &BareJid) -> Result<Vec<Jid>, StorageError>;

    /// As [`BlocklistStore::block`].
    fn block(
        &self,
        owner: &BareJid,
        items: &[Jid],
        max_items: usize,
    ) -> Result<Admission<BlocklistFull>, StorageError>;

    /// As [`BlocklistStore::unblock`].
    fn unblock(&self, owner: &BareJid, items: &[Jid]) -> Result<Vec<Jid>, StorageError>;

    /// As [`BlocklistStore::blockers`].
    fn blockers(&self) -> Result<Vec<BareJid>, StorageError>;
}

#[async_trait]
impl<B: Blocklists> BlocklistStore for OnPool<B> {
    async fn blocklist(&self, owner: &BareJid) -> Result<Vec<Jid>, StorageError> {
        let (owner, b) = (owner.clone(), self.backend().clone());
        self.executor().run(move || b.blocklist(&owner)).await
    }

    async fn block(
        &self,
        owner: &BareJid,
        items: &[Jid],
        max_items: usize,
    ) -> Result<Admission<BlocklistFull>, StorageError> {
        let (owner, items, b) = (owner.clone(), items.to_vec(), self.backend().clone());
        self.executor()
            .run(move || b.block(&owner, &items, max_items))
            .await
    }

    async fn unblock(&self, owner: &BareJid, items: &[Jid]) -> Result<Vec<Jid>, StorageError> {
        let (owner, items, b) = (owner.clone(), items.to_vec(), self.backend().clone());
        self.executor().run(move || b.unblock(&owner, &items)).await
    }

    async fn blockers(&self) -> Result<Vec<BareJid>, StorageError> {
        let b = self.backend().clone();
        self.executor().run(move || b.blockers()).await
    }
}
