//! Storage limits: caps on pending subscription requests, the offline
//! quota in messages, bytes and per-sender shares, the migration of
//! older databases to the small records, and the `synchronous` setting.

use super::*;
use crate::storage::requests::{MAX_NICK_BYTES, MAX_STATUS_BYTES, NS_NICK};

fn limits(max_pending: usize, max_per_domain: usize) -> RequestLimits {
    RequestLimits {
        max_pending,
        max_per_domain,
    }
}

fn req(from: &BareJid) -> SubscriptionRequest {
    SubscriptionRequest::new(from.clone(), Some(from.as_str()), None)
}

// ---- subscription requests ----

#[test]
fn request_caps_refuse_new_senders_only() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    let other = jid("nurse@capulet.lit");
    db.create_account(&owner, &[]).unwrap();
    db.create_account(&other, &[]).unwrap();
    let lim = limits(4, 2);
    let add = |who: &BareJid, from: &str| {
        db.add_subscription_request(who, &req(&jid(from)), lim)
            .unwrap()
    };
    let refused = |f| Admission::Refused(f);
    assert_eq!(add(&owner, "a@x.lit"), Admission::Stored);
    assert_eq!(add(&owner, "b@x.lit"), Admission::Stored);
    // The third from x.lit is over the domain's 2.
    assert_eq!(add(&owner, "c@x.lit"), refused(RequestsFull::Domain));
    // The domain JID itself counts for its domain.
    assert_eq!(add(&owner, "x.lit"), refused(RequestsFull::Domain));
    assert_eq!(add(&owner, "a@y.lit"), Admission::Stored);
    assert_eq!(add(&owner, "y.lit"), Admission::Stored);
    // Four pending: anyone new is refused, whatever the domain.
    assert_eq!(add(&owner, "a@z.lit"), refused(RequestsFull::Total));
    // A repeat from a pending sender replaces its record, even when full.
    let again = SubscriptionRequest::new(jid("a@x.lit"), Some("again"), None);
    assert_eq!(
        db.add_subscription_request(&owner, &again, lim).unwrap(),
        Admission::Stored
    );
    assert_eq!(
        requests(&db, &owner),
        [
            (jid("b@x.lit"), "b@x.lit".into()),
            (jid("a@y.lit"), "a@y.lit".into()),
            (jid("y.lit"), "y.lit".into()),
            (jid("a@x.lit"), "again".into()),
        ]
    );
    // Refusals wrote nothing; another account has its own caps.
    assert_eq!(table_rows(&db, "subscription_requests"), 4);
    assert_eq!(add(&other, "a@z.lit"), Admission::Stored);
    // Answering one frees a place.
    assert!(
        db.remove_subscription_request(&owner, &jid("b@x.lit"))
            .unwrap()
    );
    assert_eq!(add(&owner, "c@x.lit"), Admission::Stored);
}

#[test]
fn stored_requests_are_cut_to_size() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    db.create_account(&owner, &[]).unwrap();
    let status = "€".repeat(70_000); // 210,000 bytes
    let nick = "ñ".repeat(500);
    let r = SubscriptionRequest::new(jid("romeo@montague.lit"), Some(&status), Some(&nick));
    db.add_subscription_request(&owner, &r, limits(10, 10))
        .unwrap();
    let stored = db.subscription_requests(&owner).unwrap();
    let s = stored[0].status.as_deref().unwrap();
    let n = stored[0].nick.as_deref().unwrap();
    // 1024 is not a multiple of 3: cut at the last whole '€'.
    assert_eq!(s.len(), MAX_STATUS_BYTES / 3 * 3);
    assert!(status.starts_with(s));
    assert_eq!(n.len(), MAX_NICK_BYTES);
    assert!(nick.starts_with(n));
    let row_bytes: i64 = db
        .writer
        .lock()
        .unwrap()
        .query_row(
            "SELECT SUM(length(CAST(status AS BLOB)) + length(CAST(nick AS BLOB)))
             FROM subscription_requests",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(row_bytes <= (MAX_STATUS_BYTES + MAX_NICK_BYTES) as i64);
}

