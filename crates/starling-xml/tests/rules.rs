//! One test (or a few) for every rule of the restricted XML of RFC 6120 §11,
//! Namespaces in XML, and the tokenizer's contract.
//!
//! Every error case is also fed one byte at a time and must fail the same
//! way, at the same offset.

mod common;

use common::{Tok, assert_invariant, run_cuts, run_sized, run_whole};
use starling_xml::names::{XML_NS, XMLNS_NS};
use starling_xml::{
    Element, Error, ErrorKind, Limit, Limits, Node, Restricted, Token, Tokenizer, TreeBuilder,
    Writer, XmlDecl,
};

const STREAMS_NS: &str = "http://etherx.jabber.org/streams";

/// The tokens of a complete document fed whole (text merged); panics on error.
fn toks(input: &str) -> Vec<Tok> {
    let run = run_whole(input.as_bytes(), Limits::default());
    assert_eq!(run.error, None, "{input:?}");
    run.merged()
}

/// The tokens of an open stream (not finished), fed whole.
fn stream_toks(input: &[u8]) -> Vec<Tok> {
    let run = run_cuts(input, &[], Limits::default(), false);
    assert_eq!(run.error, None, "{:?}", String::from_utf8_lossy(input));
    run.merged()
}

/// The error `input` stops with (fed whole, then finished), after checking
/// that feeding it one byte at a time gives the same tokens and error.
fn error_with(input: &[u8], limits: Limits) -> Error {
    let ones: Vec<usize> = (1..input.len()).collect();
    assert_invariant(input, &ones, limits);
    run_whole(input, limits)
        .error
        .unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)))
}

fn error(input: &[u8]) -> Error {
    error_with(input, Limits::default())
}

/// Asserts the kind and offset of the error `input` stops with.
#[track_caller]
fn fails(input: &[u8], kind: ErrorKind, offset: u64) {
    assert_eq!(
        error(input),
        Error { kind, offset },
        "{:?}",
        String::from_utf8_lossy(input)
    );
}

#[track_caller]
fn fails_with(input: &[u8], limits: Limits, kind: ErrorKind, offset: u64) {
    assert_eq!(
        error_with(input, limits),
        Error { kind, offset },
        "{:?}",
        String::from_utf8_lossy(input)
    );
}

/// The merged text of a document `<r>…</r>`.
fn text_of(body: &str) -> String {
    let doc = format!("<r>{body}</r>");
    let t = toks(&doc);
    match &t[..] {
        [Tok::Start(_), Tok::End { .. }] => String::new(),
        [Tok::Start(_), Tok::Text(s), Tok::End { .. }] => s.clone(),
        other => panic!("{other:?}"),
    }
}

/// The attributes of the root of `doc`.
fn attrs_of(doc: &str) -> Vec<(String, String, String)> {
    match toks(doc).into_iter().next() {
        Some(Tok::Start(s)) => s.attrs,
        other => panic!("{other:?}"),
    }
}

fn restricted(r: Restricted) -> ErrorKind {
    ErrorKind::RestrictedXml(r)
}

// ---------------------------------------------------------------------------
// The XML declaration and the encoding
// ---------------------------------------------------------------------------

#[test]
fn declaration_is_optional() {
    assert_eq!(
        toks("<r/>"),
        vec![Tok::start("r", "").empty(), Tok::end("r", "")]
    );
}

#[test]
fn declaration_is_reported_with_its_fields() {
    let t = toks("<?xml version='1.0'?><r/>");
    assert_eq!(
        t[0],
        Tok::Decl(XmlDecl {
            encoding: None,
            standalone: None
        })
    );
    let t = toks("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\" ?>\n<r/>");
    assert_eq!(
        t[0],
        Tok::Decl(XmlDecl {
            encoding: Some("UTF-8".into()),
            standalone: Some(true)
        })
    );
    let t = toks("<?xml\tversion = '1.0'\r\nencoding='utf-8' standalone='no'?><r/>");
    assert_eq!(
        t[0],
        Tok::Decl(XmlDecl {
            encoding: Some("utf-8".into()),
            standalone: Some(false)
        })
    );
}

#[test]
fn declaration_version_must_be_1_0() {
    fails(
        b"<?xml version='1.1'?><r/>",
        ErrorKind::UnsupportedVersion("1.1".into()),
        0,
    );
    fails(
        b"<?xml version='2.0' encoding='UTF-8'?><r/>",
        ErrorKind::UnsupportedVersion("2.0".into()),
        0,
    );
}

#[test]
fn declaration_encoding_must_be_utf8() {
    fails(
        b"<?xml version='1.0' encoding='ISO-8859-1'?><r/>",
        ErrorKind::UnsupportedEncoding("ISO-8859-1".into()),
        0,
    );
    fails(
        b"<?xml version='1.0' encoding='UTF-16'?><r/>",
        ErrorKind::UnsupportedEncoding("UTF-16".into()),
        0,
    );
    // After a byte order mark the offset counts it.
    fails(
        b"\xEF\xBB\xBF<?xml version='1.0' encoding='latin1'?><r/>",
        ErrorKind::UnsupportedEncoding("latin1".into()),
        3,
    );
}

#[test]
fn declaration_only_at_the_very_start() {
    fails(
        b"<r><?xml version='1.0'?></r>",
        ErrorKind::BadDeclaration,
        3,
    );
    fails(b" <?xml version='1.0'?><r/>", ErrorKind::BadDeclaration, 1);
    fails(b"\n<?xml version='1.0'?><r/>", ErrorKind::BadDeclaration, 1);
    fails(
        b"<?xml version='1.0'?><?xml version='1.0'?><r/>",
        ErrorKind::BadDeclaration,
        21,
    );
    fails(b"<r/><?xml version='1.0'?>", ErrorKind::JunkAfterRoot, 4);
    // Inside a stream, right after a stanza (what a restart would see
    // without `Tokenizer::restart`).
    fails(
        b"<s><a/><?xml version='1.0'?>",
        ErrorKind::BadDeclaration,
        7,
    );
}

#[test]
fn malformed_declarations() {
    for d in [
        &b"<?xml?><r/>"[..],
        b"<?xml ?><r/>",
        b"<?xml encoding='UTF-8'?><r/>",
        b"<?xml version='1.0' standalone='maybe'?><r/>",
        b"<?xml version='1.0' foo='x'?><r/>",
        b"<?xml version='1.0'encoding='UTF-8'?><r/>",
        b"<?xml version='1.0' standalone='yes' encoding='UTF-8'?><r/>",
        b"<?xml version=1.0?><r/>",
        b"<?xml version='1.0\"?><r/>",
    ] {
        fails(d, ErrorKind::BadDeclaration, 0);
    }
    // An over-long declaration is refused without waiting for its end.
    let mut long = b"<?xml version='1.0'".to_vec();
    long.extend(std::iter::repeat_n(b' ', 600));
    fails(&long, ErrorKind::BadDeclaration, 0);
    long.extend_from_slice(b"?><r/>");
    fails(&long, ErrorKind::BadDeclaration, 0);
    // Declarations just short of and just over the limit (512 bytes).
    let decl = |n: usize| [&b"<?xml version='1.0'"[..], &vec![b' '; n - 21], b"?><r/>"].concat();
    assert_eq!(run_whole(&decl(512), Limits::default()).error, None);
    fails(&decl(513), ErrorKind::BadDeclaration, 0);
}

#[test]
fn processing_instructions_that_look_like_declarations() {
    // `xml-stylesheet` is a processing instruction, refused as such.
    fails(
        b"<?xml-stylesheet href='a'?><r/>",
        restricted(Restricted::ProcessingInstruction),
        0,
    );
    fails(
        b"<?xmlfoo?><r/>",
        restricted(Restricted::ProcessingInstruction),
        0,
    );
    fails(
        b"<r><?xml-foo?></r>",
        restricted(Restricted::ProcessingInstruction),
        3,
    );
}

#[test]
fn utf8_byte_order_mark_is_accepted() {
    let t = toks("\u{feff}<?xml version='1.0'?><r/>");
    assert!(matches!(t[0], Tok::Decl(_)));
    assert_eq!(toks("\u{feff}<r/>").len(), 2);
    // Only one, and only at the very start.
    fails(
        "\u{feff}\u{feff}<r/>".as_bytes(),
        ErrorKind::TextOutsideRoot,
        3,
    );
    fails(" \u{feff}<r/>".as_bytes(), ErrorKind::TextOutsideRoot, 1);
}

