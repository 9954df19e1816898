//! One account's block list in memory and the XEP-0191 §4 JID matching
//! rules (the order of XEP-0016 §2.1).

use std::collections::HashSet;

use starling_jid::{FullJid, Jid};

/// The JIDs an account blocks, as a set of normalised JID strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Blocklist {
    items: HashSet<String>,
}

impl Blocklist {
    /// A list of `items`.
    pub(crate) fn new<'a>(items: impl IntoIterator<Item = &'a Jid>) -> Blocklist {
        Blocklist {
            items: items.into_iter().map(|j| j.as_str().to_owned()).collect(),
        }
    }

    /// How many items it holds.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether `item` is on the list itself (not through a wider item).
    pub(crate) fn contains(&self, item: &Jid) -> bool {
        self.items.contains(item.as_str())
    }

    /// Whether stanzas from or to `jid` are blocked by some item:
    ///
    /// 1. `user@domain/resource` matches only that full JID;
    /// 2. `user@domain` matches it and any of its resources;
    /// 3. `domain/resource` matches only that JID;
    /// 4. `domain` matches the domain itself, every JID at it and every
    ///    JID at one of its subdomains.
    ///
    /// Only slices of `jid` are looked up: no allocation.
    pub(crate) fn blocks(&self, jid: &Jid) -> bool {
        if self.items.is_empty() {
            return false;
        }
        let s = jid.as_str();
        if self.items.contains(s) {
            return true;
        }
        if jid.node().is_some() && jid.resource().is_some() && self.items.contains(bare_str(jid)) {
            return true;
        }
        let mut domain = jid.domain();
        loop {
            if self.items.contains(domain) {
                return true;
            }
            match domain.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => domain = parent,
                _ => return false,
            }
        }
    }
}

/// The bare part of `jid` (all of it when it has no resource), without
/// allocating.
pub(crate) fn bare_str(jid: &Jid) -> &str {
    let s = jid.as_str();
    match jid.resource() {
        Some(r) => &s[..s.len() - r.len() - 1],
        None => s,
    }
}

/// The bare part of a full JID, without allocating.
pub(crate) fn full_bare_str(jid: &FullJid) -> &str {
    let s = jid.as_str();
    &s[..s.len() - jid.resource().len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        s.parse().unwrap()
    }

    /// (item, address, blocked).
    const TABLE: &[(&str, &str, bool)] = &[
        // 1. a full JID: only that resource.
        (
            "romeo@montague.lit/orchard",
            "romeo@montague.lit/orchard",
            true,
        ),
        (
            "romeo@montague.lit/orchard",
            "romeo@montague.lit/balcony",
            false,
        ),
        ("romeo@montague.lit/orchard", "romeo@montague.lit", false),
        ("romeo@montague.lit/orchard", "montague.lit", false),
        // 2. a bare JID: it and every resource.
        ("romeo@montague.lit", "romeo@montague.lit", true),
        ("romeo@montague.lit", "romeo@montague.lit/orchard", true),
        ("romeo@montague.lit", "benvolio@montague.lit", false),
        ("romeo@montague.lit", "montague.lit", false),
        ("romeo@montague.lit", "romeo@capulet.lit/x", false),
        // 3. domain/resource: only that JID.
        ("montague.lit/service", "montague.lit/service", true),
        ("montague.lit/service", "montague.lit", false),
        ("montague.lit/service", "romeo@montague.lit/service", false),
        // 4. a domain: the domain, everything at it, its subdomains.
        ("montague.lit", "montague.lit", true),
        ("montague.lit", "montague.lit/service", true),
        ("montague.lit", "romeo@montague.lit", true),
        ("montague.lit", "romeo@montague.lit/orchard", true),
        ("montague.lit", "chat.montague.lit", true),
        ("montague.lit", "room@chat.montague.lit/romeo", true),
        ("montague.lit", "capulet.lit", false),
        ("montague.lit", "notmontague.lit", false),
        ("montague.lit", "montague.lit.evil", false),
        ("chat.montague.lit", "montague.lit", false),
        // Matching is on normalised JIDs (RFC 7622).
        ("Romeo@Montague.LIT", "romeo@montague.lit/Orchard", true),
        (
            "romeo@montague.lit/Orchard",
            "romeo@montague.lit/orchard",
            false,
        ),
    ];

    #[test]
    fn matching_rules() {
        for &(item, address, blocked) in TABLE {
            let list = Blocklist::new([&jid(item)]);
            assert_eq!(
                list.blocks(&jid(address)),
                blocked,
                "item {item} vs address {address}"
            );
        }
    }

    #[test]
    fn an_empty_list_blocks_nothing_and_items_add_up() {
        assert!(!Blocklist::default().blocks(&jid("a@b.lit")));
        let items = [jid("a@x.lit"), jid("y.lit")];
        let list = Blocklist::new(&items);
        assert_eq!(list.len(), 2);
        assert!(list.blocks(&jid("a@x.lit/r")));
        assert!(list.blocks(&jid("z@y.lit")));
        assert!(!list.blocks(&jid("b@x.lit")));
        assert!(list.contains(&jid("y.lit")));
        assert!(!list.contains(&jid("z@y.lit")));
        assert_eq!(bare_str(&jid("a@x.lit/r/s")), "a@x.lit");
        assert_eq!(bare_str(&jid("x.lit/r")), "x.lit");
        assert_eq!(bare_str(&jid("a@x.lit")), "a@x.lit");
        let full: FullJid = "a@x.lit/r/s".parse().unwrap();
        assert_eq!(full_bare_str(&full), "a@x.lit");
    }
}
