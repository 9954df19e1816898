//! Accounts, rosters, subscription requests and offline messages.

use super::*;

// ---- accounts and credentials ----

#[test]
fn accounts_create_exists_duplicate_list() {
    let db = mem();
    let juliet = jid("juliet@capulet.lit");
    assert!(!db.account_exists(&juliet).unwrap());
    db.create_account(&juliet, &[]).unwrap();
    assert!(db.account_exists(&juliet).unwrap());
    match db.create_account(&juliet, &[creds(ScramHash::Sha1, 1)]) {
        Err(StorageError::AccountExists(j)) => assert_eq!(j, juliet),
        other => panic!("expected AccountExists, got {other:?}"),
    }
    // The failed create changed nothing.
    assert_eq!(db.credentials(&juliet, ScramHash::Sha1).unwrap(), None);

    for s in [
        "tybalt@capulet.lit",
        "romeo@montague.lit",
        "capulet.lit",
        "benvolio@montague.lit",
        "nurse@capulet.lit",
    ] {
        db.create_account(&jid(s), &[]).unwrap();
    }
    let capulet = DomainPart::new("capulet.lit").unwrap();
    assert_eq!(
        db.list_accounts(Some(&capulet)).unwrap(),
        [
            jid("capulet.lit"),
            jid("juliet@capulet.lit"),
            jid("nurse@capulet.lit"),
            jid("tybalt@capulet.lit")
        ]
    );
    let all = db.list_accounts(None).unwrap();
    assert_eq!(all.len(), 6);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let none = DomainPart::new("verona.lit").unwrap();
    assert!(db.list_accounts(Some(&none)).unwrap().is_empty());
}

#[test]
fn changes_by_another_connection_are_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let server = SqliteStorage::open(&path).unwrap();
    let admin = SqliteStorage::open(&path).unwrap();
    assert!(
        !server.changed_elsewhere().unwrap(),
        "the first call only looks"
    );
    // Our own writes are not "elsewhere".
    server.create_account(&jid("a@x.lit"), &[]).unwrap();
    assert!(!server.changed_elsewhere().unwrap());
    admin.create_account(&jid("b@x.lit"), &[]).unwrap();
    assert!(server.changed_elsewhere().unwrap());
    assert!(!server.changed_elsewhere().unwrap());
    admin.remove_account(&jid("a@x.lit")).unwrap();
    assert!(server.changed_elsewhere().unwrap());
}

#[test]
fn remove_account_cascades() {
    let db = mem();
    let juliet = jid("juliet@capulet.lit");
    let romeo = jid("romeo@montague.lit");
    let nurse = jid("nurse@capulet.lit");
    db.create_account(
        &juliet,
        &[creds(ScramHash::Sha1, 1), creds(ScramHash::Sha256, 2)],
    )
    .unwrap();
    db.create_account(&nurse, &[creds(ScramHash::Sha256, 3)])
        .unwrap();
    let mut entry = RosterEntry::new(romeo.clone());
    entry.groups = vec!["Friends".into(), "Verona".into()];
    db.roster_put(&juliet, &entry).unwrap();
    db.roster_put(&nurse, &entry).unwrap();
    add_req(&db, &juliet, &romeo, None).unwrap();
    push(&db, &juliet, "<message/>", 10).unwrap();
    push(&db, &nurse, "<message/>", 10).unwrap();

    assert!(db.remove_account(&juliet).unwrap());
    assert!(!db.account_exists(&juliet).unwrap());
    assert_eq!(db.credentials(&juliet, ScramHash::Sha1).unwrap(), None);
    // The roster is gone; its version is kept (see migration 2).
    assert_eq!(db.roster(&juliet).unwrap(), (1, vec![]));
    assert!(db.subscription_requests(&juliet).unwrap().is_empty());
    assert_eq!(db.offline_count(&juliet).unwrap(), 0);
    // Only the nurse's rows are left, in every table.
    assert_eq!(table_rows(&db, "accounts"), 1);
    assert_eq!(table_rows(&db, "credentials"), 1);
    assert_eq!(table_rows(&db, "roster"), 1);
    assert_eq!(table_rows(&db, "roster_groups"), 2);
    assert_eq!(table_rows(&db, "roster_versions"), 2);
    assert_eq!(table_rows(&db, "subscription_requests"), 0);
    assert_eq!(table_rows(&db, "offline"), 1);

    assert!(!db.remove_account(&juliet).unwrap());
    assert!(!db.remove_account(&jid("nobody@nowhere.lit")).unwrap());
    assert_eq!(db.roster(&nurse).unwrap().1.len(), 1);

    // Created again: the versions go on from where they were, so a
    // version cached for the old account never matches the new one.
    db.create_account(&juliet, &[]).unwrap();
    assert_eq!(db.roster_put(&juliet, &entry).unwrap(), 2);
}

