//! Block lists (XEP-0191), table `blocklist` (schema version 4).

use rusqlite::{Connection, params};
use starling_jid::{BareJid, Jid};

use super::{Db, SqliteStorage, clamp_i64, ensure_account, parse_jid};
use crate::storage::blocklist::{BlocklistFull, Blocklists};
use crate::storage::{Admission, StorageError};

/// Migration 4: the block lists, deleted with their account.
pub(super) const MIGRATION: &str = "
    CREATE TABLE blocklist (
        owner TEXT NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        jid   TEXT NOT NULL,
        PRIMARY KEY (owner, jid)
    ) WITHOUT ROWID;
";

fn parse_item(s: &str) -> Result<Jid, StorageError> {
    Jid::new(s).map_err(|e| StorageError::Corrupt(format!("stored blocked JID {s:?}: {e}")))
}

fn list_in(c: &Connection, owner: &BareJid) -> Result<Vec<Jid>, StorageError> {
    let rows: Vec<String> = c
        .prepare_cached("SELECT jid FROM blocklist WHERE owner = ?1 ORDER BY jid")
        .db()?
        .query_map([owner.as_str()], |r| r.get(0))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    rows.iter().map(|s| parse_item(s)).collect()
}

impl Blocklists for SqliteStorage {
    fn blocklist(&self, owner: &BareJid) -> Result<Vec<Jid>, StorageError> {
        self.read(|c| list_in(c, owner))
    }

