//! Offline messages (XEP-0160).

use rusqlite::params;
use starling_jid::BareJid;

use super::{Db, SqliteStorage, clamp_i64, ensure_account, now_ms, time_from_ms};
use crate::storage::blocking::Offline;
use crate::storage::{OfflineMessage, StorageError};

impl Offline for SqliteStorage {
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
