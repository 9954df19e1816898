//! Durable state, one store per feature: [`AccountStore`] (accounts and
//! credentials), [`RosterStore`] (rosters and pending subscription
//! requests), [`OfflineStore`] (offline messages) and [`PushStore`]
//! (XEP-0357 push registrations), bundled in [`Stores`]. Each server module holds the store it owns.
//!
//! The traits are asynchronous from the caller's side, and every call
//! runs off the async worker threads: [`SqliteStorage`] is a blocking
//! backend ([`blocking`]) run on the bounded [`Executor`] by
//! [`blocking::OnPool`]; a backend with an async client library
//! implements the traits directly. A store call that fails returns a
//! [`StorageError`]; callers answer `internal-server-error` and log it,
//! never a different protocol answer.
//!
//! Every call returns only once its change is committed: what the server
//! acknowledges after a call survives a crash of the process (and, with
//! [`Synchronous::Full`], a power loss).
//!
//! What others can store for an account is bounded ([`limits`]): pending
//! subscription requests are small records ([`SubscriptionRequest`])
//! capped per account and per sending domain, and offline messages are
//! capped in count and bytes, with a share per sender.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use starling_server::storage::{RosterEntry, SqliteStorage, Stores, Subscription};
//! use starling_jid::BareJid;
//!
//! let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 4);
//! let juliet: BareJid = "juliet@capulet.lit".parse().unwrap();
//! stores.accounts.create_account(&juliet, &[]).await.unwrap();
//! let romeo: BareJid = "romeo@montague.lit".parse().unwrap();
//! let ver = stores.rosters.roster_put(&juliet, &RosterEntry::new(romeo)).await.unwrap();
//! let (current, items) = stores.rosters.roster(&juliet).await.unwrap();
//! assert_eq!(current, ver);
//! assert_eq!(items[0].subscription, Subscription::None);
//! # }
//! ```

pub mod blocking;
pub mod blocklist;
mod exec;
pub mod limits;
pub mod private;
pub mod pubsub;
pub mod push;
pub mod requests;
mod sqlite;
pub mod vcard;

pub use blocklist::{BlocklistFull, BlocklistStore};
pub use exec::Executor;
pub use limits::{
    Admission, OfflineFull, OfflineQuota, OfflineUsage, PendingCounts, RequestLimits, RequestsFull,
};
pub use private::{PrivateFull, PrivateStore};
pub use pubsub::{
    PubSubFull, PubSubLimits, PubSubStore, StoredItem, StoredNode, StoredSubscription,
};
pub use push::{PushFull, PushRegistration, PushStore};
pub use requests::SubscriptionRequest;
pub use sqlite::{SqliteStorage, Synchronous};
pub use vcard::VCardStore;

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

use starling_auth::sasl::{CredentialStore, ScramCredentials, ScramHash, StoreError};
use starling_jid::{BareJid, DomainPart, NodePart};

/// A storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The account already exists.
    #[error("account {0} already exists")]
    AccountExists(BareJid),
    /// There is no such account.
    #[error("no account {0}")]
    NoAccount(BareJid),
    /// The database was written by a newer version of Starling.
    #[error("database schema version {found} is newer than this program knows ({known})")]
    SchemaTooNew {
        /// The version in the file.
        found: u32,
        /// The newest version this program knows.
        known: u32,
    },
    /// Stored data could not be read back (corruption or manual edits).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The backend failed (I/O, locking, …).
    #[error("storage backend: {0}")]
    Backend(String),
}

/// The subscription state of a roster item (RFC 6121 §2.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Subscription {
    /// Neither has a subscription to the other's presence.
    #[default]
    None,
    /// The user is subscribed to the contact's presence.
    To,
    /// The contact is subscribed to the user's presence.
    From,
    /// Both.
    Both,
}

impl Subscription {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::None => "none",
            Subscription::To => "to",
            Subscription::From => "from",
            Subscription::Both => "both",
        }
    }

    /// Parses the attribute value.
    pub fn parse(s: &str) -> Option<Subscription> {
        Some(match s {
            "none" => Subscription::None,
            "to" => Subscription::To,
            "from" => Subscription::From,
            "both" => Subscription::Both,
            _ => return None,
        })
    }

    /// The user receives the contact's presence (`to` or `both`).
    pub fn has_to(self) -> bool {
        matches!(self, Subscription::To | Subscription::Both)
    }

    /// The contact receives the user's presence (`from` or `both`).
    pub fn has_from(self) -> bool {
        matches!(self, Subscription::From | Subscription::Both)
    }

    /// This state with the `to` half set or cleared.
    pub fn with_to(self, on: bool) -> Subscription {
        Subscription::from_halves(on, self.has_from())
    }

    /// This state with the `from` half set or cleared.
    pub fn with_from(self, on: bool) -> Subscription {
        Subscription::from_halves(self.has_to(), on)
    }

    fn from_halves(to: bool, from: bool) -> Subscription {
        match (to, from) {
            (false, false) => Subscription::None,
            (true, false) => Subscription::To,
            (false, true) => Subscription::From,
            (true, true) => Subscription::Both,
        }
    }
}