#[test]
fn utf16_and_utf32_are_refused() {
    let utf16 = |s: &str| ErrorKind::UnsupportedEncoding(s.into());
    fails(b"\xFE\xFF\0<\0r\0/\0>", utf16("UTF-16"), 0);
    fails(b"\xFF\xFE<\0r\0/\0>\0", utf16("UTF-16"), 0);
    fails(b"\xFF\xFE\0\0<\0\0\0", utf16("UTF-16"), 0);
    fails(b"<\0r\0/\0>\0", utf16("UTF-16 or UTF-32"), 0);
    fails(b"\0<\0r\0/\0>", utf16("UTF-16 or UTF-32"), 0);
    fails(b"\0\0\xFE\xFF\0\0\0<", utf16("UTF-16 or UTF-32"), 0);
    // A lone first byte is judged with the second, whatever the chunking.
    fails(b"\xFE", ErrorKind::TextOutsideRoot, 0);
}

/// Regression: the encoding signature was judged on whatever bytes the
/// first feed happened to hold.
#[test]
fn encoding_signature_split_across_feeds() {
    for input in [
        &b"\xFE\xFF\0<"[..],
        b"\xFF\xFE<\0",
        b"<\0r\0",
        b"\xEF\xBB\xBF<r/>",
        b"\xEF\xBB\xBF\xEF\xBB\xBF<r/>",
        "\u{ff00}<r/>".as_bytes(),
        b"\xEF\xBB",
        b"\xEF",
    ] {
        for cut in 1..input.len() {
            assert_invariant(input, &[cut], Limits::default());
        }
        let ones: Vec<usize> = (1..input.len()).collect();
        assert_invariant(input, &ones, Limits::default());
    }
    // Fed one byte at a time, a BOM then a root.
    let run = run_sized(b"\xEF\xBB\xBF<r/>", 1, Limits::default());
    assert_eq!(run.error, None);
}

// ---------------------------------------------------------------------------
// Constructs RFC 6120 §11.1 forbids
// ---------------------------------------------------------------------------

#[test]
fn comments_are_refused() {
    fails(b"<r><!-- c --></r>", restricted(Restricted::Comment), 3);
    fails(b"<!-- c --><r/>", restricted(Restricted::Comment), 0);
    fails(
        b"<?xml version='1.0'?><!----><r/>",
        restricted(Restricted::Comment),
        21,
    );
    fails(b"<r><!-", restricted(Restricted::Comment), 3);
}

#[test]
fn processing_instructions_are_refused() {
    fails(
        b"<r><?php echo 1; ?></r>",
        restricted(Restricted::ProcessingInstruction),
        3,
    );
    fails(
        b"<?target data?><r/>",
        restricted(Restricted::ProcessingInstruction),
        0,
    );
    fails(
        b"<r>text<?pi?></r>",
        restricted(Restricted::ProcessingInstruction),
        7,
    );
}

#[test]
fn document_type_declarations_are_refused() {
    fails(b"<!DOCTYPE r><r/>", restricted(Restricted::Doctype), 0);
    fails(
        b"<?xml version='1.0'?>\n<!DOCTYPE r [<!ENTITY x 'y'>]><r>&x;</r>",
        restricted(Restricted::Doctype),
        22,
    );
    fails(
        b"<r><!ENTITY x 'y'></r>",
        restricted(Restricted::Doctype),
        3,
    );
    fails(
        b"<r><!ELEMENT r ANY></r>",
        restricted(Restricted::Doctype),
        3,
    );
}

#[test]
fn entity_references_are_refused() {
    fails(b"<r>&foo;</r>", restricted(Restricted::EntityReference), 3);
    fails(
        b"<r>a &nbsp; b</r>",
        restricted(Restricted::EntityReference),
        5,
    );
    fails(
        b"<r a='&foo;'/>",
        restricted(Restricted::EntityReference),
        6,
    );
    fails(
        b"<r xmlns='&ns;'/>",
        restricted(Restricted::EntityReference),
        10,
    );
    fails(
        "<r>caf\u{e9}&\u{e9};</r>".as_bytes(),
        restricted(Restricted::EntityReference),
        8,
    );
}

/// The billion-laughs pattern fails at its first step.
#[test]
fn billion_laughs_is_refused_at_once() {
    let doc = b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]><lolz>&lol2;</lolz>";
    fails(doc, restricted(Restricted::Doctype), 21);
}

// ---------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------

#[test]
fn the_five_predefined_entities() {
    assert_eq!(text_of("&lt;&gt;&amp;&apos;&quot;"), "<>&'\"");
    assert_eq!(
        attrs_of("<r a='&lt;&gt;&amp;&apos;&quot;'/>")[0].2,
        "<>&'\""
    );
    // Doubly escaped stays escaped once.
    assert_eq!(text_of("&amp;lt;"), "&lt;");
}

#[test]
fn character_references() {
    assert_eq!(text_of("&#65;&#x42;&#x63;&#0000068;&#x00045;"), "ABcDE");
    assert_eq!(
        text_of("&#x1F600;&#128512;&#xe9;&#xE9;"),
        "\u{1f600}\u{1f600}\u{e9}\u{e9}"
    );
    assert_eq!(
        text_of("&#x10FFFF;&#xFFFD;&#xE000;&#xD7FF;&#x20;"),
        "\u{10ffff}\u{fffd}\u{e000}\u{d7ff} "
    );
    assert_eq!(attrs_of("<r a='&#x1F600;&#60;'/>")[0].2, "\u{1f600}<");
}

#[test]
fn character_references_must_be_xml_chars() {
    fails(b"<r>&#0;</r>", ErrorKind::IllegalChar(0), 3);
    fails(b"<r>ab&#x0;</r>", ErrorKind::IllegalChar(0), 5);
    fails(b"<r>&#1;</r>", ErrorKind::IllegalChar(1), 3);
    fails(b"<r>&#x1F;</r>", ErrorKind::IllegalChar(0x1f), 3);
    fails(b"<r>&#xFFFE;</r>", ErrorKind::IllegalChar(0xfffe), 3);
    fails(b"<r>&#65535;</r>", ErrorKind::IllegalChar(0xffff), 3);
    fails(b"<r>&#xD800;</r>", ErrorKind::IllegalChar(0xd800), 3);
    fails(b"<r>&#xDFFF;</r>", ErrorKind::IllegalChar(0xdfff), 3);
    fails(b"<r>&#x110000;</r>", ErrorKind::IllegalChar(0x110000), 3);
    fails(b"<r a='x&#0;'/>", ErrorKind::IllegalChar(0), 7);
}

#[test]
fn malformed_references() {
    for (body, at) in [
        ("&#x;", 3),
        ("&#;", 3),
        ("&;", 3),
        ("& b", 3),
        ("a &amp b", 5),
        ("&amp", 3),
        ("&#X41;", 3),
        ("&#12a;", 3),
        ("&#xG;", 3),
        ("&#-1;", 3),
        ("&#99999999999;", 3),
        ("&a b;", 3),
        ("&#x41", 3),
    ] {
        fails(
            format!("<r>{body}</r>").as_bytes(),
            ErrorKind::InvalidReference,
            at,
        );
    }
    fails(b"<r a='&amp'/>", ErrorKind::InvalidReference, 6);
    fails(b"<r a='&'/>", ErrorKind::InvalidReference, 6);
}

/// Regression: a reference was judged by all the text up to its `;`, so a
/// long one could be judged differently when the text was cut into pieces.
#[test]
fn over_long_references_are_refused() {
    // 40 bytes between `&` and `;` is too many, whatever they are.
    let name = "a".repeat(39);
    fails(
        format!("<r>&{name};</r>").as_bytes(),
        restricted(Restricted::EntityReference),
        3,
    );
    let name = "a".repeat(40);
    fails(
        format!("<r>&{name};</r>").as_bytes(),
        ErrorKind::InvalidReference,
        3,
    );
    let zeros = "0".repeat(40);
    fails(
        format!("<r>&#x{zeros}41;</r>").as_bytes(),
        ErrorKind::InvalidReference,
        3,
    );
    // With text cut into pieces the same.
    let long = format!("<r>{}&{};</r>", "x".repeat(30), "a".repeat(60));
    let limits = Limits {
        max_text_chunk: 48,
        ..Limits::default()
    };
    fails_with(long.as_bytes(), limits, ErrorKind::InvalidReference, 33);
    let limits = Limits::default();
    fails_with(long.as_bytes(), limits, ErrorKind::InvalidReference, 33);
}

// ---------------------------------------------------------------------------
// Characters
// ---------------------------------------------------------------------------

