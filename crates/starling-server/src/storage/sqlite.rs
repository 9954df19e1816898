//! The embedded backend: one SQLite database file in WAL mode, through
//! `rusqlite`.
//!
//! # Schema (version 1)
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
//! subscription_requests(owner → accounts, contact, stanza, seq)
//!                                                    PK (owner, contact), index (owner, seq)
//! offline(id PK AUTOINCREMENT, owner → accounts, stanza, stored_at_ms)
//!                                                    index (owner, id)
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

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use starling_auth::sasl::{ScramCredentials, ScramHash};
use starling_jid::{BareJid, DomainPart};

use super::{OfflineMessage, RosterEntry, Storage, StorageError, Subscription};

/// How long a connection waits for a lock held by another connection or
/// process before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// How many idle read connections are kept open.
const READ_POOL_SIZE: usize = 4;

/// Prepared statements kept per connection (there are about 30 distinct
/// statements; the `rusqlite` default is 16).
const STATEMENT_CACHE: usize = 64;

/// The schema migrations: `MIGRATIONS[n]` takes a database from
/// `PRAGMA user_version` `n` to `n + 1`, in one transaction. Append only:
/// never edit an entry that has been released.
///
/// Migrations run with `foreign_keys=ON` inside a transaction (where the
/// pragma cannot be changed); a future migration that rebuilds a table
/// must create the new table, copy, drop and rename in an order that keeps
/// the references valid.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    "
    CREATE TABLE accounts (
        jid           TEXT    NOT NULL PRIMARY KEY,
        domain        TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX accounts_by_domain ON accounts (domain, jid);

    CREATE TABLE credentials (
        account    TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        hash       TEXT    NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256')),
        salt       BLOB    NOT NULL,
        iterations INTEGER NOT NULL CHECK (iterations BETWEEN 1 AND 4294967295),
        stored_key BLOB    NOT NULL,
        server_key BLOB    NOT NULL,
        PRIMARY KEY (account, hash)
    ) WITHOUT ROWID;

    CREATE TABLE roster (
        owner        TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        contact      TEXT    NOT NULL,
        name         TEXT,
        subscription TEXT    NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
        ask          INTEGER NOT NULL CHECK (ask IN (0, 1)),
        approved     INTEGER NOT NULL CHECK (approved IN (0, 1)),
        PRIMARY KEY (owner, contact)
    ) WITHOUT ROWID;

    CREATE TABLE roster_groups (
        owner    TEXT    NOT NULL,
        contact  TEXT    NOT NULL,
        position INTEGER NOT NULL,
        name     TEXT    NOT NULL,
        PRIMARY KEY (owner, contact, position),
        FOREIGN KEY (owner, contact) REFERENCES roster (owner, contact) ON DELETE CASCADE
    ) WITHOUT ROWID;

    CREATE TABLE roster_versions (
        owner   TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
        version INTEGER NOT NULL CHECK (version >= 0)
    ) WITHOUT ROWID;

    CREATE TABLE subscription_requests (
        owner   TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        contact TEXT    NOT NULL,
        stanza  TEXT    NOT NULL,
        seq     INTEGER NOT NULL,
        PRIMARY KEY (owner, contact)
    ) WITHOUT ROWID;
    CREATE INDEX subscription_requests_in_order ON subscription_requests (owner, seq);

    -- AUTOINCREMENT: an id is never reused, even after the newest messages
    -- were deleted, so a delivered id cannot name a later message.
    CREATE TABLE offline (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        owner        TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        stanza       TEXT    NOT NULL,
        stored_at_ms INTEGER NOT NULL
    );
    CREATE INDEX offline_by_owner ON offline (owner, id);
    ",
    // 2: roster versions outlive their account, so that an account deleted
    // and created again never repeats a version a client may have cached
    // (RFC 6121 §2.6: a version names one state of the roster).
    "
    CREATE TABLE roster_versions_kept (
        owner   TEXT    NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 0)
    ) WITHOUT ROWID;
    INSERT INTO roster_versions_kept (owner, version) SELECT owner, version FROM roster_versions;
    DROP TABLE roster_versions;
    ALTER TABLE roster_versions_kept RENAME TO roster_versions;
    ",
];

