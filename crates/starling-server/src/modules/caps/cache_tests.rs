//! The cache's rules with time passed in: one query per verification
//! string, verification before caching, timeouts, bounds.

use std::time::Duration;

use starling_stanza::Identity;

use super::*;

fn full(s: &str) -> FullJid {
    s.parse().unwrap()
}

fn bare(s: &str) -> BareJid {
    s.parse().unwrap()
}

fn info(features: &[&str]) -> DiscoInfo {
    DiscoInfo {
        identities: vec![Identity {
            category: "client".into(),
            identity_type: "pc".into(),
            name: None,
            lang: None,
        }],
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        ..DiscoInfo::default()
    }
}

fn caps_of(i: &DiscoInfo) -> Caps {
    Caps::for_info(i, "https://client.example", CapsHash::Sha1).unwrap()
}

fn query(l: Lookup) -> Query {
    match l {
        Lookup::Query(q) => q,
        other => panic!("expected a query, got {other:?}"),
    }
}

#[test]
fn one_query_per_ver_and_verified_answers_are_cached() {
    let mut c = CapsCache::new(CapsConfig::default());
    let now = Instant::now();
    let i = info(&["urn:a", "urn:b+notify"]);
    let caps = caps_of(&i);
    let (a, b) = (full("a@x/1"), full("b@x/2"));
    let q = query(c.lookup(&caps, &a, &bare("a@x"), now));
    assert_eq!(q.to, a);
    assert_eq!(q.from, bare("a@x"));
    assert_eq!(q.node, format!("https://client.example#{}", caps.ver));
    assert!(q.id.starts_with(ID_PREFIX));
    assert_eq!(c.lookup(&caps, &b, &bare("b@x"), now), Lookup::Waiting);
    assert_eq!(c.pending(), 1);
    // An answer from someone else, or to another id, is not ours.
    assert!(c.answered(&q.id, &b, Some(&i), now).is_none());
    assert!(c.answered("caps-999", &a, Some(&i), now).is_none());
    let ans = c.answered(&q.id, &a, Some(&i), now).unwrap();
    let got = ans.info.unwrap();
    assert!(got.wants_notify("urn:b"));
    assert_eq!(ans.waiters, vec![a.clone(), b.clone()]);
    assert_eq!(c.pending(), 0);
    assert_eq!(c.usage().0, 1);
    assert!(c.usage().1 > 0);
    match c.lookup(&caps, &full("c@y/3"), &bare("c@y"), now) {
        Lookup::Known(k) => assert!(Arc::ptr_eq(&k, &got)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_wrong_answer_is_not_cached_and_the_next_waiter_is_asked() {
    let mut c = CapsCache::new(CapsConfig::default());
    let now = Instant::now();
    let caps = caps_of(&info(&["urn:a"]));
    let (a, b) = (full("a@x/1"), full("b@x/2"));
    let q = query(c.lookup(&caps, &a, &bare("a@x"), now));
    assert_eq!(c.lookup(&caps, &b, &bare("b@x"), now), Lookup::Waiting);
    let lie = info(&["urn:other"]);
    let ans = c.answered(&q.id, &a, Some(&lie), now).unwrap();
    assert!(ans.info.is_none());
    assert!(ans.waiters.is_empty());
    // What the one asked said of itself is for it alone, never cached.
    assert!(ans.unverified.as_ref().is_some_and(|i| i.has("urn:other")));
    let next = ans.next.unwrap();
    assert_eq!(
        (next.to.clone(), next.from.clone()),
        (b.clone(), bare("b@x"))
    );
    assert_ne!(next.id, q.id);
    assert_eq!(c.usage().0, 0);
    // An error from the last one: nobody left to ask.
    let ans = c.answered(&next.id, &b, None, now).unwrap();
    assert!(ans.info.is_none() && ans.next.is_none() && ans.unverified.is_none());
    assert_eq!(c.pending(), 0);
    // The next sighting queries again; a wrong answer from a lone asker
    // is still its own.
    let q = query(c.lookup(&caps, &a, &bare("a@x"), now));
    let ans = c.answered(&q.id, &a, Some(&lie), now).unwrap();
    assert!(ans.next.is_none() && ans.unverified.is_some());
    assert!(matches!(
        c.lookup(&caps, &a, &bare("a@x"), now),
        Lookup::Query(_)
    ));
}

#[test]
fn hashes_and_unsupported_ones() {
    let mut c = CapsCache::new(CapsConfig::default());
    let now = Instant::now();
    let i = info(&["urn:a"]);
    let mut caps = caps_of(&i);
    caps.hash = "md5".into();
    assert_eq!(
        c.lookup(&caps, &full("a@x/1"), &bare("a@x"), now),
        Lookup::Ignored
    );
    // Oversized strings are not queried (they would be kept as keys).
    let long_ver = Caps {
        ver: "v".repeat(129),
        ..caps_of(&i)
    };
    let long_node = Caps {
        node: "n".repeat(1025),
        ..caps_of(&i)
    };
    for big in [long_ver, long_node] {
        assert_eq!(
            c.lookup(&big, &full("a@x/1"), &bare("a@x"), now),
            Lookup::Ignored
        );
    }
    let caps256 = Caps::for_info(&i, "n", CapsHash::Sha256).unwrap();
    let q = query(c.lookup(&caps256, &full("a@x/1"), &bare("a@x"), now));
    assert!(
        c.answered(&q.id, &full("a@x/1"), Some(&i), now)
            .unwrap()
            .info
            .is_some()
    );
    // The sha-1 string of the same features is another entry.
    assert!(matches!(
        c.lookup(&caps_of(&i), &full("a@x/1"), &bare("a@x"), now),
        Lookup::Query(_)
    ));
}

#[test]
fn timeouts_and_the_pending_bound() {
    let config = CapsConfig {
        max_pending: 2,
        ..CapsConfig::default()
    };
    let t = config.query_timeout;
    let mut c = CapsCache::new(config);
    let now = Instant::now();
    let i1 = info(&["urn:1"]);
    let (c1, c2, c3) = (
        caps_of(&i1),
        caps_of(&info(&["urn:2"])),
        caps_of(&info(&["urn:3"])),
    );
    let (a, b, d) = (full("a@x/1"), full("b@x/1"), full("d@x/1"));
    let q1 = query(c.lookup(&c1, &a, &bare("a@x"), now));
    query(c.lookup(&c2, &d, &bare("d@x"), now));
    assert_eq!(c.lookup(&c3, &d, &bare("d@x"), now), Lookup::Ignored);
    // Unanswered past the timeout: the next one to advertise it is asked.
    let later = now + t + Duration::from_secs(1);
    let q1b = query(c.lookup(&c1, &b, &bare("b@x"), later));
    assert_eq!(q1b.to, b);
    assert!(c.answered(&q1.id, &a, Some(&i1), later).is_none());
    // The expired query for c2 makes room for c3.
    query(c.lookup(&c3, &d, &bare("d@x"), later));
    assert_eq!(c.pending(), 2);
    let ans = c.answered(&q1b.id, &b, Some(&i1), later).unwrap();
    assert_eq!(ans.waiters, vec![a, b]);
}

#[test]
fn forgotten_waiters_get_nothing() {
    let mut c = CapsCache::new(CapsConfig::default());
    let now = Instant::now();
    let i = info(&["urn:a"]);
    let caps = caps_of(&i);
    let (a, b) = (full("a@x/1"), full("b@x/2"));
    let q = query(c.lookup(&caps, &a, &bare("a@x"), now));
    assert_eq!(c.lookup(&caps, &b, &bare("b@x"), now), Lookup::Waiting);
    c.forget(&b);
    assert_eq!(
        c.answered(&q.id, &a, Some(&i), now).unwrap().waiters,
        vec![a]
    );
}

#[test]
fn least_recently_used_entries_go_first() {
    let config = CapsConfig {
        max_entries: 2,
        ..CapsConfig::default()
    };
    let mut c = CapsCache::new(config);
    let now = Instant::now();
    let a = full("a@x/1");
    let infos: Vec<DiscoInfo> = (0..3).map(|n| info(&[&format!("urn:{n}")])).collect();
    let resolve = |c: &mut CapsCache, i: &DiscoInfo| {
        let q = query(c.lookup(&caps_of(i), &a, &bare("a@x"), now));
        assert!(c.answered(&q.id, &a, Some(i), now).unwrap().info.is_some());
    };
    resolve(&mut c, &infos[0]);
    resolve(&mut c, &infos[1]);
    // Touch 0: 1 is now the least recently used.
    assert!(matches!(
        c.lookup(&caps_of(&infos[0]), &a, &bare("a@x"), now),
        Lookup::Known(_)
    ));
    resolve(&mut c, &infos[2]);
    assert_eq!(c.usage().0, 2);
    assert!(matches!(
        c.lookup(&caps_of(&infos[0]), &a, &bare("a@x"), now),
        Lookup::Known(_)
    ));
    assert!(matches!(
        c.lookup(&caps_of(&infos[1]), &a, &bare("a@x"), now),
        Lookup::Query(_)
    ));
    // Bytes bound: each entry's bytes are counted, the total stays under.
    let small = CapsConfig {
        max_bytes: 64 << 10,
        ..CapsConfig::default()
    };
    let mut c = CapsCache::new(small);
    let big: Vec<String> = (0..60)
        .map(|n| format!("urn:feature:{n}:{}", "x".repeat(40)))
        .collect();
    for n in 0..40 {
        let mut f: Vec<&str> = big.iter().map(String::as_str).collect();
        let tag = format!("urn:tag:{n}");
        f.push(&tag);
        resolve(&mut c, &info(&f));
        assert!(c.usage().1 <= 64 << 10);
    }
    assert!(c.usage().0 < 40);
}

#[test]
fn a_jid_that_changed_its_caps_does_not_get_the_old_answer() {
    let mut c = CapsCache::new(CapsConfig::default());
    let now = Instant::now();
    let (i1, i2) = (info(&["urn:1"]), info(&["urn:2"]));
    let (a, b) = (full("a@x/1"), full("b@x/2"));
    let q1 = query(c.lookup(&caps_of(&i1), &a, &bare("a@x"), now));
    assert_eq!(
        c.lookup(&caps_of(&i1), &b, &bare("b@x"), now),
        Lookup::Waiting
    );
    // b now advertises another string: it waits for that one only.
    let q2 = query(c.lookup(&caps_of(&i2), &b, &bare("b@x"), now));
    assert_eq!(
        c.answered(&q1.id, &a, Some(&i1), now).unwrap().waiters,
        vec![a.clone()]
    );
    assert_eq!(
        c.answered(&q2.id, &b, Some(&i2), now).unwrap().waiters,
        vec![b.clone()]
    );
    // Nothing is left waiting: forgetting is a no-op.
    c.forget(&a);
    c.forget(&b);
    assert_eq!(c.pending(), 0);
    assert!(c.waiting.is_empty());
}
