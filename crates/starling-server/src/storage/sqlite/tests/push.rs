//! XEP-0357 push registrations: replace by (app server, node), the cap,
//! disabling one node or all, order, removal with the account,
//! durability, and the migration to version 5 over either version 4.

use starling_jid::Jid;

use super::*;
use crate::storage::push::{Push, PushFull, PushRegistration};

fn reg(app: &str, node: &str, resource: &str) -> PushRegistration {
    PushRegistration {
        app_server: Jid::new(app).unwrap(),
        node: node.to_owned(),
        publish_options: Some(format!("<x xmlns='jabber:x:data' type='submit'>{node}</x>")),
        resource: Some(resource.to_owned()),
    }
}

fn nodes(db: &SqliteStorage, owner: &BareJid) -> Vec<(String, String, Option<String>)> {
    db.push_registrations(owner)
        .unwrap()
        .into_iter()
        .map(|r| (r.app_server.to_string(), r.node, r.resource))
        .collect()
}

#[test]
fn enable_replace_cap_and_disable() {
    let db = mem();
    let u = jid("user@example.lit");
    // No account, no registration.
    assert!(matches!(
        db.push_enable(&u, &reg("push.example", "a", "r1"), 5),
        Err(StorageError::NoAccount(_))
    ));
    db.create_account(&u, &[]).unwrap();
    for (app, node) in [
        ("push.example", "a"),
        ("push.example", "b"),
        ("other.example", "a"),
    ] {
        assert_eq!(
            db.push_enable(&u, &reg(app, node, "r1"), 3).unwrap(),
            Admission::Stored
        );
    }
    // Full: a new pair is refused, the same pair replaces (new resource).
    let refused = db
        .push_enable(&u, &reg("push.example", "c", "r2"), 3)
        .unwrap();
    assert_eq!(refused, Admission::Refused(PushFull { max: 3 }));
    assert_eq!(
        db.push_enable(&u, &reg("push.example", "a", "r2"), 3)
            .unwrap(),
        Admission::Stored
    );
    assert_eq!(
        nodes(&db, &u),
        [
            (
                "push.example".to_owned(),
                "a".to_owned(),
                Some("r2".to_owned())
            ),
            (
                "push.example".to_owned(),
                "b".to_owned(),
                Some("r1".to_owned())
            ),
            (
                "other.example".to_owned(),
                "a".to_owned(),
                Some("r1".to_owned())
            ),
        ]
    );
    let opts = db.push_registrations(&u).unwrap()[0]
        .publish_options
        .clone();
    assert_eq!(
        opts.as_deref(),
        Some("<x xmlns='jabber:x:data' type='submit'>a</x>")
    );
    let push_example = Jid::new("push.example").unwrap();
    assert_eq!(db.push_disable(&u, &push_example, Some("b")).unwrap(), 1);
    assert_eq!(db.push_disable(&u, &push_example, Some("zzz")).unwrap(), 0);
    assert_eq!(db.push_disable(&u, &push_example, None).unwrap(), 1);
    assert_eq!(nodes(&db, &u).len(), 1);
    // Removing the account removes its registrations.
    db.remove_account(&u).unwrap();
    assert_eq!(table_rows(&db, "push_registrations"), 0);
}

#[test]
fn registrations_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let u = jid("user@example.lit");
    {
        let db = SqliteStorage::open(&path).unwrap();
        db.create_account(&u, &[]).unwrap();
        db.push_enable(&u, &reg("push.example", "a", "r"), 20)
            .unwrap();
    }
    let db = SqliteStorage::open(&path).unwrap();
    assert_eq!(nodes(&db, &u).len(), 1);
}

/// Version 5 applies on a database at version 4 (the blocklist) and
/// depends on nothing 4 makes: a bare `blocklist` table in place of 4
/// does as well.
#[test]
fn migration_5_applies_over_version_4() {
    let bare_4 = Migration::Sql("CREATE TABLE blocklist (owner TEXT NOT NULL, jid TEXT NOT NULL);");
    for four in [MIGRATIONS[3], bare_4] {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        migrate(&mut conn, &MIGRATIONS[..3]).unwrap();
        conn.execute(
            "INSERT INTO accounts VALUES ('u@example.lit', 'example.lit', 0)",
            [],
        )
        .unwrap();
        let all = [
            MIGRATIONS[0],
            MIGRATIONS[1],
            MIGRATIONS[2],
            four,
            MIGRATIONS[4],
        ];
        migrate(&mut conn, &all).unwrap();
        assert_eq!(user_version(&conn), 5);
        conn.execute(
            "INSERT INTO push_registrations (owner, app_server, node, created_at_ms)
             VALUES ('u@example.lit', 'push.example', 'n', 0)",
            [],
        )
        .unwrap();
    }
}
