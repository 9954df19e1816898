//! Table-driven tests: every example of RFC 7622 §3.5, the RFC 8265
//! examples the localpart and resourcepart rules rely on, the PRECIS
//! (RFC 8264) and IDNA2008 (RFC 5890–5892) rules behind them, the Bidi Rule
//! of RFC 5893 and the length limits.

use starling_jid::{BareJid, DomainPart, FullJid, Jid, JidError, NodePart, Part, ResourcePart};

/// Parses `input` and checks the prepared parts, then that preparing the
/// prepared form again gives the same address.
#[track_caller]
fn valid(input: &str, node: Option<&str>, domain: &str, resource: Option<&str>) -> Jid {
    let jid = Jid::new(input).unwrap_or_else(|e| panic!("{input:?} should be valid: {e}"));
    assert_eq!(jid.node(), node, "localpart of {input:?}");
    assert_eq!(jid.domain(), domain, "domainpart of {input:?}");
    assert_eq!(jid.resource(), resource, "resourcepart of {input:?}");
    let again = Jid::new(jid.as_str()).expect("prepared form must parse");
    assert_eq!(again, jid);
    assert_eq!(again.as_str(), jid.as_str());
    jid
}

#[track_caller]
fn invalid(input: &str, expected: JidError) {
    match Jid::new(input) {
        Ok(j) => panic!("{input:?} should be invalid, got {j:?}"),
        Err(e) => assert_eq!(e, expected, "error for {input:?}"),
    }
}

fn forbidden(part: Part, ch: char) -> JidError {
    JidError::ForbiddenChar { part, ch }
}

/// An example number, the input, and the expected prepared localpart,
/// domainpart and resourcepart.
type Example = (
    u32,
    &'static str,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
);

/// RFC 7622 §3.5, Table 1: "A Sample of Legal JIDs" (examples 1–15).
#[test]
fn rfc7622_table1_valid_examples() {
    let cases: &[Example] = &[
        (1, "juliet@example.com", Some("juliet"), "example.com", None),
        (
            2,
            "juliet@example.com/foo",
            Some("juliet"),
            "example.com",
            Some("foo"),
        ),
        (
            3,
            "juliet@example.com/foo bar",
            Some("juliet"),
            "example.com",
            Some("foo bar"),
        ),
        (
            4,
            "juliet@example.com/foo@bar",
            Some("juliet"),
            "example.com",
            Some("foo@bar"),
        ),
        (
            5,
            "foo\\20bar@example.com",
            Some("foo\\20bar"),
            "example.com",
            None,
        ),
        (
            6,
            "fussball@example.com",
            Some("fussball"),
            "example.com",
            None,
        ),
        (
            7,
            "fu\u{DF}ball@example.com",
            Some("fu\u{DF}ball"),
            "example.com",
            None,
        ),
        (
            8,
            "\u{3C0}@example.com",
            Some("\u{3C0}"),
            "example.com",
            None,
        ),
        // Σ is case-mapped to σ.
        (
            9,
            "\u{3A3}@example.com/foo",
            Some("\u{3C3}"),
            "example.com",
            Some("foo"),
        ),
        (
            10,
            "\u{3C3}@example.com/foo",
            Some("\u{3C3}"),
            "example.com",
            Some("foo"),
        ),
        // ς stays ς: PRECIS has no final-sigma mapping.
        (
            11,
            "\u{3C2}@example.com/foo",
            Some("\u{3C2}"),
            "example.com",
            Some("foo"),
        ),
        (
            12,
            "king@example.com/\u{265A}",
            Some("king"),
            "example.com",
            Some("\u{265A}"),
        ),
        (13, "example.com", None, "example.com", None),
        (
            14,
            "example.com/foobar",
            None,
            "example.com",
            Some("foobar"),
        ),
        (
            15,
            "a.example.com/b@example.net",
            None,
            "a.example.com",
            Some("b@example.net"),
        ),
    ];
    for &(n, input, node, domain, resource) in cases {
        let jid = valid(input, node, domain, resource);
        assert_eq!(jid.is_full(), resource.is_some(), "example {n}");
    }
    // Examples 6 and 7 are different addresses; 9 and 10 are the same; 11
    // differs from both.
    assert_ne!(
        Jid::new("fussball@example.com").unwrap(),
        Jid::new("fu\u{DF}ball@example.com").unwrap()
    );
    assert_eq!(
        Jid::new("\u{3A3}@example.com/foo").unwrap(),
        Jid::new("\u{3C3}@example.com/foo").unwrap()
    );
    assert_ne!(
        Jid::new("\u{3C2}@example.com/foo").unwrap(),
        Jid::new("\u{3C3}@example.com/foo").unwrap()
    );
}

