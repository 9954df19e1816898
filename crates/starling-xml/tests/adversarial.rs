//! Hostile input: each must stop with the configured error, holding no more
//! memory than the limits allow, in time linear in the input however it is
//! fed. (No timing assertions: a quadratic case would simply never finish.)

mod common;

use common::{Tok, run_cuts, run_sized, run_whole};
use starling_xml::{
    Error, ErrorKind, Limit, Limits, Node, Restricted, Token, Tokenizer, TreeBuilder,
};

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// What feeding `input` in pieces of `size` bytes did.
struct Fed {
    error: Option<Error>,
    tokens: usize,
    text_bytes: usize,
    /// The most bytes buffered after a pull.
    max_buffered: usize,
    /// The deepest nesting seen.
    max_depth: usize,
}

/// Feeds `input` in pieces of `size`, pulling every token after each piece,
/// without keeping the tokens (as a server would), until an error.
fn feed(input: impl IntoIterator<Item = u8>, size: usize, limits: Limits, finish: bool) -> Fed {
    let mut tok = Tokenizer::with_limits(limits);
    let mut fed = Fed {
        error: None,
        tokens: 0,
        text_bytes: 0,
        max_buffered: 0,
        max_depth: 0,
    };
    let mut piece = Vec::with_capacity(size);
    let mut input = input.into_iter().peekable();
    while input.peek().is_some() || finish {
        piece.clear();
        piece.extend(input.by_ref().take(size));
        if piece.is_empty() {
            tok.finish();
        } else {
            tok.feed(&piece);
        }
        loop {
            match tok.next_token() {
                Ok(Some(t)) => {
                    fed.tokens += 1;
                    if let Token::Text(s) = t {
                        fed.text_bytes += s.len();
                    }
                    fed.max_depth = fed.max_depth.max(tok.depth());
                }
                Ok(None) => break,
                Err(e) => {
                    fed.error = Some(e);
                    return fed;
                }
            }
            fed.max_buffered = fed.max_buffered.max(tok.buffered());
        }
        fed.max_buffered = fed.max_buffered.max(tok.buffered());
        if piece.is_empty() {
            break;
        }
    }
    fed
}

fn kind(fed: &Fed) -> Option<ErrorKind> {
    fed.error.as_ref().map(|e| e.kind.clone())
}

const STREAM: &[u8] =
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";

fn repeat(s: &[u8], n: usize) -> impl Iterator<Item = u8> + '_ {
    s.iter().copied().cycle().take(s.len() * n)
}

fn chain<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    parts.into_iter().flat_map(|p| p.iter().copied()).collect()
}

// ---------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------

#[test]
fn billion_laughs() {
    let doc = b"<?xml version='1.0'?>\n<!DOCTYPE lolz [\n <!ENTITY lol 'lol'>\n \
        <!ENTITY lol1 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n \
        <!ENTITY lol2 '&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;'>\n]>\n<lolz>&lol2;</lolz>";
    for size in [1, 7, doc.len()] {
        let fed = feed(doc.iter().copied(), size, Limits::default(), true);
        assert_eq!(
            fed.error,
            Some(Error {
                kind: ErrorKind::RestrictedXml(Restricted::Doctype),
                offset: 22
            })
        );
        assert_eq!(fed.text_bytes, 0);
    }
    // The references alone, without the declarations: refused at the first.
    let doc = chain([STREAM, b"<message>&lol9;&lol9;</message>"]);
    let fed = feed(doc.iter().copied(), 3, Limits::default(), true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::RestrictedXml(Restricted::EntityReference),
            offset: 94
        })
    );
    // In an attribute value too.
    let doc = chain([STREAM, b"<message to='&lol9;'/>"]);
    let fed = feed(doc.iter().copied(), 3, Limits::default(), true);
    assert_eq!(
        kind(&fed),
        Some(ErrorKind::RestrictedXml(Restricted::EntityReference))
    );
}

