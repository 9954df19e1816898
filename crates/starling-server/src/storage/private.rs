//! Private XML storage (XEP-0049 `jabber:iq:private`): per account, one
//! element per (namespace, element name), as serialised XML.
//!
//! [`PrivateStore`] is what the `private` module uses; [`PrivateXml`] is
//! its blocking twin for SQLite, run off the async workers by
//! [`OnPool`]. The bound on one element (`[modules.private] max_bytes`)
//! is the module's; the bound on an account's total
//! (`max_total_bytes`) is checked in the transaction of the write
//! ([`PrivateFull`]). Everything is deleted with the account.

use async_trait::async_trait;
use starling_jid::BareJid;

use super::blocking::OnPool;
use super::{Admission, StorageError};

/// A private element was refused: with it, the account's stored elements
/// would take more than `max_total_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateFull {
    /// The cap (`[modules.private] max_total_bytes`).
    pub max_total_bytes: usize,
}

/// Private XML storage (asynchronous; see the [storage docs](super)).
#[async_trait]
pub trait PrivateStore: Send + Sync + 'static {
    /// `owner`'s element `name` in `ns`, as XML, if stored.
    async fn private_get(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, StorageError>;

    /// Stores `owner`'s element `name` in `ns` (replacing the one stored)
    /// unless the account's elements would then take more than
    /// `max_total_bytes` of XML; the check and the write are one
    /// transaction.
    async fn private_set(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
        xml: &str,
        max_total_bytes: usize,
    ) -> Result<Admission<PrivateFull>, StorageError>;
}

/// [`PrivateStore`] for a backend whose calls block the thread.
pub trait PrivateXml: Send + Sync + 'static {
    /// As [`PrivateStore::private_get`].
    fn private_get(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, StorageError>;

    /// As [`PrivateStore::private_set`].
    fn private_set(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
        xml: &str,
        max_total_bytes: usize,
    ) -> Result<Admission<PrivateFull>, StorageError>;
}

#[async_trait]
impl<B: PrivateXml> PrivateStore for OnPool<B> {
    async fn private_get(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, StorageError> {
        let (owner, b) = (owner.clone(), self.backend().clone());
        let (ns, name) = (ns.to_owned(), name.to_owned());
        self.executor()
            .run(move || b.private_get(&owner, &ns, &name))
            .await
    }

    async fn private_set(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
        xml: &str,
        max_total_bytes: usize,
    ) -> Result<Admission<PrivateFull>, StorageError> {
        let (owner, b) = (owner.clone(), self.backend().clone());
        let (ns, name, xml) = (ns.to_owned(), name.to_owned(), xml.to_owned());
        self.executor()
            .run(move || b.private_set(&owner, &ns, &name, &xml, max_total_bytes))
            .await
    }
}
