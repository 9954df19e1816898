//! Property tests: chunk-boundary invariance, `parse(write(e)) == e`, and no
//! panic on any input.

mod common;

use common::{run_cuts, run_sized, run_whole};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use starling_xml::names::XML_NS;
use starling_xml::{Element, Limits, Node, Token, Tokenizer, TreeBuilder, Writer};

// ---------------------------------------------------------------------------
// Generated XMPP-like documents
// ---------------------------------------------------------------------------

const NAMESPACES: &[&str] = &[
    "jabber:client",
    "urn:a",
    "urn:b",
    "urn:x&y<z>",
    "urn:\u{fc}ber",
    "http://jabber.org/protocol/muc#user",
    "urn:'quoted\"",
];

const NAMES: &[&str] = &[
    "message",
    "body",
    "iq",
    "query",
    "item",
    "x",
    "presence",
    "\u{f1}ame",
    "\u{65e5}\u{672c}",
    "a-b.c",
    "_u",
    "\u{10000}z",
];

/// Pieces of character data, written as they appear in the input.
const TEXT_ATOMS: &[&str] = &[
    "hello",
    " ",
    "wherefore art thou",
    "\r\n",
    "\r",
    "\n",
    "\t",
    "\u{e9}",
    "\u{20ac}",
    "\u{1f600}",
    "\u{10ffff}",
    "&amp;",
    "&lt;",
    "&gt;",
    "&apos;",
    "&quot;",
    "&#x1F600;",
    "&#233;",
    "&#10;",
    "&#13;",
    "&#x9;",
    "]",
    "]]",
    "]]&gt;",
    "> ",
    "'",
    "\"",
    "\u{7f}",
];

/// Pieces of CDATA content (never `]]>`, unless two atoms make it).
const CDATA_ATOMS: &[&str] = &[
    "x",
    "]",
    "]]",
    "<a>",
    "&",
    "&amp;",
    "\r\n",
    "\r",
    "\u{1f600}",
    "\u{e9}",
    " ",
    "[[",
];

/// Pieces of attribute values as written between single quotes.
const ATTR_ATOMS: &[&str] = &[
    "v",
    "a b",
    "\r\n",
    "\t",
    "\n",
    "&amp;",
    "&lt;",
    "&apos;",
    "\"",
    ">",
    "]]>",
    "&#10;",
    "&#x9;",
    "&#13;",
    "\u{e9}",
    "\u{1f600}",
    "&#x1F600;",
];

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Cdata(String),
    Elem(Box<El>),
}

