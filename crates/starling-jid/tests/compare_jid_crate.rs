//! Differential test against the `jid` crate (xmpp-rs), which prepares
//! addresses with the stringprep profiles of RFC 6122 (Nodeprep,
//! Nameprep, Resourceprep, all on Unicode 3.2) plus a UTS #46 validity
//! check, while this crate follows RFC 7622 (PRECIS and IDNA2008).
//!
//! For every input of the corpus the expected outcome of both crates is
//! written down. Where they differ, the entry says which behaviour RFC 7622
//! (and the specifications it cites) calls for and why, so that a change in
//! either crate is noticed.

use starling_jid::Jid;

/// The outcome of parsing: the prepared address, or `None` for an error.
type Outcome = Option<&'static str>;

struct Case {
    input: &'static str,
    starling: Outcome,
    jid: Outcome,
    /// Empty when both agree; otherwise why this crate's behaviour is the
    /// one RFC 7622 calls for.
    why: &'static str,
}

const fn same(input: &'static str, both: Outcome) -> Case {
    Case {
        input,
        starling: both,
        jid: both,
        why: "",
    }
}

const fn differ(input: &'static str, starling: Outcome, jid: Outcome, why: &'static str) -> Case {
    Case {
        input,
        starling,
        jid,
        why,
    }
}

