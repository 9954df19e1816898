//! The blocking storage interface, one trait per feature, for backends
//! whose calls block the calling thread (SQLite). [`OnPool`] runs them on
//! the storage [`Executor`] and so gives such a backend the asynchronous
//! traits the server's modules use ([`AccountStore`], [`RosterStore`],
//! [`OfflineStore`]). A backend with an asynchronous client library
//! implements those traits directly instead.
//!
//! Every method is short (one indexed query or one small transaction) and
//! returns only once its change is committed: what the server acknowledges
//! after a call survives a crash of the process (see
//! [`Synchronous`](super::Synchronous) for power loss).

use std::sync::Arc;

use async_trait::async_trait;
use starling_auth::sasl::{ScramCredentials, ScramHash};
use starling_jid::{BareJid, DomainPart};

use super::exec::Executor;
use super::{
    AccountStore, Admission, OfflineFull, OfflineMessage, OfflineQuota, OfflineStore,
    PresenceState, RequestLimits, RequestsFull, RosterEntry, RosterStore, StorageError,
    SubscriptionRequest,
};

/// Accounts and their SCRAM credentials.
pub trait Accounts: Send + Sync + 'static {
    /// Creates an account with the given credentials (one per hash; may be
    /// empty for an account that cannot log in yet).
    fn create_account(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError>;

    /// Replaces every stored credential of an account.
    fn set_credentials(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError>;

    /// Deletes an account with its roster, subscription requests and
    /// offline messages; `false` if there was none.
    fn remove_account(&self, jid: &BareJid) -> Result<bool, StorageError>;

    /// Whether the account exists.
    fn account_exists(&self, jid: &BareJid) -> Result<bool, StorageError>;

    /// The accounts of a domain, or of every domain, sorted.
    fn list_accounts(&self, domain: Option<&DomainPart>) -> Result<Vec<BareJid>, StorageError>;

    /// The stored SCRAM credentials of an account for `hash`.
    fn credentials(
        &self,
        jid: &BareJid,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StorageError>;

    /// Whether another process (the admin commands) committed changes
    /// since the last call; the first call says `false`. The default never
    /// reports changes.
    fn changed_elsewhere(&self) -> Result<bool, StorageError> {
        Ok(false)
    }
}

/// Rosters (RFC 6121 §2) and pending subscription requests (§3.1.3).
pub trait Rosters: Send + Sync + 'static {
    /// The roster version and every item, sorted by JID.
    fn roster(&self, owner: &BareJid) -> Result<(u64, Vec<RosterEntry>), StorageError>;

    /// The current roster version (0 for an empty, never changed roster).
    fn roster_version(&self, owner: &BareJid) -> Result<u64, StorageError>;

    /// One roster item.
    fn roster_item(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError>;

    /// Adds or replaces an item; returns the new roster version.
    fn roster_put(&self, owner: &BareJid, entry: &RosterEntry) -> Result<u64, StorageError>;

    /// Removes an item; returns the new roster version, `None` if there
    /// was no such item (the version does not change).
    fn roster_remove(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<u64>, StorageError>;

    /// Inbound subscription requests not yet answered ("Pending In"),
    /// oldest first.
    fn subscription_requests(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<SubscriptionRequest>, StorageError>;

    /// Records an inbound subscription request, replacing an older one
    /// from the same contact (always accepted), unless `limits` refuse a
    /// new one; the check and the insert are one transaction.
    fn add_subscription_request(
        &self,
        owner: &BareJid,
        request: &SubscriptionRequest,
        limits: RequestLimits,
    ) -> Result<Admission<RequestsFull>, StorageError>;

    /// Forgets a subscription request; `false` if there was none.
    fn remove_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
    ) -> Result<bool, StorageError>;
}

/// Offline messages (XEP-0160).
pub trait Offline: Send + Sync + 'static {
    /// Stores a message from `sender` for later delivery unless it would
    /// take the account, or the sender's share of it, over `quota`
    /// (messages or bytes of `stanza`); the check and the insert are one
    /// transaction.
    fn offline_push(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
        quota: OfflineQuota,
    ) -> Result<Admission<OfflineFull>, StorageError>;

    /// Up to `limit` stored messages, oldest first (they stay stored).
    fn offline_load(
        &self,
        owner: &BareJid,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError>;

    /// Up to `limit` stored messages with ids above `after`, oldest first.
    fn offline_load_after(
        &self,
        owner: &BareJid,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError>;

    /// Journals a message in flight to `owner` (see
    /// [`crate::storage::OfflineStore::offline_journal`]).
    fn offline_journal(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
    ) -> Result<i64, StorageError>;

    /// Forgets journaled messages.
    fn offline_release(&self, ids: &[i64]) -> Result<(), StorageError>;

    /// Turns journaled messages into offline messages.
    fn offline_recover(&self) -> Result<usize, StorageError>;

    /// Deletes the stored messages with ids up to and including `up_to`.
    fn offline_delete(&self, owner: &BareJid, up_to: i64) -> Result<(), StorageError>;

    /// How many messages are stored.
    fn offline_count(&self, owner: &BareJid) -> Result<usize, StorageError>;
}

/// A blocking backend `B` run on an [`Executor`]: the asynchronous store
/// traits for it.
pub struct OnPool<B> {
    backend: Arc<B>,
    exec: Executor,
}

impl<B> OnPool<B> {
    /// Runs `backend`'s calls on `exec`.
    pub fn new(backend: Arc<B>, exec: Executor) -> Self {
        OnPool { backend, exec }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    /// The executor its calls run on.
    pub fn executor(&self) -> &Executor {
        &self.exec
    }
}

impl<B> std::fmt::Debug for OnPool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnPool").finish_non_exhaustive()
    }
}

impl<B: Send + Sync + 'static> OnPool<B> {
    /// Runs `f` on the backend, on the executor.
    pub(super) async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&B) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let backend = self.backend.clone();
        self.exec.run(move || f(&backend)).await
    }
}

