//! Serialisation of elements and tokens.

use bytestring::ByteString;

use crate::chars::{is_xml_char, str_eq};
use crate::element::{Element, Node};
use crate::names::XML_NS;
use crate::tokenizer::{Attribute, Token};

/// One namespace binding in scope: prefix (empty for the default namespace)
/// and namespace name.
#[derive(Debug, Clone)]
struct Binding {
    prefix: ByteString,
    ns: ByteString,
}

#[derive(Debug, Clone)]
struct Open {
    /// Qualified name written in the start tag.
    qname: String,
    /// Length of `Writer::bindings` before this element.
    bindings: usize,
}

/// Serialises XML with correct escaping and the namespace declarations
/// needed, and no others.
///
/// A writer remembers the elements it has opened (with
/// [`open`](Self::open)) and the namespaces they declared, so elements
/// written inside them ([`element`](Self::element)) do not repeat those
/// declarations: a stanza written inside a `jabber:client` stream comes out
/// as `<message …>` without an `xmlns`. Characters XML cannot carry
/// (controls, U+FFFE, U+FFFF) are written as U+FFFD.
///
/// ```
/// use starling_xml::{Element, Writer};
///
/// let mut out = Vec::new();
/// let mut w = Writer::new();
/// let header = Element::builder("stream", "http://etherx.jabber.org/streams")
///     .attr("to", "example.com")
///     .attr("version", "1.0")
///     .build();
/// w.open(&header, "stream", &[("", "jabber:client")], &mut out);
/// w.element(&Element::builder("presence", "jabber:client").build(), &mut out);
/// w.close(&mut out);
/// assert_eq!(
///     std::str::from_utf8(&out).unwrap(),
///     "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' \
///      to='example.com' version='1.0'><presence/></stream:stream>"
/// );
/// ```
#[derive(Debug, Clone, Default)]
pub struct Writer {
    bindings: Vec<Binding>,
    open: Vec<Open>,
}

impl Writer {
    /// A writer with no element open.
    pub fn new() -> Self {
        Writer::default()
    }

    /// Number of elements opened with [`open`](Self::open) and not closed.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// Forgets all open elements (for a stream restart).
    pub fn reset(&mut self) {
        self.bindings.clear();
        self.open.clear();
    }