#[test]
fn external_entities() {
    let docs: &[&[u8]] = &[
        b"<?xml version='1.0'?><!DOCTYPE foo [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><foo>&xxe;</foo>",
        b"<!DOCTYPE foo SYSTEM 'http://example.com/evil.dtd'><foo/>",
        b"<!DOCTYPE foo [<!ENTITY % p SYSTEM 'http://example.com/x'> %p;]><foo/>",
        b"<foo><!DOCTYPE foo [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]></foo>",
    ];
    for doc in docs {
        let fed = feed(doc.iter().copied(), 5, Limits::default(), true);
        assert_eq!(
            kind(&fed),
            Some(ErrorKind::RestrictedXml(Restricted::Doctype)),
            "{}",
            String::from_utf8_lossy(doc)
        );
        assert_eq!(fed.text_bytes, 0);
    }
    let fed = feed(
        b"<foo>&xxe;</foo>".iter().copied(),
        2,
        Limits::default(),
        true,
    );
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::RestrictedXml(Restricted::EntityReference),
            offset: 5
        })
    );
    // A parameter-entity reference outside a DTD is only text.
    let run = run_whole(b"<foo>%xxe;</foo>", Limits::default());
    assert_eq!(run.merged()[1], Tok::text("%xxe;"));
}

// ---------------------------------------------------------------------------
// Nesting, attributes, declarations
// ---------------------------------------------------------------------------

#[test]
fn deep_nesting() {
    let n = 100_000;
    let doc: Vec<u8> = repeat(b"<a>", n).collect();
    let limits = Limits::default();
    for size in [1, 4 * KIB, doc.len()] {
        let fed = feed(doc.iter().copied(), size, limits, true);
        assert_eq!(
            fed.error,
            Some(Error {
                kind: ErrorKind::LimitExceeded(Limit::Depth),
                offset: 64 * 3
            })
        );
        assert_eq!(fed.max_depth, 64);
    }
    // That deep a stanza is also far over the default byte limit.
    let doc: Vec<u8> = repeat(b"<a>", n).collect();
    let limits = Limits {
        max_depth: 200_000,
        ..Limits::default()
    };
    let fed = feed(doc.iter().copied(), 4 * KIB, limits, true);
    assert_eq!(
        kind(&fed),
        Some(ErrorKind::LimitExceeded(Limit::ElementBytes))
    );
    // With the limits raised the tokenizer itself copes (it does not
    // recurse), opening and closing every level.
    let limits = Limits {
        max_depth: 200_000,
        max_element_bytes: 4 * MIB,
        ..Limits::default()
    };
    let doc = chain([
        &repeat(b"<a>", n).collect::<Vec<_>>()[..],
        &repeat(b"</a>", n).collect::<Vec<_>>(),
    ]);
    let fed = feed(doc.iter().copied(), 4 * KIB, limits, true);
    assert_eq!(fed.error, None);
    assert_eq!(fed.tokens, 2 * n);
    assert_eq!(fed.max_depth, n);
}

#[test]
fn many_attributes() {
    let n = 100_000;
    let mut doc = b"<r".to_vec();
    let mut offsets = Vec::new();
    for i in 0..n {
        offsets.push(doc.len() + 1);
        doc.extend_from_slice(format!(" attr{i}=''").as_bytes());
    }
    doc.extend_from_slice(b"/>");
    assert!(doc.len() > MIB);
    // By default the tag is too big long before it ends.
    let fed = feed(doc.iter().copied(), 4 * KIB, Limits::default(), true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::LimitExceeded(Limit::ElementBytes),
            offset: 0
        })
    );
    assert!(
        fed.max_buffered <= 256 * KIB + 4 * KIB,
        "{}",
        fed.max_buffered
    );
    // Allowed the bytes, it has too many attributes.
    let big = Limits {
        max_element_bytes: 4 * MIB,
        ..Limits::default()
    };
    let fed = feed(doc.iter().copied(), 4 * KIB, big, true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::LimitExceeded(Limit::Attributes),
            offset: offsets[128] as u64
        })
    );
    // Allowed them all, it is fine; duplicates are found without comparing
    // every pair.
    let huge = Limits {
        max_attributes: n + 1,
        ..big
    };
    let fed = feed(doc.iter().copied(), 64 * KIB, huge, true);
    assert_eq!(fed.error, None);
    let at = doc.len() - 2;
    doc.splice(at..at, b" attr77777=''".iter().copied());
    let fed = feed(doc.iter().copied(), 64 * KIB, huge, true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::DuplicateAttribute,
            offset: at as u64 + 1
        })
    );
}

