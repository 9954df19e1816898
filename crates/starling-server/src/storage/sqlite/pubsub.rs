//! Publish-subscribe nodes and items (XEP-0060 / XEP-0163), tables
//! `pubsub_nodes`, `pubsub_items`, `pubsub_affiliations`,
//! `pubsub_subscriptions` (schema version 7).

use rusqlite::{Connection, OptionalExtension, params};

use super::{Db, SqliteStorage, clamp_i64};
use crate::storage::pubsub::{
    PubSubFull, PubSubLimits, PubSubs, StoredItem, StoredNode, StoredSubscription,
};
use crate::storage::{Admission, StorageError};

/// Migration 7. A node whose service is an account (PEP) goes with it.
/// `seq` orders items by publication (a republished id moves to the
/// end).
pub(super) const MIGRATION: &str = "
    CREATE TABLE pubsub_nodes (
        id      INTEGER PRIMARY KEY,
        service TEXT NOT NULL,
        name    TEXT NOT NULL,
        config  TEXT NOT NULL,
        account TEXT REFERENCES accounts (jid) ON DELETE CASCADE,
        UNIQUE (service, name)
    );
    CREATE TABLE pubsub_items (
        node      INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
        item      TEXT    NOT NULL,
        seq       INTEGER NOT NULL,
        publisher TEXT,
        payload   TEXT    NOT NULL,
        bytes     INTEGER NOT NULL,
        PRIMARY KEY (node, item)
    );
    CREATE INDEX pubsub_items_by_seq ON pubsub_items (node, seq);
    CREATE TABLE pubsub_affiliations (
        node        INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
        jid         TEXT    NOT NULL,
        affiliation TEXT    NOT NULL,
        PRIMARY KEY (node, jid)
    ) WITHOUT ROWID;
    CREATE TABLE pubsub_subscriptions (
        node  INTEGER NOT NULL REFERENCES pubsub_nodes (id) ON DELETE CASCADE,
        jid   TEXT    NOT NULL,
        subid TEXT    NOT NULL,
        PRIMARY KEY (node, jid)
    ) WITHOUT ROWID;
";

fn node_id(c: &Connection, service: &str, node: &str) -> Result<Option<i64>, StorageError> {
    c.prepare_cached("SELECT id FROM pubsub_nodes WHERE service = ?1 AND name = ?2")
        .db()?
        .query_row(params![service, node], |r| r.get(0))
        .optional()
        .db()
}

fn item_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredItem> {
    Ok(StoredItem {
        id: r.get(0)?,
        publisher: r.get(1)?,
        payload: r.get(2)?,
    })
}

fn service_bytes(c: &Connection, service: &str) -> Result<i64, StorageError> {
    c.prepare_cached(
        "SELECT COALESCE(SUM(i.bytes), 0) FROM pubsub_items i
         JOIN pubsub_nodes n ON n.id = i.node WHERE n.service = ?1",
    )
    .db()?
    .query_row([service], |r| r.get(0))
    .db()
}

fn newest(c: &Connection, id: i64, max: Option<usize>) -> Result<Vec<StoredItem>, StorageError> {
    let limit = max.map_or(-1, clamp_i64);
    c.prepare_cached(
        "SELECT item, publisher, payload FROM pubsub_items WHERE node = ?1
         ORDER BY seq DESC LIMIT ?2",
    )
    .db()?
    .query_map(params![id, limit], item_row)
    .db()?
    .collect::<rusqlite::Result<_>>()
    .db()
}