/// RFC 7622 §3.5, Table 2: "A Sample of Strings That Violate the JID
/// Rules" (examples 16–23).
#[test]
fn rfc7622_table2_invalid_examples() {
    let cases: &[(u32, &str, JidError)] = &[
        (
            16,
            "\"juliet\"@example.com",
            forbidden(Part::Localpart, '"'),
        ),
        (17, "foo bar@example.com", forbidden(Part::Localpart, ' ')),
        (18, "juliet@example.com/", JidError::EmptyResource),
        (19, "@example.com/", JidError::EmptyLocalpart),
        (
            20,
            "henry\u{2163}@example.com",
            forbidden(Part::Localpart, '\u{2163}'),
        ),
        (
            21,
            "\u{265A}@example.com",
            forbidden(Part::Localpart, '\u{265A}'),
        ),
        (22, "juliet@", JidError::EmptyDomain),
        (23, "/foobar", JidError::EmptyDomain),
    ];
    for (n, input, err) in cases {
        assert!(Jid::new(input).is_err(), "example {n}");
        invalid(input, err.clone());
    }
}

/// RFC 7622 §3.1–§3.4: where `@` and `/` may appear, and empty parts.
#[test]
fn rfc7622_separators_and_empty_parts() {
    // §3.1: the first '/' starts the resourcepart, the first '@' before it
    // ends the localpart.
    valid("a/b/c", None, "a", Some("b/c"));
    valid("a@b/c@d/e", Some("a"), "b", Some("c@d/e"));
    valid("a/@b", None, "a", Some("@b"));
    invalid("a@b@c", forbidden(Part::Domainpart, '@'));
    invalid("", JidError::EmptyDomain);
    invalid("@", JidError::EmptyLocalpart);
    invalid("a@", JidError::EmptyDomain);
    invalid("@a", JidError::EmptyLocalpart);
    invalid("/", JidError::EmptyDomain);
    invalid("a/", JidError::EmptyResource);
    invalid("@/", JidError::EmptyLocalpart);
    // §3.2: a single final dot is stripped before anything else.
    valid(
        "juliet@example.com./r",
        Some("juliet"),
        "example.com",
        Some("r"),
    );
    invalid(".", JidError::EmptyDomain);
    invalid("example.com..", JidError::EmptyLabel);
    invalid(".example.com", JidError::EmptyLabel);
    // §3.3.1: the eight characters that cannot appear in a localpart (the
    // parser already takes '@' and '/' as separators, but their fullwidth
    // forms width-map to them).
    for ch in ['"', '&', '\'', ':', '<', '>'] {
        invalid(
            &format!("a{ch}b@example.com"),
            forbidden(Part::Localpart, ch),
        );
    }
    invalid("a\u{FF20}b@example.com", forbidden(Part::Localpart, '@'));
    invalid("a\u{FF0F}b@example.com", forbidden(Part::Localpart, '/'));
    assert_eq!(
        NodePart::new("a@b").unwrap_err(),
        forbidden(Part::Localpart, '@')
    );
    assert_eq!(
        NodePart::new("a/b").unwrap_err(),
        forbidden(Part::Localpart, '/')
    );
}

