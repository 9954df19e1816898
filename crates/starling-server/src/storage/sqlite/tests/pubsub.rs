//! The pubsub tables: items in publication order, republishing an id,
//! trimming to `max_items`, the byte and node bounds, and the nodes of
//! an account going with it.

use super::*;
use crate::storage::pubsub::{PubSubFull, PubSubLimits, PubSubs, StoredItem, StoredSubscription};

const LIMITS: PubSubLimits = PubSubLimits {
    max_nodes: 2,
    max_bytes: 100,
};

fn item(id: &str, payload: &str) -> StoredItem {
    StoredItem {
        id: id.to_owned(),
        publisher: Some("a@x.lit".to_owned()),
        payload: payload.to_owned(),
    }
}

fn ids(items: &[StoredItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

#[test]
fn items_order_trim_and_bounds() {
    let db = mem();
    let a = jid("a@x.lit");
    db.create_account(&a, &[]).unwrap();
    let svc = a.as_str();
    assert!(matches!(
        db.create_node(svc, "n", "cfg", LIMITS).unwrap(),
        Admission::Stored
    ));
    for (id, p) in [("1", "aa"), ("2", "bb"), ("3", "cc")] {
        assert!(matches!(
            db.publish(svc, "n", &item(id, p), 10, LIMITS).unwrap(),
            Admission::Stored
        ));
    }
    assert_eq!(
        ids(&db.items(svc, "n", &[], None).unwrap()),
        ["3", "2", "1"]
    );
    // Republishing "1" makes it the newest.
    db.publish(svc, "n", &item("1", "dd"), 10, LIMITS).unwrap();
    assert_eq!(ids(&db.items(svc, "n", &[], Some(2)).unwrap()), ["1", "3"]);
    let by_id = db
        .items(
            svc,
            "n",
            &["2".to_owned(), "1".to_owned(), "zz".to_owned()],
            None,
        )
        .unwrap();
    assert_eq!(ids(&by_id), ["1", "2"]);
    // Trimming to 2 drops the oldest.
    db.publish(svc, "n", &item("4", "ee"), 2, LIMITS).unwrap();
    assert_eq!(ids(&db.items(svc, "n", &[], None).unwrap()), ["4", "1"]);
    assert_eq!(ids(&db.items(svc, "n", &[], Some(1)).unwrap()), ["4"]);
    // Bytes: 4 + 98 > 100 is refused and nothing changes.
    let big = "x".repeat(98);
    assert_eq!(
        db.publish(svc, "n", &item("5", &big), 10, LIMITS).unwrap(),
        Admission::Refused(PubSubFull::Bytes(100))
    );
    // Replacing an item counts only the difference.
    let fits = "y".repeat(98);
    assert!(matches!(
        db.publish(svc, "n", &item("4", &fits), 10, LIMITS).unwrap(),
        Admission::Stored
    ));
    assert_eq!(ids(&db.items(svc, "n", &[], None).unwrap()), ["4", "1"]);
    // Nodes.
    db.create_node(svc, "m", "cfg", LIMITS).unwrap();
    assert_eq!(
        db.create_node(svc, "o", "cfg", LIMITS).unwrap(),
        Admission::Refused(PubSubFull::Nodes(2))
    );
    assert_eq!(
        db.retract(svc, "n", &["4".to_owned(), "9".to_owned()])
            .unwrap(),
        ["4"]
    );
    assert_eq!(ids(&db.items(svc, "n", &[], None).unwrap()), ["1"]);
}

#[test]
fn subscriptions_affiliations_and_account_removal() {
    let db = mem();
    let a = jid("a@x.lit");
    db.create_account(&a, &[]).unwrap();
    let svc = a.as_str();
    db.create_node(svc, "n", "cfg", LIMITS).unwrap();
    db.publish(svc, "n", &item("1", "aa"), 10, LIMITS).unwrap();
    let sub = StoredSubscription {
        jid: "b@x.lit/r".to_owned(),
        subid: "s1".to_owned(),
    };
    assert_eq!(db.subscribe(svc, "n", &sub, 1).unwrap(), Some(sub.clone()));
    let again = StoredSubscription {
        subid: "s2".to_owned(),
        ..sub.clone()
    };
    assert_eq!(
        db.subscribe(svc, "n", &again, 1).unwrap(),
        Some(sub.clone()),
        "kept"
    );
    let other = StoredSubscription {
        jid: "c@x.lit".to_owned(),
        subid: "s3".to_owned(),
    };
    assert_eq!(db.subscribe(svc, "n", &other, 1).unwrap(), None, "full");
    db.set_affiliations(
        svc,
        "n",
        &[("c@x.lit".to_owned(), Some("member".to_owned()))],
    )
    .unwrap();
    assert_eq!(
        db.affiliations(svc, "n").unwrap(),
        [("c@x.lit".to_owned(), "member".to_owned())]
    );
    db.set_affiliations(svc, "n", &[("c@x.lit".to_owned(), None)])
        .unwrap();
    assert!(db.affiliations(svc, "n").unwrap().is_empty());
    assert!(db.remove_account(&a).unwrap());
    assert!(db.nodes(svc).unwrap().is_empty());
    assert!(db.items(svc, "n", &[], None).unwrap().is_empty());
    let left: i64 = db
        .read(|c| {
            c.query_row("SELECT COUNT(*) FROM pubsub_items", [], |r| r.get(0))
                .db()
        })
        .unwrap();
    assert_eq!(left, 0);
}
