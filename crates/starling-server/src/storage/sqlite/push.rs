//! XEP-0357 push registrations.

use rusqlite::params;
use starling_jid::{BareJid, Jid};

use super::{Db, SqliteStorage, clamp_i64, ensure_account, now_ms};
use crate::storage::push::{Push, PushFull, PushRegistration};
use crate::storage::{Admission, StorageError};

impl Push for SqliteStorage {
    fn push_enable(
        &self,
        owner: &BareJid,
        reg: &PushRegistration,
        max: usize,
    ) -> Result<Admission<PushFull>, StorageError> {
        self.write(|c| {
            ensure_account(c, owner)?;
            let (count, same): (i64, bool) = c
                .prepare_cached(
                    "SELECT COUNT(*), COALESCE(SUM(app_server = ?2 AND node = ?3), 0) > 0
                     FROM push_registrations WHERE owner = ?1",
                )
                .db()?
                .query_row(
                    params![owner.as_str(), reg.app_server.as_str(), reg.node],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .db()?;
            if !same && count >= clamp_i64(max) {
                return Ok(Admission::Refused(PushFull { max }));
            }
            c.prepare_cached(
                "INSERT INTO push_registrations
                     (owner, app_server, node, publish_options, resource, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (owner, app_server, node) DO UPDATE SET
                     publish_options = excluded.publish_options,
                     resource = excluded.resource",
            )
            .db()?
            .execute(params![
                owner.as_str(),
                reg.app_server.as_str(),
                reg.node,
                reg.publish_options,
                reg.resource,
                now_ms()
            ])
            .db()?;
            Ok(Admission::Stored)
        })
    }

    fn push_disable(
        &self,
        owner: &BareJid,
        app_server: &Jid,
        node: Option<&str>,
    ) -> Result<usize, StorageError> {
        self.write(|c| {
            c.prepare_cached(
                "DELETE FROM push_registrations
                 WHERE owner = ?1 AND app_server = ?2 AND (?3 IS NULL OR node = ?3)",
            )
            .db()?
            .execute(params![owner.as_str(), app_server.as_str(), node])
            .db()
        })
    }

    fn push_registrations(&self, owner: &BareJid) -> Result<Vec<PushRegistration>, StorageError> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT app_server, node, publish_options, resource
                     FROM push_registrations WHERE owner = ?1 ORDER BY seq",
                )
                .db()?;
            let rows = stmt
                .query_map([owner.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<String>>(3)?,
                    ))
                })
                .db()?;
            let mut out = Vec::new();
            for row in rows {
                let (jid, node, publish_options, resource) = row.db()?;
                let app_server = Jid::new(&jid)
                    .map_err(|e| StorageError::Corrupt(format!("stored push JID {jid:?}: {e}")))?;
                out.push(PushRegistration {
                    app_server,
                    node,
                    publish_options,
                    resource,
                });
            }
            Ok(out)
        })
    }
}
