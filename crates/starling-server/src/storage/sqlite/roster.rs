//! Rosters with their versions, and pending subscription requests.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use starling_jid::BareJid;

use super::{Db, SqliteStorage, ensure_account, parse_jid, parse_version};
use crate::storage::blocking::Rosters;
use crate::storage::{
    Admission, PendingCounts, RequestLimits, RequestsFull, RosterEntry, StorageError, Subscription,
    SubscriptionRequest,
};

/// What `owner` has pending when `request` arrives.
fn pending_counts(
    c: &Connection,
    owner: &BareJid,
    request: &SubscriptionRequest,
) -> Result<PendingCounts, StorageError> {
    let (same, pending, from_domain): (bool, i64, i64) = c
        .prepare_cached(
            "SELECT COALESCE(SUM(contact = ?2), 0) > 0, COUNT(*), COALESCE(SUM(domain = ?3), 0)
             FROM subscription_requests WHERE owner = ?1",
        )
        .db()?
        .query_row(
            params![owner.as_str(), request.from.as_str(), request.domain()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .db()?;
    let n = |v: i64| usize::try_from(v).unwrap_or(usize::MAX);
    Ok(PendingCounts {
        same_sender: same,
        pending: n(pending),
        from_domain: n(from_domain),
    })
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

impl Rosters for SqliteStorage {
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
    ) -> Result<Vec<SubscriptionRequest>, StorageError> {
        type Row = (String, Option<String>, Option<String>);
        let rows: Vec<Row> = self.read(|c| {
            c.prepare_cached(
                "SELECT contact, status, nick FROM subscription_requests
                 WHERE owner = ?1 ORDER BY seq",
            )
            .db()?
            .query_map([owner.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
        })?;
        rows.into_iter()
            .map(|(contact, status, nick)| {
                Ok(SubscriptionRequest {
                    from: parse_jid(&contact)?,
                    status,
                    nick,
                })
            })
            .collect()
    }

    /// A repeated request replaces the record and becomes the newest; a
    /// new one is counted against `limits` in the same transaction.
    fn add_subscription_request(
        &self,
        owner: &BareJid,
        request: &SubscriptionRequest,
        limits: RequestLimits,
    ) -> Result<Admission<RequestsFull>, StorageError> {
        let (o, from) = (owner.as_str(), request.from.as_str());
        self.write(|c| {
            ensure_account(c, owner)?;
            let counts = pending_counts(c, owner, request)?;
            if let Err(full) = limits.admit(counts) {
                return Ok(Admission::Refused(full));
            }
            let seq: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM subscription_requests WHERE owner = ?1",
                )
                .db()?
                .query_row([o], |row| row.get(0))
                .db()?;
            c.prepare_cached(
                "INSERT INTO subscription_requests (owner, contact, domain, status, nick, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (owner, contact) DO UPDATE SET
                     domain = excluded.domain, status = excluded.status,
                     nick = excluded.nick, seq = excluded.seq",
            )
            .db()?
            .execute(params![
                o,
                from,
                request.domain(),
                request.status,
                request.nick,
                seq
            ])
            .db()?;
            Ok(Admission::Stored)
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
}
