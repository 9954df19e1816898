//! Accounts and their SCRAM credentials.

use rusqlite::{Connection, OptionalExtension, params};
use starling_auth::sasl::{ScramCredentials, ScramHash};
use starling_jid::{BareJid, DomainPart};

use super::{Db, SqliteStorage, account_exists_in, ensure_account, lock, now_ms, parse_jid};
use crate::storage::StorageError;
use crate::storage::blocking::Accounts;

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

/// `salt, iterations, stored_key, server_key` of a `credentials` row.
type CredentialRow = (Vec<u8>, i64, Vec<u8>, Vec<u8>);

impl Accounts for SqliteStorage {
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
}