#[test]
fn request_cap_holds_under_concurrent_senders() {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(SqliteStorage::open(&dir.path().join("caps.db")).unwrap());
    let owner = jid("juliet@capulet.lit");
    db.create_account(&owner, &[]).unwrap();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let (db, owner) = (Arc::clone(&db), owner.clone());
            std::thread::spawn(move || {
                (0..20)
                    .filter(|i| {
                        let from = jid(&format!("u{i}@d{t}.lit"));
                        db.add_subscription_request(&owner, &req(&from), limits(50, 100))
                            .unwrap()
                            == Admission::Stored
                    })
                    .count()
            })
        })
        .collect();
    let stored: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(stored, 50);
    assert_eq!(db.subscription_requests(&owner).unwrap().len(), 50);
}

// ---- offline quota ----

#[test]
fn offline_bytes_and_sender_shares() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    db.create_account(&owner, &[]).unwrap();
    let (mallory, romeo) = (jid("mallory@evil.lit"), jid("romeo@montague.lit"));
    // 1000 bytes per account, a sender 40% of it (400 bytes, 4 messages).
    let quota = OfflineQuota {
        max_messages: 10,
        max_bytes: 1000,
        share_percent: 40,
    };
    let msg = |n: usize| format!("<message>{}</message>", "x".repeat(n - 19));
    assert_eq!(msg(100).len(), 100);
    let push_from =
        |from: &BareJid, stanza: &str| db.offline_push(&owner, from, stanza, quota).unwrap();
    // Mallory's share: 400 bytes.
    for _ in 0..4 {
        assert_eq!(push_from(&mallory, &msg(100)), Admission::Stored);
    }
    assert_eq!(
        push_from(&mallory, &msg(20)),
        Admission::Refused(OfflineFull::SenderShare)
    );
    // Romeo still gets his own share.
    assert_eq!(push_from(&romeo, &msg(300)), Admission::Stored);
    assert_eq!(
        push_from(&romeo, &msg(101)),
        Admission::Refused(OfflineFull::SenderShare)
    );
    assert_eq!(push_from(&romeo, &msg(100)), Admission::Stored);
    // 800 bytes stored, 6 messages: 201 more bytes from a third sender
    // cross the account's bytes before its count.
    let nurse = jid("nurse@capulet.lit");
    assert_eq!(
        push_from(&nurse, &msg(201)),
        Admission::Refused(OfflineFull::Bytes)
    );
    assert_eq!(push_from(&nurse, &msg(200)), Admission::Stored);
    assert_eq!(db.offline_count(&owner).unwrap(), 7);
    // Delivered messages free their bytes.
    let all = db.offline_load(&owner, 100).unwrap();
    db.offline_delete(&owner, all[3].id).unwrap();
    assert_eq!(push_from(&mallory, &msg(100)), Admission::Stored);
}

#[test]
fn offline_count_is_reached_before_bytes() {
    let db = mem();
    let owner = jid("juliet@capulet.lit");
    db.create_account(&owner, &[]).unwrap();
    let quota = OfflineQuota {
        max_messages: 3,
        max_bytes: 1 << 20,
        share_percent: 100,
    };
    let from = jid("romeo@montague.lit");
    for _ in 0..3 {
        let r = db.offline_push(&owner, &from, "<message/>", quota).unwrap();
        assert_eq!(r, Admission::Stored);
    }
    assert_eq!(
        db.offline_push(&owner, &from, "<message/>", quota).unwrap(),
        Admission::Refused(OfflineFull::Messages)
    );
    let bytes: i64 = db
        .writer
        .lock()
        .unwrap()
        .query_row("SELECT SUM(bytes) FROM offline", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bytes, 3 * "<message/>".len() as i64);
}

// ---- migration from version 2 ----