/// RFC 7622 §3.2–§3.4: each part is 1 to 1023 bytes after preparation.
#[test]
fn rfc7622_length_limits() {
    let max = "a".repeat(1023);
    let over = "a".repeat(1024);
    valid(
        &format!("{max}@example.com"),
        Some(&max),
        "example.com",
        None,
    );
    invalid(
        &format!("{over}@example.com"),
        JidError::LocalpartTooLong { len: 1024 },
    );
    valid(
        &format!("example.com/{max}"),
        None,
        "example.com",
        Some(&max),
    );
    invalid(
        &format!("example.com/{over}"),
        JidError::ResourceTooLong { len: 1024 },
    );

    // 16 labels of 63 bytes and 15 dots: exactly 1023 bytes.
    let label = "a".repeat(63);
    let domain = vec![label.as_str(); 16].join(".");
    assert_eq!(domain.len(), 1023);
    valid(&domain, None, &domain, None);
    let long = format!("b.{domain}");
    invalid(&long, JidError::DomainTooLong { len: 1025 });
    invalid(
        &format!("{}.com", "a".repeat(64)),
        JidError::LabelTooLong { len: 64 },
    );

    // The limit applies to the prepared form, in bytes: 512 × U+00E9 is
    // 1024 bytes.
    let e_acute = "\u{E9}".repeat(512);
    invalid(
        &format!("{e_acute}@example.com"),
        JidError::LocalpartTooLong { len: 1024 },
    );
    // Decomposed input that composes to exactly 1023 bytes is fine.
    let composed = format!("{}a", "\u{E9}".repeat(511));
    let decomposed = format!("{}a", "e\u{301}".repeat(511));
    assert!(decomposed.len() > 1023);
    valid(
        &format!("{decomposed}@example.com"),
        Some(&composed),
        "example.com",
        None,
    );
}

/// RFC 8265 §3.5 Tables 1 and 2 (userparts, examples 1–11), applied to
/// the localpart (UsernameCaseMapped plus the RFC 7622 exclusions).
#[test]
fn rfc8265_userpart_examples() {
    let ok: &[(u32, &str, &str)] = &[
        (2, "fussball", "fussball"),
        (3, "fu\u{DF}ball", "fu\u{DF}ball"),
        (4, "\u{3C0}", "\u{3C0}"),
        (5, "\u{3A3}", "\u{3C3}"),
        (6, "\u{3C3}", "\u{3C3}"),
        (7, "\u{3C2}", "\u{3C2}"),
    ];
    for &(n, input, prepared) in ok {
        assert_eq!(NodePart::new(input).unwrap(), prepared, "example {n}");
    }
    let bad: &[(u32, &str, JidError)] = &[
        // Example 1 is a valid userpart, but RFC 7622 §3.3.1 excludes '@'.
        (1, "juliet@example.com", forbidden(Part::Localpart, '@')),
        (8, "foo bar", forbidden(Part::Localpart, ' ')),
        (9, "", JidError::EmptyLocalpart),
        (10, "henry\u{2163}", forbidden(Part::Localpart, '\u{2163}')),
        (11, "\u{265A}", forbidden(Part::Localpart, '\u{265A}')),
    ];
    for (n, input, err) in bad {
        assert_eq!(&NodePart::new(input).unwrap_err(), err, "example {n}");
    }
}

/// RFC 8265 §4.3 Tables 3 and 4 (passwords, examples 12–18), applied to
/// the resourcepart (OpaqueString).
#[test]
fn rfc8265_opaque_string_examples() {
    let ok: &[(u32, &str, &str)] = &[
        (
            12,
            "correct horse battery staple",
            "correct horse battery staple",
        ),
        (
            13,
            "Correct Horse Battery Staple",
            "Correct Horse Battery Staple",
        ),
        (14, "\u{3C0}\u{DF}\u{E5}", "\u{3C0}\u{DF}\u{E5}"),
        (15, "Jack of \u{2666}s", "Jack of \u{2666}s"),
        (16, "foo\u{1680}bar", "foo bar"),
    ];
    for &(n, input, prepared) in ok {
        assert_eq!(ResourcePart::new(input).unwrap(), prepared, "example {n}");
    }
    assert_ne!(
        ResourcePart::new("correct horse battery staple").unwrap(),
        ResourcePart::new("Correct Horse Battery Staple").unwrap()
    );
    assert_eq!(ResourcePart::new("").unwrap_err(), JidError::EmptyResource);
    assert_eq!(
        ResourcePart::new("my cat is a \u{9}by").unwrap_err(),
        forbidden(Part::Resourcepart, '\u{9}')
    );
}

