//! Table tests of the login throttle, with simulated time.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn policy() -> Policy {
    Policy {
        free_failures: 2,
        base_delay: 100 * MS,
        max_delay: 1000 * MS,
        refuse_after: 5,
        decay: Duration::from_secs(60),
        max_entries: 1000,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn delays_grow_exponentially_to_the_cap() {
    let p = policy();
    let table = [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 100),
        (4, 200),
        (5, 400),
        (6, 800),
        (7, 1000),
        (40, 1000),
        (u32::MAX, 1000),
    ];
    for (n, ms) in table {
        assert_eq!(p.delay(n), ms * MS, "failure {n}");
    }
    let none = Policy {
        base_delay: Duration::ZERO,
        ..p
    };
    assert_eq!(none.delay(9), Duration::ZERO);
}

/// One step of a scenario: at `t` seconds, from `src`, for `account`:
/// a failure (expecting its delay in ms) or a success; then what the
/// next check from `src` for `account` says.
struct Step {
    t: u64,
    src: &'static str,
    account: Option<&'static str>,
    ok: bool,
    delay_ms: u64,
    then: Verdict,
}

const fn fail(
    t: u64,
    src: &'static str,
    account: Option<&'static str>,
    delay_ms: u64,
    then: Verdict,
) -> Step {
    Step {
        t,
        src,
        account,
        ok: false,
        delay_ms,
        then,
    }
}

const ALLOW: Verdict = Verdict::Allow;

fn refuse(ms: u64) -> Verdict {
    Verdict::Refuse {
        delay: Duration::from_millis(ms),
    }
}

fn run(steps: &[Step]) {
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(policy());
    for (i, s) in steps.iter().enumerate() {
        let now = t0 + Duration::from_secs(s.t);
        if s.ok {
            th.succeeded(ip(s.src));
        } else {
            let d = th.failed(ip(s.src), s.account, now);
            assert_eq!(d, Duration::from_millis(s.delay_ms), "step {i}: delay");
        }
        assert_eq!(
            th.check(ip(s.src), s.account, now),
            s.then,
            "step {i}: verdict"
        );
    }
}

#[test]
fn one_address_is_delayed_then_refused_and_recovers_by_decay() {
    let a = Some("alice@example.com");
    run(&[
        fail(0, "192.0.2.1", a, 0, ALLOW),
        fail(0, "192.0.2.1", a, 0, ALLOW),
        fail(1, "192.0.2.1", a, 100, ALLOW),
        fail(1, "192.0.2.1", a, 200, ALLOW),
        fail(2, "192.0.2.1", a, 400, refuse(400)),
    ]);
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(policy());
    for _ in 0..5 {
        th.failed(ip("192.0.2.1"), a, t0);
    }
    // Refused whatever it claims, even no account.
    assert_eq!(th.check(ip("192.0.2.1"), None, t0), refuse(400));
    assert_eq!(
        th.check(ip("192.0.2.1"), Some("bob@example.com"), t0),
        refuse(400)
    );
    // One failure forgotten per minute: allowed again after one.
    let later = t0 + Duration::from_secs(60);
    assert_eq!(th.check(ip("192.0.2.1"), a, later), ALLOW);
    // Its next failure refuses it again.
    assert_eq!(th.failed(ip("192.0.2.1"), a, later), 400 * MS);
    assert_eq!(th.check(ip("192.0.2.1"), a, later), refuse(400));
    // Everything forgotten after five minutes without failures.
    let much_later = later + Duration::from_secs(300);
    assert_eq!(th.failed(ip("192.0.2.1"), a, much_later), Duration::ZERO);
}

#[test]
fn a_hammering_address_does_not_lock_the_owner_out() {
    let a = Some("alice@example.com");
    let ms = |n: u32| u64::try_from(policy().delay(n).as_millis()).unwrap();
    // Its n-th failure waits delay(n); from the fifth on it is refused.
    let mut steps: Vec<Step> = (1..=10)
        .map(|n| {
            let then = if n >= 5 { refuse(ms(n)) } else { ALLOW };
            fail(0, "192.0.2.1", a, ms(n), then)
        })
        .collect();
    // The owner, from elsewhere, is never refused (its account counted
    // one failure: the attacker's address never changed)…
    steps.push(Step {
        t: 1,
        src: "198.51.100.7",
        account: a,
        ok: true,
        delay_ms: 0,
        then: ALLOW,
    });
    // …and a typo of the owner is not delayed by the attacker's count.
    steps.push(fail(2, "198.51.100.7", a, 0, ALLOW));
    run(&steps);
}