#[test]
fn invalid_utf8_is_refused() {
    fails(b"<r>a\xFFb</r>", ErrorKind::InvalidUtf8, 4);
    fails(b"<r a='x\xC3('/>", ErrorKind::InvalidUtf8, 7);
    fails(b"<r\xFF/>", ErrorKind::InvalidUtf8, 2);
    fails(b"<r>\xC0\x80</r>", ErrorKind::InvalidUtf8, 3);
    fails(b"<r>\xED\xA0\x80</r>", ErrorKind::InvalidUtf8, 3);
    fails(b"<r>\xF4\x90\x80\x80</r>", ErrorKind::InvalidUtf8, 3);
    fails(b"<r><![CDATA[\x80]]></r>", ErrorKind::InvalidUtf8, 12);
    fails(b"<r></r\xE9>", ErrorKind::InvalidUtf8, 6);
    fails(
        b"<?xml version='1.0' encoding='\xFF'?><r/>",
        ErrorKind::InvalidUtf8,
        30,
    );
    // Cut short by the end of input: the input ended inside a character.
    fails(b"<r>ab\xE2\x82", ErrorKind::UnexpectedEof, 7);
}

#[test]
fn invalid_utf8_split_across_feeds() {
    // A valid lead and an invalid continuation in the next feed.
    let input = b"<r>\xE2\x82A</r>";
    for cut in 1..input.len() {
        let run = run_cuts(input, &[cut], Limits::default(), true);
        assert_eq!(
            run.error,
            Some(Error {
                kind: ErrorKind::InvalidUtf8,
                offset: 3
            }),
            "cut at {cut}"
        );
    }
    // A valid sequence split anywhere is fine.
    let input = "<r a='\u{1f600}'>\u{1f600}\u{e9}</r>".as_bytes();
    for cut in 1..input.len() {
        let run = run_cuts(input, &[cut], Limits::default(), true);
        assert_eq!(run.error, None);
        assert_eq!(run.merged()[1], Tok::text("\u{1f600}\u{e9}"));
    }
}

#[test]
fn characters_outside_char_are_refused() {
    fails(b"<r>a\x01b</r>", ErrorKind::IllegalChar(1), 4);
    fails(b"<r>\x1F</r>", ErrorKind::IllegalChar(0x1f), 3);
    fails(b"<r>\x00</r>", ErrorKind::IllegalChar(0), 3);
    fails(b"<r a='\x08'/>", ErrorKind::IllegalChar(8), 6);
    fails(
        b"<r><![CDATA[a\x0Cb]]></r>",
        ErrorKind::IllegalChar(0xc),
        13,
    );
    fails(
        "<r>\u{fffe}</r>".as_bytes(),
        ErrorKind::IllegalChar(0xfffe),
        3,
    );
    fails(
        "<r a='\u{ffff}'/>".as_bytes(),
        ErrorKind::IllegalChar(0xffff),
        6,
    );
    // In a name the character simply ends the name.
    fails(
        b"<r\x01/>",
        ErrorKind::Syntax("expected white space, '>' or '/>'"),
        2,
    );
    // Allowed: tab, line feed, carriage return, DEL, U+FFFD, the last plane.
    assert_eq!(
        text_of("\t\n\u{7f}\u{fffd}\u{10ffff}\u{e000}"),
        "\t\n\u{7f}\u{fffd}\u{10ffff}\u{e000}"
    );
}

/// Regression: a piece of text was checked for UTF-8 before anything else,
/// so an error later in the piece hid an earlier one, and the error
/// depended on where the text was cut.
#[test]
fn the_first_offending_byte_is_reported() {
    fails(b"<r>\x01\xFF</r>", ErrorKind::IllegalChar(1), 3);
    fails(
        b"<r>&foo;\xFF</r>",
        restricted(Restricted::EntityReference),
        3,
    );
    fails(b"<r>&#0;\x01</r>", ErrorKind::IllegalChar(0), 3);
    fails(b"<r>]]>\xFF</r>", ErrorKind::CdataEndInText, 3);
    fails(b"<r>\xFF\x01</r>", ErrorKind::InvalidUtf8, 3);
    fails(
        b"<r><![CDATA[\x01\xFF]]></r>",
        ErrorKind::IllegalChar(1),
        12,
    );
    let body = format!(
        "<r>{}\x01{}\u{fffe}\x02</r>",
        "a".repeat(50),
        "b".repeat(100)
    );
    for chunk in [0, 60, 100, 1000] {
        let limits = Limits {
            max_text_chunk: chunk,
            ..Limits::default()
        };
        fails_with(body.as_bytes(), limits, ErrorKind::IllegalChar(1), 53);
    }
}

#[test]
fn cdata_end_is_refused_in_text() {
    fails(b"<r>a]]>b</r>", ErrorKind::CdataEndInText, 4);
    fails(b"<r>a]]]>b</r>", ErrorKind::CdataEndInText, 5);
    assert_eq!(text_of("]]&gt; ] ]> ]] > ]"), "]]> ] ]> ]] > ]");
    // In attribute values `]]>` is allowed.
    assert_eq!(attrs_of("<r a=']]>'/>")[0].2, "]]>");
}

#[test]
fn lt_is_refused_in_attribute_values() {
    fails(b"<r a='x<y'/>", ErrorKind::LtInAttribute, 7);
    fails(b"<r a=\"<\"/>", ErrorKind::LtInAttribute, 6);
    fails(b"<r xmlns='<'/>", ErrorKind::LtInAttribute, 10);
    // `>` is fine, `&lt;` too.
    assert_eq!(attrs_of("<r a='x>y&lt;'/>")[0].2, "x>y<");
}

// ---------------------------------------------------------------------------
// Structure
// ---------------------------------------------------------------------------

#[test]
fn mismatched_end_tags() {
    fails(b"<a><b></a>", ErrorKind::MismatchedEndTag, 6);
    fails(b"<a><b></B></a>", ErrorKind::MismatchedEndTag, 6);
    // The qualified name must match, not only the expanded one.
    fails(
        b"<p:a xmlns:p='u' xmlns:q='u'></q:a>",
        ErrorKind::MismatchedEndTag,
        29,
    );
    fails(
        b"<a xmlns:a='u'><a:b/></a:a>",
        ErrorKind::MismatchedEndTag,
        21,
    );
}

#[test]
fn unexpected_end_tags() {
    fails(b"</a>", ErrorKind::UnexpectedEndTag, 0);
    fails(b"  </a><a/>", ErrorKind::UnexpectedEndTag, 2);
    fails(b"<a/></a>", ErrorKind::JunkAfterRoot, 4);
}

#[test]
fn malformed_end_tags() {
    fails(
        b"<a></a b>",
        ErrorKind::Syntax("expected '>' to end the end tag"),
        7,
    );
    fails(b"<a></>", ErrorKind::Syntax("expected an element name"), 3);
    assert_eq!(toks("<a></a \r\n>").len(), 2);
}

#[test]
fn bad_names() {
    for doc in [
        &b"<1a/>"[..],
        b"<-a/>",
        b"<.a/>",
        b"<a:b:c/>",
        b"<:a/>",
        b"<a:/>",
        b"<a:1/>",
        b"<1:a/>",
    ] {
        fails(doc, ErrorKind::InvalidName, 1);
    }
    for doc in [
        &b"<a 1x='v'/>"[..],
        b"<a :x='v'/>",
        b"<a x:='v'/>",
        b"<a p:q:x='v'/>",
    ] {
        fails(doc, ErrorKind::InvalidName, 3);
    }
    fails(b"< a/>", ErrorKind::Syntax("expected an element name"), 1);
    // U+00D7 is not a name character: non-ASCII name characters are
    // checked precisely once the name is cut out.
    fails(b"<\xC3\x97/>", ErrorKind::InvalidName, 1);
    fails(b"<a b/>", ErrorKind::Syntax("malformed attribute"), 3);
    fails(
        b"<a b='1'c='2'/>",
        ErrorKind::Syntax("expected white space, '>' or '/>'"),
        8,
    );
    fails(b"<a b=1/>", ErrorKind::Syntax("malformed attribute"), 3);
    fails(b"<a / >", ErrorKind::Syntax("malformed attribute"), 3);
    // Non-ASCII names, and all the ASCII punctuation names may hold.
    assert_eq!(
        toks("<\u{65e5}\u{672c} \u{e9}t\u{e9}='1'/>")[0],
        Tok::start("\u{65e5}\u{672c}", "")
            .attrs(&[("", "\u{e9}t\u{e9}", "1")])
            .empty()
    );
    assert_eq!(toks("<_a-b.c\u{b7}9/>").len(), 2);
}

