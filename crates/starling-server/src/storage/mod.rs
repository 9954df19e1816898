//! Durable state behind one trait: accounts and their SCRAM credentials,
//! rosters with subscription states, pending subscription requests, and
//! offline messages.
//!
//! Session logic only talks to [`Storage`]; [`SqliteStorage`] is the
//! embedded backend (one database file in the data directory, WAL mode).
//! A networked backend (PostgreSQL) implements the same trait.
//!
//! Every method is synchronous and short (one indexed query or one small
//! transaction). A method returns only once its change is committed: what
//! the server acknowledges after a call survives a crash of the process.
//!
//! ```
//! use starling_server::storage::{RosterEntry, SqliteStorage, Storage, Subscription};
//! use starling_jid::BareJid;
//!
//! let dir = std::env::temp_dir().join(format!("starling-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let db = SqliteStorage::open(&dir.join("doc.db")).unwrap();
//! let juliet: BareJid = "juliet@capulet.lit".parse().unwrap();
//! db.create_account(&juliet, &[]).unwrap();
//! let romeo: BareJid = "romeo@montague.lit".parse().unwrap();
//! let ver = db.roster_put(&juliet, &RosterEntry::new(romeo.clone())).unwrap();
//! let (current, items) = db.roster(&juliet).unwrap();
//! assert_eq!(current, ver);
//! assert_eq!(items[0].subscription, Subscription::None);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod sqlite;

pub use sqlite::SqliteStorage;

use std::time::SystemTime;

use starling_auth::sasl::{ScramCredentials, ScramHash};
use starling_jid::{BareJid, DomainPart};

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
    /// [`Storage::offline_delete`].
    pub id: i64,
    /// The stanza as serialized XML (`jabber:client` namespace).
    pub stanza: String,
    /// When the server stored it (for the XEP-0203 delay stamp).
    pub stored_at: SystemTime,
}

/// What the server keeps between restarts.
pub trait Storage: Send + Sync + 'static {
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

    /// Inbound subscription requests not yet answered ("Pending In"), with
    /// the request stanza as serialized XML, oldest first.
    fn subscription_requests(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<(BareJid, String)>, StorageError>;

    /// Records an inbound subscription request (replacing an older one
    /// from the same contact).
    fn add_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
        stanza: &str,
    ) -> Result<(), StorageError>;

    /// Forgets a subscription request; `false` if there was none.
    fn remove_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
    ) -> Result<bool, StorageError>;

    /// Stores a message for later delivery unless the account already has
    /// `quota` stored messages; `true` if stored.
    fn offline_push(
        &self,
        owner: &BareJid,
        stanza: &str,
        quota: usize,
    ) -> Result<bool, StorageError>;

    /// Up to `limit` stored messages, oldest first (they stay stored).
    fn offline_load(
        &self,
        owner: &BareJid,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError>;

    /// Deletes the stored messages with ids up to and including `up_to`.
    fn offline_delete(&self, owner: &BareJid, up_to: i64) -> Result<(), StorageError>;

    /// How many messages are stored.
    fn offline_count(&self, owner: &BareJid) -> Result<usize, StorageError>;

    /// Whether another process (the admin commands) committed changes
    /// since the last call; the first call says `false`. The server polls
    /// it to close the sessions of removed accounts. The default never
    /// reports changes.
    fn changed_elsewhere(&self) -> Result<bool, StorageError> {
        Ok(false)
    }
}