#[test]
fn many_addresses_against_one_account_delay_all_and_refuse_those_that_failed() {
    let a = Some("alice@example.com");
    run(&[
        fail(0, "192.0.2.1", a, 0, ALLOW),
        fail(0, "192.0.2.2", a, 0, ALLOW),
        // The account's third failure: every source's failure waits.
        fail(0, "192.0.2.3", a, 100, ALLOW),
        fail(0, "192.0.2.4", a, 200, ALLOW),
        // The fifth: sources that failed are refused for this account…
        fail(0, "192.0.2.5", a, 400, refuse(400)),
        fail(0, "192.0.2.6", a, 800, refuse(800)),
        // …but not for another one.
        fail(0, "192.0.2.6", Some("bob@example.com"), 0, ALLOW),
    ]);
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(policy());
    for i in 1..=6 {
        th.failed(ip(&format!("192.0.2.{i}")), a, t0);
    }
    assert_eq!(th.check(ip("192.0.2.1"), a, t0), refuse(800));
    // A source that never failed is let through (the owner)…
    assert_eq!(th.check(ip("203.0.113.9"), a, t0), ALLOW);
    // …its failure is delayed by the account's count, not refused.
    assert_eq!(th.failed(ip("203.0.113.9"), a, t0), 1000 * MS);
    assert_eq!(th.check(ip("203.0.113.9"), a, t0), refuse(1000));
    // A success clears the source, and the account no longer refuses it.
    th.succeeded(ip("203.0.113.9"));
    assert_eq!(th.check(ip("203.0.113.9"), a, t0), ALLOW);
}

#[test]
fn existing_and_unknown_accounts_are_counted_alike() {
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(policy());
    let mut seen = Vec::new();
    for account in ["alice@example.com", "nobody@example.com"] {
        let mut row = Vec::new();
        for i in 0..6u8 {
            let src = ip(&format!(
                "192.0.2.{}",
                i + if account.starts_with('a') { 0 } else { 100 }
            ));
            row.push((
                th.failed(src, Some(account), t0),
                th.check(src, Some(account), t0),
            ));
        }
        seen.push(row);
    }
    assert_eq!(seen[0], seen[1]);
}

#[test]
fn an_ipv6_slash_64_is_one_source() {
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(policy());
    for i in 1..=5 {
        th.failed(ip(&format!("2001:db8::{i:x}")), None, t0);
    }
    assert_eq!(th.check(ip("2001:db8::ffff"), None, t0), refuse(400));
    assert_eq!(th.check(ip("2001:db8:0:1::1"), None, t0), ALLOW);
}

#[test]
fn memory_is_bounded_and_the_oldest_go_first() {
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(Policy {
        max_entries: 64,
        ..policy()
    });
    for i in 0..1000u32 {
        let now = t0 + Duration::from_millis(u64::from(i));
        let src = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200 + i));
        th.failed(src, Some(&format!("user{i}@example.com")), now);
        let (s, a) = th.entries();
        assert!(s <= 64 && a <= 64, "{s} {a}");
    }
    // The newest are kept, the oldest evicted.
    let end = t0 + Duration::from_millis(1000);
    let newest = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200 + 999u32));
    let oldest = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200u32));
    assert_eq!(th.sources.count(&source_prefix(newest), end), 1);
    assert_eq!(th.sources.count(&source_prefix(oldest), end), 0);
}

#[test]
fn forgotten_keys_are_dropped_before_recent_ones() {
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(Policy {
        max_entries: 4,
        ..policy()
    });
    // Four keys, one failing often (kept longest).
    for _ in 0..5 {
        th.failed(ip("192.0.2.1"), None, t0);
    }
    for i in 2..=4 {
        th.failed(ip(&format!("192.0.2.{i}")), None, t0);
    }
    // Two minutes on, the single failures are forgotten, the five not.
    let later = t0 + Duration::from_secs(120);
    th.failed(ip("192.0.2.9"), None, later);
    assert_eq!(th.entries().0, 2);
    assert_eq!(th.check(ip("192.0.2.1"), None, later), ALLOW);
    assert_eq!(th.sources.count(&ip("192.0.2.1"), later), 3);
}

#[test]
fn an_entry_is_small() {
    // Key and value of the larger table; the hash table adds a control
    // byte and its load factor (at most 8/7) on top.
    let pair = std::mem::size_of::<(IpAddr, table::Entry)>();
    assert!(pair <= 64, "{pair} bytes");
}

#[test]
fn attempts_in_progress_count_until_they_end() {
    let t0 = Instant::now();
    let mut th = LoginThrottle::new(policy());
    let a = Some("alice@example.com");
    let src = ip("192.0.2.1");
    // Parallel connections: five attempts admitted at once, the sixth
    // refused before any has failed.
    for _ in 0..5 {
        assert_eq!(th.admit(src, a, t0), ALLOW);
    }
    assert_eq!(th.admit(src, a, t0), refuse(400));
    assert_eq!(th.in_flight(), 5);
    // Another source is not affected.
    assert_eq!(th.admit(ip("192.0.2.2"), a, t0), ALLOW);
    th.ended(ip("192.0.2.2"));
    // Ends that are not verdicts (a SCRAM challenge) give the room back;
    // a success clears the source.
    th.ended(src);
    assert_eq!(th.admit(src, a, t0), ALLOW);
    th.ended(src);
    th.failed(src, a, t0);
    th.failed(src, a, t0);
    assert_eq!(th.in_flight(), 2);
    assert_eq!(th.check(src, a, t0), ALLOW);
    th.succeeded(src);
    th.ended(src);
    assert_eq!(th.in_flight(), 0);
    assert_eq!(th.sources.count(&src, t0), 0);
    // Ending more than was admitted is harmless.
    th.ended(src);
    assert_eq!(th.in_flight(), 0);
}
