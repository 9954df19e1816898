//! vCards (XEP-0054), table `vcards`.

use rusqlite::{OptionalExtension, params};
use starling_jid::BareJid;

use super::{Db, SqliteStorage, ensure_account};
use crate::storage::StorageError;
use crate::storage::vcard::VCards;

/// The migration that adds the vCards, deleted with their account.
pub(super) const MIGRATION: &str = "
    CREATE TABLE vcards (
        owner TEXT NOT NULL PRIMARY KEY REFERENCES accounts (jid) ON DELETE CASCADE,
        xml   TEXT NOT NULL
    ) WITHOUT ROWID;
";

impl VCards for SqliteStorage {
    fn vcard(&self, owner: &BareJid) -> Result<Option<String>, StorageError> {
        self.read(|c| {
            c.prepare_cached("SELECT xml FROM vcards WHERE owner = ?1")
                .db()?
                .query_row([owner.as_str()], |r| r.get(0))
                .optional()
                .db()
        })
    }

    fn set_vcard(&self, owner: &BareJid, xml: &str) -> Result<(), StorageError> {
        self.write(|c| {
            ensure_account(c, owner)?;
            c.prepare_cached(
                "INSERT INTO vcards (owner, xml) VALUES (?1, ?2)
                 ON CONFLICT (owner) DO UPDATE SET xml = excluded.xml",
            )
            .db()?
            .execute(params![owner.as_str(), xml])
            .db()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::blocking::Accounts;

    #[test]
    fn one_vcard_per_account_gone_with_it() {
        let db = SqliteStorage::open_in_memory().unwrap();
        let juliet: BareJid = "juliet@capulet.lit".parse().unwrap();
        assert!(matches!(
            db.set_vcard(&juliet, "<vCard xmlns='vcard-temp'/>"),
            Err(StorageError::NoAccount(_))
        ));
        db.create_account(&juliet, &[]).unwrap();
        assert_eq!(db.vcard(&juliet).unwrap(), None);
        db.set_vcard(&juliet, "<vCard xmlns='vcard-temp'><FN>J</FN></vCard>")
            .unwrap();
        db.set_vcard(&juliet, "<vCard xmlns='vcard-temp'><FN>K</FN></vCard>")
            .unwrap();
        assert_eq!(
            db.vcard(&juliet).unwrap().as_deref(),
            Some("<vCard xmlns='vcard-temp'><FN>K</FN></vCard>")
        );
        assert!(db.remove_account(&juliet).unwrap());
        db.create_account(&juliet, &[]).unwrap();
        assert_eq!(db.vcard(&juliet).unwrap(), None);
    }
}
