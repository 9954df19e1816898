//! The ASCII fast path allocates exactly once per address, and cloning or
//! taking views of an address does not allocate at all.
//!
//! This test binary has its own counting allocator, and a single test so
//! that no other test allocates concurrently.

use std::alloc::System;

use starling_jid::{BareJid, DomainPart, FullJid, Jid, NodePart, ResourcePart};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let region = Region::new(GLOBAL);
    let value = f();
    (value, region.change().allocations)
}

#[test]
fn allocation_counts() {
    for input in [
        "juliet@example.com/balcony",
        "juliet@example.com",
        "example.com",
        "conference.example.org/room",
        // Upper case is folded on the stack, still one allocation.
        "Juliet@Example.COM/Balcony",
        "JULIET@EXAMPLE.COM",
        // A final dot is stripped, still one allocation.
        "juliet@example.com./r",
    ] {
        let (jid, n) = allocations(|| Jid::new(input).unwrap());
        assert_eq!(n, 1, "parsing {input:?}");
        let (_, n) = allocations(|| {
            let copy = jid.clone();
            let bare = jid.bare();
            let parts = (jid.node_part(), jid.domain_part(), jid.resource_part());
            let into_bare = copy.into_bare();
            (bare, parts, into_bare)
        });
        assert_eq!(n, 0, "clone and views of {input:?}");
    }
    for input in ["Juliet", "juliet"] {
        let (_, n) = allocations(|| NodePart::new(input).unwrap());
        assert_eq!(n, 1, "{input:?}");
    }
    let (_, n) = allocations(|| DomainPart::new("Example.COM").unwrap());
    assert_eq!(n, 1);
    let (_, n) = allocations(|| ResourcePart::new("Balcony").unwrap());
    assert_eq!(n, 1);
    let (_, n) = allocations(|| BareJid::new("juliet@example.com").unwrap());
    assert_eq!(n, 1);
    let (_, n) = allocations(|| FullJid::new("juliet@example.com/b").unwrap());
    assert_eq!(n, 1);
    // Errors on the fast path do not allocate.
    let (_, n) = allocations(|| Jid::new("foo bar@example.com").unwrap_err());
    assert_eq!(n, 0);
    // Building from parts: one allocation.
    let jid = Jid::new("juliet@example.com/balcony").unwrap();
    let res = ResourcePart::new("orchard").unwrap();
    let (_, n) = allocations(|| jid.with_resource(&res));
    assert_eq!(n, 1);
}
