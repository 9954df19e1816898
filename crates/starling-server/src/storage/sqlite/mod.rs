//! The embedded backend: one SQLite database file in WAL mode, through
//! `rusqlite`.
//!
//! # Schema (version 8)
//!
//! ```text
//! accounts(jid PK, domain, created_at_ms)            index (domain, jid)
//! credentials(account → accounts, hash, salt, iterations, stored_key, server_key)
//!                                                    PK (account, hash)
//! roster(owner → accounts, contact, name, subscription, ask, approved)
//!                                                    PK (owner, contact)
//! roster_groups((owner, contact) → roster, position, name)
//!                                                    PK (owner, contact, position)
//! roster_versions(owner PK, version) — kept when the account is removed
//! subscription_requests(owner → accounts, contact, domain, status, nick, seq)
//!                                                    PK (owner, contact), index (owner, seq),
//!                                                    index (owner, domain)
//! offline(id PK AUTOINCREMENT, owner → accounts, stanza, stored_at_ms, sender, bytes)
//!                                                    index (owner, id),
//!                                                    index (owner, sender, bytes)
//! push_registrations(seq PK AUTOINCREMENT, owner → accounts, app_server, node,
//!                    publish_options, resource, created_at_ms)
//!                                                    UNIQUE (owner, app_server, node)
//! blocklist(owner → accounts, jid)                   PK (owner, jid)
//! inflight(id PK AUTOINCREMENT, owner → accounts, sender, stanza,
//!          stored_at_ms)                             the XEP-0198 in-flight journal
//! vcards(owner PK → accounts, xml)                   XEP-0054 vCards
//! private_xml(owner → accounts, ns, name, xml, bytes)
//!                                                    PK (owner, ns, name), XEP-0049
//! ```
//!
//! Every `→` is a foreign key with `ON DELETE CASCADE`, so deleting the
//! `accounts` row deletes everything the account owns.
//!
//! # Concurrency
//!
//! Writes go through one connection behind a [`Mutex`]; every write is one
//! `BEGIN IMMEDIATE` transaction, so it takes the database write lock up
//! front (waiting up to the busy timeout if another process, such as the
//! admin CLI, holds it) instead of failing when a read transaction tries to
//! upgrade. Reads use a small pool of read-only connections: in WAL mode a
//! reader sees the last committed snapshot and never waits for the writer,
//! so loading a roster at login does not queue behind a burst of offline
//! message stores. An in-memory database cannot be shared between
//! connections, so there reads use the write connection too.

mod accounts;
mod blocklist;
mod inflight;
mod migrate_v3;
mod offline;
mod private;
mod pubsub;
mod push;
mod roster;
mod schema;
#[cfg(test)]
mod tests;
mod vcard;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use starling_jid::BareJid;

use super::StorageError;
#[cfg(doc)]
use super::blocking::{Accounts, Offline, Rosters};
use schema::{MIGRATIONS, migrate};

/// How long a connection waits for a lock held by another connection or
/// process before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// How many idle read connections are kept open.
const READ_POOL_SIZE: usize = 4;

/// Prepared statements kept per connection (there are about 30 distinct
/// statements; the `rusqlite` default is 16).
const STATEMENT_CACHE: usize = 64;

/// How hard a commit waits for the disk (`[storage] synchronous`, SQLite's
/// `PRAGMA synchronous`; the database is always in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `NORMAL`: a commit is written to the WAL file but not `fsync`ed
    /// (checkpoints are). A committed transaction survives the death of
    /// the process (`kill -9`, a panic) because the written data is in the
    /// operating system's page cache; a power loss or an operating system
    /// crash can lose the last transactions committed before it (the
    /// database stays consistent).
    #[default]
    Normal,
    /// `FULL`: every commit `fsync`s the WAL file before it returns, so
    /// acknowledged data also survives a power loss or an operating system
    /// crash, at the cost of one disk flush per write.
    Full,
}

impl Synchronous {
    /// The configuration value and pragma value: `"normal"` or `"full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Normal => "normal",
            Synchronous::Full => "full",
        }
    }

    /// Parses the configuration value.
    pub fn parse(s: &str) -> Option<Synchronous> {
        match s {
            "normal" => Some(Synchronous::Normal),
            "full" => Some(Synchronous::Full),
            _ => None,
        }
    }
}

