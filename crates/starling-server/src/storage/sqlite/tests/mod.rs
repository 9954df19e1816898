//! Tests of the SQLite backend: schema and migrations, every store, bad
//! stored data, durability across reopening and process death, concurrency,
//! and a model-based test of the roster.

mod durability;
mod features;
mod limits;
mod model;
mod pubsub;
mod push;

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;

use super::schema::Migration;
use super::*;
pub(super) use crate::storage::blocking::{Accounts, Offline, Rosters};
pub(super) use crate::storage::{
    Admission, OfflineFull, OfflineQuota, RequestLimits, RequestsFull, RosterEntry, StorageError,
    Subscription, SubscriptionRequest,
};
pub(super) use rusqlite::{Connection, params};
pub(super) use starling_auth::sasl::{ScramCredentials, ScramHash};
pub(super) use starling_jid::{BareJid, DomainPart};

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

/// A count-only offline quota (bytes and shares unbounded).
fn count_quota(max_messages: usize) -> OfflineQuota {
    OfflineQuota {
        max_messages,
        max_bytes: u64::MAX,
        share_percent: 100,
    }
}

/// Stores a message from one sender under a count-only quota; `true` if
/// stored.
fn push(
    db: &SqliteStorage,
    owner: &BareJid,
    stanza: &str,
    max_messages: usize,
) -> Result<bool, StorageError> {
    let sender = jid("sender@example.lit");
    let r = db.offline_push(owner, &sender, stanza, count_quota(max_messages))?;
    Ok(r == Admission::Stored)
}

/// Records a request from `from` with `status`, under generous caps.
fn add_req(
    db: &SqliteStorage,
    owner: &BareJid,
    from: &BareJid,
    status: Option<&str>,
) -> Result<Admission<RequestsFull>, StorageError> {
    let req = SubscriptionRequest::new(from.clone(), status, None);
    let limits = RequestLimits {
        max_pending: 1000,
        max_per_domain: 1000,
    };
    db.add_subscription_request(owner, &req, limits)
}

/// The pending requests as (requester, status).
fn requests(db: &SqliteStorage, owner: &BareJid) -> Vec<(BareJid, String)> {
    db.subscription_requests(owner)
        .unwrap()
        .into_iter()
        .map(|r| (r.from, r.status.unwrap_or_default()))
        .collect()
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
    let db: Arc<dyn Accounts> = Arc::new(mem());
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
            "blocklist",
            "credentials",
            "inflight",
            "offline",
            "private_xml",
            "pubsub_affiliations",
            "pubsub_items",
            "pubsub_nodes",
            "pubsub_subscriptions",
            "push_registrations",
            "roster",
            "roster_groups",
            "roster_versions",
            "subscription_requests",
            "vcards"
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
    let (ok, bad) = (Migration::Sql(ok), Migration::Sql(bad));
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
    let fixed = Migration::Sql("CREATE TABLE b (x INTEGER);");
    migrate(&mut conn, &[ok, fixed]).unwrap();
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