#[derive(Debug, Clone)]
struct El {
    prefix: Option<&'static str>,
    name: &'static str,
    decls: Vec<(&'static str, &'static str)>,
    /// `(prefix, local name, value as written between single quotes)`.
    attrs: Vec<(Option<&'static str>, String, String)>,
    children: Vec<Piece>,
    self_close: bool,
    ws: &'static str,
    double_quotes: bool,
}

fn escape_attr(s: &str, dq: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '\'' if !dq => out.push_str("&apos;"),
            '"' if dq => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

impl El {
    fn render(&self, out: &mut String) {
        let q = if self.double_quotes { '"' } else { '\'' };
        let qname = match self.prefix {
            Some(p) => format!("{p}:{}", self.name),
            None => self.name.to_string(),
        };
        out.push('<');
        out.push_str(&qname);
        for (p, ns) in &self.decls {
            out.push_str(self.ws);
            if p.is_empty() {
                out.push_str("xmlns=");
            } else {
                out.push_str("xmlns:");
                out.push_str(p);
                out.push('=');
            }
            out.push(q);
            out.push_str(&escape_attr(ns, self.double_quotes));
            out.push(q);
        }
        for (p, name, value) in &self.attrs {
            out.push_str(self.ws);
            if let Some(p) = p {
                out.push_str(p);
                out.push(':');
            }
            out.push_str(name);
            out.push_str(if self.double_quotes { " = " } else { "=" });
            out.push(q);
            if self.double_quotes {
                // The value was written for single quotes.
                out.push_str(&value.replace("&apos;", "'").replace('"', "&quot;"));
            } else {
                out.push_str(value);
            }
            out.push(q);
        }
        if self.self_close && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for c in &self.children {
            match c {
                Piece::Text(t) => out.push_str(t),
                Piece::Cdata(t) => {
                    out.push_str("<![CDATA[");
                    out.push_str(t);
                    out.push_str("]]>");
                }
                Piece::Elem(e) => e.render(out),
            }
        }
        out.push_str("</");
        out.push_str(&qname);
        out.push_str(if self.double_quotes { self.ws } else { "" });
        out.push('>');
    }
}

fn atoms(set: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    vec(select(set), 1..max).prop_map(|v| v.concat())
}

fn leaf() -> impl Strategy<Value = El> {
    (
        (
            0usize..5,
            select(NAMES),
            proptest::option::of(select(NAMESPACES)),
        ),
        vec(proptest::option::of(select(NAMESPACES)), 3),
        vec(
            (
                0usize..5,
                select(&["to", "id", "type", "lang", "j\u{e9}"][..]),
                atoms(ATTR_ATOMS, 5),
            ),
            0..4,
        ),
        (
            any::<bool>(),
            select(&[" ", "  ", "\n", "\t", "\r\n"][..]),
            any::<bool>(),
        ),
    )
        .prop_map(
            |((pi, name, default_ns), prefix_ns, attrs, (self_close, ws, dq))| {
                const PREFIXES: [&str; 3] = ["a", "b", "c"];
                let mut el = El {
                    prefix: None,
                    name,
                    decls: Vec::new(),
                    attrs: Vec::new(),
                    children: Vec::new(),
                    self_close,
                    ws,
                    double_quotes: dq,
                };
                if let Some(ns) = default_ns {
                    el.decls.push(("", ns));
                }
                for (p, ns) in PREFIXES.iter().zip(&prefix_ns) {
                    if let Some(ns) = ns {
                        el.decls.push((p, ns));
                    }
                }
                let declare = |el: &mut El, p: &'static str| {
                    if !el.decls.iter().any(|(d, _)| *d == p) {
                        el.decls.push((p, "urn:a"));
                    }
                };
                // 0: no prefix; 1: stream (bound on the root); 2..5: a, b, c.
                el.prefix = match pi {
                    0 => None,
                    1 => Some("stream"),
                    i => Some(PREFIXES[i - 2]),
                };
                if let Some(p) = el.prefix.filter(|p| *p != "stream") {
                    declare(&mut el, p);
                }
                for (i, (api, name, value)) in attrs.into_iter().enumerate() {
                    // 0, 1: none; 2: xml; 3, 4: a, c. A distinct name each, so
                    // that no two collide after namespace expansion.
                    let p = match api {
                        0 | 1 => None,
                        2 => Some("xml"),
                        3 => Some("a"),
                        _ => Some("c"),
                    };
                    if let Some(p) = p.filter(|p| *p != "xml") {
                        declare(&mut el, p);
                    }
                    el.attrs.push((p, format!("{name}{i}"), value));
                }
                el
            },
        )
}

fn element() -> impl Strategy<Value = El> {
    leaf().prop_recursive(4, 40, 6, |inner| {
        (
            leaf(),
            vec(
                prop_oneof![
                    3 => atoms(TEXT_ATOMS, 8).prop_map(Piece::Text),
                    // Long enough to be cut into pieces at small chunk sizes.
                    1 => atoms(TEXT_ATOMS, 80).prop_map(Piece::Text),
                    1 => atoms(CDATA_ATOMS, 6).prop_map(Piece::Cdata),
                    1 => atoms(CDATA_ATOMS, 60).prop_map(Piece::Cdata),
                    3 => inner.prop_map(|e| Piece::Elem(Box::new(e))),
                ],
                0..6,
            ),
        )
            .prop_map(|(mut el, children)| {
                el.children = children;
                el
            })
    })
}

#[derive(Debug, Clone)]
struct Doc {
    bom: bool,
    decl: Option<&'static str>,
    stanzas: Vec<(El, &'static str)>,
    close: bool,
}

impl Doc {
    fn render(&self) -> Vec<u8> {
        let mut s = String::new();
        if self.bom {
            s.push('\u{feff}');
        }
        if let Some(d) = self.decl {
            s.push_str(d);
        }
        s.push_str(
            "\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
             to='example.com' version='1.0' xml:lang='en'>",
        );
        for (el, ws) in &self.stanzas {
            s.push_str(ws);
            el.render(&mut s);
        }
        if self.close {
            s.push_str("</stream:stream>\r\n");
        }
        s.into_bytes()
    }
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        any::<bool>(),
        proptest::option::of(select(
            &[
                "<?xml version='1.0'?>",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>",
            ][..],
        )),
        vec((element(), select(&["", " ", "\n", "\r\n\t"][..])), 0..5),
        any::<bool>(),
    )
        .prop_map(|(bom, decl, stanzas, close)| Doc {
            bom,
            decl,
            stanzas,
            close,
        })
}

/// Snippets that break a document in one way or another.
const BAD: &[&[u8]] = &[
    b"<!--c-->",
    b"<?pi x?>",
    b"<!DOCTYPE x>",
    b"&foo;",
    b"]]>",
    b"\x01",
    b"\xFF",
    b"\xC3",
    b"\xED\xA0\x80",
    b"\xEF\xBF\xBE",
    b"\xF0\x9F\x98",
    b"</zz>",
    b"<u:x/>",
    b"&#0;",
    b"&#xFFFE;",
    b"&#x110000;",
    b"&amp",
    b"<?xml version='1.0'?>",
    b"\0",
    b"x",
    b"<",
    b">",
    b"'",
    b"\"",
    b"&",
    b"<![CDATA[",
    b"\r",
    b" xmlns:p=''",
    b" a='1' a='2'",
    b" xmlns:a='urn:a' xmlns:b='urn:a' a:x='' b:x=''",
    b"<a/><b/>",
    b"=",
    b"/",
    b":",
];

/// A document, possibly broken by one edit.
fn input() -> impl Strategy<Value = Vec<u8>> {
    (
        doc(),
        proptest::option::of((0.0f64..1.0, select(BAD), any::<u8>(), any::<bool>())),
    )
        .prop_map(|(d, edit)| {
            let mut bytes = d.render();
            if let Some((at, snippet, byte, replace)) = edit {
                let i = ((bytes.len() as f64) * at) as usize;
                if replace && i < bytes.len() {
                    bytes[i] = byte;
                } else {
                    bytes.splice(i..i, snippet.iter().copied());
                }
            }
            bytes
        })
}

/// Where to cut the input: 1-byte pieces, or random positions.
fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        1 => Just((1..len).collect::<Vec<_>>()),
        3 => vec(0.0f64..1.0, 0..24).prop_map(move |mut v| {
            v.sort_by(f64::total_cmp);
            let mut c: Vec<usize> = v.into_iter().map(|f| (f * len as f64) as usize).collect();
            c.dedup();
            c
        }),
    ]
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        3 => Just(Limits::default()),
        2 => (0usize..120).prop_map(|n| Limits { max_text_chunk: n, ..Limits::default() }),
        2 => (1usize..12, 1usize..6, 1usize..5, 1usize..7, 16usize..1500, 0usize..100).prop_map(
            |(name, attrs, decls, depth, bytes, chunk)| Limits {
                max_name_len: name,
                max_attributes: attrs,
                max_namespace_decls: decls,
                max_depth: depth,
                max_element_bytes: bytes,
                max_text_chunk: chunk,
            }
        ),
    ]
}