#[test]
fn huge_attribute_value() {
    let value = 10 * MIB;
    let doc = || {
        chain([&b"<r a='"[..]])
            .into_iter()
            .chain(repeat(b"x", value))
            .chain(*b"'/>")
    };
    let fed = feed(doc(), 4 * KIB, Limits::default(), true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::LimitExceeded(Limit::ElementBytes),
            offset: 0
        })
    );
    assert!(
        fed.max_buffered <= 256 * KIB + 4 * KIB,
        "{}",
        fed.max_buffered
    );
    // In a stanza, the stanza's budget.
    let limits = Limits {
        max_element_bytes: 64 * KIB,
        ..Limits::default()
    };
    let stanza = STREAM
        .iter()
        .copied()
        .chain(*b"<message><body a='")
        .chain(repeat(b"\xC3\xA9>", value / 3));
    let fed = feed(stanza, 4 * KIB, limits, true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::LimitExceeded(Limit::ElementBytes),
            offset: STREAM.len() as u64 + 9
        })
    );
    assert!(
        fed.max_buffered <= 64 * KIB + 4 * KIB,
        "{}",
        fed.max_buffered
    );
}

#[test]
fn namespace_declaration_flood() {
    // On one element: a hundred declarations are too many, five thousand
    // too many attributes already.
    let flood = |n: usize| {
        let mut doc = b"<r".to_vec();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(doc.len() as u64 + 1);
            doc.extend_from_slice(format!(" xmlns:p{i}='urn:example:{i}'").as_bytes());
        }
        doc.extend_from_slice(b"/>");
        (doc, offsets)
    };
    let (doc, offsets) = flood(100);
    let fed = feed(doc.iter().copied(), 4 * KIB, Limits::default(), true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::LimitExceeded(Limit::NamespaceDecls),
            offset: offsets[32]
        })
    );
    let (mut doc, offsets) = flood(5_000);
    let fed = feed(doc.iter().copied(), 4 * KIB, Limits::default(), true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::LimitExceeded(Limit::Attributes),
            offset: offsets[128]
        })
    );
    // Allowed all of them, a duplicate at the end is still found.
    let limits = Limits {
        max_namespace_decls: 20_000,
        max_attributes: 20_000,
        max_element_bytes: 4 * MIB,
        ..Limits::default()
    };
    let fed = feed(doc.iter().copied(), 64 * KIB, limits, true);
    assert_eq!(fed.error, None);
    let at = doc.len() - 2;
    doc.splice(at..at, b" xmlns:p2500='u'".iter().copied());
    let fed = feed(doc.iter().copied(), 64 * KIB, limits, true);
    assert_eq!(
        fed.error,
        Some(Error {
            kind: ErrorKind::DuplicateAttribute,
            offset: at as u64 + 1
        })
    );

    // On every level, as deep as allowed, each stanza a fresh flood.
    let decls: String = (0..32)
        .map(|i| format!(" xmlns:p{i}='urn:example:{i}'"))
        .collect();
    // 32 declarations and 96 attributes: 128, the most allowed.
    let attrs: String = (0..96).map(|i| format!(" p{}:a{i}=''", i % 32)).collect();
    let mut stanza = String::new();
    for _ in 0..63 {
        stanza.push_str(&format!("<e{decls}{attrs}>"));
    }
    for _ in 0..63 {
        stanza.push_str("</e>");
    }
    let doc: Vec<u8> = STREAM
        .iter()
        .copied()
        .chain(repeat(stanza.as_bytes(), 5))
        .collect();
    let limits = Limits {
        max_element_bytes: 2 * MIB,
        ..Limits::default()
    };
    let fed = feed(doc.iter().copied(), 16 * KIB, limits, true);
    assert_eq!(kind(&fed), Some(ErrorKind::UnexpectedEof));
    assert_eq!(fed.tokens, 1 + 5 * 126);
    // One level more is refused.
    let doc = chain([
        STREAM,
        format!("{stanza}<e><e>").repeat(1).as_bytes(),
        &repeat(b"<e>", 63).collect::<Vec<_>>(),
    ]);
    let fed = feed(doc.iter().copied(), 16 * KIB, limits, true);
    assert_eq!(kind(&fed), Some(ErrorKind::LimitExceeded(Limit::Depth)));
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