#[test]
fn credentials_roundtrip_and_replace() {
    let db = mem();
    let juliet = jid("juliet@capulet.lit");
    let sha1 = creds(ScramHash::Sha1, 7);
    let sha256 = creds(ScramHash::Sha256, 9);
    db.create_account(&juliet, &[sha1.clone(), sha256.clone()])
        .unwrap();
    assert_eq!(
        db.credentials(&juliet, ScramHash::Sha1).unwrap(),
        Some(sha1)
    );
    assert_eq!(
        db.credentials(&juliet, ScramHash::Sha256).unwrap(),
        Some(sha256)
    );

    // Replaces every credential: SHA-1 is gone.
    let mut new =
        ScramCredentials::derive("pencil", b"0123456789abcdef", 2, ScramHash::Sha256).unwrap();
    new.iterations = u32::MAX; // the full range survives
    db.set_credentials(&juliet, std::slice::from_ref(&new))
        .unwrap();
    assert_eq!(db.credentials(&juliet, ScramHash::Sha1).unwrap(), None);
    let back = db.credentials(&juliet, ScramHash::Sha256).unwrap().unwrap();
    assert_eq!(back, new);

    db.set_credentials(&juliet, &[]).unwrap();
    assert_eq!(db.credentials(&juliet, ScramHash::Sha256).unwrap(), None);

    let nobody = jid("nobody@capulet.lit");
    assert!(matches!(
        db.set_credentials(&nobody, &[creds(ScramHash::Sha1, 1)]),
        Err(StorageError::NoAccount(j)) if j == nobody
    ));
    assert_eq!(db.credentials(&nobody, ScramHash::Sha1).unwrap(), None);
}

// ---- roster ----

#[test]
fn roster_put_replace_remove_and_versions() {
    let db = mem();
    let juliet = jid("juliet@capulet.lit");
    let romeo = jid("romeo@montague.lit");
    assert!(matches!(
        db.roster_put(&juliet, &RosterEntry::new(romeo.clone())),
        Err(StorageError::NoAccount(_))
    ));
    db.create_account(&juliet, &[]).unwrap();
    assert_eq!(db.roster_version(&juliet).unwrap(), 0);
    assert_eq!(db.roster(&juliet).unwrap(), (0, vec![]));

    let mut entry = RosterEntry::new(romeo.clone());
    entry.name = Some("Romeo".into());
    entry.groups = vec!["Friends".into(), "Lovers".into()];
    entry.subscription = Subscription::To;
    entry.ask = true;
    assert_eq!(db.roster_put(&juliet, &entry).unwrap(), 1);
    assert_eq!(
        db.roster_item(&juliet, &romeo).unwrap(),
        Some(entry.clone())
    );

    // Replacing drops the old name and groups.
    let mut replaced = RosterEntry::new(romeo.clone());
    replaced.groups = vec!["Enemies".into()];
    replaced.subscription = Subscription::Both;
    replaced.approved = true;
    assert_eq!(db.roster_put(&juliet, &replaced).unwrap(), 2);
    assert_eq!(db.roster(&juliet).unwrap(), (2, vec![replaced.clone()]));
    assert_eq!(table_rows(&db, "roster_groups"), 1);

    assert_eq!(db.roster_remove(&juliet, &romeo).unwrap(), Some(3));
    assert_eq!(db.roster_remove(&juliet, &romeo).unwrap(), None);
    assert_eq!(db.roster_version(&juliet).unwrap(), 3);
    assert_eq!(db.roster_item(&juliet, &romeo).unwrap(), None);
    assert_eq!(db.roster(&juliet).unwrap(), (3, vec![]));
    assert_eq!(table_rows(&db, "roster_groups"), 0);

    // Another owner's roster is separate.
    let nurse = jid("nurse@capulet.lit");
    db.create_account(&nurse, &[]).unwrap();
    assert_eq!(db.roster_put(&nurse, &entry).unwrap(), 1);
    assert_eq!(db.roster_version(&juliet).unwrap(), 3);
    assert_eq!(db.roster_remove(&juliet, &romeo).unwrap(), None);
}