/// RFC 8264 §8/§9 derived properties and RFC 8265 mappings, through the
/// localpart (IdentifierClass) and the resourcepart (FreeformClass).
#[test]
fn rfc8264_string_classes() {
    // (input, localpart result, resourcepart result); `None` = rejected.
    let cases: &[(&str, Option<&str>, Option<&str>, &str)] = &[
        ("abc", Some("abc"), Some("abc"), "ASCII7"),
        (
            "ABC",
            Some("abc"),
            Some("ABC"),
            "case mapping only in the localpart",
        ),
        (
            "\u{FF2A}\u{FF35}\u{FF2C}",
            Some("jul"),
            Some("\u{FF2A}\u{FF35}\u{FF2C}"),
            "fullwidth: width-mapped in the localpart; kept by OpaqueString (HasCompat is FREE_PVAL)",
        ),
        ("\u{C9}", Some("\u{E9}"), Some("\u{C9}"), "toLowerCase"),
        (
            "E\u{301}",
            Some("\u{E9}"),
            Some("\u{C9}"),
            "NFC after case mapping",
        ),
        (
            "\u{130}",
            Some("i\u{307}"),
            Some("\u{130}"),
            "toLowerCase of U+0130 is two code points",
        ),
        (
            "\u{1E9E}",
            Some("\u{DF}"),
            Some("\u{1E9E}"),
            "capital sharp s",
        ),
        ("a b", None, Some("a b"), "SPACE: Spaces category"),
        (
            "a\u{A0}b",
            None,
            Some("a b"),
            "NO-BREAK SPACE: HasCompat, ID_DIS; FREE_PVAL, then mapped to SPACE by OpaqueString",
        ),
        ("\u{2163}", None, Some("\u{2163}"), "HasCompat"),
        ("\u{265A}", None, Some("\u{265A}"), "Symbols"),
        ("\u{2026}", None, Some("\u{2026}"), "HasCompat punctuation"),
        ("\u{00BF}", None, Some("\u{00BF}"), "Punctuation"),
        (
            "\u{01C5}",
            None,
            Some("\u{01C5}"),
            "titlecase letter with compat decomposition",
        ),
        ("\u{0378}", None, None, "unassigned"),
        ("\u{E000}", None, None, "private use"),
        ("\u{FFFF}", None, None, "noncharacter"),
        ("\u{00AD}", None, None, "default ignorable"),
        (
            "\u{200B}",
            None,
            None,
            "ZERO WIDTH SPACE: default ignorable",
        ),
        ("\u{0007}", None, None, "control"),
        ("\u{0085}", None, None, "C1 control"),
        ("\u{1100}", None, None, "old Hangul jamo"),
        (
            "\u{AC00}",
            Some("\u{AC00}"),
            Some("\u{AC00}"),
            "Hangul syllable",
        ),
        (
            "\u{0640}",
            None,
            None,
            "ARABIC TATWEEL: exception, DISALLOWED",
        ),
        (
            "\u{3007}",
            Some("\u{3007}"),
            Some("\u{3007}"),
            "IDEOGRAPHIC NUMBER ZERO: exception, PVALID",
        ),
        ("\u{2028}", None, None, "LINE SEPARATOR"),
        ("\u{1F600}", None, Some("\u{1F600}"), "emoji: Symbols"),
    ];
    for &(input, local, resource, why) in cases {
        let l = NodePart::new(input).ok();
        assert_eq!(
            l.as_ref().map(NodePart::as_str),
            local,
            "localpart {input:?}: {why}"
        );
        let r = ResourcePart::new(input).ok();
        assert_eq!(
            r.as_ref().map(ResourcePart::as_str),
            resource,
            "resourcepart {input:?}: {why}"
        );
    }
    assert_eq!(
        NodePart::new("\u{0378}").unwrap_err(),
        JidError::UnassignedChar {
            part: Part::Localpart,
            ch: '\u{0378}'
        }
    );
    // Non-ASCII spaces map to SPACE in the resourcepart.
    assert_eq!(ResourcePart::new("a\u{3000}b").unwrap(), "a b");
    assert_eq!(ResourcePart::new("a\u{2003}b").unwrap(), "a b");
}