fn input_with_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<usize>, Limits)> {
    (input(), limits()).prop_flat_map(|(bytes, limits)| {
        let n = bytes.len();
        (Just(bytes), cuts(n), Just(limits))
    })
}

fn check_invariance(bytes: &[u8], cuts: &[usize], limits: Limits) -> Result<(), TestCaseError> {
    let whole = run_whole(bytes, limits);
    let chunked = run_cuts(bytes, cuts, limits, true);
    let shown = String::from_utf8_lossy(bytes);
    prop_assert_eq!(
        whole.merged(),
        chunked.merged(),
        "tokens differ: {:?} cut at {:?}",
        shown,
        cuts
    );
    prop_assert_eq!(
        &whole.error,
        &chunked.error,
        "errors differ: {:?} cut at {:?}",
        shown,
        cuts
    );
    // Text pieces never exceed the chunk size (a piece decodes to at most
    // as many bytes as it had in the input).
    let chunk = limits.max_text_chunk.max(48);
    for run in [&whole, &chunked] {
        prop_assert!(
            run.text_pieces.iter().all(|&n| n <= chunk),
            "text piece over {}: {:?}",
            chunk,
            run.text_pieces
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the chunking, the same tokens (text merged) and the same
    /// error, at the same offset.
    #[test]
    fn chunk_boundary_invariance((bytes, cuts, limits) in input_with_cuts()) {
        check_invariance(&bytes, &cuts, limits)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Cutting text into pieces changes nothing but the pieces: the same
    /// tokens (text merged) and errors with a tiny chunk size as with one
    /// larger than any text, so no piece boundary splits a UTF-8 sequence,
    /// a reference, `\r\n` or `]]>`.
    #[test]
    fn text_chunking_is_transparent(bytes in input(), chunk in 0usize..120, size in 1usize..64) {
        let small = Limits { max_text_chunk: chunk, ..Limits::default() };
        let pieces = run_sized(&bytes, size, small);
        let whole = run_whole(&bytes, Limits::default());
        let shown = String::from_utf8_lossy(&bytes);
        // Smaller pieces deliver more of a text before an error in it.
        let tokens = |run: &common::Run| {
            let mut t = run.merged();
            if run.error.is_some() && matches!(t.last(), Some(common::Tok::Text(_))) {
                t.pop();
            }
            t
        };
        prop_assert_eq!(tokens(&pieces), tokens(&whole), "tokens differ: {:?}", shown);
        prop_assert_eq!(pieces.error, whole.error, "errors differ: {:?}", shown);
    }
}

/// The share of generated documents that are valid must be high enough for
/// the invariance property to exercise the whole grammar, not only errors.
#[test]
fn generated_documents_are_mostly_valid() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = doc();
    let mut valid = 0;
    let mut tokens = 0;
    for _ in 0..200 {
        let d = strategy.new_tree(&mut runner).unwrap().current();
        let run = run_whole(&d.render(), Limits::default());
        let closed_ok = d.close && run.error.is_none();
        let open_ok = !d.close
            && run
                .error
                .as_ref()
                .is_some_and(|e| e.kind == starling_xml::ErrorKind::UnexpectedEof);
        if closed_ok || open_ok {
            valid += 1;
        } else {
            eprintln!(
                "{:?}: {:?}",
                String::from_utf8_lossy(&d.render()),
                run.error
            );
        }
        tokens += run.tokens.len();
    }
    assert!(
        valid >= 150,
        "only {valid} of 200 generated documents are valid"
    );
    assert!(
        tokens >= 2000,
        "generated documents are too small: {tokens} tokens"
    );
}

// ---------------------------------------------------------------------------
// parse(write(e)) == e
// ---------------------------------------------------------------------------

/// A character XML can carry (every `Char` but U+FFFE and U+FFFF, which are
/// not in it), biased towards those that need escaping.
fn xml_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => select(&['<', '>', '&', '\'', '"', '\r', '\n', '\t', ']', ' ', 'a', '\u{e9}', '\u{1f600}', '\u{fffd}'][..]),
        2 => any::<char>().prop_filter("a legal XML char", |&c| {
            (c >= ' ' || matches!(c, '\t' | '\n' | '\r')) && c != '\u{fffe}' && c != '\u{ffff}'
        }),
    ]
}