    /// The XML declaration `<?xml version='1.0'?>`.
    pub fn declaration(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"<?xml version='1.0'?>");
    }

    /// Writes the start tag of `el` (its attributes, not its children) and
    /// keeps it open. The element's namespace is bound to `prefix` (empty
    /// for the default namespace); `decls` are further `(prefix, namespace)`
    /// bindings to declare on it. An element in no namespace gets no
    /// prefix (a prefix cannot be bound to the empty namespace name).
    pub fn open(&mut self, el: &Element, prefix: &str, decls: &[(&str, &str)], out: &mut Vec<u8>) {
        let prefix = if el.ns().is_empty() { "" } else { prefix };
        let mark = self.bindings.len();
        let mut qname = String::with_capacity(prefix.len() + 1 + el.name().len());
        if !prefix.is_empty() {
            qname.push_str(prefix);
            qname.push(':');
        }
        qname.push_str(el.name());
        out.push(b'<');
        out.extend_from_slice(qname.as_bytes());
        if self.lookup(prefix) != Some(el.ns()) {
            self.declare(prefix, el.ns(), out);
        }
        for (p, ns) in decls {
            // A prefix cannot be undeclared (`xmlns:p=''`): skip such a pair.
            if (p.is_empty() || !ns.is_empty()) && self.lookup(p) != Some(ns) {
                self.declare(p, ns, out);
            }
        }
        self.write_attrs(el.attrs(), out);
        out.push(b'>');
        self.open.push(Open {
            qname,
            bindings: mark,
        });
    }

    /// Writes the end tag of the innermost element opened with
    /// [`open`](Self::open); does nothing if none is open.
    pub fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(o) = self.open.pop() {
            out.extend_from_slice(b"</");
            out.extend_from_slice(o.qname.as_bytes());
            out.push(b'>');
            self.bindings.truncate(o.bindings);
        }
    }

    /// Writes escaped text.
    pub fn text(&self, text: &str, out: &mut Vec<u8>) {
        escape(text, false, out);
    }

    /// Writes a complete element in the current scope.
    pub fn element(&mut self, el: &Element, out: &mut Vec<u8>) {
        let mark = self.bindings.len();
        self.write_element(el, out);
        self.bindings.truncate(mark);
    }

    /// Writes a complete element as a standalone document fragment.
    pub fn element_to_vec(&self, el: &Element) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        Writer::new().element(el, &mut out);
        out
    }

    /// Writes one token: a start tag opens an element (declaring what its
    /// namespace and attributes need), an end tag closes it.
    pub fn token(&mut self, token: &Token<'_>, out: &mut Vec<u8>) {
        match token {
            Token::Declaration(_) => self.declaration(out),
            Token::Start(s) => {
                let mut el = Element::new(&s.name, &s.namespace);
                for a in s.attributes {
                    el.set_attr_ns(&a.namespace, &a.name, Some(&a.value));
                }
                let decls: Vec<(&str, &str)> = s
                    .namespace_decls
                    .iter()
                    .map(|d| (&*d.prefix, &*d.namespace))
                    .collect();
                self.open(&el, &s.prefix, &decls, out);
            }
            Token::End(_) => self.close(out),
            Token::Text(t) => self.text(t, out),
        }
    }

    fn lookup(&self, prefix: &str) -> Option<&str> {
        if prefix == "xml" {
            return Some(XML_NS);
        }
        match self
            .bindings
            .iter()
            .rev()
            .find(|b| str_eq(&b.prefix, prefix))
        {
            Some(b) => Some(&b.ns),
            None if prefix.is_empty() => Some(""),
            None => None,
        }
    }

    fn prefix_for(&self, ns: &str) -> Option<&str> {
        if ns == XML_NS {
            return Some("xml");
        }
        let b = self
            .bindings
            .iter()
            .rev()
            .find(|b| !b.prefix.is_empty() && str_eq(&b.ns, ns))?;
        // The prefix must not be shadowed by a later binding.
        (self.lookup(&b.prefix) == Some(ns)).then_some(&*b.prefix)
    }

    fn declare(&mut self, prefix: &str, ns: &str, out: &mut Vec<u8>) {
        if prefix.is_empty() {
            out.extend_from_slice(b" xmlns='");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(b"='");
        }
        escape(ns, true, out);
        out.push(b'\'');
        self.bindings.push(Binding {
            prefix: ByteString::from(prefix),
            ns: ByteString::from(ns),
        });
    }

    fn write_attrs(&mut self, attrs: &[Attribute], out: &mut Vec<u8>) {
        for a in attrs {
            out.push(b' ');
            if !a.namespace.is_empty() {
                let p = match self.prefix_for(&a.namespace) {
                    Some(p) => p.to_owned(),
                    None => {
                        let mut n = self.bindings.len();
                        let p = loop {
                            let p = format!("ns{n}");
                            if self.lookup(&p).is_none() {
                                break p;
                            }
                            n += 1;
                        };
                        // Declare before the attribute itself.
                        out.pop();
                        self.declare(&p, &a.namespace, out);
                        out.push(b' ');
                        p
                    }
                };
                out.extend_from_slice(p.as_bytes());
                out.push(b':');
            }
            out.extend_from_slice(a.name.as_bytes());
            out.extend_from_slice(b"='");
            escape(&a.value, true, out);
            out.push(b'\'');
        }
    }

    fn write_element(&mut self, el: &Element, out: &mut Vec<u8>) {
        let mark = self.bindings.len();
        out.push(b'<');
        let prefix = if self.lookup("") == Some(el.ns()) || el.ns().is_empty() {
            None
        } else {
            self.prefix_for(el.ns()).map(str::to_owned)
        };
        let name_start = out.len();
        if let Some(p) = &prefix {
            out.extend_from_slice(p.as_bytes());
            out.push(b':');
        }
        out.extend_from_slice(el.name().as_bytes());
        let name_end = out.len();
        if prefix.is_none() && self.lookup("") != Some(el.ns()) {
            self.declare("", el.ns(), out);
        }
        self.write_attrs(el.attrs(), out);
        if el.nodes().is_empty() {
            out.extend_from_slice(b"/>");
        } else {
            out.push(b'>');
            for n in el.nodes() {
                match n {
                    Node::Element(c) => self.write_element(c, out),
                    Node::Text(t) => escape(t, false, out),
                }
            }
            out.extend_from_slice(b"</");
            out.extend_from_within(name_start..name_end);
            out.push(b'>');
        }
        self.bindings.truncate(mark);
    }
}

