//! The schema and its migrations.

use rusqlite::{Connection, TransactionBehavior};

use super::Db;
use super::migrate_v3;
use crate::storage::StorageError;

/// One schema migration.
#[derive(Clone, Copy)]
pub(super) enum Migration {
    /// SQL statements.
    Sql(&'static str),
    /// Code, for conversions SQL cannot do (reading stored XML).
    Rust(fn(&Connection) -> Result<(), StorageError>),
}

impl Migration {
    fn run(self, c: &Connection) -> Result<(), StorageError> {
        match self {
            Migration::Sql(sql) => c.execute_batch(sql).db(),
            Migration::Rust(f) => f(c),
        }
    }
}

/// The schema migrations: `MIGRATIONS[n]` takes a database from
/// `PRAGMA user_version` `n` to `n + 1`, in one transaction. Append only:
/// never edit an entry that has been released.
///
/// Migrations run with `foreign_keys=ON` inside a transaction (where the
/// pragma cannot be changed); a future migration that rebuilds a table
/// must create the new table, copy, drop and rename in an order that keeps
/// the references valid.
pub(super) const MIGRATIONS: &[Migration] = &[
    // 1: the initial schema.
    Migration::Sql(
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
    ),
    // 2: roster versions outlive their account, so that an account deleted
    // and created again never repeats a version a client may have cached
    // (RFC 6121 §2.6: a version names one state of the roster).
    Migration::Sql(
        "
    CREATE TABLE roster_versions_kept (
        owner   TEXT    NOT NULL PRIMARY KEY,
        version INTEGER NOT NULL CHECK (version >= 0)
    ) WITHOUT ROWID;
    INSERT INTO roster_versions_kept (owner, version) SELECT owner, version FROM roster_versions;
    DROP TABLE roster_versions;
    ALTER TABLE roster_versions_kept RENAME TO roster_versions;
    ",
    ),
    // 3: storage limits. Subscription requests become small records (the
    // requester's domain, status and nickname instead of the stanza);
    // offline messages record their sender and size. Existing rows are
    // converted.
    Migration::Rust(migrate_v3::limits),
    // 4: XEP-0191 block lists.
    Migration::Sql(super::blocklist::MIGRATION),
    // 5: XEP-0357 push registrations, identified per account by (app
    // server, node); `seq` keeps them in the order they were first made.
    Migration::Sql(
        "
    CREATE TABLE push_registrations (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        owner           TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        app_server      TEXT    NOT NULL,
        node            TEXT    NOT NULL,
        publish_options TEXT,
        resource        TEXT,
        created_at_ms   INTEGER NOT NULL,
        UNIQUE (owner, app_server, node)
    );
    ",
    ),
    // 6: the in-flight journal of XEP-0198 senders' messages.
    Migration::Sql(super::inflight::SCHEMA),
    // 7: XEP-0060 / XEP-0163 publish-subscribe nodes and items.
    Migration::Sql(super::pubsub::MIGRATION),
    // XEP-0054 vCards.
    Migration::Sql(super::vcard::MIGRATION),
    // XEP-0049 private XML storage.
    Migration::Sql(super::private::MIGRATION),
];

/// Brings the database to `migrations.len()`, one transaction per
/// migration. The version is read inside each write transaction, so two
/// processes opening a fresh file at once do not both migrate it.
pub(super) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<(), StorageError> {
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
        let Some(migration) = migrations.get(found as usize) else {
            return Ok(());
        };
        migration.run(&tx).map_err(|e| {
            StorageError::Backend(format!("migration to schema version {}: {e}", found + 1))
        })?;
        tx.pragma_update(None, "user_version", found + 1).db()?;
        tx.commit().db()?;
    }
}