const CORPUS: &[Case] = &[
    // RFC 7622 §3.5 Table 1, where both agree.
    same("juliet@example.com", Some("juliet@example.com")),
    same("juliet@example.com/foo", Some("juliet@example.com/foo")),
    same(
        "juliet@example.com/foo bar",
        Some("juliet@example.com/foo bar"),
    ),
    same(
        "juliet@example.com/foo@bar",
        Some("juliet@example.com/foo@bar"),
    ),
    same("foo\\20bar@example.com", Some("foo\\20bar@example.com")),
    same("fussball@example.com", Some("fussball@example.com")),
    same("\u{3C0}@example.com", Some("\u{3C0}@example.com")),
    same("\u{3A3}@example.com/foo", Some("\u{3C3}@example.com/foo")),
    same("\u{3C3}@example.com/foo", Some("\u{3C3}@example.com/foo")),
    same(
        "king@example.com/\u{265A}",
        Some("king@example.com/\u{265A}"),
    ),
    same("example.com", Some("example.com")),
    same("example.com/foobar", Some("example.com/foobar")),
    same(
        "a.example.com/b@example.net",
        Some("a.example.com/b@example.net"),
    ),
    // RFC 7622 §3.5 Table 1, where they differ.
    differ(
        "fu\u{DF}ball@example.com",
        Some("fu\u{DF}ball@example.com"),
        Some("fussball@example.com"),
        "RFC 7622 example 7 and RFC 8265 §3.5 (examples 2 and 3): PRECIS keeps \u{DF}, \
         so fu\u{DF}ball and fussball are different localparts; Nodeprep case-folds \u{DF} to ss",
    ),
    differ(
        "\u{3C2}@example.com/foo",
        Some("\u{3C2}@example.com/foo"),
        Some("\u{3C3}@example.com/foo"),
        "RFC 7622 example 11 and RFC 8265 §3.5 (example 7): final sigma is not mapped by \
         toLowerCase(); Nodeprep's case folding maps it to \u{3C3}",
    ),
    // RFC 7622 §3.5 Table 2.
    same("\"juliet\"@example.com", None),
    same("foo bar@example.com", None),
    same("juliet@example.com/", None),
    same("@example.com/", None),
    same("juliet@", None),
    same("/foobar", None),
    differ(
        "henry\u{2163}@example.com",
        None,
        Some("henryiv@example.com"),
        "RFC 7622 example 20: ROMAN NUMERAL FOUR has a compatibility decomposition, which the \
         IdentifierClass disallows (RFC 8264 §9.17); Nodeprep applies NFKC and accepts it as iv",
    ),
    differ(
        "\u{265A}@example.com",
        None,
        Some("\u{265A}@example.com"),
        "RFC 7622 example 21: symbols are not in the IdentifierClass; Nodeprep allows them",
    ),
    // Localpart: PRECIS versus Nodeprep.
    same(
        "\u{FF2A}\u{FF35}\u{FF2C}\u{FF29}\u{FF25}\u{FF34}@example.com",
        Some("juliet@example.com"),
    ),
    same("a\u{A0}b@example.com", None),
    same("\u{1F600}@example.com", None),
    same("\u{130}@example.com", Some("i\u{307}@example.com")),
    same("e\u{301}@example.com", Some("\u{E9}@example.com")),
    same("\u{5D0}a@example.com", None),
    same(
        "\u{5D0}\u{5D1}@example.com",
        Some("\u{5D0}\u{5D1}@example.com"),
    ),
    same(
        "\u{628}\u{64E}\u{628}@example.com",
        Some("\u{628}\u{64E}\u{628}@example.com"),
    ),
    same("l\u{B7}l@example.com", Some("l\u{B7}l@example.com")),
    same("User@EXAMPLE.COM/Res", Some("user@example.com/Res")),
    differ(
        "\u{5D0}1@example.com",
        Some("\u{5D0}1@example.com"),
        None,
        "RFC 8265 §3.3.1 uses the Bidi Rule of RFC 5893, which lets an RTL string end in a \
         European digit (condition 3); stringprep §6 requires the last character to be RandALCat",
    ),
    differ(
        "a\u{B7}b@example.com",
        None,
        Some("a\u{B7}b@example.com"),
        "MIDDLE DOT is CONTEXTO (RFC 5892 A.3, used by RFC 8264): only allowed between two l",
    ),
    differ(
        "a\u{200D}b@example.com",
        None,
        Some("ab@example.com"),
        "ZERO WIDTH JOINER is CONTEXTJ (RFC 5892 A.2): only allowed after a virama; PRECIS has \
         no mapping to nothing, Nodeprep silently deletes it",
    ),
    differ(
        "ex\u{AD}ample@example.com",
        None,
        Some("example@example.com"),
        "SOFT HYPHEN is Default_Ignorable and so disallowed (RFC 8264 §9.13); Nodeprep maps it \
         to nothing",
    ),
    differ(
        "\u{2C30}@example.com",
        Some("\u{2C30}@example.com"),
        None,
        "GLAGOLITIC SMALL LETTER AZU is a letter (PVALID); PRECIS follows the current Unicode \
         version (RFC 8264 §11), stringprep is frozen at Unicode 3.2 where it is unassigned",
    ),
    differ(
        "\u{1E9E}@example.com",
        Some("\u{DF}@example.com"),
        None,
        "LATIN CAPITAL LETTER SHARP S (Unicode 5.1) lower-cases to \u{DF}; unassigned in \
         stringprep's Unicode 3.2",
    ),
    // Resourcepart: OpaqueString versus Resourceprep.
    same("example.com/a\u{A0}b", Some("example.com/a b")),
    same("example.com/e\u{301}", Some("example.com/\u{E9}")),
    same("example.com/a\u{9}b", None),
    same("localhost/x", Some("localhost/x")),
    differ(
        "example.com/\u{FF21}\u{FF22}",
        Some("example.com/\u{FF21}\u{FF22}"),
        Some("example.com/AB"),
        "OpaqueString must not width-map (RFC 8265 §4.2.2) and normalises with NFC; \
         Resourceprep applies NFKC",
    ),
    differ(
        "example.com/\u{2163}",
        Some("example.com/\u{2163}"),
        Some("example.com/IV"),
        "OpaqueString normalises with NFC, not NFKC (RFC 8265 §4.2.2)",
    ),
    differ(
        "example.com/\u{1F600}",
        Some("example.com/\u{1F600}"),
        None,
        "symbols are FREE_PVAL in the FreeformClass (RFC 8264 §9.15); the emoji is unassigned \
         in stringprep's Unicode 3.2",
    ),
    differ(
        "juliet@example.com/\u{FFFD}",
        Some("juliet@example.com/\u{FFFD}"),
        None,
        "U+FFFD is a symbol, FREE_PVAL in the FreeformClass; stringprep prohibits it (C.6)",
    ),
    // Domainpart: IDNA2008 versus UTS #46 + Nameprep.
    same("B\u{FC}cher.example", Some("b\u{FC}cher.example")),
    same("ab--cd.example", None),
    same("example.com.", Some("example.com")),
    same("[2001:db8::1]", Some("[2001:db8::1]")),
    same("192.0.2.1", Some("192.0.2.1")),
    same("a..b", None),
    same("-a.example", None),
    same("a@b@c", None),
    differ(
        "xn--bcher-kva.example",
        Some("b\u{FC}cher.example"),
        Some("xn--bcher-kva.example"),
        "RFC 7622 §3.2.1: each A-label must be converted to a U-label, so both spellings are \
         one domainpart; the jid crate keeps the A-label and compares it unequal to the U-label",
    ),
    differ(
        "a\u{3002}b",
        Some("a.b"),
        Some("a\u{3002}b"),
        "IDEOGRAPHIC FULL STOP is a label separator (RFC 5895 §2, UTS #46); Nameprep keeps it",
    ),
    differ(
        "\u{FB01}.example",
        None,
        Some("fi.example"),
        "the ligature is not PVALID in IDNA2008 (unstable under NFKC); UTS #46 and Nameprep map \
         it to fi",
    ),
    differ(
        "\u{2603}.net",
        None,
        Some("\u{2603}.net"),
        "symbols are DISALLOWED in IDNA2008 (RFC 5892); UTS #46 lists the snowman as valid (NV8)",
    ),
    differ(
        "a_b.example",
        None,
        Some("a_b.example"),
        "an IDNA2008 label is LDH or a U-label: no underscore (RFC 5890 §2.3.1); the jid crate \
         uses the URL deny list of UTS #46, which allows it",
    ),
    differ(
        "fa\u{DF}.de",
        Some("fa\u{DF}.de"),
        Some("fass.de"),
        "\u{DF} is PVALID in IDNA2008 (RFC 5892 §2.6); Nameprep maps it to ss, which is a \
         different domain",
    ),
    differ(
        "[2001:DB8::1]",
        Some("[2001:db8::1]"),
        Some("[2001:DB8::1]"),
        "IPv6 text is case-insensitive (RFC 4291); comparison is on the prepared form, so the \
         RFC 5952 canonical text is stored and equal addresses compare equal",
    ),
];

