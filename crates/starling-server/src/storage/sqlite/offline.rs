//! Offline messages (XEP-0160).

use rusqlite::params;
use starling_jid::BareJid;

use super::{Db, SqliteStorage, clamp_i64, ensure_account, now_ms, time_from_ms};
use crate::storage::blocking::Offline;
use crate::storage::{
    Admission, OfflineFull, OfflineMessage, OfflineQuota, OfflineUsage, StorageError,
};

/// What `owner` has stored, in all and from `sender`.
fn usage_in(
    c: &rusqlite::Connection,
    owner: &BareJid,
    sender: &BareJid,
) -> Result<OfflineUsage, StorageError> {
    let (messages, bytes, sender_messages, sender_bytes): (i64, i64, i64, i64) = c
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0),
                    COALESCE(SUM(sender = ?2), 0),
                    COALESCE(SUM(CASE WHEN sender = ?2 THEN bytes ELSE 0 END), 0)
             FROM offline WHERE owner = ?1",
        )
        .db()?
        .query_row(params![owner.as_str(), sender.as_str()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .db()?;
    let n =
        |v: i64| u64::try_from(v).map_err(|_| StorageError::Corrupt(format!("offline usage {v}")));
    Ok(OfflineUsage {
        messages: n(messages)?,
        bytes: n(bytes)?,
        sender_messages: n(sender_messages)?,
        sender_bytes: n(sender_bytes)?,
    })
}

impl Offline for SqliteStorage {
    /// The quota check reads the account's and the sender's usage from
    /// the covering index `(owner, sender, bytes)` in the write
    /// transaction of the insert.
    fn offline_push(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
        quota: OfflineQuota,
    ) -> Result<Admission<OfflineFull>, StorageError> {
        let size = stanza.len() as u64;
        self.write(|c| {
            ensure_account(c, owner)?;
            let usage = usage_in(c, owner, sender)?;
            if let Err(full) = quota.admit(usage, size) {
                return Ok(Admission::Refused(full));
            }
            c.prepare_cached(
                "INSERT INTO offline (owner, stanza, stored_at_ms, sender, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .db()?
            .execute(params![
                owner.as_str(),
                stanza,
                now_ms(),
                sender.as_str(),
                clamp_i64(stanza.len())
            ])
            .db()?;
            Ok(Admission::Stored)
        })
    }

    fn offline_load(
        &self,
        owner: &BareJid,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        self.offline_load_after(owner, i64::MIN, limit)
    }

    fn offline_load_after(
        &self,
        owner: &BareJid,
        after: i64,
        limit: usize,
    ) -> Result<Vec<OfflineMessage>, StorageError> {
        let rows: Vec<(i64, String, i64)> = self.read(|c| {
            c.prepare_cached(
                "SELECT id, stanza, stored_at_ms FROM offline
                 WHERE owner = ?1 AND id > ?3 ORDER BY id LIMIT ?2",
            )
            .db()?
            .query_map(params![owner.as_str(), clamp_i64(limit), after], |row| {
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

    fn offline_journal(
        &self,
        owner: &BareJid,
        sender: &BareJid,
        stanza: &str,
    ) -> Result<i64, StorageError> {
        self.write(|c| super::inflight::add(c, owner, sender, stanza))
    }

    fn offline_release(&self, ids: &[i64]) -> Result<(), StorageError> {
        self.write(|c| super::inflight::release(c, ids))
    }

    fn offline_recover(&self) -> Result<usize, StorageError> {
        self.write(super::inflight::recover)
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
