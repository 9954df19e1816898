//! Property tests: round trips, idempotence, limits, and no panics.

use proptest::prelude::*;
use starling_jid::{BareJid, DomainPart, FullJid, Jid, NodePart, ResourcePart};

/// Characters that exercise every path: ASCII of all kinds, separators,
/// upper case, Latin with diacritics (precomposed and combining), Greek
/// sigmas, German sharp s, Turkish dotted I, Hebrew and Arabic (with marks
/// and digits), fullwidth and halfwidth forms, non-ASCII spaces, ideographic
/// full stops, symbols, emoji, joiners, controls and unassigned code
/// points.
const ALPHABET: &[char] = &[
    'a',
    'b',
    'x',
    'Z',
    'Q',
    '0',
    '7',
    '.',
    '-',
    '_',
    '@',
    '/',
    ' ',
    '"',
    '&',
    '\'',
    ':',
    '<',
    '>',
    '\\',
    '%',
    '+',
    '~',
    '[',
    ']',
    '\t',
    '\u{7F}',
    '\u{E9}',
    '\u{C9}',
    'e',
    '\u{301}',
    '\u{308}',
    '\u{3A3}',
    '\u{3C3}',
    '\u{3C2}',
    '\u{DF}',
    '\u{1E9E}',
    '\u{130}',
    '\u{131}',
    '\u{5D0}',
    '\u{5D1}',
    '\u{5BC}',
    '\u{628}',
    '\u{64E}',
    '\u{661}',
    '\u{6F1}',
    '\u{FF21}',
    '\u{FF41}',
    '\u{FF0E}',
    '\u{FF61}',
    '\u{FF76}',
    '\u{FFA1}',
    '\u{3000}',
    '\u{A0}',
    '\u{1680}',
    '\u{3002}',
    '\u{2163}',
    '\u{265A}',
    '\u{1F600}',
    '\u{200D}',
    '\u{200C}',
    '\u{94D}',
    '\u{915}',
    '\u{B7}',
    'l',
    '\u{30FB}',
    '\u{30A2}',
    '\u{AD}',
    '\u{FB01}',
    '\u{378}',
    '\u{E000}',
    '\u{4E2D}',
    '\u{AC00}',
    '\u{1100}',
    '\u{1161}',
    '\u{13A0}',
    '\u{AB70}',
    '\u{345}',
    '\u{399}',
    '\u{1FBE}',
    '\u{212B}',
    '\u{2126}',
    '\u{FFFD}',
];

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..max)
        .prop_map(|v| v.into_iter().collect())
}

/// JID-shaped strings: optional localpart, a domain of a few labels,
/// optional resourcepart, each drawn from the alphabet.
fn jid_like() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        3 => "[a-zA-Z0-9]{1,8}",
        1 => text(6),
        1 => Just("xn--bcher-kva".to_string()),
        1 => Just("XN--fa-hia".to_string()),
    ];
    (
        prop::option::of(prop_oneof![3 => "[a-zA-Z0-9._-]{1,10}", 2 => text(10)]),
        prop::collection::vec(label, 1..4),
        prop::option::of(prop_oneof![3 => "[ -~]{1,12}", 2 => text(12)]),
        any::<bool>(),
    )
        .prop_map(|(node, labels, resource, dot)| {
            let mut s = String::new();
            if let Some(n) = node {
                s.push_str(&n);
                s.push('@');
            }
            s.push_str(&labels.join("."));
            if dot {
                s.push('.');
            }
            if let Some(r) = resource {
                s.push('/');
                s.push_str(&r);
            }
            s
        })
}