#[test]
fn roster_sorted_with_group_order_and_unicode() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    db.create_account(&owner, &[]).unwrap();
    let contacts = [
        "zeta@a.lit",
        "montague.lit",
        "ärger@verona.lit",
        "a@z.lit",
        "romeo@montague.lit",
        "b@a.lit",
    ];
    for (i, c) in contacts.iter().enumerate() {
        let mut e = RosterEntry::new(jid(c));
        e.name = Some(format!("Контакт {i} 日本 🎭"));
        e.groups = vec![
            "Zeta".into(),
            "Alpha".into(),
            "日本語".into(),
            "Ünïcödé 🌹".into(),
            "Alpha".into(), // duplicates are kept as given
            "multi\nline".into(),
            String::new(),
        ];
        db.roster_put(&owner, &e).unwrap();
    }
    let (version, items) = db.roster(&owner).unwrap();
    assert_eq!(version, contacts.len() as u64);
    let got: Vec<&str> = items.iter().map(|e| e.jid.as_str()).collect();
    let mut want: Vec<&str> = contacts.to_vec();
    want.sort();
    assert_eq!(got, want);
    for e in &items {
        assert_eq!(
            e.groups,
            [
                "Zeta",
                "Alpha",
                "日本語",
                "Ünïcödé 🌹",
                "Alpha",
                "multi\nline",
                ""
            ]
        );
        assert!(e.name.as_deref().unwrap().ends_with("日本 🎭"));
        assert_eq!(db.roster_item(&owner, &e.jid).unwrap().as_ref(), Some(e));
    }
}

// ---- subscription requests ----

#[test]
fn subscription_requests_add_replace_remove_order() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    let (a, b, c) = (jid("a@x.lit"), jid("b@x.lit"), jid("c@x.lit"));
    assert!(matches!(
        add_req(&db, &owner, &a, None),
        Err(StorageError::NoAccount(_))
    ));
    db.create_account(&owner, &[]).unwrap();
    assert!(db.subscription_requests(&owner).unwrap().is_empty());
    // Inserted out of JID order: the result is in arrival order.
    for (j, s) in [(&c, "c"), (&a, "a"), (&b, "b")] {
        assert_eq!(add_req(&db, &owner, j, Some(s)).unwrap(), Admission::Stored);
    }
    assert_eq!(
        requests(&db, &owner),
        [
            (c.clone(), "c".into()),
            (a.clone(), "a".into()),
            (b.clone(), "b".into())
        ]
    );
    // A repeated request replaces the record and becomes the newest.
    add_req(&db, &owner, &c, Some("c2")).unwrap();
    assert_eq!(
        requests(&db, &owner),
        [
            (a.clone(), "a".into()),
            (b.clone(), "b".into()),
            (c.clone(), "c2".into())
        ]
    );
    assert!(db.remove_subscription_request(&owner, &a).unwrap());
    assert!(!db.remove_subscription_request(&owner, &a).unwrap());
    assert!(!db.remove_subscription_request(&jid("x@y.lit"), &b).unwrap());
    let left: Vec<BareJid> = requests(&db, &owner).into_iter().map(|(j, _)| j).collect();
    assert_eq!(left, [b, c]);
}

// ---- offline messages ----