/// RFC 5892 Appendix A contextual rules, as RFC 8264 applies them.
#[test]
fn rfc5892_contextual_rules() {
    let cases: &[(&str, bool, &str)] = &[
        ("l\u{B7}l", true, "A.3 MIDDLE DOT between two l"),
        ("a\u{B7}b", false, "A.3 MIDDLE DOT elsewhere"),
        ("\u{B7}l", false, "A.3 MIDDLE DOT at the start"),
        ("\u{375}\u{3B1}", true, "A.4 KERAIA before Greek"),
        ("\u{375}a", false, "A.4 KERAIA before Latin"),
        ("\u{5D0}\u{5F3}", true, "A.5 GERESH after Hebrew"),
        ("a\u{5F3}", false, "A.5 GERESH after Latin"),
        ("\u{5D0}\u{5F4}", true, "A.6 GERSHAYIM after Hebrew"),
        (
            "\u{30A2}\u{30FB}\u{30A4}",
            true,
            "A.7 KATAKANA MIDDLE DOT with Katakana",
        ),
        (
            "a\u{30FB}b",
            false,
            "A.7 KATAKANA MIDDLE DOT without Japanese script",
        ),
        ("\u{628}\u{660}", true, "A.8 ARABIC-INDIC DIGIT alone"),
        (
            "\u{628}\u{660}\u{6F0}",
            false,
            "A.8/A.9 both kinds of digits",
        ),
        ("\u{915}\u{94D}\u{200D}", true, "A.2 ZWJ after VIRAMA"),
        ("a\u{200D}b", false, "A.2 ZWJ elsewhere"),
        ("\u{915}\u{94D}\u{200C}", true, "A.1 ZWNJ after VIRAMA"),
        (
            "\u{628}\u{200C}\u{628}",
            true,
            "A.1 ZWNJ between dual-joining letters",
        ),
        ("a\u{200C}b", false, "A.1 ZWNJ between non-joining letters"),
    ];
    for &(input, ok, why) in cases {
        let r = NodePart::new(input);
        assert_eq!(r.is_ok(), ok, "{input:?}: {why}: {r:?}");
        if !ok {
            assert!(
                matches!(
                    r,
                    Err(JidError::ContextRule {
                        part: Part::Localpart,
                        ..
                    })
                ),
                "{input:?}: {why}: {r:?}"
            );
        }
    }
    // Contextual rules hold in the FreeformClass too (an emoji ZWJ
    // sequence is not allowed in a resourcepart).
    assert!(matches!(
        ResourcePart::new("\u{1F468}\u{200D}\u{1F469}"),
        Err(JidError::ContextRule {
            part: Part::Resourcepart,
            ch: '\u{200D}'
        })
    ));
}

/// The Bidi Rule (RFC 5893 §2), as applied to localparts (RFC 8265) and
/// domain labels (RFC 5893 itself). Each case names the condition it
/// exercises.
#[test]
fn rfc5893_bidi_rule() {
    let cases: &[(&str, bool, &str)] = &[
        ("\u{5D0}\u{5D1}\u{5D2}", true, "R only"),
        (
            "\u{628}\u{64E}\u{628}",
            true,
            "AL NSM AL: NSM inside an RTL label (condition 2)",
        ),
        (
            "\u{5D0}\u{5D1}\u{5BC}",
            true,
            "R R NSM: trailing NSM (condition 3)",
        ),
        ("\u{5D0}1", true, "R EN: ends with EN (condition 3)"),
        ("\u{628}\u{661}", true, "AL AN (condition 3)"),
        ("\u{5D0}-\u{5D1}", true, "ES inside (condition 2)"),
        ("1\u{5D0}", false, "starts with EN (condition 1)"),
        ("\u{661}\u{628}", false, "starts with AN (condition 1)"),
        ("\u{5D0}a", false, "L in an RTL label (condition 2)"),
        ("\u{5D0}-", false, "ends with ES (condition 3)"),
        ("\u{628}1\u{661}", false, "EN and AN together (condition 4)"),
        ("a\u{5D0}", false, "R in an LTR label (condition 5)"),
        ("a\u{661}", false, "AN in an LTR label (condition 5)"),
    ];
    for &(input, ok, why) in cases {
        let r = NodePart::new(input);
        assert_eq!(r.is_ok(), ok, "localpart {input:?}: {why}: {r:?}");
        if !ok {
            assert_eq!(
                r.unwrap_err(),
                JidError::BidiRule {
                    part: Part::Localpart
                },
                "{why}"
            );
        }
    }
    // Strings without RTL characters are not subject to the rule (RFC 8265
    // §3.3.1, Directionality Rule): an LTR string may end in punctuation.
    assert!(NodePart::new("abc-").is_ok());
    // Condition 6 for an LTR label inside a Bidi domain name.
    assert_eq!(
        DomainPart::new("a-.\u{5D0}\u{5D1}").unwrap_err(),
        JidError::Hyphen
    );
    assert!(DomainPart::new("abc.\u{5D0}\u{5D1}").is_ok());
    assert_eq!(
        DomainPart::new("1abc.\u{5D0}\u{5D1}").unwrap_err(),
        JidError::BidiRule {
            part: Part::Domainpart
        },
        "in a Bidi domain name every label must satisfy the rule (condition 1)"
    );
    assert_eq!(
        DomainPart::new("\u{5D0}a.example").unwrap_err(),
        JidError::BidiRule {
            part: Part::Domainpart
        }
    );
    // The resourcepart has no directionality rule (OpaqueString).
    assert!(ResourcePart::new("a\u{5D0}").is_ok());
}