/// A database at schema version 2 with rows in its format.
fn version_2_database(path: &Path) {
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    migrate(&mut conn, &MIGRATIONS[..2]).unwrap();
    assert_eq!(user_version(&conn), 2);
    let big = "s".repeat(200_000);
    let nick = "n".repeat(300);
    let rows = [
        (
            "romeo@montague.lit",
            format!(
                "<presence xmlns='jabber:client' type='subscribe' from='romeo@montague.lit' \
                 to='juliet@capulet.lit'><status>{big}</status>\
                 <nick xmlns='{NS_NICK}'>{nick}</nick></presence>"
            ),
            1,
        ),
        ("tybalt@capulet.lit", "not xml <".to_owned(), 2),
        ("not a jid@@", "<presence/>".to_owned(), 3),
        (
            "benvolio@montague.lit",
            "<presence type='subscribe'/>".to_owned(),
            4,
        ),
    ];
    conn.execute(
        "INSERT INTO accounts VALUES ('juliet@capulet.lit', 'capulet.lit', 0)",
        [],
    )
    .unwrap();
    for (contact, stanza, seq) in rows {
        conn.execute(
            "INSERT INTO subscription_requests VALUES ('juliet@capulet.lit', ?1, ?2, ?3)",
            params![contact, stanza, seq],
        )
        .unwrap();
    }
    for stanza in [
        "<message xmlns='jabber:client' from='romeo@montague.lit/balcony'><body>hi</body></message>",
        "<message><body>no from</body></message>",
    ] {
        conn.execute(
            "INSERT INTO offline (owner, stanza, stored_at_ms) VALUES ('juliet@capulet.lit', ?1, 0)",
            [stanza],
        )
        .unwrap();
    }
}

#[test]
fn version_2_rows_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    version_2_database(&path);
    let db = SqliteStorage::open(&path).unwrap();
    assert_eq!(
        user_version(&db.writer.lock().unwrap()),
        i64::from(SCHEMA_VERSION)
    );
    let owner = jid("juliet@capulet.lit");
    let reqs = db.subscription_requests(&owner).unwrap();
    // The invalid JID is dropped; the unparsable stanza keeps its request.
    let from: Vec<&str> = reqs.iter().map(|r| r.from.as_str()).collect();
    assert_eq!(
        from,
        [
            "romeo@montague.lit",
            "tybalt@capulet.lit",
            "benvolio@montague.lit"
        ]
    );
    assert_eq!(reqs[0].status.as_ref().unwrap().len(), MAX_STATUS_BYTES);
    assert_eq!(reqs[0].nick.as_ref().unwrap().len(), MAX_NICK_BYTES);
    assert_eq!(
        reqs[1],
        SubscriptionRequest::bare(jid("tybalt@capulet.lit"))
    );
    assert_eq!(
        reqs[2],
        SubscriptionRequest::bare(jid("benvolio@montague.lit"))
    );
    // The per-domain cap sees the converted rows: two from montague.lit.
    let lim = limits(10, 2);
    assert_eq!(
        db.add_subscription_request(&owner, &req(&jid("mercutio@montague.lit")), lim)
            .unwrap(),
        Admission::Refused(RequestsFull::Domain)
    );
    // Offline rows got their sender and size; the messages are intact.
    let conn = db.writer.lock().unwrap();
    let rows: Vec<(String, i64, i64)> = conn
        .prepare("SELECT sender, bytes, length(CAST(stanza AS BLOB)) FROM offline ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows[0].0, "romeo@montague.lit");
    assert_eq!(rows[1].0, "");
    assert!(rows.iter().all(|(_, bytes, len)| bytes == len));
    drop(conn);
    assert_eq!(db.offline_count(&owner).unwrap(), 2);
}

// ---- durability setting ----

#[test]
fn synchronous_setting_reaches_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.db");
    // PRAGMA synchronous: NORMAL = 1, FULL = 2.
    for (mode, want) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
        let db = SqliteStorage::open_with(&path, mode).unwrap();
        let got: i64 = db
            .writer
            .lock()
            .unwrap()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!(got, want, "{mode:?}");
    }
    for (s, mode) in [("normal", Synchronous::Normal), ("full", Synchronous::Full)] {
        assert_eq!(Synchronous::parse(s), Some(mode));
        assert_eq!(mode.as_str(), s);
    }
    assert_eq!(Synchronous::parse("FULL"), None);
    assert_eq!(Synchronous::parse("off"), None);
    assert_eq!(Synchronous::default(), Synchronous::Normal);
}