fn check_invariants(jid: &Jid) -> Result<(), TestCaseError> {
    let s = jid.to_string();
    // display → parse gives the same address, and display is stable.
    let again =
        Jid::new(&s).map_err(|e| TestCaseError::fail(format!("{s:?} does not reparse: {e}")))?;
    prop_assert_eq!(&again, jid);
    prop_assert_eq!(again.to_string(), s.clone());
    // Parts are within limits.
    for part in [jid.node(), Some(jid.domain()), jid.resource()]
        .into_iter()
        .flatten()
    {
        prop_assert!(!part.is_empty() && part.len() <= 1023, "{:?}", part);
    }
    // The parts are themselves valid and prepared.
    if let Some(n) = jid.node() {
        let part = NodePart::new(n).unwrap();
        prop_assert_eq!(part.as_str(), n);
    }
    let domain = DomainPart::new(jid.domain()).unwrap();
    prop_assert_eq!(domain.as_str(), jid.domain());
    if let Some(r) = jid.resource() {
        let part = ResourcePart::new(r).unwrap();
        prop_assert_eq!(part.as_str(), r);
    }
    // Rebuilding from the parts gives the same address.
    let rebuilt = Jid::from_parts(
        jid.node_part().as_ref(),
        &jid.domain_part(),
        jid.resource_part().as_ref(),
    );
    prop_assert_eq!(&rebuilt, jid);
    // The bare form is a prefix and parses as a BareJid.
    let bare = jid.bare();
    prop_assert!(s.starts_with(bare.as_str()));
    prop_assert_eq!(BareJid::new(bare.as_str()).unwrap(), bare);
    if jid.is_full() {
        prop_assert_eq!(FullJid::new(&s).unwrap(), jid.clone());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn parse_display_round_trip(s in jid_like()) {
        if let Ok(jid) = Jid::new(&s) {
            check_invariants(&jid)?;
        }
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Ok(jid) = Jid::new(&s) {
            check_invariants(&jid)?;
        }
        let _ = NodePart::new(&s);
        let _ = DomainPart::new(&s);
        let _ = ResourcePart::new(&s);
        let _ = starling_jid::escape_node(&s);
        let _ = starling_jid::unescape_node(&s);
    }

    #[test]
    fn arbitrary_alphabet_strings_never_panic(s in text(40)) {
        if let Ok(jid) = Jid::new(&s) {
            check_invariants(&jid)?;
        }
    }

    #[test]
    fn localpart_preparation_is_idempotent(s in text(12)) {
        if let Ok(n) = NodePart::new(&s) {
            let again = NodePart::new(n.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), n.as_str());
            prop_assert!(n.len_ok());
        }
    }

    #[test]
    fn resourcepart_preparation_is_idempotent(s in text(12)) {
        if let Ok(r) = ResourcePart::new(&s) {
            let again = ResourcePart::new(r.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), r.as_str());
        }
    }

    #[test]
    fn domainpart_preparation_is_idempotent(s in text(12)) {
        if let Ok(d) = DomainPart::new(&s) {
            let again = DomainPart::new(d.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), d.as_str());
            prop_assert!(!d.as_str().ends_with('.'));
        }
    }

    /// The ASCII fast path agrees with a direct statement of the rules.
    #[test]
    fn ascii_fast_path_matches_rules(
        node in "[a-zA-Z0-9._!$-]{1,20}",
        labels in prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", 1..4),
        resource in "[ -~]{1,20}",
    ) {
        let domain = labels.join(".");
        let input = format!("{node}@{domain}/{resource}");
        let hyphens34 = labels.iter().any(|l| l.len() >= 4 && &l[2..4] == "--");
        match Jid::new(&input) {
            Ok(jid) => {
                prop_assert!(!hyphens34 || labels.iter().any(|l| l[..2].eq_ignore_ascii_case("xn")));
                let lower = node.to_ascii_lowercase();
                prop_assert_eq!(jid.node(), Some(lower.as_str()));
                prop_assert_eq!(jid.domain(), domain.to_ascii_lowercase());
                prop_assert_eq!(jid.resource(), Some(resource.as_str()));
            }
            Err(e) => prop_assert!(hyphens34, "{:?}: {}", input, e),
        }
    }

    #[test]
    fn escaping_round_trips(s in text(16)) {
        if let Ok(escaped) = starling_jid::escape_node(&s) {
            prop_assert_eq!(starling_jid::unescape_node(&escaped), s.as_str());
        }
    }
}

trait LenOk {
    fn len_ok(&self) -> bool;
}

impl LenOk for NodePart {
    fn len_ok(&self) -> bool {
        (1..=1023).contains(&self.as_str().len())
    }
}