/// Regression: `<:a>` was read as `<a>`, and `xmlns:=…` as a default
/// namespace declaration.
#[test]
fn empty_prefixes_are_invalid_names() {
    fails(b"<:a/>", ErrorKind::InvalidName, 1);
    fails(b"<a :b='1'/>", ErrorKind::InvalidName, 3);
    fails(b"<a xmlns:='urn:x'/>", ErrorKind::InvalidName, 3);
    fails(b"<a xmlns:1='urn:x'/>", ErrorKind::InvalidName, 3);
    fails(b"<a xmlns:p:q='urn:x'/>", ErrorKind::InvalidName, 3);
}

// ---------------------------------------------------------------------------
// Namespaces
// ---------------------------------------------------------------------------

#[test]
fn namespaces_are_resolved() {
    let doc = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\
        <message><body xmlns='urn:b'/><x:y xmlns:x='urn:x' x:a='1' b='2' xml:lang='en'/><c xmlns=''/></message>\
        </stream:stream>";
    let t = toks(doc);
    assert_eq!(
        t[0],
        Tok::start("stream", STREAMS_NS)
            .prefix("stream")
            .decls(&[("", "jabber:client"), ("stream", STREAMS_NS)])
    );
    assert_eq!(t[1], Tok::start("message", "jabber:client"));
    assert_eq!(
        t[2],
        Tok::start("body", "urn:b").decls(&[("", "urn:b")]).empty()
    );
    assert_eq!(t[3], Tok::end("body", "urn:b"));
    assert_eq!(
        t[4],
        Tok::start("y", "urn:x")
            .prefix("x")
            .attrs(&[("urn:x", "a", "1"), ("", "b", "2"), (XML_NS, "lang", "en")])
            .decls(&[("x", "urn:x")])
            .empty()
    );
    // `xmlns=''` undeclares the default namespace.
    assert_eq!(t[6], Tok::start("c", "").decls(&[("", "")]).empty());
    assert_eq!(t[8], Tok::end("message", "jabber:client"));
    assert_eq!(t[9], Tok::end("stream", STREAMS_NS));
}