/// Writes `s` escaped for text (`attr == false`) or a `'`-quoted attribute
/// value.
fn escape(s: &str, attr: bool, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let special = |b: u8| match b {
        b'&' | b'<' | b'>' | b'\r' | 0xEF => true,
        b'\'' | b'\t' | b'\n' => attr,
        b => b < 0x20 && b != b'\t' && b != b'\n',
    };
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !special(b) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        let mut width = 1;
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'\r' => out.extend_from_slice(b"&#xD;"),
            b'\t' => out.extend_from_slice(b"&#x9;"),
            b'\n' => out.extend_from_slice(b"&#xA;"),
            0xEF => {
                // U+FFFE and U+FFFF are not XML characters.
                width = 3;
                let c = s[i..].chars().next().map_or(0, |c| c as u32);
                if is_xml_char(c) {
                    out.extend_from_slice(&bytes[i..i + 3]);
                } else {
                    out.extend_from_slice("\u{FFFD}".as_bytes());
                }
            }
            _ => out.extend_from_slice("\u{FFFD}".as_bytes()),
        }
        i += width;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str, attr: bool) -> String {
        let mut v = Vec::new();
        escape(s, attr, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("a<b>&c'\"", false), "a&lt;b&gt;&amp;c'\"");
        assert_eq!(
            esc("a<b>&c'\"\t\n\r", true),
            "a&lt;b&gt;&amp;c&apos;\"&#x9;&#xA;&#xD;"
        );
        assert_eq!(
            esc("x\u{0}y\u{FFFE}z\u{FFFD}ï", false),
            "x\u{FFFD}y\u{FFFD}z\u{FFFD}ï"
        );
        assert_eq!(esc("]]>", false), "]]&gt;");
    }

    #[test]
    fn namespaces_not_repeated() {
        let el = Element::builder("iq", "jabber:client")
            .append(
                Element::builder("query", "jabber:iq:roster")
                    .append(Element::builder("item", "jabber:iq:roster").attr("jid", "a@b")),
            )
            .append(Element::builder("x", ""))
            .build();
        let s = String::from_utf8(Writer::new().element_to_vec(&el)).unwrap();
        assert_eq!(
            s,
            "<iq xmlns='jabber:client'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query><x xmlns=''/></iq>"
        );
    }

    #[test]
    fn namespaced_attributes() {
        let el = Element::builder("a", "urn:a")
            .attr_ns(XML_NS, "lang", "en")
            .attr_ns("urn:b", "x", "1")
            .attr_ns("urn:b", "y", "2")
            .build();
        let s = String::from_utf8(Writer::new().element_to_vec(&el)).unwrap();
        assert_eq!(
            s,
            "<a xmlns='urn:a' xml:lang='en' xmlns:ns1='urn:b' ns1:x='1' ns1:y='2'/>"
        );
        assert_eq!(Element::parse(s.as_bytes()).unwrap(), el);
    }
}