fn xml_string(min: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        vec(xml_char(), min..12).prop_map(|v| v.into_iter().collect()),
        select(&["]]>", "a]]>b", "\r\n", "'\"", "&amp;", "<x/>"][..]).prop_map(str::to_owned),
    ]
}

fn ncname() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "a",
                "body",
                "xml",
                "xmlns",
                "lang",
                "\u{f1}",
                "\u{10000}",
                "_-.9",
                "stream"
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-zA-Z_\u{c0}-\u{d6}\u{3001}-\u{3010}][a-zA-Z0-9_.\u{b7}\u{300}-\u{36f}-]{0,6}",
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "",
                "jabber:client",
                "urn:a",
                "urn:b",
                "http://etherx.jabber.org/streams"
            ][..]
        )
        .prop_map(str::to_owned),
        xml_string(1),
    ]
}

fn attr_namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => Just(XML_NS.to_owned()),
        2 => namespace(),
    ]
}

fn gen_element() -> impl Strategy<Value = Element> {
    let leaf = (
        ncname(),
        namespace(),
        vec((attr_namespace(), ncname(), xml_string(0)), 0..4),
    )
        .prop_map(|(name, ns, attrs)| {
            let mut e = Element::new(&name, &ns);
            for (ans, aname, value) in attrs {
                // set_attr_ns replaces an existing attribute: names stay
                // unique. `xmlns` in no namespace is a declaration, not an
                // attribute.
                if !(ans.is_empty() && aname == "xmlns") {
                    e.set_attr_ns(&ans, &aname, Some(&value));
                }
            }
            e
        });
    leaf.prop_recursive(4, 32, 5, |inner| {
        (
            (
                ncname(),
                namespace(),
                vec((attr_namespace(), ncname(), xml_string(0)), 0..3),
            ),
            vec(
                prop_oneof![
                    inner.prop_map(Node::Element),
                    xml_string(1).prop_map(|s| Node::Text(s.into()))
                ],
                0..5,
            ),
        )
            .prop_map(|((name, ns, attrs), nodes)| {
                let mut e = Element::new(&name, &ns);
                for (ans, aname, value) in attrs {
                    if !(ans.is_empty() && aname == "xmlns") {
                        e.set_attr_ns(&ans, &aname, Some(&value));
                    }
                }
                for n in nodes {
                    match n {
                        Node::Element(c) => {
                            e.append_child(c);
                        }
                        // Merged with a preceding text node: no two in a row.
                        Node::Text(t) => e.append_text(t),
                    }
                }
                e
            })
    })
}