/// A domain of 5 × 60-byte labels: longer than DNS's 253 bytes, shorter
/// than RFC 7622's 1023.
fn long_domain() -> String {
    format!("{}.example", vec!["a".repeat(60); 5].join("."))
}

#[test]
fn corpus_against_jid_crate() {
    let mut differences = 0;
    for case in CORPUS {
        let ours = Jid::new(case.input).ok();
        let theirs = jid::Jid::new(case.input).ok();
        assert_eq!(
            ours.as_ref().map(Jid::as_str),
            case.starling,
            "starling-jid on {:?}",
            case.input
        );
        assert_eq!(
            theirs.as_ref().map(jid::Jid::as_str),
            case.jid,
            "jid crate on {:?}",
            case.input
        );
        if case.starling != case.jid {
            differences += 1;
            assert!(
                !case.why.is_empty(),
                "{:?}: a difference needs a reason",
                case.input
            );
        } else {
            assert!(
                case.why.is_empty(),
                "{:?}: no difference to explain",
                case.input
            );
        }
    }
    assert!(differences > 0);

    // RFC 7622 §3.2 allows 1023 bytes; the jid crate applies the DNS limit
    // of 253 (UTS #46 VerifyDnsLength).
    let long = long_domain();
    assert!(Jid::new(&long).is_ok());
    assert!(jid::Jid::new(&long).is_err());
}

/// On plain ASCII addresses, the everyday case, both crates agree exactly.
#[test]
fn ascii_addresses_agree() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut word = |n: usize, extra: &[u8]| -> String {
        (0..n)
            .map(|i| {
                let r = next() as usize;
                // Extra characters only inside, never first or last.
                if !extra.is_empty() && i > 0 && i + 1 < n && r % 5 == 0 {
                    char::from(extra[r % extra.len()])
                } else {
                    char::from(ALNUM[r % ALNUM.len()])
                }
            })
            .collect()
    };
    for i in 0..2000 {
        let node = word(1 + i % 12, b"._-");
        let domain = format!("{}.{}", word(1 + i % 9, b"-"), word(2 + i % 4, b""));
        let resource = word(1 + i % 20, b" ._-+=");
        for input in [
            format!("{node}@{domain}/{resource}"),
            format!("{node}@{domain}"),
            domain.clone(),
        ] {
            let ours = Jid::new(&input).ok();
            let theirs = jid::Jid::new(&input).ok();
            assert_eq!(
                ours.as_ref().map(Jid::as_str),
                theirs.as_ref().map(jid::Jid::as_str),
                "{input:?}"
            );
        }
    }
}
