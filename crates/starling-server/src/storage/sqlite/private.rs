//! Private XML storage (XEP-0049), table `private_xml`.

use rusqlite::{OptionalExtension, params};
use starling_jid::BareJid;

use super::{Db, SqliteStorage, clamp_i64, ensure_account};
use crate::storage::private::{PrivateFull, PrivateXml};
use crate::storage::{Admission, StorageError};

/// The migration that adds private XML storage, deleted with the
/// account; `bytes` is the length of `xml`, summed for the per-account
/// cap.
pub(super) const MIGRATION: &str = "
    CREATE TABLE private_xml (
        owner TEXT    NOT NULL REFERENCES accounts (jid) ON DELETE CASCADE,
        ns    TEXT    NOT NULL,
        name  TEXT    NOT NULL,
        xml   TEXT    NOT NULL,
        bytes INTEGER NOT NULL CHECK (bytes >= 0),
        PRIMARY KEY (owner, ns, name)
    ) WITHOUT ROWID;
";

impl PrivateXml for SqliteStorage {
    fn private_get(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, StorageError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT xml FROM private_xml WHERE owner = ?1 AND ns = ?2 AND name = ?3",
            )
            .db()?
            .query_row(params![owner.as_str(), ns, name], |r| r.get(0))
            .optional()
            .db()
        })
    }

    fn private_set(
        &self,
        owner: &BareJid,
        ns: &str,
        name: &str,
        xml: &str,
        max_total_bytes: usize,
    ) -> Result<Admission<PrivateFull>, StorageError> {
        self.write(|c| {
            ensure_account(c, owner)?;
            let others: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(SUM(bytes), 0) FROM private_xml
                     WHERE owner = ?1 AND NOT (ns = ?2 AND name = ?3)",
                )
                .db()?
                .query_row(params![owner.as_str(), ns, name], |r| r.get(0))
                .db()?;
            if others.saturating_add(clamp_i64(xml.len())) > clamp_i64(max_total_bytes) {
                return Ok(Admission::Refused(PrivateFull { max_total_bytes }));
            }
            c.prepare_cached(
                "INSERT INTO private_xml (owner, ns, name, xml, bytes) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (owner, ns, name) DO UPDATE SET xml = excluded.xml, bytes = excluded.bytes",
            )
            .db()?
            .execute(params![owner.as_str(), ns, name, xml, clamp_i64(xml.len())])
            .db()?;
            Ok(Admission::Stored)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::blocking::Accounts;

    fn bare(s: &str) -> BareJid {
        s.parse().unwrap()
    }

    #[test]
    fn keyed_by_namespace_and_name_per_account() {
        let db = SqliteStorage::open_in_memory().unwrap();
        let (a, b) = (bare("a@x.lit"), bare("b@x.lit"));
        for j in [&a, &b] {
            db.create_account(j, &[]).unwrap();
        }
        let writes = [
            ("p:1", "prefs", "<prefs xmlns='p:1'>1</prefs>"),
            ("p:1", "other", "<other xmlns='p:1'/>"),
            ("p:2", "prefs", "<prefs xmlns='p:2'/>"),
            ("p:1", "prefs", "<prefs xmlns='p:1'>2</prefs>"),
        ];
        for (ns, name, xml) in writes {
            let stored = db.private_set(&a, ns, name, xml, 1000).unwrap();
            assert_eq!(stored, Admission::Stored, "{xml}");
        }
        assert_eq!(
            db.private_get(&a, "p:1", "prefs").unwrap().as_deref(),
            Some("<prefs xmlns='p:1'>2</prefs>")
        );
        assert_eq!(db.private_get(&b, "p:1", "prefs").unwrap(), None);
        assert!(db.remove_account(&a).unwrap());
        db.create_account(&a, &[]).unwrap();
        assert_eq!(db.private_get(&a, "p:1", "prefs").unwrap(), None);
    }

    #[test]
    fn the_total_cap_counts_the_replaced_element_once() {
        let db = SqliteStorage::open_in_memory().unwrap();
        let a = bare("a@x.lit");
        db.create_account(&a, &[]).unwrap();
        let ten = "0123456789";
        assert_eq!(
            db.private_set(&a, "n", "x", ten, 20).unwrap(),
            Admission::Stored
        );
        // Replacing x: only the new size counts.
        assert_eq!(
            db.private_set(&a, "n", "x", ten, 20).unwrap(),
            Admission::Stored
        );
        assert_eq!(
            db.private_set(&a, "n", "y", ten, 20).unwrap(),
            Admission::Stored
        );
        let refused = db.private_set(&a, "n", "z", "z", 20).unwrap();
        assert_eq!(
            refused,
            Admission::Refused(PrivateFull {
                max_total_bytes: 20
            })
        );
        assert_eq!(db.private_get(&a, "n", "z").unwrap(), None);
        assert!(matches!(
            db.private_set(&bare("nobody@x.lit"), "n", "x", ten, 20),
            Err(StorageError::NoAccount(_))
        ));
    }
}
