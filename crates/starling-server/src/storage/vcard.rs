//! vCards (XEP-0054 vcard-temp): one per account, as serialised XML.
//!
//! [`VCardStore`] is what the `vcard` module uses; [`VCards`] is its
//! blocking twin for SQLite, run off the async workers by [`OnPool`].
//! The size bound (`[modules.vcard] max_bytes`) is the module's: the
//! store keeps what it is given. A vCard is deleted with its account.

use async_trait::async_trait;
use starling_jid::BareJid;

use super::StorageError;
use super::blocking::OnPool;

/// The vCards (asynchronous; see the [storage docs](super)).
#[async_trait]
pub trait VCardStore: Send + Sync + 'static {
    /// `owner`'s vCard (`<vCard xmlns='vcard-temp'/>` as XML), if one was
    /// stored.
    async fn vcard(&self, owner: &BareJid) -> Result<Option<String>, StorageError>;

    /// Stores `owner`'s vCard, replacing the previous one.
    async fn set_vcard(&self, owner: &BareJid, xml: &str) -> Result<(), StorageError>;
}

/// [`VCardStore`] for a backend whose calls block the thread.
pub trait VCards: Send + Sync + 'static {
    /// As [`VCardStore::vcard`].
    fn vcard(&self, owner: &BareJid) -> Result<Option<String>, StorageError>;

    /// As [`VCardStore::set_vcard`].
    fn set_vcard(&self, owner: &BareJid, xml: &str) -> Result<(), StorageError>;
}

#[async_trait]
impl<B: VCards> VCardStore for OnPool<B> {
    async fn vcard(&self, owner: &BareJid) -> Result<Option<String>, StorageError> {
        let (owner, b) = (owner.clone(), self.backend().clone());
        self.executor().run(move || b.vcard(&owner)).await
    }

    async fn set_vcard(&self, owner: &BareJid, xml: &str) -> Result<(), StorageError> {
        let (owner, xml, b) = (owner.clone(), xml.to_owned(), self.backend().clone());
        self.executor().run(move || b.set_vcard(&owner, &xml)).await
    }
}