#[test]
fn invalid_utf8_split_across_feeds() {
    let bad: &[&[u8]] = &[
        b"\x80",
        b"\xBF",
        b"\xC3\x28",
        b"\xC0\xAF",
        b"\xC1\xBF",
        b"\xE2\x28\xA1",
        b"\xE2\x82\x28",
        b"\xE0\x80\xAF",
        b"\xED\xA0\x80",
        b"\xED\xBF\xBF",
        b"\xF0\x28\x8C\xBC",
        b"\xF0\x90\x28\xBC",
        b"\xF0\x80\x80\xAF",
        b"\xF4\x90\x80\x80",
        b"\xF8\x88\x80\x80\x80",
        b"\xFE",
        b"\xFF",
    ];
    for seq in bad {
        for (before, after) in [
            (&b"<r>ab"[..], &b"cd</r>"[..]),
            (b"<r a='x", b"'/>"),
            (b"<r", b"/>"),
            (b"<r><![CDATA[", b"]]></r>"),
            (b"<r></r", b">"),
        ] {
            let doc = chain([before, seq, after]);
            let want = Some(Error {
                kind: ErrorKind::InvalidUtf8,
                offset: before.len() as u64,
            });
            for cut in 1..doc.len() {
                let run = run_cuts(&doc, &[cut], Limits::default(), true);
                assert_eq!(run.error, want, "{doc:?} cut at {cut}");
            }
            assert_eq!(run_sized(&doc, 1, Limits::default()).error, want, "{doc:?}");
            // In text cut into pieces, wherever the pieces fall.
            let small = Limits {
                max_text_chunk: 48,
                ..Limits::default()
            };
            for pad in 40..56 {
                let doc = chain([b"<r>", &vec![b'x'; pad][..], seq, b"</r>"]);
                let want = Some(Error {
                    kind: ErrorKind::InvalidUtf8,
                    offset: 3 + pad as u64,
                });
                assert_eq!(run_sized(&doc, 1, small).error, want);
                assert_eq!(run_whole(&doc, small).error, want);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Big constructs fed one byte at a time: linear work
// ---------------------------------------------------------------------------

#[test]
fn one_megabyte_tag_fed_one_byte_per_call() {
    let limits = Limits {
        max_element_bytes: 4 * MIB,
        ..Limits::default()
    };
    // Quotes hide `>`; the scan must resume, not restart, after each byte.
    let doc: Vec<u8> = chain([
        &b"<r a='"[..],
        &repeat(b"x>\"", 350 * KIB).collect::<Vec<_>>(),
        b"' b=\"'>'\">",
    ]);
    assert!(doc.len() > MIB);
    let mut tok = Tokenizer::with_limits(limits);
    let mut calls = 0;
    for (i, b) in doc.iter().enumerate() {
        tok.feed(std::slice::from_ref(b));
        calls += 1;
        match tok.next_token() {
            Ok(None) => assert!(i + 1 < doc.len()),
            Ok(Some(Token::Start(s))) => {
                assert_eq!(i + 1, doc.len());
                assert_eq!(s.attr("a").map(str::len), Some(3 * 350 * KIB));
                assert_eq!(s.attr("b"), Some("'>'"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(calls, doc.len());
    assert_eq!(tok.buffered(), 0);
}

#[test]
fn one_megabyte_of_text_and_cdata_fed_one_byte_per_call() {
    let limits = Limits {
        max_text_chunk: 4 * KIB,
        ..Limits::default()
    };
    let text: Vec<u8> = repeat("a]\r\n&amp;\u{1f600}".as_bytes(), 64 * KIB).collect();
    let cdata: Vec<u8> = repeat("]]\r\u{e9}<&".as_bytes(), 128 * KIB).collect();
    let doc = chain([&b"<r>"[..], &text, b"<![CDATA[", &cdata, b"]]></r>"]);
    assert!(doc.len() > MIB);
    let fed = feed(doc.iter().copied(), 1, limits, true);
    assert!(fed.error.is_none(), "{:?}", fed.error);
    assert_eq!(
        fed.text_bytes,
        64 * KIB * "a]\n&\u{1f600}".len() + 128 * KIB * "]]\n\u{e9}<&".len()
    );
    // A piece, and the two bytes that might start `]]>`.
    assert!(fed.max_buffered <= 4 * KIB + 3, "{}", fed.max_buffered);
}

#[test]
fn one_megabyte_of_white_space_around_the_root() {
    let doc: Vec<u8> = repeat(b" \r\n\t", 256 * KIB)
        .chain(*b"<r/>")
        .chain(repeat(b"\n", MIB))
        .collect();
    let fed = feed(doc.iter().copied(), 1, Limits::default(), true);
    assert!(fed.error.is_none());
    assert_eq!(fed.tokens, 2);
    assert!(fed.max_buffered <= 4, "{}", fed.max_buffered);
}

// ---------------------------------------------------------------------------
// Memory stays bounded
// ---------------------------------------------------------------------------

#[test]
fn huge_text_node_memory_is_bounded() {
    // Text directly inside the stream root (not in a stanza) is not
    // limited, only cut into pieces.
    let limits = Limits::default();
    let n = 8 * MIB;
    let doc = STREAM
        .iter()
        .copied()
        .chain(repeat(b"lorem ipsum \xE2\x82\xAC ", n / 16));
    let fed = feed(doc, 4 * KIB, limits, false);
    assert!(fed.error.is_none());
    // All but the last piece, which waits for the text to go on or end.
    assert_eq!(fed.text_bytes, n - limits.max_text_chunk);
    assert!(
        fed.max_buffered <= limits.max_text_chunk + 4 * KIB,
        "{}",
        fed.max_buffered
    );
    // In a stanza it counts against the stanza's bytes.
    let doc = STREAM
        .iter()
        .copied()
        .chain(*b"<message><body>")
        .chain(repeat(b"lorem ipsum \xE2\x82\xAC ", n / 16));
    let fed = feed(doc, 4 * KIB, limits, false);
    assert_eq!(
        kind(&fed),
        Some(ErrorKind::LimitExceeded(Limit::ElementBytes))
    );
    assert!(fed.text_bytes <= limits.max_element_bytes);
    assert!(
        fed.max_buffered <= limits.max_text_chunk + 4 * KIB,
        "{}",
        fed.max_buffered
    );
    // The same with CDATA.
    let doc = STREAM
        .iter()
        .copied()
        .chain(*b"<message><body><![CDATA[")
        .chain(repeat(b"lorem ipsum \xE2\x82\xAC ", n / 16));
    let fed = feed(doc, 4 * KIB, limits, false);
    assert_eq!(
        kind(&fed),
        Some(ErrorKind::LimitExceeded(Limit::ElementBytes))
    );
    assert!(
        fed.max_buffered <= limits.max_text_chunk + 4 * KIB,
        "{}",
        fed.max_buffered
    );
}

#[test]
fn unterminated_constructs_are_bounded() {
    let limits = Limits {
        max_element_bytes: 64 * KIB,
        ..Limits::default()
    };
    let too_big = Some(ErrorKind::LimitExceeded(Limit::ElementBytes));
    let cases: Vec<(Vec<u8>, Option<ErrorKind>)> = vec![
        // A tag that never ends.
        (
            b"<r".iter().copied().chain(repeat(b" a", MIB)).collect(),
            too_big.clone(),
        ),
        // A quote that never closes.
        (
            b"<r a='"
                .iter()
                .copied()
                .chain(repeat(b"<>", MIB))
                .collect(),
            too_big.clone(),
        ),
        // An end tag that never ends.
        (
            b"<r></r".iter().copied().chain(repeat(b" ", MIB)).collect(),
            too_big.clone(),
        ),
        // `<` after `<`.
        (
            b"<r>".iter().copied().chain(repeat(b"<", MIB)).collect(),
            too_big.clone(),
        ),
        // A declaration that never ends.
        (
            b"<?xml version='1.0'"
                .iter()
                .copied()
                .chain(repeat(b" ", MIB))
                .collect(),
            Some(ErrorKind::BadDeclaration),
        ),
        // A stanza that never ends.
        (
            chain([STREAM, b"<message>"])
                .into_iter()
                .chain(repeat(b"<a/>", MIB))
                .collect(),
            too_big.clone(),
        ),
        // A name too long.
        (
            b"<r><"
                .iter()
                .copied()
                .chain(repeat(b"n", 300))
                .chain(*b"/>")
                .collect(),
            Some(ErrorKind::LimitExceeded(Limit::NameLength)),
        ),
        // A reference that never ends.
        (
            b"<r>&".iter().copied().chain(repeat(b"a", MIB)).collect(),
            Some(ErrorKind::InvalidReference),
        ),
    ];
    for (doc, want) in cases {
        for size in [1, 4 * KIB] {
            if size == 1 && doc.len() > 300 * KIB {
                // One byte at a time up to the limit is enough.
                let fed = feed(doc[..200 * KIB].iter().copied(), 1, limits, false);
                assert!(fed.max_buffered <= 64 * KIB + 1, "{}", fed.max_buffered);
                continue;
            }
            let fed = feed(doc.iter().copied(), size, limits, true);
            assert_eq!(
                kind(&fed),
                want,
                "{:?}",
                String::from_utf8_lossy(&doc[..40])
            );
            assert!(fed.max_buffered <= 64 * KIB + size, "{}", fed.max_buffered);
        }
    }
}

#[test]
fn fifty_thousand_small_stanzas() {
    let stanza = b"<presence/><message to='a@b'><body>hi &amp; bye</body></message>\n";
    let n = 50_000;
    let doc = STREAM.iter().copied().chain(repeat(stanza, n));
    let mut tok = Tokenizer::new();
    let mut tokens = 0;
    let mut piece = Vec::new();
    let mut doc = doc.peekable();
    while doc.peek().is_some() {
        piece.clear();
        piece.extend(doc.by_ref().take(1500));
        tok.feed(&piece);
        while let Some(_t) = tok.next_token().unwrap() {
            tokens += 1;
        }
        assert!(tok.buffered() < 1500 + stanza.len());
    }
    // The header, then 8 tokens a stanza (the last white space waits).
    assert_eq!(tokens, 1 + n * 8 - 1);
    // Only the white space after the last stanza waits.
    assert_eq!(tok.buffered(), 1);
    tok.shrink();
    assert_eq!(tok.depth(), 1);
}

#[test]
fn text_flood_of_brackets_carriage_returns_and_references() {
    let limits = Limits {
        max_text_chunk: 1000,
        ..Limits::default()
    };
    for (unit, decoded) in [
        (&b"]"[..], "]"),
        (b"\r", "\n"),
        (b"&#x5D;", "]"),
        (b"\r\n", "\n"),
        (b"]]>", ""),
    ] {
        let doc = b"<r>"
            .iter()
            .copied()
            .chain(repeat(unit, 200_000))
            .chain(*b"</r>");
        let fed = feed(doc, 3, limits, true);
        if decoded.is_empty() {
            assert_eq!(
                fed.error,
                Some(Error {
                    kind: ErrorKind::CdataEndInText,
                    offset: 3
                })
            );
        } else {
            assert!(fed.error.is_none());
            assert_eq!(fed.text_bytes, 200_000);
        }
        assert!(fed.max_buffered <= 1003, "{}", fed.max_buffered);
    }
}

/// Regression: the tree builder merged each text piece into the text so far
/// by copying it, so text cut into many pieces cost quadratic time.
#[test]
fn tree_builder_joins_many_text_pieces_in_linear_time() {
    let limits = Limits {
        max_text_chunk: 0,
        max_element_bytes: 16 * MIB,
        ..Limits::default()
    };
    let n = 4 * MIB;
    let doc: Vec<u8> = chain([STREAM, b"<message><body>"])
        .into_iter()
        .chain(repeat(b"0123456789abcde\n", n / 16))
        .chain(*b"</body><x/>tail</message>")
        .collect();
    let mut tok = Tokenizer::with_limits(limits);
    let mut tree = TreeBuilder::new();
    let mut got = None;
    let mut pieces = 0;
    for piece in doc.chunks(64 * KIB) {
        tok.feed(piece);
        while let Some(t) = tok.next_token().unwrap() {
            pieces += usize::from(matches!(t, Token::Text(_)));
            if matches!(&t, Token::Start(s) if s.name == "stream") {
                continue;
            }
            if let Some(e) = tree.push(t) {
                got = Some(e);
            }
        }
    }
    assert!(pieces > n / 48);
    let message = got.unwrap();
    let body = message.get_child("body", "jabber:client").unwrap();
    assert_eq!(body.nodes().len(), 1);
    assert_eq!(body.text().len(), n);
    assert_eq!(message.nodes().len(), 3);
    assert_eq!(message.nodes()[2], Node::Text("tail".into()));
}