/// RFC 7622 §3.2 domainparts: IDNA2008, the RFC 5895-style mappings, and
/// the places where UTS #46 would accept what IDNA2008 does not.
#[test]
fn rfc7622_domainpart_idna2008() {
    let ok: &[(&str, &str, &str)] = &[
        ("example.com", "example.com", "NR-LDH"),
        ("EXAMPLE.com", "example.com", "case mapping"),
        ("example.com.", "example.com", "final dot"),
        ("b\u{FC}cher.example", "b\u{FC}cher.example", "U-label"),
        (
            "B\u{DC}CHER.example",
            "b\u{FC}cher.example",
            "case mapping of a U-label",
        ),
        (
            "xn--bcher-kva.example",
            "b\u{FC}cher.example",
            "A-label stored as U-label",
        ),
        (
            "XN--BCHER-KVA.example",
            "b\u{FC}cher.example",
            "A-label in upper case",
        ),
        ("bu\u{308}cher.example", "b\u{FC}cher.example", "NFC"),
        (
            "\u{FF45}\u{FF58}\u{FF41}\u{FF4D}\u{FF50}\u{FF4C}\u{FF45}\u{FF0E}\u{FF43}\u{FF4F}\u{FF4D}",
            "example.com",
            "width mapping, U+FF0E as a dot",
        ),
        ("example\u{3002}com", "example.com", "U+3002 as a dot"),
        ("example\u{FF61}com", "example.com", "U+FF61 as a dot"),
        (
            "fa\u{DF}.de",
            "fa\u{DF}.de",
            "nontransitional: sharp s kept",
        ),
        ("xn--fa-hia.de", "fa\u{DF}.de", "A-label of fa\u{DF}"),
        (
            "\u{5D0}\u{5D1}.example",
            "\u{5D0}\u{5D1}.example",
            "RTL label in a Bidi domain name",
        ),
        (
            "l\u{B7}l.example",
            "l\u{B7}l.example",
            "CONTEXTO MIDDLE DOT",
        ),
        ("localhost", "localhost", "unqualified host name"),
        ("192.0.2.1", "192.0.2.1", "IPv4 literal"),
        ("[2001:db8::1]", "[2001:db8::1]", "IPv6 literal"),
        (
            "[2001:DB8:0:0:0:0:0:1]",
            "[2001:db8::1]",
            "IPv6 literal, RFC 5952 form",
        ),
        (
            "[::ffff:192.0.2.1]",
            "[::ffff:192.0.2.1]",
            "IPv4-mapped IPv6",
        ),
        ("a1-b2.c3", "a1-b2.c3", "digits and hyphens"),
    ];
    for &(input, prepared, why) in ok {
        let d = DomainPart::new(input).unwrap_or_else(|e| panic!("{input:?} ({why}): {e}"));
        assert_eq!(d, prepared, "{why}");
        assert_eq!(DomainPart::new(d.as_str()).unwrap(), d, "idempotent: {why}");
    }
    let bad: &[(&str, JidError, &str)] = &[
        (
            "\u{FB01}.example",
            forbidden(Part::Domainpart, '\u{FB01}'),
            "UTS #46 maps the ligature to \"fi\"; IDNA2008 disallows it",
        ),
        (
            "\u{2460}.example",
            forbidden(Part::Domainpart, '\u{2460}'),
            "CIRCLED DIGIT ONE: UTS #46 maps to 1",
        ),
        (
            "\u{210C}.example",
            forbidden(Part::Domainpart, '\u{210C}'),
            "BLACK-LETTER H: UTS #46 maps to h",
        ),
        (
            "ex\u{AD}ample.com",
            forbidden(Part::Domainpart, '\u{AD}'),
            "SOFT HYPHEN: UTS #46 ignores it",
        ),
        (
            "\u{2603}.net",
            forbidden(Part::Domainpart, '\u{2603}'),
            "SNOWMAN: valid in UTS #46 (NV8), not in IDNA2008",
        ),
        (
            "xn--n3h.net",
            forbidden(Part::Domainpart, '\u{2603}'),
            "the same as an A-label",
        ),
        (
            "a_b.example",
            forbidden(Part::Domainpart, '_'),
            "STD3: no underscore",
        ),
        (
            "a b.example",
            forbidden(Part::Domainpart, ' '),
            "STD3: no space",
        ),
        (
            "a@b@c",
            forbidden(Part::Domainpart, '@'),
            "no '@' in a domainpart",
        ),
        ("-abc.example", JidError::Hyphen, "leading hyphen"),
        ("abc-.example", JidError::Hyphen, "trailing hyphen"),
        (
            "ab--c.example",
            JidError::Hyphen,
            "R-LDH label that is not an A-label",
        ),
        (
            "xn--zzzzzzzzzzzzzzzzzzzz.example",
            JidError::InvalidALabel,
            "bad Punycode",
        ),
        (
            "xn--a-.example",
            JidError::Hyphen,
            "an A-label is an LDH label too",
        ),
        (
            "xn--abc.example",
            forbidden(Part::Domainpart, '\u{82}'),
            "A-label that decodes to C1 controls",
        ),
        (
            "a\u{B7}b.example",
            JidError::ContextRule {
                part: Part::Domainpart,
                ch: '\u{B7}',
            },
            "MIDDLE DOT not between l",
        ),
        (
            "a\u{200D}b.example",
            JidError::ContextRule {
                part: Part::Domainpart,
                ch: '\u{200D}',
            },
            "ZWJ without virama",
        ),
        ("example..com", JidError::EmptyLabel, "empty label"),
        (
            "[2001:db8::1",
            JidError::InvalidIpLiteral,
            "unterminated literal",
        ),
        (
            "[v1.fe]",
            JidError::InvalidIpLiteral,
            "IPvFuture is not supported",
        ),
        (
            "[example.com]",
            JidError::InvalidIpLiteral,
            "not an address",
        ),
        (
            "\u{378}.example",
            JidError::UnassignedChar {
                part: Part::Domainpart,
                ch: '\u{378}',
            },
            "unassigned",
        ),
    ];
    for (input, err, why) in bad {
        assert_eq!(
            &DomainPart::new(input).unwrap_err(),
            err,
            "{input:?}: {why}"
        );
    }
    let d = DomainPart::new("b\u{FC}cher.example").unwrap();
    assert_eq!(d.to_ascii(), "xn--bcher-kva.example");
    assert!(DomainPart::new("192.0.2.1").unwrap().ip_addr().is_some());
    assert!(DomainPart::new("example.com").unwrap().ip_addr().is_none());
}