#[async_trait]
impl<B: Accounts> AccountStore for OnPool<B> {
    async fn create_account(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError> {
        let (jid, creds) = (jid.clone(), credentials.to_vec());
        self.call(move |b| b.create_account(&jid, &creds)).await
    }

    async fn set_credentials(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError> {
        let (jid, creds) = (jid.clone(), credentials.to_vec());
        self.call(move |b| b.set_credentials(&jid, &creds)).await
    }

    async fn remove_account(&self, jid: &BareJid) -> Result<bool, StorageError> {
        let jid = jid.clone();
        self.call(move |b| b.remove_account(&jid)).await
    }

    async fn account_exists(&self, jid: &BareJid) -> Result<bool, StorageError> {
        let jid = jid.clone();
        self.call(move |b| b.account_exists(&jid)).await
    }

    async fn list_accounts(
        &self,
        domain: Option<&DomainPart>,
    ) -> Result<Vec<BareJid>, StorageError> {
        let domain = domain.cloned();
        self.call(move |b| b.list_accounts(domain.as_ref())).await
    }

    async fn changed_elsewhere(&self) -> Result<bool, StorageError> {
        self.call(|b| b.changed_elsewhere()).await
    }
}

#[async_trait]
impl<B: Rosters> RosterStore for OnPool<B> {
    async fn roster(&self, owner: &BareJid) -> Result<(u64, Vec<RosterEntry>), StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.roster(&owner)).await
    }

    async fn roster_item(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError> {
        let (owner, contact) = (owner.clone(), contact.clone());
        self.call(move |b| b.roster_item(&owner, &contact)).await
    }

    async fn roster_put(&self, owner: &BareJid, entry: &RosterEntry) -> Result<u64, StorageError> {
        let (owner, entry) = (owner.clone(), entry.clone());
        self.call(move |b| b.roster_put(&owner, &entry)).await
    }

    async fn roster_remove(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<u64>, StorageError> {
        let (owner, contact) = (owner.clone(), contact.clone());
        self.call(move |b| b.roster_remove(&owner, &contact)).await
    }

    async fn subscription_requests(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<SubscriptionRequest>, StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.subscription_requests(&owner)).await
    }

    async fn add_subscription_request(
        &self,
        owner: &BareJid,
        request: &SubscriptionRequest,
        limits: RequestLimits,
    ) -> Result<Admission<RequestsFull>, StorageError> {
        let (owner, request) = (owner.clone(), request.clone());
        self.call(move |b| b.add_subscription_request(&owner, &request, limits))
            .await
    }

    async fn remove_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
    ) -> Result<bool, StorageError> {
        let (owner, from) = (owner.clone(), from.clone());
        self.call(move |b| b.remove_subscription_request(&owner, &from))
            .await
    }

    /// Both reads in one trip to the storage threads.
    async fn presence_state(&self, owner: &BareJid) -> Result<PresenceState, StorageError> {
        let owner = owner.clone();
        self.call(move |b| {
            Ok(PresenceState {
                items: b.roster(&owner)?.1,
                requests: b.subscription_requests(&owner)?,
            })
        })
        .await
    }
}

#[async_trait]
impl<B: Offline> OfflineStore for OnPool<B> {
    async fn offline_push(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
        quota: OfflineQuota,
    ) -> Result<Admission<OfflineFull>, StorageError> {
        let (owner, sender, stanza) = (owner.clone(), sender.clone(), stanza.to_owned());
        self.call(move |b| b.offline_push(&owner, &sender, &stanza, quota))
            .await
    }

    async fn offline_load(
        &self,
        owner: &BareJid,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.offline_load(&owner, limit)).await
    }

    async fn offline_load_after(
        &self,
        owner: &BareJid,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.offline_load_after(&owner, after, limit))
            .await
    }

    async fn offline_journal(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
    ) -> Result<i64, StorageError> {
        let (owner, sender, stanza) = (owner.clone(), sender.clone(), stanza.to_owned());
        self.call(move |b| b.offline_journal(&owner, &sender, &stanza))
            .await
    }

    async fn offline_release(&self, ids: Vec<i64>) -> Result<(), StorageError> {
        self.call(move |b| b.offline_release(&ids)).await
    }

    async fn offline_recover(&self) -> Result<usize, StorageError> {
        self.call(|b| b.offline_recover()).await
    }

    async fn offline_delete(&self, owner: &BareJid, up_to: i64) -> Result<(), StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.offline_delete(&owner, up_to)).await
    }

    async fn offline_count(&self, owner: &BareJid) -> Result<usize, StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.offline_count(&owner)).await
    }
}