#[test]
fn declarations_apply_to_their_element_and_its_content_only() {
    let t = toks("<a xmlns:p='u1'><p:b xmlns:p='u2'><p:c/></p:b><p:d/></a>");
    let ns: Vec<String> = t
        .iter()
        .filter_map(|t| match t {
            Tok::Start(s) => Some(s.ns.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(ns, ["", "u2", "u2", "u1"]);
    // Out of scope after the element closed.
    fails(
        b"<r><a xmlns:p='u'/><b p:x='1'/></r>",
        ErrorKind::UndeclaredPrefix("p".into()),
        22,
    );
    // Attributes are in no namespace whatever the default.
    assert_eq!(attrs_of("<r xmlns='u' a='1'/>")[0].0, "");
}

#[test]
fn xml_prefix_is_built_in() {
    assert_eq!(
        attrs_of("<r xml:lang='en' xml:space='preserve'/>")[0],
        (XML_NS.into(), "lang".into(), "en".into())
    );
    assert_eq!(
        toks("<xml:r/>")[0],
        Tok::start("r", XML_NS).prefix("xml").empty()
    );
    // Declaring it to its own namespace is allowed.
    assert_eq!(
        attrs_of("<r xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>")[0].0,
        XML_NS
    );
}

#[test]
fn undeclared_prefixes() {
    fails(b"<p:a/>", ErrorKind::UndeclaredPrefix("p".into()), 1);
    fails(b"<a p:x='1'/>", ErrorKind::UndeclaredPrefix("p".into()), 3);
    fails(
        b"<r><stream:features/></r>",
        ErrorKind::UndeclaredPrefix("stream".into()),
        4,
    );
    fails(
        b"<xmlns:a/>",
        ErrorKind::UndeclaredPrefix("xmlns".into()),
        1,
    );
    fails(
        b"<p:a xmlns:p='u'></p:a><p:b/>",
        ErrorKind::JunkAfterRoot,
        23,
    );
}

#[test]
fn forbidden_namespace_declarations() {
    let bad = ErrorKind::InvalidNamespaceDecl;
    fails(b"<a xmlns:p=''/>", bad.clone(), 3);
    fails(b"<a xmlns:p=\"\"/>", bad.clone(), 3);
    fails(b"<a xmlns:xmlns='urn:x'/>", bad.clone(), 3);
    fails(
        b"<a xmlns:xmlns='http://www.w3.org/2000/xmlns/'/>",
        bad.clone(),
        3,
    );
    fails(b"<a xmlns:xml='urn:x'/>", bad.clone(), 3);
    fails(
        b"<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
        bad.clone(),
        3,
    );
    fails(
        b"<a xmlns='http://www.w3.org/XML/1998/namespace'/>",
        bad.clone(),
        3,
    );
    fails(
        b"<a xmlns:p='http://www.w3.org/2000/xmlns/'/>",
        bad.clone(),
        3,
    );
    fails(
        b"<a xmlns='http://www.w3.org/2000/xmlns/'/>",
        bad.clone(),
        3,
    );
    fails(b"<a b='1' xmlns:p=''/>", bad, 9);
    // The value is compared after references are decoded.
    fails(
        b"<a xmlns:p='&#104;ttp://www.w3.org/2000/xmlns/'/>",
        ErrorKind::InvalidNamespaceDecl,
        3,
    );
}

#[test]
fn duplicate_attributes() {
    let dup = ErrorKind::DuplicateAttribute;
    fails(b"<r x='1' x='2'/>", dup.clone(), 9);
    fails(b"<r x='1' y='' x='1'/>", dup.clone(), 14);
    // After namespace expansion: two prefixes bound to one namespace.
    fails(
        b"<a xmlns:p='u' xmlns:q='u' p:x='1' q:x='2'/>",
        dup.clone(),
        35,
    );
    fails(
        b"<a xmlns:p='http://www.w3.org/XML/1998/namespace'/>",
        ErrorKind::InvalidNamespaceDecl,
        3,
    );
    fails(
        b"<a xmlns:p='u'><b xmlns:q='u' p:x='1' q:x='2'/></a>",
        dup.clone(),
        38,
    );
    fails(
        b"<a xml:lang='en' xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='fr'/>",
        dup.clone(),
        66,
    );
    // Declarations too.
    fails(b"<a xmlns:p='u' xmlns:p='u'/>", dup.clone(), 15);
    fails(b"<a xmlns='u' xmlns='v'/>", dup, 13);
    // Same local name in different namespaces is fine.
    let a = attrs_of("<a xmlns:p='u' xmlns:q='v' x='0' p:x='1' q:x='2'/>");
    assert_eq!(a.len(), 3);
}

// ---------------------------------------------------------------------------
// Outside the root
// ---------------------------------------------------------------------------

#[test]
fn text_before_the_root() {
    fails(b"x<a/>", ErrorKind::TextOutsideRoot, 0);
    fails(b"\n x<a/>", ErrorKind::TextOutsideRoot, 2);
    fails(b"&amp;<a/>", ErrorKind::TextOutsideRoot, 0);
    fails(b"<![CDATA[x]]><a/>", ErrorKind::TextOutsideRoot, 0);
    fails("\u{a0}<a/>".as_bytes(), ErrorKind::TextOutsideRoot, 0);
}

#[test]
fn content_after_the_root() {
    fails(b"<a/>x", ErrorKind::TextOutsideRoot, 4);
    fails(b"<a></a>\n x", ErrorKind::TextOutsideRoot, 9);
    fails(b"<a/><b/>", ErrorKind::JunkAfterRoot, 4);
    fails(b"<a/><!-- c -->", ErrorKind::JunkAfterRoot, 4);
    fails(b"<a/><?pi?>", ErrorKind::JunkAfterRoot, 4);
    fails(b"<a/><![CDATA[x]]>", ErrorKind::JunkAfterRoot, 4);
    fails(b"<a/> \r\n\t<", ErrorKind::UnexpectedEof, 9);
    // White space is fine.
    assert_eq!(toks("<a/> \r\n\t ").len(), 2);
}

#[test]
fn white_space_outside_the_root_is_not_reported() {
    assert!(stream_toks(b"\r\n  \t").is_empty());
    let t = toks("<?xml version='1.0'?>\n\t <a> x <b/>\n</a>\n ");
    assert_eq!(
        t,
        vec![
            Tok::Decl(XmlDecl {
                encoding: None,
                standalone: None
            }),
            Tok::start("a", ""),
            Tok::text(" x "),
            Tok::start("b", "").empty(),
            Tok::end("b", ""),
            Tok::text("\n"),
            Tok::end("a", ""),
        ]
    );
}

#[test]
fn end_of_input_inside_the_root() {
    fails(b"<a><b>hi", ErrorKind::UnexpectedEof, 8);
    fails(b"<a><b>hi</b>", ErrorKind::UnexpectedEof, 12);
    fails(b"<a", ErrorKind::UnexpectedEof, 2);
    fails(b"<a x='1", ErrorKind::UnexpectedEof, 7);
    fails(b"", ErrorKind::UnexpectedEof, 0);
    fails(b"  ", ErrorKind::UnexpectedEof, 2);
    fails(b"<?xml version='1.0'?>", ErrorKind::UnexpectedEof, 21);
    fails(b"<?xml version='1.0'", ErrorKind::UnexpectedEof, 19);
    fails(b"<a>x&am", ErrorKind::UnexpectedEof, 7);
    fails(b"<a>]]", ErrorKind::UnexpectedEof, 5);
    fails(b"<a><!-", ErrorKind::RestrictedXml(Restricted::Comment), 3);
    fails(b"<a><!", ErrorKind::UnexpectedEof, 5);
    fails(b"<a><![CDATA", ErrorKind::UnexpectedEof, 11);
    fails(b"<a><![CDATA[x]]", ErrorKind::UnexpectedEof, 15);
    // Nothing is wrong before finish(): the stream may go on.
    assert_eq!(stream_toks(b"<a><b>hi").len(), 2);
    // The text and CDATA before the end are delivered (and checked).
    let run = run_whole(b"<a>hi", Limits::default());
    assert_eq!(run.merged(), vec![Tok::start("a", ""), Tok::text("hi")]);
    let run = run_whole(b"<a><![CDATA[x]", Limits::default());
    assert_eq!(run.merged(), vec![Tok::start("a", ""), Tok::text("x")]);
    fails(b"<a><![CDATA[\x01", ErrorKind::IllegalChar(1), 12);
}

#[test]
fn root_start_tag_is_reported_as_soon_as_complete() {
    let header = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
    let mut tok = Tokenizer::new();
    tok.feed(&header[..header.len() - 1]);
    assert!(matches!(tok.next_token(), Ok(Some(Token::Declaration(_)))));
    assert_eq!(tok.next_token(), Ok(None));
    tok.feed(b">");
    match tok.next_token() {
        Ok(Some(Token::Start(s))) => {
            assert_eq!(&*s.name, "stream");
            assert_eq!(s.attr("to"), Some("example.com"));
            assert_eq!(s.attr_ns("", "version"), Some("1.0"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tok.next_token(), Ok(None));
    assert_eq!(tok.depth(), 1);
    assert_eq!(tok.buffered(), 0);
}

#[test]
fn self_closing_tags_give_start_then_end() {
    let mut tok = Tokenizer::new();
    tok.feed(b"<r><b x='1'/>");
    assert!(matches!(tok.next_token(), Ok(Some(Token::Start(_)))));
    match tok.next_token() {
        Ok(Some(Token::Start(s))) => {
            assert!(s.self_closing);
            assert_eq!(s.attr("x"), Some("1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tok.depth(), 2);
    assert!(matches!(tok.next_token(), Ok(Some(Token::End(e))) if e.name == "b"));
    assert_eq!(tok.depth(), 1);
    assert_eq!(tok.next_token(), Ok(None));
    let t = toks("<p:r xmlns:p='u'/>");
    assert_eq!(t[1], Tok::end("r", "u"));
}

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

#[test]
fn line_ends_are_normalised_in_text() {
    assert_eq!(text_of("a\r\nb\rc\n\r\nd\r\r\n"), "a\nb\nc\n\nd\n\n");
    // Written as references they stay.
    assert_eq!(text_of("a&#13;&#10;b&#xD;"), "a\r\nb\r");
    // Split across feeds between CR and LF.
    let input = b"<r>a\r\nb</r>";
    for cut in 1..input.len() {
        let run = run_cuts(input, &[cut], Limits::default(), true);
        assert_eq!(run.merged()[1], Tok::text("a\nb"), "cut at {cut}");
    }
}

#[test]
fn attribute_values_are_normalised() {
    assert_eq!(attrs_of("<r a='x\r\ny\tz\nw\rv'/>")[0].2, "x y z w v");
    // No collapsing: every white-space character becomes one space.
    assert_eq!(attrs_of("<r a='  x  \r\n\r\n y '/>")[0].2, "  x     y ");
    // References are not normalised.
    assert_eq!(attrs_of("<r a='&#13;&#10;&#9;&#x20;'/>")[0].2, "\r\n\t ");
    assert_eq!(
        attrs_of("<r a=\"it's\" b='say \"hi\"'/>")[1].2,
        "say \"hi\""
    );
}

#[test]
fn line_ends_are_normalised_in_cdata() {
    assert_eq!(text_of("<![CDATA[x\r\ny\rz\r]]>"), "x\ny\nz\n");
    let input = b"<r><![CDATA[a\r\nb]]></r>";
    for cut in 1..input.len() {
        let run = run_cuts(input, &[cut], Limits::default(), true);
        assert_eq!(run.merged()[1], Tok::text("a\nb"), "cut at {cut}");
    }
}

#[test]
fn cdata_sections() {
    assert_eq!(text_of("<![CDATA[<a>&amp;]]>"), "<a>&amp;");
    assert_eq!(text_of("a<![CDATA[]]>b"), "ab");
    assert_eq!(text_of("<![CDATA[a]]b]]]>"), "a]]b]");
    assert_eq!(text_of("<![CDATA[]]]]><![CDATA[>]]>"), "]]>");
}

#[test]
fn cdata_split_across_feeds() {
    let input = "<r><![CDATA[a]]b]\u{1f600}<&>\r\n]]]></r>".as_bytes();
    let expected = "a]]b]\u{1f600}<&>\n]";
    for cut in 1..input.len() {
        for cut2 in cut + 1..input.len() {
            let run = run_cuts(input, &[cut, cut2], Limits::default(), true);
            assert_eq!(run.error, None);
            assert_eq!(run.merged()[1], Tok::text(expected), "cut at {cut}, {cut2}");
        }
    }
    let run = run_sized(input, 1, Limits::default());
    assert_eq!(run.merged()[1], Tok::text(expected));
}

// ---------------------------------------------------------------------------
// Text pieces
// ---------------------------------------------------------------------------

/// Text made to put every awkward sequence across the 48-byte boundaries.
fn awkward_text() -> (String, String) {
    let mut raw = String::new();
    let mut decoded = String::new();
    let parts: &[(&str, &str)] = &[
        ("\u{1f600}", "\u{1f600}"),
        ("&#x1F600;", "\u{1f600}"),
        ("&amp;", "&"),
        ("\r\n", "\n"),
        ("]]", "]]"),
        ("\u{e9}", "\u{e9}"),
        ("\u{20ac}", "\u{20ac}"),
        ("]", "]"),
        ("\r", "\n"),
        ("&lt;", "<"),
        ("x", "x"),
    ];
    for i in 0..400 {
        let (r, d) = parts[(i * 7 + i / 11) % parts.len()];
        raw.push_str(r);
        decoded.push_str(d);
    }
    (raw, decoded)
}

#[test]
fn text_is_cut_at_max_text_chunk_without_splitting_anything() {
    let (raw, decoded) = awkward_text();
    let doc = format!("<r>{raw}<![CDATA[{raw}]]></r>");
    let cdata: String = raw.replace("\r\n", "\n").replace('\r', "\n");
    for chunk in [0, 48, 49, 50, 51, 52, 53, 64, 100] {
        let limits = Limits {
            max_text_chunk: chunk,
            ..Limits::default()
        };
        for size in [1, 3, 4096] {
            let run = run_sized(doc.as_bytes(), size, limits);
            assert_eq!(run.error, None);
            assert_eq!(
                run.merged()[1],
                Tok::Text(format!("{decoded}{cdata}")),
                "chunk {chunk}, feed {size}"
            );
            assert!(
                run.text_pieces.len() > 2 * raw.len() / chunk.max(48),
                "not cut: {:?}",
                run.text_pieces
            );
            assert!(
                run.text_pieces.iter().all(|&n| n <= chunk.max(48)),
                "{:?}",
                run.text_pieces
            );
            // Never more than a chunk of text (plus one feed) is held.
            assert!(
                run.max_buffered <= chunk.max(48) + size + 3,
                "held {}",
                run.max_buffered
            );
        }
    }
}

/// Regression: complete text (its `<` already in the buffer) came out as
/// one piece however long it was.
#[test]
fn complete_text_is_cut_too() {
    let doc = format!("<r>{}</r>", "a".repeat(1000));
    let limits = Limits {
        max_text_chunk: 100,
        ..Limits::default()
    };
    let run = run_whole(doc.as_bytes(), limits);
    assert_eq!(run.text_pieces, vec![100; 10]);
    let doc = format!("<r><![CDATA[{}]]></r>", "a".repeat(1000));
    let run = run_whole(doc.as_bytes(), limits);
    assert_eq!(run.text_pieces, vec![100; 10]);
}

#[test]
fn cdata_end_across_a_piece_boundary_is_found() {
    for pad in 40..60 {
        let doc = format!("<r>{}]]>x</r>", "a".repeat(pad));
        let limits = Limits {
            max_text_chunk: 48,
            ..Limits::default()
        };
        fails_with(
            doc.as_bytes(),
            limits,
            ErrorKind::CdataEndInText,
            3 + pad as u64,
        );
    }
}

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

#[test]
fn limit_name_length() {
    let limits = Limits {
        max_name_len: 8,
        ..Limits::default()
    };
    let name_len = ErrorKind::LimitExceeded(Limit::NameLength);
    assert_eq!(run_whole(b"<abcdefgh/>", limits).error, None);
    fails_with(b"<abcdefghi/>", limits, name_len.clone(), 1);
    fails_with(b"<r abcdefghi='1'/>", limits, name_len.clone(), 3);
    fails_with(b"<r xmlns:abc='u'/>", limits, name_len.clone(), 3);
    // The qualified name counts.
    fails_with(b"<ab:cdefgh xmlns:ab='u'/>", limits, name_len, 1);
}

#[test]
fn limit_attributes() {
    let limits = Limits {
        max_attributes: 3,
        ..Limits::default()
    };
    assert_eq!(run_whole(b"<r a='' b='' c=''/>", limits).error, None);
    fails_with(
        b"<r a='' b='' c='' d=''/>",
        limits,
        ErrorKind::LimitExceeded(Limit::Attributes),
        18,
    );
    // Namespace declarations count.
    fails_with(
        b"<r xmlns='u' a='' b='' c=''/>",
        limits,
        ErrorKind::LimitExceeded(Limit::Attributes),
        23,
    );
}

#[test]
fn limit_namespace_declarations() {
    let limits = Limits {
        max_namespace_decls: 2,
        ..Limits::default()
    };
    assert_eq!(run_whole(b"<r xmlns='u' xmlns:a='u'/>", limits).error, None);
    fails_with(
        b"<r xmlns='u' xmlns:a='u' xmlns:b='u'/>",
        limits,
        ErrorKind::LimitExceeded(Limit::NamespaceDecls),
        25,
    );
    // Per element: children may declare their own.
    assert_eq!(
        run_whole(
            b"<r xmlns='u' xmlns:a='u'><c xmlns:b='u' xmlns:d='v'/></r>",
            limits
        )
        .error,
        None
    );
}

#[test]
fn limit_depth() {
    let limits = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    assert_eq!(run_whole(b"<a><b><c/></b></a>", limits).error, None);
    fails_with(
        b"<a><b><c><d/></c></b></a>",
        limits,
        ErrorKind::LimitExceeded(Limit::Depth),
        9,
    );
}

#[test]
fn limit_element_bytes() {
    let limits = Limits {
        max_element_bytes: 32,
        ..Limits::default()
    };
    let too_big = ErrorKind::LimitExceeded(Limit::ElementBytes);
    // A stanza of exactly 32 bytes is fine, 33 is not.
    let ok = b"<s><m xmlns='u'>0123456789abcde</m>";
    assert_eq!(ok.len() - 3, 32);
    assert_eq!(run_cuts(ok, &[], limits, false).error, None);
    // One more byte of text: the end tag crosses the limit.
    let run = run_cuts(b"<s><m xmlns='u'>0123456789abcdef</m>", &[], limits, false);
    assert_eq!(
        run.error,
        Some(Error {
            kind: too_big.clone(),
            offset: 32
        })
    );
    // A text crossing it.
    let run = run_cuts(
        b"<s><m xmlns='u'>0123456789abcdefghijklmn</m>",
        &[],
        limits,
        false,
    );
    assert_eq!(
        run.error,
        Some(Error {
            kind: too_big.clone(),
            offset: 16
        })
    );
    // The count starts again with each stanza.
    let two = b"<s><m xmlns='u'>0123456789abcde</m><m xmlns='u'>0123456789abcde</m>";
    assert_eq!(run_cuts(two, &[], limits, false).error, None);
    // Every tag is bounded, the root's too, and text at stream level is not
    // counted (it is cut into pieces instead).
    fails_with(
        &[&b"<s "[..], &[b' '; 40], b">"].concat(),
        limits,
        too_big.clone(),
        0,
    );
    let long_text = format!("<s>{}</s>", "x".repeat(1000));
    assert_eq!(run_whole(long_text.as_bytes(), limits).error, None);
    // Inside a stanza, tags, text and CDATA count.
    fails_with(
        b"<s><m><n/><n/><n/><n/><n/><n/><n/></m></s>",
        limits,
        too_big.clone(),
        34,
    );
    fails_with(
        b"<s><m><![CDATA[0123456789012345678901234]]></m></s>",
        limits,
        too_big.clone(),
        15,
    );
    // The content fits, its end `]]>` does not.
    fails_with(
        b"<s><m><![CDATA[0123456789012345678]]></m></s>",
        limits,
        too_big,
        34,
    );
}

#[test]
fn text_chunk_limit_below_48_counts_as_48() {
    let doc = format!("<r>{}</r>", "a".repeat(200));
    let run = run_whole(
        doc.as_bytes(),
        Limits {
            max_text_chunk: 1,
            ..Limits::default()
        },
    );
    assert_eq!(run.text_pieces, vec![48, 48, 48, 48, 8]);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn errors_are_sticky_and_nothing_follows_them() {
    let mut tok = Tokenizer::new();
    tok.feed(b"<r><a>&foo;</a><b/>");
    assert!(matches!(tok.next_token(), Ok(Some(Token::Start(_)))));
    assert!(matches!(tok.next_token(), Ok(Some(Token::Start(_)))));
    let e = tok.next_token().unwrap_err();
    assert_eq!(
        e,
        Error {
            kind: restricted(Restricted::EntityReference),
            offset: 6
        }
    );
    tok.feed(b"</r>");
    tok.finish();
    for _ in 0..3 {
        assert_eq!(tok.next_token(), Err(e.clone()));
    }
}

#[test]
fn errors_display_kind_and_offset() {
    let e = error(b"<r>&foo;</r>");
    assert_eq!(
        e.to_string(),
        "restricted XML: entity reference not allowed in XMPP at byte 3"
    );
    assert_eq!(
        ErrorKind::IllegalChar(1).to_string(),
        "character U+0001 is not allowed in XML"
    );
    assert_eq!(
        ErrorKind::LimitExceeded(Limit::Depth).to_string(),
        "limit exceeded: nesting depth"
    );
}

#[test]
fn offsets_count_all_input() {
    let mut tok = Tokenizer::new();
    tok.feed(b"<?xml version='1.0'?><s><a>x</a>");
    let mut n = 0;
    while tok.next_token().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 5);
    assert_eq!(tok.offset(), 32);
    assert_eq!(tok.buffered(), 0);
    tok.feed(b"<b>y");
    assert!(tok.next_token().unwrap().is_some());
    // Text waits for its end (or for a whole piece).
    assert_eq!(tok.next_token(), Ok(None));
    assert_eq!(tok.offset(), 35);
    assert_eq!(tok.buffered(), 1);
    tok.feed(b"\x01</b>");
    assert_eq!(
        tok.next_token(),
        Err(Error {
            kind: ErrorKind::IllegalChar(1),
            offset: 36
        })
    );
}

// ---------------------------------------------------------------------------
// Stream restarts
// ---------------------------------------------------------------------------

const HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

#[test]
fn restart_keeps_buffered_bytes() {
    let mut tok = Tokenizer::new();
    let first =
        format!("<?xml version='1.0'?>{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    let second = format!("<?xml version='1.0'?>{HEADER}<features/>");
    // The server's success and the client's new header in one read.
    tok.feed(format!("{first}{second}").as_bytes());
    assert!(matches!(tok.next_token(), Ok(Some(Token::Declaration(_)))));
    assert!(matches!(tok.next_token(), Ok(Some(Token::Start(s))) if s.name == "stream"));
    assert!(matches!(tok.next_token(), Ok(Some(Token::Start(s))) if s.name == "success"));
    assert!(matches!(tok.next_token(), Ok(Some(Token::End(e))) if e.name == "success"));
    assert_eq!(tok.offset(), first.len() as u64);
    assert_eq!(tok.buffered(), second.len());
    tok.restart();
    assert_eq!(tok.depth(), 0);
    assert!(matches!(tok.next_token(), Ok(Some(Token::Declaration(_)))));
    match tok.next_token() {
        Ok(Some(Token::Start(s))) => {
            assert_eq!(&*s.namespace, STREAMS_NS);
            assert_eq!(s.namespace_decls.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    // The old stream's bindings are gone, the new one's apply.
    assert!(
        matches!(tok.next_token(), Ok(Some(Token::Start(s))) if s.name == "features" && s.namespace == "jabber:client")
    );
    assert!(matches!(tok.next_token(), Ok(Some(Token::End(_)))));
    assert_eq!(tok.offset(), (first.len() + second.len()) as u64);
    // Offsets in errors go on counting across the restart.
    tok.feed(b"<x:y/>");
    assert_eq!(
        tok.next_token(),
        Err(Error {
            kind: ErrorKind::UndeclaredPrefix("x".into()),
            offset: (first.len() + second.len() + 1) as u64
        })
    );
}

#[test]
fn restart_after_pulling_into_the_next_declaration() {
    let mut tok = Tokenizer::new();
    tok.feed(format!("{HEADER}<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><?xml version='1.0'?>{HEADER}").as_bytes());
    for _ in 0..3 {
        assert!(tok.next_token().unwrap().is_some());
    }
    let e = tok.next_token().unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadDeclaration);
    // Nothing was consumed: the restart reads the new stream whole.
    tok.restart();
    assert!(matches!(tok.next_token(), Ok(Some(Token::Declaration(_)))));
    assert!(matches!(tok.next_token(), Ok(Some(Token::Start(s))) if s.name == "stream"));
}

#[test]
fn restart_without_declaration_and_with_byte_order_mark() {
    for next in [
        HEADER.to_owned(),
        format!("\u{feff}{HEADER}"),
        format!("\n{HEADER}"),
    ] {
        let mut tok = Tokenizer::new();
        tok.feed(
            format!("{HEADER}<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>{next}").as_bytes(),
        );
        for _ in 0..3 {
            assert!(tok.next_token().unwrap().is_some());
        }
        tok.restart();
        assert!(
            matches!(tok.next_token(), Ok(Some(Token::Start(s))) if s.name == "stream"),
            "{next:?}"
        );
    }
}

#[test]
fn restart_clears_an_open_tag_and_errors() {
    let mut tok = Tokenizer::new();
    tok.feed(b"<a><b x='");
    assert!(tok.next_token().unwrap().is_some());
    assert_eq!(tok.next_token(), Ok(None));
    tok.finish();
    assert!(tok.next_token().is_err());
    tok.restart();
    tok.feed(b"'/>");
    // The old bytes are still there: `<b x=''/>` is the new root.
    assert!(
        matches!(tok.next_token(), Ok(Some(Token::Start(s))) if s.name == "b" && s.attr("x") == Some(""))
    );
}

// ---------------------------------------------------------------------------
// Zero copy
// ---------------------------------------------------------------------------

#[test]
fn names_values_and_text_are_slices_of_the_input() {
    let input =
        b"<r><message to='juliet@example.com' xml:lang='en'>Wherefore art thou</message></r>";
    let mut tok = Tokenizer::new();
    tok.feed(input);
    tok.next_token().unwrap();
    let (name_ptr, value_ptr, lang_ptr) = match tok.next_token().unwrap() {
        Some(Token::Start(s)) => (
            s.name.as_ptr() as usize,
            s.attributes[0].value.as_ptr() as usize,
            s.attributes[1].value.as_ptr() as usize,
        ),
        other => panic!("{other:?}"),
    };
    // The same buffer, at the offsets the input has them.
    assert_eq!(value_ptr - name_ptr, 16 - 4);
    assert_eq!(lang_ptr - name_ptr, 46 - 4);
    match tok.next_token().unwrap() {
        Some(Token::Text(t)) => assert_eq!(t.as_ptr() as usize - name_ptr, 50 - 4),
        other => panic!("{other:?}"),
    }
    match tok.next_token().unwrap() {
        Some(Token::End(e)) => assert_eq!(e.name.as_ptr() as usize - name_ptr, 70 - 4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tree_builder_keeps_one_piece_text_a_slice() {
    let mut tok = Tokenizer::new();
    tok.feed(b"<r><a x='1'>hello</a></r>");
    let mut tree = TreeBuilder::new();
    let mut ptr = 0;
    let mut root = None;
    while let Some(t) = tok.next_token().unwrap() {
        match &t {
            Token::Start(s) if s.name == "a" => ptr = s.attributes[0].value.as_ptr() as usize,
            _ => {}
        }
        if let Some(e) = tree.push(t) {
            root = Some(e);
        }
    }
    let root = root.unwrap();
    match root.get_child("a", "").unwrap().nodes() {
        [Node::Text(t)] => assert_eq!(t.as_ptr() as usize - ptr, 12 - 9),
        other => panic!("{other:?}"),
    }
}

#[test]
fn transformed_text_is_new() {
    let mut tok = Tokenizer::new();
    tok.feed(b"<r>a&amp;b</r>");
    tok.next_token().unwrap();
    assert_eq!(tok.next_token(), Ok(Some(Token::Text("a&b".into()))));
}

// ---------------------------------------------------------------------------
// The element tree
// ---------------------------------------------------------------------------

#[test]
fn element_parse_and_accessors() {
    let e = Element::parse(
        b"<?xml version='1.0'?><iq type='get' id='r1' xmlns='jabber:client' xml:lang='en'>\
          <query xmlns='jabber:iq:roster'><item jid='a@b'/>hi<![CDATA[ there]]></query>text</iq>",
    )
    .unwrap();
    assert!(e.is("iq", "jabber:client"));
    assert_eq!(e.name(), "iq");
    assert_eq!(e.ns(), "jabber:client");
    assert_eq!(e.attr("type"), Some("get"));
    assert_eq!(e.attr("missing"), None);
    assert_eq!(e.lang(), Some("en"));
    assert_eq!(e.attrs().len(), 3);
    assert_eq!(e.text(), "text");
    let q = e.get_child("query", "jabber:iq:roster").unwrap();
    assert!(q.has_child("item", "jabber:iq:roster"));
    assert!(!q.has_child("item", "jabber:client"));
    // Text pieces and CDATA are merged into one node.
    assert_eq!(q.nodes().len(), 2);
    assert_eq!(q.nodes()[1], Node::Text("hi there".into()));
    assert_eq!(e.children().count(), 1);
    assert_eq!(
        e.to_string(),
        String::from_utf8(Writer::new().element_to_vec(&e)).unwrap()
    );
    assert_eq!(e.to_string().parse::<Element>().unwrap(), e);
}

#[test]
fn element_parse_errors() {
    assert_eq!(
        Element::parse(b"").unwrap_err().kind,
        ErrorKind::UnexpectedEof
    );
    assert_eq!(
        Element::parse(b"<a>").unwrap_err().kind,
        ErrorKind::UnexpectedEof
    );
    assert_eq!(
        Element::parse(b"<a/><b/>").unwrap_err().kind,
        ErrorKind::JunkAfterRoot
    );
    let limits = Limits {
        max_depth: 1,
        ..Limits::default()
    };
    assert_eq!(
        Element::parse_with_limits(b"<a><b/></a>", limits)
            .unwrap_err()
            .kind,
        ErrorKind::LimitExceeded(Limit::Depth)
    );
}

#[test]
fn element_builder_and_mutation() {
    let mut e = Element::builder("message", "jabber:client")
        .attr("to", "juliet@example.com")
        .attr_opt("from", None)
        .attr_opt("type", Some("chat"))
        .attr_ns(XML_NS, "lang", "en")
        .append(
            Element::builder("body", "jabber:client")
                .text("a")
                .text("")
                .text("b"),
        )
        .append(Element::new(
            "active",
            "http://jabber.org/protocol/chatstates",
        ))
        .text("tail")
        .build();
    assert_eq!(e.attr("from"), None);
    assert_eq!(e.attr("type"), Some("chat"));
    assert_eq!(e.lang(), Some("en"));
    assert_eq!(
        e.get_child("body", "jabber:client").unwrap().nodes(),
        &[Node::Text("ab".into())]
    );
    e.set_attr("type", Some("normal"));
    e.set_attr("to", None);
    e.set_attr_shared("id".into(), "x1".into());
    e.set_attr_shared("id".into(), "x2".into());
    assert_eq!(
        e.attrs().iter().map(|a| &*a.name).collect::<Vec<_>>(),
        ["type", "lang", "id"]
    );
    assert_eq!(e.attr("id"), Some("x2"));
    e.get_child_mut("body", "jabber:client")
        .unwrap()
        .append_text("c");
    assert_eq!(e.get_child("body", "jabber:client").unwrap().text(), "abc");
    let active = e
        .remove_child("active", "http://jabber.org/protocol/chatstates")
        .unwrap();
    assert_eq!(active.name(), "active");
    assert_eq!(e.children().count(), 1);
    e.append_child(Element::new("x", ""))
        .set_attr("y", Some("1"));
    assert_eq!(e.children_mut().count(), 2);
    let nodes = e.take_nodes();
    assert_eq!(nodes.len(), 3);
    assert!(e.nodes().is_empty());
}

#[test]
#[should_panic(expected = "not a valid XML local name")]
fn element_names_are_checked() {
    let _ = Element::new("a:b", "");
}

#[test]
#[should_panic(expected = "not a valid XML local name")]
fn attribute_names_are_checked() {
    Element::new("a", "").set_attr("1x", Some(""));
}

/// Regression: an attribute `xmlns` in no namespace was written as a
/// namespace declaration, changing the element's namespace.
#[test]
#[should_panic(expected = "namespace declaration")]
fn xmlns_is_not_an_attribute() {
    Element::new("a", "").set_attr("xmlns", Some("urn:evil"));
}

#[test]
#[should_panic(expected = "namespace declaration")]
fn attributes_in_the_xmlns_namespace_are_refused() {
    Element::new("a", "").set_attr_ns(XMLNS_NS, "p", Some("urn:x"));
}

#[test]
#[should_panic(expected = "xmlns namespace")]
fn elements_in_the_xmlns_namespace_are_refused() {
    let _ = Element::new("a", XMLNS_NS);
}

#[test]
fn tree_builder_returns_each_top_element() {
    let mut tok = Tokenizer::new();
    tok.feed(format!("{HEADER}<message><body>hi</body></message> <presence/>").as_bytes());
    let mut tree = TreeBuilder::new();
    let mut got = Vec::new();
    let mut level = 0;
    while let Some(t) = tok.next_token().unwrap() {
        // The stream header stays open: give the builder what is inside it.
        let stream_level = match &t {
            Token::Start(_) => {
                level += 1;
                level == 1
            }
            Token::End(_) => {
                level -= 1;
                level == 0
            }
            Token::Text(_) => level == 1,
            Token::Declaration(_) => true,
        };
        if stream_level {
            continue;
        }
        if let Some(e) = tree.push(t) {
            got.push(e);
        }
    }
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].get_child("body", "jabber:client").unwrap().text(),
        "hi"
    );
    assert!(got[1].is("presence", "jabber:client"));
    assert_eq!(tree.depth(), 0);
    tree.clear();
}

// ---------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------

fn write(e: &Element) -> String {
    String::from_utf8(Writer::new().element_to_vec(e)).unwrap()
}

#[test]
fn writer_escapes_text_and_attributes() {
    let e = Element::builder("r", "")
        .attr("a", "<&>'\"\t\n\r]]>")
        .text("<&>'\"\t\n\r]]>\u{e9}")
        .build();
    assert_eq!(
        write(&e),
        "<r a='&lt;&amp;&gt;&apos;\"&#x9;&#xA;&#xD;]]&gt;'>&lt;&amp;&gt;'\"\t\n&#xD;]]&gt;\u{e9}</r>"
    );
    assert_eq!(Element::parse(write(&e).as_bytes()).unwrap(), e);
    // What XML cannot carry is replaced.
    let e = Element::builder("r", "")
        .attr("a", "\u{1}")
        .text("\u{0}\u{fffe}\u{ffff}\u{1b}")
        .build();
    assert_eq!(
        write(&e),
        "<r a='\u{fffd}'>\u{fffd}\u{fffd}\u{fffd}\u{fffd}</r>"
    );
}

#[test]
fn writer_declares_namespaces_without_redundancy() {
    let e = Element::builder("iq", "jabber:client")
        .append(
            Element::builder("query", "jabber:iq:roster")
                .append(Element::builder("item", "jabber:iq:roster").attr("jid", "a@b"))
                .append(Element::builder("item", "jabber:iq:roster")),
        )
        .append(Element::builder("x", ""))
        .append(Element::builder("y", "jabber:client"))
        .build();
    assert_eq!(
        write(&e),
        "<iq xmlns='jabber:client'><query xmlns='jabber:iq:roster'><item jid='a@b'/><item/></query>\
         <x xmlns=''/><y/></iq>"
    );
    assert_eq!(Element::parse(write(&e).as_bytes()).unwrap(), e);
}

#[test]
fn writer_prefixes_namespaced_attributes() {
    let e = Element::builder("a", "urn:a")
        .attr_ns(XML_NS, "lang", "en")
        .attr_ns("urn:b", "x", "1")
        .attr_ns("urn:b", "y", "2")
        .attr_ns("urn:a", "z", "3")
        .append(Element::builder("b", "urn:b").attr_ns("urn:b", "w", "4"))
        .build();
    let s = write(&e);
    assert_eq!(
        s,
        "<a xmlns='urn:a' xml:lang='en' xmlns:ns1='urn:b' ns1:x='1' ns1:y='2' xmlns:ns2='urn:a' ns2:z='3'>\
         <ns1:b ns1:w='4'/></a>"
    );
    assert_eq!(Element::parse(s.as_bytes()).unwrap(), e);
}

#[test]
fn writer_in_a_stream() {
    let mut w = Writer::new();
    let mut out = Vec::new();
    w.declaration(&mut out);
    let header = Element::builder("stream", STREAMS_NS)
        .attr("to", "example.com")
        .attr("version", "1.0")
        .build();
    w.open(
        &header,
        "stream",
        &[("", "jabber:client"), ("db", "jabber:server:dialback")],
        &mut out,
    );
    assert_eq!(w.depth(), 1);
    let features = Element::builder("features", STREAMS_NS)
        .append(Element::builder("bind", "urn:ietf:params:xml:ns:xmpp-bind"))
        .build();
    w.element(&features, &mut out);
    w.element(
        &Element::builder("message", "jabber:client")
            .text("hi")
            .build(),
        &mut out,
    );
    w.element(
        &Element::builder("result", "jabber:server:dialback").build(),
        &mut out,
    );
    w.text(" <&> ", &mut out);
    w.close(&mut out);
    w.close(&mut out);
    assert_eq!(w.depth(), 0);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' \
         xmlns:db='jabber:server:dialback' to='example.com' version='1.0'><stream:features>\
         <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features><message>hi</message><db:result/> \
         &lt;&amp;&gt; </stream:stream>"
    );
    assert_eq!(run_whole(&out, Limits::default()).error, None);
    w.open(&header, "stream", &[], &mut out);
    w.reset();
    assert_eq!(w.depth(), 0);
}

/// Regression: opening an element in no namespace with a prefix declared
/// `xmlns:p=''`, which no parser accepts.
#[test]
fn writer_open_in_no_namespace() {
    let mut w = Writer::new();
    let mut out = Vec::new();
    w.open(&Element::new("r", ""), "p", &[("q", "")], &mut out);
    w.close(&mut out);
    assert_eq!(String::from_utf8(out.clone()).unwrap(), "<r></r>");
    assert_eq!(Element::parse(&out).unwrap(), Element::new("r", ""));
}

#[test]
fn writer_replays_tokens() {
    let input = format!(
        "{HEADER}<message xmlns:x='urn:x' x:a='1'><body>a &amp; b</body></message></stream:stream>"
    );
    let mut tok = Tokenizer::new();
    tok.feed(input.as_bytes());
    tok.finish();
    let mut w = Writer::new();
    let mut out = Vec::new();
    while let Some(t) = tok.next_token().unwrap() {
        w.token(&t, &mut out);
    }
    let again = run_whole(&out, Limits::default());
    assert_eq!(again.error, None);
    assert_eq!(again.merged().len(), 7);
    assert_eq!(
        Element::parse(&out).unwrap(),
        Element::parse(input.as_bytes()).unwrap()
    );
}

#[test]
fn roundtrip_examples() {
    for doc in [
        "<a/>",
        "<a xmlns='u'><b xmlns=''/><c xmlns:p='v' p:x='1'/></a>",
        "<p:a xmlns:p='u' xmlns='v'><b/><p:c/></p:a>",
        "<a xml:lang='en'>x &lt;y&gt; &amp;&#xD;\t\n</a>",
        "<a b='&#x9;&#xA;&#xD;&apos;\"'/>",
        "<\u{65e5} \u{e9}='\u{1f600}'>\u{10ffff}</\u{65e5}>",
    ] {
        let e = Element::parse(doc.as_bytes()).unwrap();
        let written = write(&e);
        assert_eq!(
            Element::parse(written.as_bytes()).unwrap(),
            e,
            "{doc} -> {written}"
        );
        assert_eq!(write(&Element::parse(written.as_bytes()).unwrap()), written);
    }
}