/// The embedded [`Storage`] backend: one SQLite database file.
///
/// The file is in WAL mode, so the admin CLI can change accounts while the
/// server runs (each waits up to 5 s for the other's write lock). Writes
/// are serialized through one connection; reads use a small pool of
/// read-only connections and do not wait for writes. The schema is
/// versioned (`PRAGMA user_version`) and migrated when the file is opened.
///
/// Owner-scoped writes ([`roster_put`](Storage::roster_put),
/// [`add_subscription_request`](Storage::add_subscription_request),
/// [`offline_push`](Storage::offline_push)) fail with
/// [`StorageError::NoAccount`] when the owner has no account: everything is
/// tied to its account by a foreign key. Reads for an owner without an
/// account return empty results.
///
/// ```
/// use starling_jid::BareJid;
/// use starling_server::storage::{SqliteStorage, Storage};
///
/// let dir = std::env::temp_dir().join(format!("starling-sqlite-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("starling.db");
///
/// let juliet: BareJid = "juliet@capulet.lit".parse()?;
/// {
///     let db = SqliteStorage::open(&path)?;
///     db.create_account(&juliet, &[])?;
///     assert!(db.offline_push(&juliet, "<message/>", 100)?);
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
    /// [`Storage::changed_elsewhere`] (it changes only with commits made
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
    /// Opens the database file at `path`, creating it if it does not
    /// exist (its directory must exist), and migrates it to the current
    /// schema.
    ///
    /// The connection uses `journal_mode=WAL`, `synchronous=NORMAL`,
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
    /// even then.
    ///
    /// # Errors
    ///
    /// [`StorageError::SchemaTooNew`] if a newer Starling wrote the file;
    /// [`StorageError::Backend`] if it cannot be opened, is not a SQLite
    /// database, cannot be put in WAL mode, or a migration fails.
    pub fn open(path: &Path) -> Result<SqliteStorage, StorageError> {
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
        writer.pragma_update(None, "synchronous", "NORMAL").db()?;
        migrate(&mut writer, MIGRATIONS)?;
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

/// Brings the database to `migrations.len()`, one transaction per
/// migration. The version is read inside each write transaction, so two
/// processes opening a fresh file at once do not both migrate it.
fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StorageError> {
    let known = u32::try_from(migrations.len())
        .map_err(|_| StorageError::Backend("too many migrations".to_owned()))?;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .db()?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .db()?;
        let found = u32::try_from(found)
            .map_err(|_| StorageError::Corrupt(format!("negative schema version {found}")))?;
        if found > known {
            return Err(StorageError::SchemaTooNew { found, known });
        }
        let Some(sql) = migrations.get(found as usize) else {
            return Ok(());
        };
        tx.execute_batch(sql).map_err(|e| {
            StorageError::Backend(format!("migration to schema version {}: {e}", found + 1))
        })?;
        tx.pragma_update(None, "user_version", found + 1).db()?;
        tx.commit().db()?;
    }
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

fn parse_version(v: i64) -> Result<u64, StorageError> {
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

/// Inserts credentials; a later entry for the same hash replaces an
/// earlier one.
fn insert_credentials(
    c: &Connection,
    jid: &BareJid,
    credentials: &[ScramCredentials],
) -> Result<(), StorageError> {
    let mut stmt = c
        .prepare_cached(
            "INSERT INTO credentials (account, hash, salt, iterations, stored_key, server_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (account, hash) DO UPDATE SET
                 salt = excluded.salt, iterations = excluded.iterations,
                 stored_key = excluded.stored_key, server_key = excluded.server_key",
        )
        .db()?;
    for cred in credentials {
        stmt.execute(params![
            jid.as_str(),
            cred.hash.as_str(),
            cred.salt,
            cred.iterations,
            cred.stored_key,
            cred.server_key,
        ])
        .db()?;
    }
    Ok(())
}

fn roster_version_in(c: &Connection, owner: &BareJid) -> Result<u64, StorageError> {
    let v: Option<i64> = c
        .prepare_cached("SELECT version FROM roster_versions WHERE owner = ?1")
        .db()?
        .query_row([owner.as_str()], |row| row.get(0))
        .optional()
        .db()?;
    v.map_or(Ok(0), parse_version)
}

/// Increments the owner's roster version; returns the new one.
fn bump_roster_version(c: &Connection, owner: &BareJid) -> Result<u64, StorageError> {
    let v: i64 = c
        .prepare_cached(
            "INSERT INTO roster_versions (owner, version) VALUES (?1, 1)
             ON CONFLICT (owner) DO UPDATE SET version = version + 1
             RETURNING version",
        )
        .db()?
        .query_row([owner.as_str()], |row| row.get(0))
        .db()?;
    parse_version(v)
}

/// `salt, iterations, stored_key, server_key` of a `credentials` row.
type CredentialRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>);

/// A `roster` row as stored.
struct RosterRow {
    contact: String,
    name: Option<String>,
    subscription: String,
    ask: bool,
    approved: bool,
}

impl RosterRow {
    /// Reads `contact, name, subscription, ask, approved`.
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RosterRow> {
        Ok(RosterRow {
            contact: row.get(0)?,
            name: row.get(1)?,
            subscription: row.get(2)?,
            ask: row.get(3)?,
            approved: row.get(4)?,
        })
    }

    fn into_entry(self, groups: Vec<String>) -> Result<RosterEntry, StorageError> {
        let subscription = Subscription::parse(&self.subscription).ok_or_else(|| {
            StorageError::Corrupt(format!(
                "unknown subscription state {:?}",
                self.subscription
            ))
        })?;
        Ok(RosterEntry {
            jid: parse_jid(&self.contact)?,
            name: self.name,
            groups,
            subscription,
            ask: self.ask,
            approved: self.approved,
        })
    }
}

impl Storage for SqliteStorage {
    fn create_account(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError> {
        self.write(|c| {
            let inserted = c
                .prepare_cached(
                    "INSERT INTO accounts (jid, domain, created_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (jid) DO NOTHING",
                )
                .db()?
                .execute(params![jid.as_str(), jid.domain(), now_ms()])
                .db()?;
            if inserted == 0 {
                return Err(StorageError::AccountExists(jid.clone()));
            }
            insert_credentials(c, jid, credentials)
        })
    }

    fn set_credentials(
        &self,
        jid: &BareJid,
        credentials: &[ScramCredentials],
    ) -> Result<(), StorageError> {
        self.write(|c| {
            ensure_account(c, jid)?;
            c.prepare_cached("DELETE FROM credentials WHERE account = ?1")
                .db()?
                .execute([jid.as_str()])
                .db()?;
            insert_credentials(c, jid, credentials)
        })
    }

    fn remove_account(&self, jid: &BareJid) -> Result<bool, StorageError> {
        self.write(|c| {
            let removed = c
                .prepare_cached("DELETE FROM accounts WHERE jid = ?1")
                .db()?
                .execute([jid.as_str()])
                .db()?;
            Ok(removed > 0)
        })
    }

    fn changed_elsewhere(&self) -> Result<bool, StorageError> {
        use std::sync::atomic::Ordering;
        let now: i64 = lock(&self.writer)?
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .db()?;
        let before = self.seen_version.swap(now, Ordering::AcqRel);
        Ok(before != -1 && before != now)
    }

    fn account_exists(&self, jid: &BareJid) -> Result<bool, StorageError> {
        self.read(|c| account_exists_in(c, jid))
    }

    fn list_accounts(&self, domain: Option<&DomainPart>) -> Result<Vec<BareJid>, StorageError> {
        let jids: Vec<String> = self.read(|c| {
            match domain {
                Some(domain) => c
                    .prepare_cached("SELECT jid FROM accounts WHERE domain = ?1 ORDER BY jid")
                    .db()?
                    .query_map([domain.as_str()], |row| row.get(0))
                    .db()?
                    .collect::<rusqlite::Result<_>>(),
                None => c
                    .prepare_cached("SELECT jid FROM accounts ORDER BY jid")
                    .db()?
                    .query_map([], |row| row.get(0))
                    .db()?
                    .collect::<rusqlite::Result<_>>(),
            }
            .db()
        })?;
        jids.iter().map(|s| parse_jid(s)).collect()
    }

    fn credentials(
        &self,
        jid: &BareJid,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StorageError> {
        let row: Option<CredentialRow> = self.read(|c| {
            c.prepare_cached(
                "SELECT salt, iterations, stored_key, server_key FROM credentials
                 WHERE account = ?1 AND hash = ?2",
            )
            .db()?
            .query_row([jid.as_str(), hash.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()
            .db()
        })?;
        let Some((salt, iterations, stored_key, server_key)) = row else {
            return Ok(None);
        };
        let iterations = u32::try_from(iterations)
            .map_err(|_| StorageError::Corrupt(format!("iteration count {iterations} of {jid}")))?;
        Ok(Some(ScramCredentials {
            hash,
            salt,
            iterations,
            stored_key,
            server_key,
        }))
    }

    fn roster(&self, owner: &BareJid) -> Result<(u64, Vec<RosterEntry>), StorageError> {
        let (version, rows, mut groups) = self.read(|c| {
            let version = roster_version_in(c, owner)?;
            let rows = c
                .prepare_cached(
                    "SELECT contact, name, subscription, ask, approved FROM roster
                     WHERE owner = ?1 ORDER BY contact",
                )
                .db()?
                .query_map([owner.as_str()], RosterRow::from_row)
                .db()?
                .collect::<rusqlite::Result<Vec<_>>>()
                .db()?;
            let mut groups: HashMap<String, Vec<String>> = HashMap::new();
            let mut stmt = c
                .prepare_cached(
                    "SELECT contact, name FROM roster_groups
                     WHERE owner = ?1 ORDER BY contact, position",
                )
                .db()?;
            let mut group_rows = stmt.query([owner.as_str()]).db()?;
            while let Some(row) = group_rows.next().db()? {
                let contact: String = row.get(0).db()?;
                groups.entry(contact).or_default().push(row.get(1).db()?);
            }
            Ok((version, rows, groups))
        })?;
        let mut items = rows
            .into_iter()
            .map(|row| {
                let g = groups.remove(&row.contact).unwrap_or_default();
                row.into_entry(g)
            })
            .collect::<Result<Vec<_>, _>>()?;
        // SQLite's BINARY collation already orders UTF-8 like `str`; this
        // only matters for hand-edited, unprepared JIDs.
        items.sort_by(|a, b| a.jid.cmp(&b.jid));
        Ok((version, items))
    }

    fn roster_version(&self, owner: &BareJid) -> Result<u64, StorageError> {
        self.read(|c| roster_version_in(c, owner))
    }

    fn roster_item(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError> {
        let found = self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT contact, name, subscription, ask, approved FROM roster
                     WHERE owner = ?1 AND contact = ?2",
                )
                .db()?
                .query_row([owner.as_str(), contact.as_str()], RosterRow::from_row)
                .optional()
                .db()?;
            let Some(row) = row else {
                return Ok(None);
            };
            let groups = c
                .prepare_cached(
                    "SELECT name FROM roster_groups
                     WHERE owner = ?1 AND contact = ?2 ORDER BY position",
                )
                .db()?
                .query_map([owner.as_str(), contact.as_str()], |row| row.get(0))
                .db()?
                .collect::<rusqlite::Result<Vec<String>>>()
                .db()?;
            Ok(Some((row, groups)))
        })?;
        found
            .map(|(row, groups)| row.into_entry(groups))
            .transpose()
    }

    fn roster_put(&self, owner: &BareJid, entry: &RosterEntry) -> Result<u64, StorageError> {
        self.write(|c| {
            ensure_account(c, owner)?;
            let (o, contact) = (owner.as_str(), entry.jid.as_str());
            c.prepare_cached(
                "INSERT INTO roster (owner, contact, name, subscription, ask, approved)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (owner, contact) DO UPDATE SET
                     name = excluded.name, subscription = excluded.subscription,
                     ask = excluded.ask, approved = excluded.approved",
            )
            .db()?
            .execute(params![
                o,
                contact,
                entry.name,
                entry.subscription.as_str(),
                entry.ask,
                entry.approved,
            ])
            .db()?;
            c.prepare_cached("DELETE FROM roster_groups WHERE owner = ?1 AND contact = ?2")
                .db()?
                .execute([o, contact])
                .db()?;
            let mut insert = c
                .prepare_cached(
                    "INSERT INTO roster_groups (owner, contact, position, name)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .db()?;
            for (position, group) in (0_i64..).zip(&entry.groups) {
                insert.execute(params![o, contact, position, group]).db()?;
            }
            bump_roster_version(c, owner)
        })
    }

    fn roster_remove(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<u64>, StorageError> {
        self.write(|c| {
            // The item's groups go with it (foreign key cascade).
            let removed = c
                .prepare_cached("DELETE FROM roster WHERE owner = ?1 AND contact = ?2")
                .db()?
                .execute([owner.as_str(), contact.as_str()])
                .db()?;
            if removed == 0 {
                return Ok(None);
            }
            bump_roster_version(c, owner).map(Some)
        })
    }

    fn subscription_requests(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<(BareJid, String)>, StorageError> {
        let rows: Vec<(String, String)> = self.read(|c| {
            c.prepare_cached(
                "SELECT contact, stanza FROM subscription_requests
                 WHERE owner = ?1 ORDER BY seq",
            )
            .db()?
            .query_map([owner.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
        })?;
        rows.into_iter()
            .map(|(contact, stanza)| Ok((parse_jid(&contact)?, stanza)))
            .collect()
    }

    /// A repeated request replaces the stanza and becomes the newest.
    fn add_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
        stanza: &str,
    ) -> Result<(), StorageError> {
        self.write(|c| {
            ensure_account(c, owner)?;
            let seq: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM subscription_requests WHERE owner = ?1",
                )
                .db()?
                .query_row([owner.as_str()], |row| row.get(0))
                .db()?;
            c.prepare_cached(
                "INSERT INTO subscription_requests (owner, contact, stanza, seq)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (owner, contact) DO UPDATE SET
                     stanza = excluded.stanza, seq = excluded.seq",
            )
            .db()?
            .execute(params![owner.as_str(), from.as_str(), stanza, seq])
            .db()?;
            Ok(())
        })
    }

    fn remove_subscription_request(
        &self,
        owner: &BareJid,
        from: &BareJid,
    ) -> Result<bool, StorageError> {
        self.write(|c| {
            let removed = c
                .prepare_cached(
                    "DELETE FROM subscription_requests WHERE owner = ?1 AND contact = ?2",
                )
                .db()?
                .execute([owner.as_str(), from.as_str()])
                .db()?;
            Ok(removed > 0)
        })
    }

    fn offline_push(
        &self,
        owner: &BareJid,
        stanza: &str,
        quota: usize,
    ) -> Result<bool, StorageError> {
        let quota = clamp_i64(quota);
        self.write(|c| {
            ensure_account(c, owner)?;
            // Counts at most `quota` rows, so a full store costs no more
            // than the quota.
            let stored: i64 = c
                .prepare_cached(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM offline WHERE owner = ?1 LIMIT ?2)",
                )
                .db()?
                .query_row(params![owner.as_str(), quota], |row| row.get(0))
                .db()?;
            if stored >= quota {
                return Ok(false);
            }
            c.prepare_cached(
                "INSERT INTO offline (owner, stanza, stored_at_ms) VALUES (?1, ?2, ?3)",
            )
            .db()?
            .execute(params![owner.as_str(), stanza, now_ms()])
            .db()?;
            Ok(true)
        })
    }

    fn offline_load(
        &self,
        owner: &BareJid,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        let rows: Vec<(i64, String, i64)> = self.read(|c| {
            c.prepare_cached(
                "SELECT id, stanza, stored_at_ms FROM offline
                 WHERE owner = ?1 ORDER BY id LIMIT ?2",
            )
            .db()?
            .query_map(params![owner.as_str(), clamp_i64(limit)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
        })?;
        rows.into_iter()
            .map(|(id, stanza, ms)| {
                Ok(OfflineMessage {
                    id,
                    stanza,
                    stored_at: time_from_ms(ms)?,
                })
            })
            .collect()
    }

    fn offline_delete(&self, owner: &BareJid, up_to: i64) -> Result<(), StorageError> {
        self.write(|c| {
            c.prepare_cached("DELETE FROM offline WHERE owner = ?1 AND id <= ?2")
                .db()?
                .execute(params![owner.as_str(), up_to])
                .db()?;
            Ok(())
        })
    }

    fn offline_count(&self, owner: &BareJid) -> Result<usize, StorageError> {
        let n: i64 = self.read(|c| {
            c.prepare_cached("SELECT COUNT(*) FROM offline WHERE owner = ?1")
                .db()?
                .query_row([owner.as_str()], |row| row.get(0))
                .db()
        })?;
        usize::try_from(n).map_err(|_| StorageError::Corrupt(format!("message count {n}")))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;

    /// The schema version this program writes.
    const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    fn jid(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    fn creds(hash: ScramHash, seed: u8) -> ScramCredentials {
        ScramCredentials {
            hash,
            salt: vec![seed; 16],
            iterations: 4096 + u32::from(seed),
            stored_key: vec![seed ^ 0x55; hash.output_len()],
            server_key: vec![seed ^ 0xaa; hash.output_len()],
        }
    }

    fn mem() -> SqliteStorage {
        SqliteStorage::open_in_memory().unwrap()
    }

    fn user_version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap()
    }

    fn table_rows(db: &SqliteStorage, table: &str) -> i64 {
        let conn = db.writer.lock().unwrap();
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn is_send_sync_and_object_safe() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<SqliteStorage>();
        let db: Arc<dyn Storage> = Arc::new(mem());
        assert!(!db.account_exists(&jid("a@b.lit")).unwrap());
    }

    // ---- schema and migrations ----

    #[test]
    fn fresh_database_is_migrated() {
        let db = mem();
        let conn = db.writer.lock().unwrap();
        assert_eq!(user_version(&conn), i64::from(SCHEMA_VERSION));
        let mut tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables.sort();
        assert_eq!(
            tables,
            [
                "accounts",
                "credentials",
                "offline",
                "roster",
                "roster_groups",
                "roster_versions",
                "subscription_requests"
            ]
        );
        let fk: bool = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert!(fk);
    }

    #[test]
    fn file_database_settings_and_reopen_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        for _ in 0..2 {
            let db = SqliteStorage::open(&path).unwrap();
            let conn = db.writer.lock().unwrap();
            assert_eq!(user_version(&conn), i64::from(SCHEMA_VERSION));
            let mode: String = conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .unwrap();
            assert_eq!(mode, "wal");
            // NORMAL = 1
            let sync: i64 = conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .unwrap();
            assert_eq!(sync, 1);
            let timeout: i64 = conn
                .pragma_query_value(None, "busy_timeout", |r| r.get(0))
                .unwrap();
            assert_eq!(timeout, 5000);
        }
    }

    #[test]
    fn migrations_run_one_transaction_each() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let ok = "CREATE TABLE a (x INTEGER);";
        let bad = "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);";
        let err = migrate(&mut conn, &[ok, bad]).unwrap_err();
        assert!(
            matches!(err, StorageError::Backend(ref m) if m.contains("version 2")),
            "{err}"
        );
        // The first migration stays, the failed one left nothing behind.
        assert_eq!(user_version(&conn), 1);
        let tables: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('a', 'b')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1);
        // Fixed, it continues from version 1.
        migrate(&mut conn, &[ok, "CREATE TABLE b (x INTEGER);"]).unwrap();
        assert_eq!(user_version(&conn), 2);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        drop(SqliteStorage::open(&path).unwrap());
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        match SqliteStorage::open(&path) {
            Err(StorageError::SchemaTooNew { found, known }) => {
                assert_eq!(found, SCHEMA_VERSION + 1);
                assert_eq!(known, SCHEMA_VERSION);
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn not_a_database_is_a_backend_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.db");
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(
            SqliteStorage::open(&path),
            Err(StorageError::Backend(_))
        ));
    }

    // ---- accounts and credentials ----

    #[test]
    fn accounts_create_exists_duplicate_list() {
        let db = mem();
        let juliet = jid("juliet@capulet.lit");
        assert!(!db.account_exists(&juliet).unwrap());
        db.create_account(&juliet, &[]).unwrap();
        assert!(db.account_exists(&juliet).unwrap());
        match db.create_account(&juliet, &[creds(ScramHash::Sha1, 1)]) {
            Err(StorageError::AccountExists(j)) => assert_eq!(j, juliet),
            other => panic!("expected AccountExists, got {other:?}"),
        }
        // The failed create changed nothing.
        assert_eq!(db.credentials(&juliet, ScramHash::Sha1).unwrap(), None);

        for s in [
            "tybalt@capulet.lit",
            "romeo@montague.lit",
            "capulet.lit",
            "benvolio@montague.lit",
            "nurse@capulet.lit",
        ] {
            db.create_account(&jid(s), &[]).unwrap();
        }
        let capulet = DomainPart::new("capulet.lit").unwrap();
        assert_eq!(
            db.list_accounts(Some(&capulet)).unwrap(),
            [
                jid("capulet.lit"),
                jid("juliet@capulet.lit"),
                jid("nurse@capulet.lit"),
                jid("tybalt@capulet.lit")
            ]
        );
        let all = db.list_accounts(None).unwrap();
        assert_eq!(all.len(), 6);
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        let none = DomainPart::new("verona.lit").unwrap();
        assert!(db.list_accounts(Some(&none)).unwrap().is_empty());
    }

    #[test]
    fn changes_by_another_connection_are_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let server = SqliteStorage::open(&path).unwrap();
        let admin = SqliteStorage::open(&path).unwrap();
        assert!(
            !server.changed_elsewhere().unwrap(),
            "the first call only looks"
        );
        // Our own writes are not "elsewhere".
        server.create_account(&jid("a@x.lit"), &[]).unwrap();
        assert!(!server.changed_elsewhere().unwrap());
        admin.create_account(&jid("b@x.lit"), &[]).unwrap();
        assert!(server.changed_elsewhere().unwrap());
        assert!(!server.changed_elsewhere().unwrap());
        admin.remove_account(&jid("a@x.lit")).unwrap();
        assert!(server.changed_elsewhere().unwrap());
    }

    #[test]
    fn remove_account_cascades() {
        let db = mem();
        let juliet = jid("juliet@capulet.lit");
        let romeo = jid("romeo@montague.lit");
        let nurse = jid("nurse@capulet.lit");
        db.create_account(
            &juliet,
            &[creds(ScramHash::Sha1, 1), creds(ScramHash::Sha256, 2)],
        )
        .unwrap();
        db.create_account(&nurse, &[creds(ScramHash::Sha256, 3)])
            .unwrap();
        let mut entry = RosterEntry::new(romeo.clone());
        entry.groups = vec!["Friends".into(), "Verona".into()];
        db.roster_put(&juliet, &entry).unwrap();
        db.roster_put(&nurse, &entry).unwrap();
        db.add_subscription_request(&juliet, &romeo, "<presence type='subscribe'/>")
            .unwrap();
        db.offline_push(&juliet, "<message/>", 10).unwrap();
        db.offline_push(&nurse, "<message/>", 10).unwrap();

        assert!(db.remove_account(&juliet).unwrap());
        assert!(!db.account_exists(&juliet).unwrap());
        assert_eq!(db.credentials(&juliet, ScramHash::Sha1).unwrap(), None);
        // The roster is gone; its version is kept (see migration 2).
        assert_eq!(db.roster(&juliet).unwrap(), (1, vec![]));
        assert!(db.subscription_requests(&juliet).unwrap().is_empty());
        assert_eq!(db.offline_count(&juliet).unwrap(), 0);
        // Only the nurse's rows are left, in every table.
        assert_eq!(table_rows(&db, "accounts"), 1);
        assert_eq!(table_rows(&db, "credentials"), 1);
        assert_eq!(table_rows(&db, "roster"), 1);
        assert_eq!(table_rows(&db, "roster_groups"), 2);
        assert_eq!(table_rows(&db, "roster_versions"), 2);
        assert_eq!(table_rows(&db, "subscription_requests"), 0);
        assert_eq!(table_rows(&db, "offline"), 1);

        assert!(!db.remove_account(&juliet).unwrap());
        assert!(!db.remove_account(&jid("nobody@nowhere.lit")).unwrap());
        assert_eq!(db.roster(&nurse).unwrap().1.len(), 1);

        // Created again: the versions go on from where they were, so a
        // version cached for the old account never matches the new one.
        db.create_account(&juliet, &[]).unwrap();
        assert_eq!(db.roster_put(&juliet, &entry).unwrap(), 2);
    }

    #[test]
    fn credentials_roundtrip_and_replace() {
        let db = mem();
        let juliet = jid("juliet@capulet.lit");
        let sha1 = creds(ScramHash::Sha1, 7);
        let sha256 = creds(ScramHash::Sha256, 9);
        db.create_account(&juliet, &[sha1.clone(), sha256.clone()])
            .unwrap();
        assert_eq!(
            db.credentials(&juliet, ScramHash::Sha1).unwrap(),
            Some(sha1)
        );
        assert_eq!(
            db.credentials(&juliet, ScramHash::Sha256).unwrap(),
            Some(sha256)
        );

        // Replaces every credential: SHA-1 is gone.
        let mut new =
            ScramCredentials::derive("pencil", b"0123456789abcdef", 2, ScramHash::Sha256).unwrap();
        new.iterations = u32::MAX; // the full range survives
        db.set_credentials(&juliet, std::slice::from_ref(&new))
            .unwrap();
        assert_eq!(db.credentials(&juliet, ScramHash::Sha1).unwrap(), None);
        let back = db.credentials(&juliet, ScramHash::Sha256).unwrap().unwrap();
        assert_eq!(back, new);

        db.set_credentials(&juliet, &[]).unwrap();
        assert_eq!(db.credentials(&juliet, ScramHash::Sha256).unwrap(), None);

        let nobody = jid("nobody@capulet.lit");
        assert!(matches!(
            db.set_credentials(&nobody, &[creds(ScramHash::Sha1, 1)]),
            Err(StorageError::NoAccount(j)) if j == nobody
        ));
        assert_eq!(db.credentials(&nobody, ScramHash::Sha1).unwrap(), None);
    }

    // ---- roster ----

    #[test]
    fn roster_put_replace_remove_and_versions() {
        let db = mem();
        let juliet = jid("juliet@capulet.lit");
        let romeo = jid("romeo@montague.lit");
        assert!(matches!(
            db.roster_put(&juliet, &RosterEntry::new(romeo.clone())),
            Err(StorageError::NoAccount(_))
        ));
        db.create_account(&juliet, &[]).unwrap();
        assert_eq!(db.roster_version(&juliet).unwrap(), 0);
        assert_eq!(db.roster(&juliet).unwrap(), (0, vec![]));

        let mut entry = RosterEntry::new(romeo.clone());
        entry.name = Some("Romeo".into());
        entry.groups = vec!["Friends".into(), "Lovers".into()];
        entry.subscription = Subscription::To;
        entry.ask = true;
        assert_eq!(db.roster_put(&juliet, &entry).unwrap(), 1);
        assert_eq!(
            db.roster_item(&juliet, &romeo).unwrap(),
            Some(entry.clone())
        );

        // Replacing drops the old name and groups.
        let mut replaced = RosterEntry::new(romeo.clone());
        replaced.groups = vec!["Enemies".into()];
        replaced.subscription = Subscription::Both;
        replaced.approved = true;
        assert_eq!(db.roster_put(&juliet, &replaced).unwrap(), 2);
        assert_eq!(db.roster(&juliet).unwrap(), (2, vec![replaced.clone()]));
        assert_eq!(table_rows(&db, "roster_groups"), 1);

        assert_eq!(db.roster_remove(&juliet, &romeo).unwrap(), Some(3));
        assert_eq!(db.roster_remove(&juliet, &romeo).unwrap(), None);
        assert_eq!(db.roster_version(&juliet).unwrap(), 3);
        assert_eq!(db.roster_item(&juliet, &romeo).unwrap(), None);
        assert_eq!(db.roster(&juliet).unwrap(), (3, vec![]));
        assert_eq!(table_rows(&db, "roster_groups"), 0);

        // Another owner's roster is separate.
        let nurse = jid("nurse@capulet.lit");
        db.create_account(&nurse, &[]).unwrap();
        assert_eq!(db.roster_put(&nurse, &entry).unwrap(), 1);
        assert_eq!(db.roster_version(&juliet).unwrap(), 3);
        assert_eq!(db.roster_remove(&juliet, &romeo).unwrap(), None);
    }

    #[test]
    fn roster_sorted_with_group_order_and_unicode() {
        let db = mem();
        let owner = jid("juliet@capulet.lit");
        db.create_account(&owner, &[]).unwrap();
        let contacts = [
            "zeta@a.lit",
            "montague.lit",
            "ärger@verona.lit",
            "a@z.lit",
            "romeo@montague.lit",
            "b@a.lit",
        ];
        for (i, c) in contacts.iter().enumerate() {
            let mut e = RosterEntry::new(jid(c));
            e.name = Some(format!("Контакт {i} 日本 🎭"));
            e.groups = vec![
                "Zeta".into(),
                "Alpha".into(),
                "日本語".into(),
                "Ünïcödé 🌹".into(),
                "Alpha".into(), // duplicates are kept as given
                "multi\nline".into(),
                String::new(),
            ];
            db.roster_put(&owner, &e).unwrap();
        }
        let (version, items) = db.roster(&owner).unwrap();
        assert_eq!(version, contacts.len() as u64);
        let got: Vec<&str> = items.iter().map(|e| e.jid.as_str()).collect();
        let mut want: Vec<&str> = contacts.to_vec();
        want.sort();
        assert_eq!(got, want);
        for e in &items {
            assert_eq!(
                e.groups,
                [
                    "Zeta",
                    "Alpha",
                    "日本語",
                    "Ünïcödé 🌹",
                    "Alpha",
                    "multi\nline",
                    ""
                ]
            );
            assert!(e.name.as_deref().unwrap().ends_with("日本 🎭"));
            assert_eq!(db.roster_item(&owner, &e.jid).unwrap().as_ref(), Some(e));
        }
    }

    // ---- subscription requests ----

    #[test]
    fn subscription_requests_add_replace_remove_order() {
        let db = mem();
        let owner = jid("juliet@capulet.lit");
        let (a, b, c) = (jid("a@x.lit"), jid("b@x.lit"), jid("c@x.lit"));
        assert!(matches!(
            db.add_subscription_request(&owner, &a, "<presence/>"),
            Err(StorageError::NoAccount(_))
        ));
        db.create_account(&owner, &[]).unwrap();
        assert!(db.subscription_requests(&owner).unwrap().is_empty());
        // Inserted out of JID order: the result is in arrival order.
        db.add_subscription_request(&owner, &c, "<presence id='c'/>")
            .unwrap();
        db.add_subscription_request(&owner, &a, "<presence id='a'/>")
            .unwrap();
        db.add_subscription_request(&owner, &b, "<presence id='b'/>")
            .unwrap();
        assert_eq!(
            db.subscription_requests(&owner).unwrap(),
            [
                (c.clone(), "<presence id='c'/>".to_owned()),
                (a.clone(), "<presence id='a'/>".to_owned()),
                (b.clone(), "<presence id='b'/>".to_owned())
            ]
        );
        // A repeated request replaces the stanza and becomes the newest.
        db.add_subscription_request(&owner, &c, "<presence id='c2'/>")
            .unwrap();
        assert_eq!(
            db.subscription_requests(&owner).unwrap(),
            [
                (a.clone(), "<presence id='a'/>".to_owned()),
                (b.clone(), "<presence id='b'/>".to_owned()),
                (c.clone(), "<presence id='c2'/>".to_owned())
            ]
        );
        assert!(db.remove_subscription_request(&owner, &a).unwrap());
        assert!(!db.remove_subscription_request(&owner, &a).unwrap());
        assert!(!db.remove_subscription_request(&jid("x@y.lit"), &b).unwrap());
        let left: Vec<BareJid> = db
            .subscription_requests(&owner)
            .unwrap()
            .into_iter()
            .map(|(j, _)| j)
            .collect();
        assert_eq!(left, [b, c]);
    }

    // ---- offline messages ----

    #[test]
    fn offline_quota_order_delete_count() {
        let db = mem();
        let owner = jid("juliet@capulet.lit");
        let other = jid("nurse@capulet.lit");
        assert!(matches!(
            db.offline_push(&owner, "<message/>", 10),
            Err(StorageError::NoAccount(_))
        ));
        db.create_account(&owner, &[]).unwrap();
        db.create_account(&other, &[]).unwrap();
        assert!(!db.offline_push(&owner, "<message id='0'/>", 0).unwrap());

        let before = SystemTime::now();
        for i in 0..3 {
            assert!(
                db.offline_push(&owner, &format!("<message id='{i}'/>"), 3)
                    .unwrap()
            );
            assert!(
                db.offline_push(&other, "<message id='other'/>", 100)
                    .unwrap()
            );
        }
        let after = SystemTime::now();
        assert!(!db.offline_push(&owner, "<message id='3'/>", 3).unwrap());
        // A larger quota admits more.
        assert!(db.offline_push(&owner, "<message id='3'/>", 4).unwrap());
        assert_eq!(db.offline_count(&owner).unwrap(), 4);
        assert_eq!(db.offline_count(&other).unwrap(), 3);

        let all = db.offline_load(&owner, 100).unwrap();
        let stanzas: Vec<&str> = all.iter().map(|m| m.stanza.as_str()).collect();
        assert_eq!(
            stanzas,
            [
                "<message id='0'/>",
                "<message id='1'/>",
                "<message id='2'/>",
                "<message id='3'/>"
            ]
        );
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        for m in &all[..3] {
            // Stored with millisecond precision.
            assert!(m.stored_at + Duration::from_millis(1) >= before);
            assert!(m.stored_at <= after);
        }
        assert_eq!(db.offline_load(&owner, 2).unwrap(), all[..2]);
        assert!(db.offline_load(&owner, 0).unwrap().is_empty());

        // Deleting another owner's ids, or with someone else's id, touches
        // only that owner's messages.
        db.offline_delete(&other, all[3].id).unwrap();
        assert_eq!(db.offline_count(&owner).unwrap(), 4);
        assert_eq!(db.offline_count(&other).unwrap(), 0);
        db.offline_delete(&owner, all[1].id).unwrap();
        assert_eq!(db.offline_load(&owner, 100).unwrap(), all[2..]);
        assert_eq!(db.offline_count(&owner).unwrap(), 2);
        db.offline_delete(&owner, all[1].id).unwrap(); // idempotent
        assert_eq!(db.offline_count(&owner).unwrap(), 2);

        // Ids are never reused, even after deleting the newest.
        db.offline_delete(&owner, i64::MAX).unwrap();
        assert_eq!(db.offline_count(&owner).unwrap(), 0);
        db.offline_push(&owner, "<message id='4'/>", 4).unwrap();
        assert!(db.offline_load(&owner, 1).unwrap()[0].id > all[3].id);
    }

    #[test]
    fn timestamps_convert_both_ways() {
        assert_eq!(time_from_ms(0).unwrap(), UNIX_EPOCH);
        assert_eq!(
            time_from_ms(1_700_000_000_123).unwrap(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
        );
        assert_eq!(
            time_from_ms(-5).unwrap(),
            UNIX_EPOCH - Duration::from_millis(5)
        );
        let now = now_ms();
        assert!(now > 1_600_000_000_000);
    }

    // ---- robustness ----

    #[test]
    fn bad_stored_data_is_corrupt_not_a_panic() {
        let db = mem();
        let owner = jid("juliet@capulet.lit");
        db.create_account(&owner, &[creds(ScramHash::Sha1, 1)])
            .unwrap();
        {
            let conn = db.writer.lock().unwrap();
            conn.execute(
                "INSERT INTO accounts VALUES ('not a jid@@', 'capulet.lit', 0)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO roster VALUES (?1, 'a@b@c', NULL, 'none', 0, 0)",
                [owner.as_str()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO offline (owner, stanza, stored_at_ms) VALUES (?1, 'x', ?2)",
                params![owner.as_str(), i64::MIN],
            )
            .unwrap();
        }
        let capulet = DomainPart::new("capulet.lit").unwrap();
        assert!(matches!(
            db.list_accounts(Some(&capulet)),
            Err(StorageError::Corrupt(_))
        ));
        assert!(matches!(db.roster(&owner), Err(StorageError::Corrupt(_))));
        // Depending on the platform's SystemTime range.
        let _ = db.offline_load(&owner, 10);
        assert_eq!(
            db.credentials(&owner, ScramHash::Sha1).unwrap(),
            Some(creds(ScramHash::Sha1, 1))
        );
    }

    #[test]
    fn poisoned_lock_is_an_error_not_a_panic() {
        let db = Arc::new(mem());
        let poisoner = Arc::clone(&db);
        let joined = std::thread::spawn(move || {
            let _guard = poisoner.writer.lock().unwrap();
            panic!("poisoning the write lock on purpose");
        })
        .join();
        assert!(joined.is_err());
        let j = jid("a@b.lit");
        assert!(matches!(
            db.account_exists(&j),
            Err(StorageError::Backend(_))
        ));
        assert!(matches!(
            db.create_account(&j, &[]),
            Err(StorageError::Backend(_))
        ));
    }

    // ---- persistence ----

    #[test]
    fn everything_persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("persist.db");
        let juliet = jid("juliet@capulet.lit");
        let romeo = jid("romeo@montague.lit");
        let mut entry = RosterEntry::new(romeo.clone());
        entry.name = Some("Roméo".into());
        entry.groups = vec!["B".into(), "A".into()];
        entry.subscription = Subscription::From;
        entry.approved = true;
        let sha256 = creds(ScramHash::Sha256, 4);
        let messages = {
            let db = SqliteStorage::open(&path).unwrap();
            db.create_account(&juliet, std::slice::from_ref(&sha256))
                .unwrap();
            db.roster_put(&juliet, &RosterEntry::new(jid("tybalt@capulet.lit")))
                .unwrap();
            db.roster_put(&juliet, &entry).unwrap();
            db.roster_remove(&juliet, &jid("tybalt@capulet.lit"))
                .unwrap();
            db.add_subscription_request(&juliet, &romeo, "<presence type='subscribe'/>")
                .unwrap();
            db.offline_push(&juliet, "<message>one</message>", 10)
                .unwrap();
            db.offline_push(&juliet, "<message>two</message>", 10)
                .unwrap();
            db.offline_load(&juliet, 10).unwrap()
        };
        let db = SqliteStorage::open(&path).unwrap();
        assert_eq!(
            db.list_accounts(None).unwrap(),
            std::slice::from_ref(&juliet)
        );
        assert_eq!(
            db.credentials(&juliet, ScramHash::Sha256).unwrap(),
            Some(sha256)
        );
        assert_eq!(db.roster(&juliet).unwrap(), (3, vec![entry.clone()]));
        assert_eq!(
            db.subscription_requests(&juliet).unwrap(),
            [(romeo.clone(), "<presence type='subscribe'/>".to_owned())]
        );
        assert_eq!(db.offline_load(&juliet, 10).unwrap(), messages);
        // The version counter continues.
        assert_eq!(db.roster_put(&juliet, &entry).unwrap(), 4);
    }

    /// Environment variable telling the child process of
    /// `committed_writes_survive_process_death` where to write.
    const CRASH_CHILD: &str = "STARLING_SQLITE_CRASH_CHILD_DB";

    #[test]
    fn committed_writes_survive_process_death() {
        let juliet = jid("juliet@capulet.lit");
        if let Some(path) = std::env::var_os(CRASH_CHILD) {
            // Child: commit, then die without closing the database (no
            // destructors, no checkpoint), like `kill -9`.
            let db = SqliteStorage::open(Path::new(&path)).unwrap();
            db.create_account(&juliet, &[]).unwrap();
            for i in 0..50 {
                db.offline_push(&juliet, &format!("<message id='{i}'/>"), 1000)
                    .unwrap();
            }
            std::process::exit(17);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.db");
        let name = format!(
            "{}::committed_writes_survive_process_death",
            module_path!().split_once("::").unwrap().1
        );
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name.as_str(), "--exact", "--test-threads=1"])
            .env(CRASH_CHILD, &path)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(17), "the child did not run to its exit");
        // The commits live only in the WAL: nothing checkpointed them.
        let wal = std::fs::metadata(dir.path().join("crash.db-wal")).unwrap();
        assert!(wal.len() > 0);
        let db = SqliteStorage::open(&path).unwrap();
        assert!(db.account_exists(&juliet).unwrap());
        assert_eq!(db.offline_count(&juliet).unwrap(), 50);
    }

    // ---- concurrency ----

    #[test]
    fn concurrent_writers_and_readers_are_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(SqliteStorage::open(&dir.path().join("conc.db")).unwrap());
        let owners: Vec<BareJid> = (0..8)
            .map(|i| jid(&format!("user{i}@example.lit")))
            .collect();
        for o in &owners {
            db.create_account(o, &[]).unwrap();
        }
        let shared = jid("shared@example.lit");
        db.create_account(&shared, &[]).unwrap();

        let threads: Vec<_> = owners
            .iter()
            .cloned()
            .map(|owner| {
                let db = Arc::clone(&db);
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mut stored_shared = 0;
                    for i in 0..200 {
                        assert!(
                            db.offline_push(&owner, &format!("<m n='{i}'/>"), 10_000)
                                .unwrap()
                        );
                        // Reads see every write this thread made.
                        assert_eq!(db.offline_count(&owner).unwrap(), i + 1);
                        if i % 10 == 0 {
                            let loaded = db.offline_load(&owner, 1000).unwrap();
                            assert_eq!(loaded.len(), i + 1);
                            assert!(loaded.windows(2).all(|w| w[0].id < w[1].id));
                            assert!(db.roster(&shared).unwrap().1.is_empty());
                        }
                        // Everyone competes for one quota of 100.
                        if i < 25 && db.offline_push(&shared, "<m/>", 100).unwrap() {
                            stored_shared += 1;
                        }
                    }
                    stored_shared
                })
            })
            .collect();
        let accepted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(accepted, 100);
        assert_eq!(db.offline_count(&shared).unwrap(), 100);
        for o in &owners {
            assert_eq!(db.offline_count(o).unwrap(), 200);
            let stanzas: Vec<String> = db
                .offline_load(o, 1000)
                .unwrap()
                .into_iter()
                .map(|m| m.stanza)
                .collect();
            let want: Vec<String> = (0..200).map(|i| format!("<m n='{i}'/>")).collect();
            assert_eq!(stanzas, want);
        }
        // The pool keeps at most READ_POOL_SIZE idle connections.
        let idle = db.readers.as_ref().unwrap().idle.lock().unwrap().len();
        assert!((1..=READ_POOL_SIZE).contains(&idle), "{idle}");
    }

    #[test]
    fn reads_do_not_wait_for_an_open_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteStorage::open(&dir.path().join("snap.db")).unwrap();
        let romeo = jid("romeo@montague.lit");
        db.create_account(&romeo, &[]).unwrap();
        let juliet = jid("juliet@capulet.lit");
        // Hold the write lock with an uncommitted write, as a slow write
        // would.
        let mut writer = db.writer.lock().unwrap();
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        tx.execute(
            "INSERT INTO accounts VALUES (?1, 'capulet.lit', 0)",
            [juliet.as_str()],
        )
        .unwrap();
        let start = std::time::Instant::now();
        // The pool reads the last committed snapshot at once.
        assert!(db.account_exists(&romeo).unwrap());
        assert!(!db.account_exists(&juliet).unwrap());
        assert!(start.elapsed() < BUSY_TIMEOUT / 2);
        tx.commit().unwrap();
        drop(writer);
        assert!(db.account_exists(&juliet).unwrap());
    }

    #[test]
    fn two_handles_on_one_file_wait_for_each_other() {
        // Like the server and the admin CLI: separate connections, each
        // with its own write lock, on one file.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.db");
        let first = Arc::new(SqliteStorage::open(&path).unwrap());
        let second = Arc::new(SqliteStorage::open(&path).unwrap());
        let threads: Vec<_> = [Arc::clone(&first), Arc::clone(&second)]
            .into_iter()
            .enumerate()
            .map(|(n, db)| {
                std::thread::spawn(move || {
                    for i in 0..100 {
                        db.create_account(&jid(&format!("u{n}-{i}@example.lit")), &[])
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(first.list_accounts(None).unwrap().len(), 200);
        assert_eq!(second.list_accounts(None).unwrap().len(), 200);
    }

    // ---- model-based ----

    const CONTACTS: [&str; 6] = [
        "romeo@montague.lit",
        "ärger@verona.lit",
        "a@z.lit",
        "z@a.lit",
        "verona.lit",
        "0@x.lit",
    ];

    #[derive(Debug, Clone)]
    enum Op {
        Put(usize, RosterEntryParts),
        Remove(usize),
    }

    #[derive(Debug, Clone)]
    struct RosterEntryParts {
        name: Option<String>,
        groups: Vec<String>,
        subscription: Subscription,
        ask: bool,
        approved: bool,
    }

    fn op() -> impl Strategy<Value = Op> {
        let subscription = prop_oneof![
            Just(Subscription::None),
            Just(Subscription::To),
            Just(Subscription::From),
            Just(Subscription::Both),
        ];
        let parts = (
            proptest::option::of("[a-zA-Z0-9 é日🎭\n]{0,8}"),
            proptest::collection::vec("[a-zé日 \n]{0,5}", 0..4),
            subscription,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(name, groups, subscription, ask, approved)| RosterEntryParts {
                    name,
                    groups,
                    subscription,
                    ask,
                    approved,
                },
            );
        prop_oneof![
            3 => (0..CONTACTS.len(), parts).prop_map(|(c, p)| Op::Put(c, p)),
            2 => (0..CONTACTS.len()).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn roster_matches_a_model(ops in proptest::collection::vec(op(), 0..40)) {
            let db = mem();
            let owner = jid("owner@example.lit");
            db.create_account(&owner, &[]).unwrap();
            let mut model: BTreeMap<BareJid, RosterEntry> = BTreeMap::new();
            let mut version = 0_u64;
            for op in ops {
                match op {
                    Op::Put(c, p) => {
                        let entry = RosterEntry {
                            jid: jid(CONTACTS[c]),
                            name: p.name,
                            groups: p.groups,
                            subscription: p.subscription,
                            ask: p.ask,
                            approved: p.approved,
                        };
                        version += 1;
                        prop_assert_eq!(db.roster_put(&owner, &entry).unwrap(), version);
                        model.insert(entry.jid.clone(), entry);
                    }
                    Op::Remove(c) => {
                        let contact = jid(CONTACTS[c]);
                        let want = model.remove(&contact).map(|_| {
                            version += 1;
                            version
                        });
                        prop_assert_eq!(db.roster_remove(&owner, &contact).unwrap(), want);
                    }
                }
                prop_assert_eq!(db.roster_version(&owner).unwrap(), version);
            }
            let want: Vec<RosterEntry> = model.values().cloned().collect();
            prop_assert_eq!(db.roster(&owner).unwrap(), (version, want));
            for c in CONTACTS {
                let c = jid(c);
                prop_assert_eq!(db.roster_item(&owner, &c).unwrap(), model.get(&c).cloned());
            }
        }
    }
}