/// The embedded backend: one SQLite database file.
///
/// The file is in WAL mode, so the admin CLI can change accounts while the
/// server runs (each waits up to 5 s for the other's write lock). Writes
/// are serialized through one connection; reads use a small pool of
/// read-only connections and do not wait for writes. The schema is
/// versioned (`PRAGMA user_version`) and migrated when the file is opened.
///
/// It implements the [blocking traits](crate::storage::blocking); the
/// server runs them off its async workers through
/// [`Stores::sqlite`](crate::storage::Stores::sqlite).
///
/// Owner-scoped writes ([`roster_put`](Rosters::roster_put),
/// [`add_subscription_request`](Rosters::add_subscription_request),
/// [`offline_push`](Offline::offline_push)) fail with
/// [`StorageError::NoAccount`] when the owner has no account: everything is
/// tied to its account by a foreign key. Reads for an owner without an
/// account return empty results.
///
/// ```
/// use starling_jid::BareJid;
/// use starling_server::storage::blocking::{Accounts, Offline};
/// use starling_server::storage::{Admission, OfflineQuota, SqliteStorage};
///
/// let dir = std::env::temp_dir().join(format!("starling-sqlite-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("starling.db");
///
/// let juliet: BareJid = "juliet@capulet.lit".parse()?;
/// {
///     let db = SqliteStorage::open(&path)?;
///     db.create_account(&juliet, &[])?;
///     let romeo: BareJid = "romeo@montague.lit".parse()?;
///     let quota = OfflineQuota::default();
///     let stored = db.offline_push(&juliet, &romeo, "<message/>", quota)?;
///     assert_eq!(stored, Admission::Stored);
/// }
///
/// // Everything acknowledged is still there after reopening.
/// let db = SqliteStorage::open(&path)?;
/// assert!(db.account_exists(&juliet)?);
/// let stored = db.offline_load(&juliet, 10)?;
/// assert_eq!(stored[0].stanza, "<message/>");
/// db.offline_delete(&juliet, stored[0].id)?;
/// assert_eq!(db.offline_count(&juliet)?, 0);
///
/// drop(db);
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStorage {
    /// The connection every write goes through.
    writer: Mutex<Connection>,
    /// `PRAGMA data_version` of the writer at the last
    /// [`Accounts::changed_elsewhere`] (it changes only with commits made
    /// through other connections).
    seen_version: std::sync::atomic::AtomicI64,
    /// Read connections; `None` for an in-memory database.
    readers: Option<ReadPool>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.readers.as_ref().map(|r| &r.path))
            .finish_non_exhaustive()
    }
}

/// Idle read-only connections to the database file.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    /// An idle connection, or a new one.
    fn take(&self) -> Result<Connection, StorageError> {
        let idle = lock(&self.idle)?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path),
        }
    }

    /// Returns a connection to the pool, or closes it if the pool is full.
    fn put(&self, conn: Connection) {
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        if idle.len() < READ_POOL_SIZE {
            idle.push(conn);
        }
    }
}