#[test]
fn conversions_between_types() {
    let jid = Jid::new("juliet@example.com/balcony").unwrap();
    let full = FullJid::try_from(jid.clone()).unwrap();
    assert_eq!(full, jid);
    assert_eq!(full.resource(), "balcony");
    let bare = jid.bare();
    assert_eq!(bare, "juliet@example.com");
    assert_eq!(bare, full.bare());
    assert_eq!(bare.node(), Some("juliet"));
    assert_eq!(bare.domain(), "example.com");
    assert_eq!(
        BareJid::try_from(jid.clone()).unwrap_err(),
        JidError::ResourceNotAllowed
    );
    assert_eq!(
        FullJid::try_from(Jid::from(bare.clone())).unwrap_err(),
        JidError::ResourceRequired
    );
    assert_eq!(
        BareJid::new("a@b/c").unwrap_err(),
        JidError::ResourceNotAllowed
    );
    assert_eq!(FullJid::new("a@b").unwrap_err(), JidError::ResourceRequired);

    let other = ResourcePart::new("orchard").unwrap();
    assert_eq!(jid.with_resource(&other), "juliet@example.com/orchard");
    assert_eq!(bare.with_resource(&other), "juliet@example.com/orchard");
    assert_eq!(bare.with_resource_str("x").unwrap(), "juliet@example.com/x");
    assert_eq!(
        jid.with_resource_str("").unwrap_err(),
        JidError::EmptyResource
    );

    assert_eq!(jid.node_part().unwrap(), NodePart::new("juliet").unwrap());
    assert_eq!(jid.domain_part(), DomainPart::new("example.com").unwrap());
    assert_eq!(
        jid.resource_part().unwrap(),
        other
            .clone()
            .as_str()
            .replace("orchard", "balcony")
            .as_str()
    );
    let built = Jid::from_parts(jid.node_part().as_ref(), &jid.domain_part(), Some(&other));
    assert_eq!(built, "juliet@example.com/orchard");
    let domain_only = BareJid::from(DomainPart::new("example.com").unwrap());
    assert_eq!(domain_only, "example.com");
    assert_eq!(domain_only.node(), None);
    assert_eq!(
        FullJid::from_parts(None, &jid.domain_part(), &other),
        "example.com/orchard"
    );

    match Jid::new("example.com").unwrap().try_into_full() {
        Ok(_) => panic!("bare JID"),
        Err(bare) => assert_eq!(bare, "example.com"),
    }
    assert_eq!(jid.clone().into_bare(), bare);
    // Display and Debug.
    assert_eq!(jid.to_string(), "juliet@example.com/balcony");
    assert_eq!(format!("{jid:?}"), "Jid(\"juliet@example.com/balcony\")");
}