/// Checks the tree invariants the generator must keep.
fn well_formed_tree(e: &Element) -> bool {
    let mut prev_text = false;
    for n in e.nodes() {
        match n {
            Node::Text(t) => {
                if t.is_empty() || prev_text {
                    return false;
                }
                prev_text = true;
            }
            Node::Element(c) => {
                if !well_formed_tree(c) {
                    return false;
                }
                prev_text = false;
            }
        }
    }
    let attrs = e.attrs();
    attrs.iter().enumerate().all(|(i, a)| {
        attrs[..i]
            .iter()
            .all(|b| b.name != a.name || b.namespace != a.namespace)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parse_write_roundtrip(e in gen_element()) {
        prop_assert!(well_formed_tree(&e));
        let bytes = Writer::new().element_to_vec(&e);
        let parsed = Element::parse(&bytes);
        prop_assert_eq!(parsed.as_ref(), Ok(&e), "written as {:?}", String::from_utf8_lossy(&bytes));
        // Writing again gives the same bytes.
        prop_assert_eq!(Writer::new().element_to_vec(parsed.as_ref().unwrap()), bytes);
    }

    /// An element written inside an open stream (whose declarations it must
    /// not repeat, and must not wrongly rely on) parses back the same, fed
    /// in small pieces.
    #[test]
    fn roundtrip_inside_stream(e in gen_element(), size in 1usize..16) {
        let mut w = Writer::new();
        let mut out = Vec::new();
        w.declaration(&mut out);
        let header = Element::builder("stream", "http://etherx.jabber.org/streams").attr("to", "example.com").build();
        w.open(&header, "stream", &[("", "jabber:client")], &mut out);
        w.element(&e, &mut out);
        w.element(&e, &mut out);
        w.close(&mut out);
        let mut tok = Tokenizer::new();
        let mut tree = TreeBuilder::new();
        let mut got = Vec::new();
        // Open elements, the stream header included.
        let mut level = 0usize;
        for piece in out.chunks(size) {
            tok.feed(piece);
            loop {
                let t = match tok.next_token() {
                    Ok(Some(t)) => t,
                    Ok(None) => break,
                    Err(err) => return Err(TestCaseError::fail(format!("{err}: {:?}", String::from_utf8_lossy(&out)))),
                };
                let stream_level = match &t {
                    Token::Declaration(_) => true,
                    Token::Start(_) => {
                        level += 1;
                        level == 1
                    }
                    Token::End(_) => {
                        level -= 1;
                        level == 0
                    }
                    Token::Text(_) => level == 1,
                };
                if stream_level {
                    continue;
                }
                if let Some(done) = tree.push(t) {
                    got.push(done);
                }
            }
        }
        tok.finish();
        prop_assert_eq!(tok.next_token(), Ok(None));
        prop_assert_eq!(got, vec![e.clone(), e]);
    }
}

// ---------------------------------------------------------------------------
// No panic, whatever the input
// ---------------------------------------------------------------------------

const XMLISH: &[&[u8]] = &[
    b"<",
    b">",
    b"/",
    b"=",
    b"'",
    b"\"",
    b"&",
    b";",
    b"#",
    b"x",
    b"!",
    b"[",
    b"]",
    b"?",
    b"-",
    b":",
    b"a",
    b"b",
    b" ",
    b"\r",
    b"\n",
    b"\t",
    b"\xC3\xA9",
    b"\xF0\x9F\x98\x80",
    b"\xF0\x9F",
    b"\xFF",
    b"\x00",
    b"\x01",
    b"xmlns",
    b"xml",
    b"CDATA",
    b"amp",
    b"lt",
];

/// Bytes dense in what XML cares about.
fn xmlish_bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            select(XMLISH).prop_map(<[u8]>::to_vec),
            vec(any::<u8>(), 1..4),
        ],
        0..120,
    )
    .prop_map(|v| v.concat())
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        xmlish_bytes(),
        xmlish_bytes().prop_map(|b| [&b"<r xmlns='urn:r'>"[..], &b].concat()),
        // Arbitrary bytes mixed into a valid document.
        (doc(), vec((0.0f64..1.0, vec(any::<u8>(), 1..6)), 1..4)).prop_map(|(d, edits)| {
            let mut bytes = d.render();
            for (at, junk) in edits {
                let i = ((bytes.len() as f64) * at) as usize;
                bytes.splice(i..i, junk);
            }
            bytes
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// No panic fed whole or in pieces (the helpers assert that errors are
    /// sticky and that the tokenizer advances), and the same outcome.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in any_input(), cut_seed in vec(0.0f64..1.0, 0..16), limits in limits()) {
        let n = bytes.len();
        let mut cuts: Vec<usize> = cut_seed.into_iter().map(|f| (f * n as f64) as usize).collect();
        cuts.sort_unstable();
        check_invariance(&bytes, &cuts, limits)?;
        let ones: Vec<usize> = (1..n).collect();
        check_invariance(&bytes, &ones, limits)?;
        // Element::parse either fails or gives an element that round-trips.
        if let Ok(e) = Element::parse(&bytes) {
            let written = Writer::new().element_to_vec(&e);
            prop_assert_eq!(Element::parse(&written), Ok(e));
        }
        // Without finish() nothing changes either.
        let open = run_cuts(&bytes, &cuts, limits, false);
        let whole_open = run_cuts(&bytes, &[], limits, false);
        prop_assert_eq!(open.merged(), whole_open.merged());
        prop_assert_eq!(open.error, whole_open.error);
    }
}