impl SqliteStorage {
    /// Opens the database file at `path` with [`Synchronous::Normal`]
    /// (see [`SqliteStorage::open_with`]).
    ///
    /// # Errors
    ///
    /// As [`SqliteStorage::open_with`].
    pub fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
        SqliteStorage::open_with(path, Synchronous::Normal)
    }

    /// Opens the database file at `path`, creating it if it does not
    /// exist (its directory must exist), and migrates it to the current
    /// schema.
    ///
    /// The connection uses `journal_mode=WAL`, `synchronous` as given,
    /// `foreign_keys=ON` and a busy timeout of 5 s.
    ///
    /// **Durability.** In WAL mode with `synchronous=NORMAL`, a commit
    /// appends the transaction to the `-wal` file with `write()` but does
    /// not `fsync` it (only checkpoints do). Once written, the data is in
    /// the operating system's page cache, which does not belong to the
    /// process: a committed transaction survives a crash of the process,
    /// including `kill -9`, and is replayed from the WAL on the next open.
    /// Only a power loss or an operating system crash can lose the last
    /// transactions committed before it; the database stays consistent
    /// even then. With `synchronous=FULL` every commit is `fsync`ed before
    /// it returns and survives those too.
    ///
    /// # Errors
    ///
    /// [`StorageError::SchemaTooNew`] if a newer Starling wrote the file;
    /// [`StorageError::Backend`] if it cannot be opened, is not a SQLite
    /// database, cannot be put in WAL mode, or a migration fails.
    pub fn open_with(path: &Path, synchronous: Synchronous) -> Result<SqliteStorage, StorageError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut writer = Connection::open_with_flags(path, flags).db()?;
        configure(&writer)?;
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .db()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Backend(format!(
                "{}: cannot use WAL mode (journal mode is {mode})",
                path.display()
            )));
        }
        writer
            .pragma_update(None, "synchronous", synchronous.as_str())
            .db()?;
        migrate(&mut writer, MIGRATIONS)?;
        tracing::info!(
            path = %path.display(),
            synchronous = synchronous.as_str(),
            "database opened"
        );
        // The file exists now; an absolute path keeps read connections
        // working if the working directory changes.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        Ok(SqliteStorage {
            writer: Mutex::new(writer),
            seen_version: std::sync::atomic::AtomicI64::new(-1),
            readers: Some(ReadPool {
                path,
                idle: Mutex::new(Vec::with_capacity(READ_POOL_SIZE)),
            }),
        })
    }

    /// A private database in memory, gone when the value is dropped (for
    /// tests). Reads and writes share one connection.
    ///
    /// # Errors
    ///
    /// [`StorageError::Backend`] if SQLite fails.
    pub fn open_in_memory() -> Result<SqliteStorage, StorageError> {
        let mut writer = Connection::open_in_memory().db()?;
        configure(&writer)?;
        migrate(&mut writer, MIGRATIONS)?;
        Ok(SqliteStorage {
            writer: Mutex::new(writer),
            seen_version: std::sync::atomic::AtomicI64::new(-1),
            readers: None,
        })
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the write
    /// connection and commits it if `f` succeeds (rolls back otherwise).
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = lock(&self.writer)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let out = f(&tx)?;
        tx.commit().db()?;
        Ok(out)
    }

    /// Runs `f` in one read transaction (one consistent snapshot) on a
    /// pooled read connection.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match &self.readers {
            Some(pool) => {
                let mut conn = pool.take()?;
                let out = in_read_transaction(&mut conn, f);
                pool.put(conn);
                out
            }
            None => in_read_transaction(&mut *lock(&self.writer)?, f),
        }
    }
}

fn in_read_transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Connection) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    let tx = conn.transaction().db()?;
    let out = f(&tx)?;
    tx.commit().db()?;
    Ok(out)
}

/// Settings of every read-write connection.
fn configure(conn: &Connection) -> Result<(), StorageError> {
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "foreign_keys", true).db()?;
    let on: bool = conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .db()?;
    if !on {
        return Err(StorageError::Backend(
            "this SQLite cannot enforce foreign keys".to_owned(),
        ));
    }
    Ok(())
}

fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).db()?;
    conn.busy_timeout(BUSY_TIMEOUT).db()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Maps `rusqlite` errors to [`StorageError::Backend`].
trait Db<T> {
    fn db(self) -> Result<T, StorageError>;
}

impl<T> Db<T> for rusqlite::Result<T> {
    fn db(self) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::Backend(e.to_string()))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, StorageError> {
    mutex.lock().map_err(|_| {
        StorageError::Backend("storage lock poisoned by a thread that panicked".to_owned())
    })
}

fn parse_jid(s: &str) -> Result<BareJid, StorageError> {
    BareJid::new(s).map_err(|e| StorageError::Corrupt(format!("stored JID {s:?}: {e}")))
}

pub(super) fn parse_version(v: i64) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("negative roster version {v}")))
}

/// Milliseconds since the Unix epoch (negative before it).
fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

fn time_from_ms(ms: i64) -> Result<SystemTime, StorageError> {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.ok_or_else(|| StorageError::Corrupt(format!("timestamp {ms} ms out of range")))
}

fn clamp_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn account_exists_in(c: &Connection, jid: &BareJid) -> Result<bool, StorageError> {
    c.prepare_cached("SELECT EXISTS (SELECT 1 FROM accounts WHERE jid = ?1)")
        .db()?
        .query_row([jid.as_str()], |row| row.get(0))
        .db()
}

fn ensure_account(c: &Connection, jid: &BareJid) -> Result<(), StorageError> {
    if account_exists_in(c, jid)? {
        Ok(())
    } else {
        Err(StorageError::NoAccount(jid.clone()))
    }
}
