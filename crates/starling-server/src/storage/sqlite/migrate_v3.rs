//! Schema version 3: storage limits.
//!
//! `subscription_requests` kept each request's stanza (up to a stanza's
//! size); it becomes a record of the requester, its domain (for the
//! per-domain cap), its status and nickname, cut to their limits. Each
//! `offline` row gets its sender's bare JID and its size in bytes, with a
//! covering index, so the quota check counts an account's messages and
//! bytes without reading the stanzas. Existing rows are converted: a
//! stored request whose stanza does not parse is kept without status or
//! nickname, one from an invalid JID (manual edits) is dropped.

use rusqlite::{Connection, params};
use starling_jid::{BareJid, Jid};
use starling_xml::Element;
use tracing::warn;

use super::Db;
use crate::storage::{StorageError, SubscriptionRequest};

const CREATE: &str = "
    CREATE TABLE subscription_requests_v3 (
        owner   TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        contact TEXT    NOT NULL,
        domain  TEXT    NOT NULL,
        status  TEXT,
        nick    TEXT,
        seq     INTEGER NOT NULL,
        PRIMARY KEY (owner, contact)
    ) WITHOUT ROWID;
    ALTER TABLE offline ADD COLUMN sender TEXT NOT NULL DEFAULT '';
    ALTER TABLE offline ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0 CHECK (bytes >= 0);
";

const FINISH: &str = "
    DROP TABLE subscription_requests;
    ALTER TABLE subscription_requests_v3 RENAME TO subscription_requests;
    CREATE INDEX subscription_requests_in_order ON subscription_requests (owner, seq);
    CREATE INDEX subscription_requests_by_domain ON subscription_requests (owner, domain);
    CREATE INDEX offline_usage ON offline (owner, sender, bytes);
";

/// The migration (inside the migration's transaction).
pub(super) fn limits(c: &Connection) -> Result<(), StorageError> {
    c.execute_batch(CREATE).db()?;
    convert_requests(c)?;
    convert_offline(c)?;
    c.execute_batch(FINISH).db()
}

fn convert_requests(c: &Connection) -> Result<(), StorageError> {
    let rows: Vec<(String, String, String, i64)> = c
        .prepare("SELECT owner, contact, stanza, seq FROM subscription_requests")
        .db()?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    let mut insert = c
        .prepare(
            "INSERT INTO subscription_requests_v3 (owner, contact, domain, status, nick, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .db()?;
    for (owner, contact, stanza, seq) in rows {
        let Ok(from) = BareJid::new(&contact) else {
            warn!(%owner, %contact, "stored subscription request from an invalid JID dropped");
            continue;
        };
        let req = match Element::parse(stanza.as_bytes()) {
            Ok(el) => SubscriptionRequest::from_presence(from, &el),
            Err(_) => SubscriptionRequest::bare(from),
        };
        insert
            .execute(params![
                owner,
                req.from.as_str(),
                req.domain(),
                req.status,
                req.nick,
                seq
            ])
            .db()?;
    }
    Ok(())
}

fn convert_offline(c: &Connection) -> Result<(), StorageError> {
    let rows: Vec<(i64, String)> = c
        .prepare("SELECT id, stanza FROM offline")
        .db()?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    let mut update = c
        .prepare("UPDATE offline SET sender = ?2, bytes = ?3 WHERE id = ?1")
        .db()?;
    for (id, stanza) in rows {
        let bytes = i64::try_from(stanza.len()).unwrap_or(i64::MAX);
        update
            .execute(params![id, sender_of(&stanza), bytes])
            .db()?;
    }
    Ok(())
}

/// The bare JID in a stored stanza's `from`, or "" (an unknown sender).
fn sender_of(stanza: &str) -> String {
    Element::parse(stanza.as_bytes())
        .ok()
        .and_then(|el| el.attr("from").and_then(|f| f.parse::<Jid>().ok()))
        .map(|j| j.bare().as_str().to_owned())
        .unwrap_or_default()
}