#[test]
fn comparison_is_on_prepared_form() {
    use std::collections::{BTreeSet, HashSet};
    let a = Jid::new("JULIET@EXAMPLE.COM/Balcony").unwrap();
    let b = Jid::new("juliet@example.com./Balcony").unwrap();
    let c = Jid::new("juliet@example.com/balcony").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c, "resourceparts keep case");
    let set: HashSet<Jid> = [a.clone(), b.clone(), c.clone()].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert!(
        set.contains("juliet@example.com/Balcony"),
        "Borrow<str> lookup"
    );
    let ordered: BTreeSet<Jid> = [c.clone(), a.clone()].into_iter().collect();
    assert_eq!(ordered.iter().next().unwrap(), &a, "'B' < 'b'");
}

#[test]
fn xep0106_examples() {
    use starling_jid::{escape_node, unescape_node};
    // XEP-0106 §5.1, "JID Examples" (user input, escaped localpart).
    let cases: &[(&str, &str)] = &[
        ("space cadet", "space\\20cadet"),
        ("call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"),
        ("at&t guy", "at\\26t\\20guy"),
        ("d'artagnan", "d\\27artagnan"),
        ("/.fanboy", "\\2f.fanboy"),
        ("::foo::", "\\3a\\3afoo\\3a\\3a"),
        ("<foo>", "\\3cfoo\\3e"),
        ("user@host", "user\\40host"),
        // The XEP's table escapes every backslash here, but its business
        // rules say a backslash is escaped only where it starts an escape
        // sequence, and "foo\bar" is not modified; the rules are followed.
        ("c:\\net", "c\\3a\\net"),
        ("c:\\\\net", "c\\3a\\\\net"),
        ("c:\\cool stuff", "c\\3a\\cool\\20stuff"),
        ("c:\\5commas", "c\\3a\\5c5commas"),
        ("call me\\20", "call\\20me\\5c20"),
    ];
    for &(raw, escaped) in cases {
        assert_eq!(escape_node(raw).unwrap(), escaped, "escaping {raw:?}");
        assert_eq!(unescape_node(escaped), raw, "unescaping {escaped:?}");
        let node = NodePart::from_unescaped(raw).unwrap();
        assert_eq!(node, escaped);
        assert_eq!(node.unescaped(), raw);
        // The escaped form is a valid JID localpart.
        let jid = Jid::new(&format!("{escaped}@example.com")).unwrap();
        assert_eq!(jid.node(), Some(escaped));
    }
    // Exceptions (XEP-0106 §4.4): partial and unknown sequences are kept.
    for s in ["\\2plus\\2is\\4", "foo\\bar", "foob\\41r"] {
        assert_eq!(escape_node(s).unwrap(), s);
        assert_eq!(unescape_node(s), s);
    }
    // "\20" must not begin or end an escaped localpart.
    assert_eq!(escape_node(" x").unwrap_err(), JidError::EscapedSpaceAtEdge);
    assert_eq!(escape_node("x ").unwrap_err(), JidError::EscapedSpaceAtEdge);
    assert_eq!(escape_node("").unwrap_err(), JidError::EmptyLocalpart);
    for s in ["\\20callme", "callme\\20", "\\20callme\\20"] {
        assert_eq!(unescape_node(s), s);
    }
    assert_eq!(unescape_node("call\\20me"), "call me");
    // Upper-case hex is not an escape sequence.
    assert_eq!(unescape_node("a\\2Fb"), "a\\2Fb");
}