/// One roster item with its subscription state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// The contact.
    pub jid: BareJid,
    /// The handle the user gave the contact.
    pub name: Option<String>,
    /// Groups, in the order the client gave them.
    pub groups: Vec<String>,
    /// The subscription state.
    pub subscription: Subscription,
    /// The user asked to subscribe and the contact has not answered
    /// ("Pending Out", `ask='subscribe'`).
    pub ask: bool,
    /// The user pre-approved a subscription request from the contact
    /// (RFC 6121 §3.4, `approved='true'`).
    pub approved: bool,
}

impl RosterEntry {
    /// An item for `jid` with no name, groups or subscription.
    pub fn new(jid: BareJid) -> RosterEntry {
        RosterEntry {
            jid,
            name: None,
            groups: Vec::new(),
            subscription: Subscription::None,
            ask: false,
            approved: false,
        }
    }
}

/// A message stored for an account while none of its resources was
/// available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Increasing per database; pass the last one delivered to
    /// [`OfflineStore::offline_delete`].
    pub id: i64,
    /// The stanza as serialized XML (`jabber:client` namespace).
    pub stanza: String,
    /// When the server stored it (for the XEP-0203 delay stamp).
    pub stored_at: SystemTime,
}

/// Accounts and their credentials (asynchronous; see the [module
/// docs](self)).
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates an account with the given credentials (one per hash; may be
    /// empty for an account that cannot log in yet).
    async fn create_account(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError>;

    /// Replaces every stored credential of an account.
    async fn set_credentials(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError>;

    /// Deletes an account with everything stored for it; `false` if there
    /// was none.
    async fn remove_account(&self, jid: &BareJid) -> Result<bool, StorageError>;

    /// Whether the account exists.
    async fn account_exists(&self, jid: &BareJid) -> Result<bool, StorageError>;

    /// The accounts of a domain, or of every domain, sorted.
    async fn list_accounts(
        &self,
        domain: Option<&DomainPart>,
    ) -> Result<Vec<BareJid>, StorageError>;

    /// Whether another process (the admin commands) committed changes
    /// since the last call; the first call says `false`.
    async fn changed_elsewhere(&self) -> Result<bool, StorageError>;
}

/// Rosters (RFC 6121 §2) and pending subscription requests (§3.1.3).
#[async_trait]
pub trait RosterStore: Send + Sync + 'static {
    /// The roster version and every item, sorted by JID.
    async fn roster(&self, owner: &BareJid) -> Result<(u64, Vec<RosterEntry>), StorageError>;

    /// One roster item.
    async fn roster_item(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError>;

    /// Adds or replaces an item; returns the new roster version.
    async fn roster_put(&self, owner: &BareJid, entry: &RosterEntry) -> Result<u64, StorageError>;

    /// Removes an item; returns the new roster version, `None` if there
    /// was no such item.
    async fn roster_remove(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<u64>, StorageError>;

    /// Inbound subscription requests not yet answered, oldest first.
    async fn subscription_requests(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<SubscriptionRequest>, StorageError>;

    /// Records an inbound subscription request, replacing an older one
    /// from the same contact (always accepted), unless `limits` refuse a
    /// new one; the check and the insert are one transaction.
    async fn add_subscription_request(
        &self,
        owner: &BareJid,
        request: &SubscriptionRequest,
        limits: RequestLimits,
    ) -> Result<Admission<RequestsFull>, StorageError>;

    /// Forgets a subscription request; `false` if there was none.
    async fn remove_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
    ) -> Result<bool, StorageError>;

    /// The roster items and the pending subscription requests together:
    /// what a user's initial presence needs, in one call (a backend may
    /// read both at once).
    async fn presence_state(&self, owner: &BareJid) -> Result<PresenceState, StorageError> {
        let (_, items) = self.roster(owner).await?;
        let requests = self.subscription_requests(owner).await?;
        Ok(PresenceState { items, requests })
    }
}

/// What initial presence needs of the roster store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresenceState {
    /// The roster items, sorted by JID.
    pub items: Vec<RosterEntry>,
    /// Pending subscription requests, oldest first.
    pub requests: Vec<SubscriptionRequest>,
}

/// Offline messages (XEP-0160).
#[async_trait]
pub trait OfflineStore: Send + Sync + 'static {
    /// Stores a message from `sender` unless it would take the account,
    /// or the sender's share of it, over `quota` (messages or bytes of
    /// `stanza`); the check and the insert are one transaction.
    async fn offline_push(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
        quota: OfflineQuota,
    ) -> Result<Admission<OfflineFull>, StorageError>;

    /// Up to `limit` stored messages, oldest first (they stay stored).
    async fn offline_load(
        &self,
        owner: &BareJid,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError>;

    /// Up to `limit` stored messages with ids above `after`, oldest first
    /// (for a reader that has not deleted what it read yet).
    async fn offline_load_after(
        &self,
        owner: &BareJid,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError>;

    /// Keeps a message in flight to `owner` on disk until its recipient
    /// has it (XEP-0198 senders are told it was handled before that):
    /// the row id, for [`offline_release`](Self::offline_release).
    async fn offline_journal(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
    ) -> Result<i64, StorageError>;

    /// Forgets journaled messages: their recipients have them, or they
    /// were stored offline.
    async fn offline_release(&self, ids: Vec<i64>) -> Result<(), StorageError>;

    /// At start: the journaled messages of a server that stopped without
    /// releasing them become offline messages; how many.
    async fn offline_recover(&self) -> Result<usize, StorageError>;

    /// Deletes the stored messages with ids up to and including `up_to`.
    async fn offline_delete(&self, owner: &BareJid, up_to: i64) -> Result<(), StorageError>;

    /// How many messages are stored.
    async fn offline_count(&self, owner: &BareJid) -> Result<usize, StorageError>;
}

/// The stores of a running server, one per feature.
#[derive(Clone)]
pub struct Stores {
    /// Accounts.
    pub accounts: Arc<dyn AccountStore>,
    /// Rosters and subscription requests.
    pub rosters: Arc<dyn RosterStore>,
    /// Offline messages.
    pub offline: Arc<dyn OfflineStore>,
    /// XEP-0357 push registrations.
    pub push: Arc<dyn PushStore>,
    /// XEP-0191 block lists.
    pub blocklists: Arc<dyn BlocklistStore>,
    /// XEP-0060 / XEP-0163 nodes and items.
    pub pubsub: Arc<dyn PubSubStore>,
    /// XEP-0054 vCards.
    pub vcards: Arc<dyn VCardStore>,
    /// XEP-0049 private XML storage.
    pub private: Arc<dyn PrivateStore>,
    /// SCRAM credentials for SASL. SASL exchanges run on blocking threads,
    /// so this interface is synchronous.
    pub credentials: Arc<dyn CredentialStore>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores").finish_non_exhaustive()
    }
}

impl Stores {
    /// Every store on one SQLite database, with at most `in_flight` calls
    /// running at once.
    pub fn sqlite(db: Arc<SqliteStorage>, in_flight: usize) -> Stores {
        let on_pool = Arc::new(blocking::OnPool::new(db.clone(), Executor::new(in_flight)));
        Stores {
            accounts: on_pool.clone(),
            rosters: on_pool.clone(),
            offline: on_pool.clone(),
            push: on_pool.clone(),
            blocklists: on_pool.clone(),
            pubsub: on_pool.clone(),
            vcards: on_pool.clone(),
            private: on_pool,
            credentials: Arc::new(BlockingCredentials(db)),
        }
    }
}

/// SCRAM credentials read from a blocking [`blocking::Accounts`] backend
/// (called by SASL on a blocking thread).
#[derive(Debug)]
pub struct BlockingCredentials<B>(pub Arc<B>);

impl<B: blocking::Accounts> CredentialStore for BlockingCredentials<B> {
    fn scram(
        &self,
        domain: &DomainPart,
        username: &str,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StoreError> {
        let Ok(node) = NodePart::new(username) else {
            return Ok(None);
        };
        let jid = BareJid::from_parts(Some(&node), domain);
        self.0
            .credentials(&jid, hash)
            .map_err(|e| StoreError(e.to_string()))
    }
}
