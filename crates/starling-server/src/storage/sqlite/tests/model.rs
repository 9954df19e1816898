//! The roster against a model, under random operations.

use super::*;

// ---- model-based ----

const CONTACTS: [&str; 6] = [
    "romeo@montague.lit",
    "ärger@verona.lit",
    "a@z.lit",
    "z@a.lit",
    "verona.lit",
    "0@x.lit",
];

#[derive(Debug, Clone)]
enum Op {
    Put(usize, RosterEntryParts),
    Remove(usize),
}

#[derive(Debug, Clone)]
struct RosterEntryParts {
    name: Option<String>,
    groups: Vec<String>,
    subscription: Subscription,
    ask: bool,
    approved: bool,
}

fn op() -> impl Strategy<Value = Op> {
    let subscription = prop_oneof![
        Just(Subscription::None),
        Just(Subscription::To),
        Just(Subscription::From),
        Just(Subscription::Both),
    ];
    let parts = (
        proptest::option::of("[a-zA-Z0-9 é日🎭\n]{0,8}"),
        proptest::collection::vec("[a-zé日 \n]{0,5}", 0..4),
        subscription,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(name, groups, subscription, ask, approved)| RosterEntryParts {
                name,
                groups,
                subscription,
                ask,
                approved,
            },
        );
    prop_oneof![
        3 => (0..CONTACTS.len(), parts).prop_map(|(c, p)| Op::Put(c, p)),
        2 => (0..CONTACTS.len()).prop_map(Op::Remove),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn roster_matches_a_model(ops in proptest::collection::vec(op(), 0..40)) {
        let db = mem();
        let owner = jid("owner@example.lit");
        db.create_account(&owner, &[]).unwrap();
        let mut model: BTreeMap<BareJid, RosterEntry> = BTreeMap::new();
        let mut version = 0_u64;
        for op in ops {
            match op {
                Op::Put(c, p) => {
                    let entry = RosterEntry {
                        jid: jid(CONTACTS[c]),
                        name: p.name,
                        groups: p.groups,
                        subscription: p.subscription,
                        ask: p.ask,
                        approved: p.approved,
                    };
                    version += 1;
                    prop_assert_eq!(db.roster_put(&owner, &entry).unwrap(), version);
                    model.insert(entry.jid.clone(), entry);
                }
                Op::Remove(c) => {
                    let contact = jid(CONTACTS[c]);
                    let want = model.remove(&contact).map(|_| {
                        version += 1;
                        version
                    });
                    prop_assert_eq!(db.roster_remove(&owner, &contact).unwrap(), want);
                }
            }
            prop_assert_eq!(db.roster_version(&owner).unwrap(), version);
        }
        let want: Vec<RosterEntry> = model.values().cloned().collect();
        prop_assert_eq!(db.roster(&owner).unwrap(), (version, want));
        for c in CONTACTS {
            let c = jid(c);
            prop_assert_eq!(db.roster_item(&owner, &c).unwrap(), model.get(&c).cloned());
        }
    }
}
