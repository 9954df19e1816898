//! The in-flight journal: messages from senders that get XEP-0198
//! acknowledgements, kept on disk from the moment the server counts them
//! as handled until their recipient has them. After a crash, what is left
//! becomes offline messages (delivered at the next login; at least once).

use rusqlite::{Connection, params};
use starling_jid::BareJid;

use super::{Db, ensure_account, now_ms};
use crate::storage::StorageError;

/// The table (schema migration 4).
pub(super) const SCHEMA: &str = "
    CREATE TABLE inflight (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        owner        TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        sender       TEXT    NOT NULL,
        stanza       TEXT    NOT NULL,
        stored_at_ms INTEGER NOT NULL
    );
";

/// Journals `stanza` for `owner`: its row id.
pub(super) fn add(
    c: &Connection,
    owner: &BareJid,
    sender: &BareJid,
    stanza: &str,
) -> Result<i64, StorageError> {
    ensure_account(c, owner)?;
    c.prepare_cached(
        "INSERT INTO inflight (owner, sender, stanza, stored_at_ms) VALUES (?1, ?2, ?3, ?4)",
    )
    .db()?
    .execute(params![owner.as_str(), sender.as_str(), stanza, now_ms()])
    .db()?;
    Ok(c.last_insert_rowid())
}

/// Forgets the rows `ids` (their recipients have them).
pub(super) fn release(c: &Connection, ids: &[i64]) -> Result<(), StorageError> {
    let mut stmt = c
        .prepare_cached("DELETE FROM inflight WHERE id = ?1")
        .db()?;
    for id in ids {
        stmt.execute([id]).db()?;
    }
    Ok(())
}

/// Turns every journaled message into an offline message (after a crash:
/// nobody had acknowledged them); how many.
pub(super) fn recover(c: &Connection) -> Result<usize, StorageError> {
    let n = c
        .execute(
            "INSERT INTO offline (owner, stanza, stored_at_ms, sender, bytes)
             SELECT owner, stanza, stored_at_ms, sender, length(CAST(stanza AS BLOB))
             FROM inflight ORDER BY id",
            [],
        )
        .db()?;
    c.execute("DELETE FROM inflight", []).db()?;
    Ok(n)
}