    fn block(
        &self,
        owner: &BareJid,
        items: &[Jid],
        max_items: usize,
    ) -> Result<Admission<BlocklistFull>, StorageError> {
        self.write(|c| {
            ensure_account(c, owner)?;
            let mut new: Vec<&Jid> = Vec::new();
            {
                let mut present = c
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM blocklist WHERE owner = ?1 AND jid = ?2)",
                    )
                    .db()?;
                for item in items {
                    let there: bool = present
                        .query_row(params![owner.as_str(), item.as_str()], |r| r.get(0))
                        .db()?;
                    if !there && !new.contains(&item) {
                        new.push(item);
                    }
                }
            }
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM blocklist WHERE owner = ?1")
                .db()?
                .query_row([owner.as_str()], |r| r.get(0))
                .db()?;
            if n.saturating_add(clamp_i64(new.len())) > clamp_i64(max_items) {
                return Ok(Admission::Refused(BlocklistFull { max_items }));
            }
            let mut insert = c
                .prepare_cached("INSERT INTO blocklist (owner, jid) VALUES (?1, ?2)")
                .db()?;
            for item in new {
                insert
                    .execute(params![owner.as_str(), item.as_str()])
                    .db()?;
            }
            Ok(Admission::Stored)
        })
    }

    fn unblock(&self, owner: &BareJid, items: &[Jid]) -> Result<Vec<Jid>, StorageError> {
        self.write(|c| {
            if items.is_empty() {
                let all = list_in(c, owner)?;
                c.prepare_cached("DELETE FROM blocklist WHERE owner = ?1")
                    .db()?
                    .execute([owner.as_str()])
                    .db()?;
                return Ok(all);
            }
            let mut delete = c
                .prepare_cached("DELETE FROM blocklist WHERE owner = ?1 AND jid = ?2")
                .db()?;
            let mut removed = Vec::new();
            for item in items {
                if delete
                    .execute(params![owner.as_str(), item.as_str()])
                    .db()?
                    > 0
                {
                    removed.push(item.clone());
                }
            }
            Ok(removed)
        })
    }

    fn blockers(&self) -> Result<Vec<BareJid>, StorageError> {
        let rows: Vec<String> = self.read(|c| {
            c.prepare_cached("SELECT DISTINCT owner FROM blocklist ORDER BY owner")
                .db()?
                .query_map([], |r| r.get(0))
                .db()?
                .collect::<rusqlite::Result<_>>()
                .db()
        })?;
        rows.iter().map(|s| parse_jid(s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::blocking::Accounts;
    use crate::storage::sqlite::schema::{MIGRATIONS, migrate};

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    fn bare(s: &str) -> BareJid {
        s.parse().unwrap()
    }

    #[test]
    fn block_unblock_and_list() {
        let db = SqliteStorage::open_in_memory().unwrap();
        let juliet = bare("juliet@capulet.lit");
        db.create_account(&juliet, &[]).unwrap();
        assert!(db.blocklist(&juliet).unwrap().is_empty());
        assert!(db.blockers().unwrap().is_empty());
        let items = [
            jid("romeo@montague.lit"),
            jid("montague.lit"),
            jid("iago@shakespeare.lit/pda"),
        ];
        assert_eq!(db.block(&juliet, &items, 10).unwrap(), Admission::Stored);
        // Blocking again keeps one copy.
        assert_eq!(
            db.block(&juliet, &items[..1], 10).unwrap(),
            Admission::Stored
        );
        assert_eq!(db.blocklist(&juliet).unwrap().len(), 3);
        assert_eq!(db.blockers().unwrap(), std::slice::from_ref(&juliet));
        let removed = db
            .unblock(&juliet, &[jid("montague.lit"), jid("nobody@x.lit")])
            .unwrap();
        assert_eq!(removed, [jid("montague.lit")]);
        let all = db.unblock(&juliet, &[]).unwrap();
        assert_eq!(all.len(), 2);
        assert!(db.blocklist(&juliet).unwrap().is_empty());
        assert!(db.blockers().unwrap().is_empty());
    }

    #[test]
    fn the_cap_is_checked_with_the_insert() {
        let db = SqliteStorage::open_in_memory().unwrap();
        let juliet = bare("juliet@capulet.lit");
        db.create_account(&juliet, &[]).unwrap();
        let two = [jid("a@x.lit"), jid("b@x.lit")];
        assert_eq!(db.block(&juliet, &two, 2).unwrap(), Admission::Stored);
        // An item already there costs nothing.
        assert_eq!(db.block(&juliet, &two[..1], 2).unwrap(), Admission::Stored);
        let refused = db.block(&juliet, &[jid("c@x.lit")], 2).unwrap();
        assert_eq!(refused, Admission::Refused(BlocklistFull { max_items: 2 }));
        // Nothing of a refused block was written.
        assert_eq!(db.blocklist(&juliet).unwrap(), two);
    }

    #[test]
    fn lists_belong_to_accounts() {
        let db = SqliteStorage::open_in_memory().unwrap();
        let juliet = bare("juliet@capulet.lit");
        assert!(matches!(
            db.block(&juliet, &[jid("a@x.lit")], 5),
            Err(StorageError::NoAccount(_))
        ));
        db.create_account(&juliet, &[]).unwrap();
        db.block(&juliet, &[jid("a@x.lit")], 5).unwrap();
        assert!(db.remove_account(&juliet).unwrap());
        assert!(db.blockers().unwrap().is_empty());
    }

    #[test]
    fn a_version_3_database_gets_the_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "foreign_keys", true).unwrap();
            migrate(&mut conn, &MIGRATIONS[..3]).unwrap();
            conn.execute(
                "INSERT INTO accounts VALUES ('juliet@capulet.lit', 'capulet.lit', 0)",
                [],
            )
            .unwrap();
        }
        let db = SqliteStorage::open(&path).unwrap();
        let version: i64 = db
            .writer
            .lock()
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let juliet = bare("juliet@capulet.lit");
        assert!(db.account_exists(&juliet).unwrap());
        assert_eq!(
            db.block(&juliet, &[jid("romeo@montague.lit")], 5).unwrap(),
            Admission::Stored
        );
        drop(db);
        let db = SqliteStorage::open(&path).unwrap();
        assert_eq!(db.blocklist(&juliet).unwrap(), [jid("romeo@montague.lit")]);
    }
}