#[test]
fn offline_quota_order_delete_count() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    let other = jid("nurse@capulet.lit");
    assert!(matches!(
        push(&db, &owner, "<message/>", 10),
        Err(StorageError::NoAccount(_))
    ));
    db.create_account(&owner, &[]).unwrap();
    db.create_account(&other, &[]).unwrap();
    assert!(!push(&db, &owner, "<message id='0'/>", 0).unwrap());

    let before = SystemTime::now();
    for i in 0..3 {
        assert!(push(&db, &owner, &format!("<message id='{i}'/>"), 3).unwrap());
        assert!(push(&db, &other, "<message id='other'/>", 100).unwrap());
    }
    let after = SystemTime::now();
    assert!(!push(&db, &owner, "<message id='3'/>", 3).unwrap());
    // A larger quota admits more.
    assert!(push(&db, &owner, "<message id='3'/>", 4).unwrap());
    assert_eq!(db.offline_count(&owner).unwrap(), 4);
    assert_eq!(db.offline_count(&other).unwrap(), 3);

    let all = db.offline_load(&owner, 100).unwrap();
    let stanzas: Vec<&str> = all.iter().map(|m| m.stanza.as_str()).collect();
    assert_eq!(
        stanzas,
        [
            "<message id='0'/>",
            "<message id='1'/>",
            "<message id='2'/>",
            "<message id='3'/>"
        ]
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    for m in &all[..3] {
        // Stored with millisecond precision.
        assert!(m.stored_at + Duration::from_millis(1) >= before);
        assert!(m.stored_at <= after);
    }
    assert_eq!(db.offline_load(&owner, 2).unwrap(), all[..2]);
    assert!(db.offline_load(&owner, 0).unwrap().is_empty());

    // Deleting another owner's ids, or with someone else's id, touches
    // only that owner's messages.
    db.offline_delete(&other, all[3].id).unwrap();
    assert_eq!(db.offline_count(&owner).unwrap(), 4);
    assert_eq!(db.offline_count(&other).unwrap(), 0);
    db.offline_delete(&owner, all[1].id).unwrap();
    assert_eq!(db.offline_load(&owner, 100).unwrap(), all[2..]);
    assert_eq!(db.offline_count(&owner).unwrap(), 2);
    db.offline_delete(&owner, all[1].id).unwrap(); // idempotent
    assert_eq!(db.offline_count(&owner).unwrap(), 2);

    // Ids are never reused, even after deleting the newest.
    db.offline_delete(&owner, i64::MAX).unwrap();
    assert_eq!(db.offline_count(&owner).unwrap(), 0);
    push(&db, &owner, "<message id='4'/>", 4).unwrap();
    assert!(db.offline_load(&owner, 1).unwrap()[0].id > all[3].id);
}

#[test]
fn timestamps_convert_both_ways() {
    assert_eq!(time_from_ms(0).unwrap(), UNIX_EPOCH);
    assert_eq!(
        time_from_ms(1_700_000_000_123).unwrap(),
        UNIX_EPOCH + Duration::from_millis(1_700_000_000_123)
    );
    assert_eq!(
        time_from_ms(-5).unwrap(),
        UNIX_EPOCH - Duration::from_millis(5)
    );
    let now = now_ms();
    assert!(now > 1_600_000_000_000);
}

// ---- robustness ----

#[test]
fn bad_stored_data_is_corrupt_not_a_panic() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    db.create_account(&owner, &[creds(ScramHash::Sha1, 1)])
        .unwrap();
    {
        let conn = db.writer.lock().unwrap();
        conn.execute(
            "INSERT INTO accounts VALUES ('not a jid@@', 'capulet.lit', 0)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO roster VALUES (?1, 'a@b@c', NULL, 'none', 0, 0)",
            [owner.as_str()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO offline (owner, stanza, stored_at_ms) VALUES (?1, 'x', ?2)",
            params![owner.as_str(), i64::MIN],
        )
        .unwrap();
    }
    let capulet = DomainPart::new("capulet.lit").unwrap();
    assert!(matches!(
        db.list_accounts(Some(&capulet)),
        Err(StorageError::Corrupt(_))
    ));
    assert!(matches!(db.roster(&owner), Err(StorageError::Corrupt(_))));
    // Depending on the platform's SystemTime range.
    let _ = db.offline_load(&owner, 10);
    assert_eq!(
        db.credentials(&owner, ScramHash::Sha1).unwrap(),
        Some(creds(ScramHash::Sha1, 1))
    );
}

#[test]
fn poisoned_lock_is_an_error_not_a_panic() {
    let db = Arc::new(mem());
    let poisoner = Arc::clone(&db);
    let joined = std::thread::spawn(move || {
        let _guard = poisoner.writer.lock().unwrap();
        panic!("poisoning the write lock on purpose");
    })
    .join();
    assert!(joined.is_err());
    let j = jid("a@b.lit");
    assert!(matches!(
        db.account_exists(&j),
        Err(StorageError::Backend(_))
    ));
    assert!(matches!(
        db.create_account(&j, &[]),
        Err(StorageError::Backend(_))
    ));
}