impl PubSubs for SqliteStorage {
    fn nodes(&self, service: &str) -> Result<Vec<StoredNode>, StorageError> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT name, config FROM pubsub_nodes WHERE service = ?1 ORDER BY name",
            )
            .db()?
            .query_map([service], |r| {
                Ok(StoredNode {
                    name: r.get(0)?,
                    config: r.get(1)?,
                })
            })
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
        })
    }

    fn node(&self, service: &str, node: &str) -> Result<Option<StoredNode>, StorageError> {
        self.read(|c| {
            c.prepare_cached("SELECT config FROM pubsub_nodes WHERE service = ?1 AND name = ?2")
                .db()?
                .query_row(params![service, node], |r| {
                    Ok(StoredNode {
                        name: node.to_owned(),
                        config: r.get(0)?,
                    })
                })
                .optional()
                .db()
        })
    }

    fn create_node(
        &self,
        service: &str,
        node: &str,
        config: &str,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError> {
        self.write(|c| {
            if node_id(c, service, node)?.is_some() {
                return Ok(Admission::Stored);
            }
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM pubsub_nodes WHERE service = ?1")
                .db()?
                .query_row([service], |r| r.get(0))
                .db()?;
            if n >= clamp_i64(limits.max_nodes) {
                return Ok(Admission::Refused(PubSubFull::Nodes(limits.max_nodes)));
            }
            c.prepare_cached(
                "INSERT INTO pubsub_nodes (service, name, config, account)
                 VALUES (?1, ?2, ?3, (SELECT jid FROM accounts WHERE jid = ?1))",
            )
            .db()?
            .execute(params![service, node, config])
            .db()?;
            Ok(Admission::Stored)
        })
    }

    fn set_config(&self, service: &str, node: &str, config: &str) -> Result<bool, StorageError> {
        self.write(|c| {
            let n = c
                .prepare_cached(
                    "UPDATE pubsub_nodes SET config = ?3 WHERE service = ?1 AND name = ?2",
                )
                .db()?
                .execute(params![service, node, config])
                .db()?;
            Ok(n > 0)
        })
    }

    fn delete_node(&self, service: &str, node: &str) -> Result<bool, StorageError> {
        self.write(|c| {
            let n = c
                .prepare_cached("DELETE FROM pubsub_nodes WHERE service = ?1 AND name = ?2")
                .db()?
                .execute(params![service, node])
                .db()?;
            Ok(n > 0)
        })
    }

    fn publish(
        &self,
        service: &str,
        node: &str,
        item: &StoredItem,
        max_items: usize,
        limits: PubSubLimits,
    ) -> Result<Admission<PubSubFull>, StorageError> {
        self.write(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Err(StorageError::Backend(format!("no pubsub node {node:?}")));
            };
            let bytes = clamp_i64(item.payload.len());
            let replaced: i64 = c
                .prepare_cached("SELECT COALESCE(SUM(bytes), 0) FROM pubsub_items WHERE node = ?1 AND item = ?2")
                .db()?
                .query_row(params![id, item.id], |r| r.get(0))
                .db()?;
            let total = service_bytes(c, service)?;
            if total - replaced + bytes > clamp_i64(limits.max_bytes) {
                return Ok(Admission::Refused(PubSubFull::Bytes(limits.max_bytes)));
            }
            c.prepare_cached(
                "INSERT OR REPLACE INTO pubsub_items (node, item, seq, publisher, payload, bytes)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM pubsub_items WHERE node = ?1), ?3, ?4, ?5)",
            )
            .db()?
            .execute(params![id, item.id, item.publisher, item.payload, bytes])
            .db()?;
            c.prepare_cached(
                "DELETE FROM pubsub_items WHERE node = ?1 AND seq NOT IN
                 (SELECT seq FROM pubsub_items WHERE node = ?1 ORDER BY seq DESC LIMIT ?2)",
            )
            .db()?
            .execute(params![id, clamp_i64(max_items)])
            .db()?;
            Ok(Admission::Stored)
        })
    }

    fn items(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
        max: Option<usize>,
    ) -> Result<Vec<StoredItem>, StorageError> {
        self.read(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(Vec::new());
            };
            if ids.is_empty() {
                return newest(c, id, max);
            }
            let mut one = c
                .prepare_cached(
                    "SELECT item, publisher, payload, seq FROM pubsub_items WHERE node = ?1 AND item = ?2",
                )
                .db()?;
            let mut found: Vec<(i64, StoredItem)> = Vec::new();
            for wanted in ids {
                let row = one
                    .query_row(params![id, wanted], |r| Ok((r.get(3)?, item_row(r)?)))
                    .optional()
                    .db()?;
                if let Some(row) = row.filter(|(_, it)| !found.iter().any(|(_, f)| f.id == it.id)) {
                    found.push(row);
                }
            }
            found.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
            Ok(found.into_iter().map(|(_, it)| it).collect())
        })
    }

    fn retract(
        &self,
        service: &str,
        node: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StorageError> {
        self.write(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(Vec::new());
            };
            let mut delete = c
                .prepare_cached("DELETE FROM pubsub_items WHERE node = ?1 AND item = ?2")
                .db()?;
            let mut gone = Vec::new();
            for i in ids {
                if delete.execute(params![id, i]).db()? > 0 {
                    gone.push(i.clone());
                }
            }
            Ok(gone)
        })
    }

    fn purge(&self, service: &str, node: &str) -> Result<(), StorageError> {
        self.write(|c| {
            if let Some(id) = node_id(c, service, node)? {
                c.prepare_cached("DELETE FROM pubsub_items WHERE node = ?1")
                    .db()?
                    .execute([id])
                    .db()?;
            }
            Ok(())
        })
    }

    fn affiliations(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<(String, String)>, StorageError> {
        self.read(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(Vec::new());
            };
            c.prepare_cached(
                "SELECT jid, affiliation FROM pubsub_affiliations WHERE node = ?1 ORDER BY jid",
            )
            .db()?
            .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
        })
    }

    fn set_affiliations(
        &self,
        service: &str,
        node: &str,
        changes: &[(String, Option<String>)],
    ) -> Result<(), StorageError> {
        self.write(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(());
            };
            for (jid, aff) in changes {
                match aff {
                    Some(a) => c
                        .prepare_cached(
                            "INSERT OR REPLACE INTO pubsub_affiliations (node, jid, affiliation) VALUES (?1, ?2, ?3)",
                        )
                        .db()?
                        .execute(params![id, jid, a])
                        .db()?,
                    None => c
                        .prepare_cached("DELETE FROM pubsub_affiliations WHERE node = ?1 AND jid = ?2")
                        .db()?
                        .execute(params![id, jid])
                        .db()?,
                };
            }
            Ok(())
        })
    }

    fn subscriptions(
        &self,
        service: &str,
        node: &str,
    ) -> Result<Vec<StoredSubscription>, StorageError> {
        self.read(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(Vec::new());
            };
            c.prepare_cached(
                "SELECT jid, subid FROM pubsub_subscriptions WHERE node = ?1 ORDER BY jid",
            )
            .db()?
            .query_map([id], |r| {
                Ok(StoredSubscription {
                    jid: r.get(0)?,
                    subid: r.get(1)?,
                })
            })
            .db()?
            .collect::<rusqlite::Result<_>>()
            .db()
        })
    }

    fn subscribe(
        &self,
        service: &str,
        node: &str,
        sub: &StoredSubscription,
        max: usize,
    ) -> Result<Option<StoredSubscription>, StorageError> {
        self.write(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(None);
            };
            let existing: Option<String> = c
                .prepare_cached(
                    "SELECT subid FROM pubsub_subscriptions WHERE node = ?1 AND jid = ?2",
                )
                .db()?
                .query_row(params![id, sub.jid], |r| r.get(0))
                .optional()
                .db()?;
            if let Some(subid) = existing {
                return Ok(Some(StoredSubscription {
                    jid: sub.jid.clone(),
                    subid,
                }));
            }
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM pubsub_subscriptions WHERE node = ?1")
                .db()?
                .query_row([id], |r| r.get(0))
                .db()?;
            if n >= clamp_i64(max) {
                return Ok(None);
            }
            c.prepare_cached(
                "INSERT INTO pubsub_subscriptions (node, jid, subid) VALUES (?1, ?2, ?3)",
            )
            .db()?
            .execute(params![id, sub.jid, sub.subid])
            .db()?;
            Ok(Some(sub.clone()))
        })
    }

    fn unsubscribe(&self, service: &str, node: &str, jid: &str) -> Result<bool, StorageError> {
        self.write(|c| {
            let Some(id) = node_id(c, service, node)? else {
                return Ok(false);
            };
            let n = c
                .prepare_cached("DELETE FROM pubsub_subscriptions WHERE node = ?1 AND jid = ?2")
                .db()?
                .execute(params![id, jid])
                .db()?;
            Ok(n > 0)
        })
    }
}
