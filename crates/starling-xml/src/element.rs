//! The element tree.

use std::fmt;
use std::str::FromStr;

use bytestring::ByteString;

use crate::chars::{check_ncname, str_eq};
use crate::error::{Error, ErrorKind};
use crate::names::{XML_NS, XMLNS_NS};
use crate::tokenizer::{Attribute, Limits, Token, Tokenizer};
use crate::writer::Writer;

/// A child of an [`Element`]: an element or a run of text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (never empty, never two in a row in a tree built by
    /// this crate).
    Text(ByteString),
}

/// An XML element: namespace, local name, attributes and children.
///
/// Namespaces are kept as names, not prefixes: two elements are equal when
/// their namespace names, local names, attributes (in order) and children
/// are, whatever prefixes the input used. The [`Writer`] chooses prefixes.
///
/// ```
/// use starling_xml::Element;
///
/// let iq: Element = "<iq type='get' id='r1' xmlns='jabber:client'>\
///     <query xmlns='jabber:iq:roster'/></iq>".parse().unwrap();
/// assert!(iq.is("iq", "jabber:client"));
/// assert_eq!(iq.attr("type"), Some("get"));
/// let query = iq.get_child("query", "jabber:iq:roster").unwrap();
/// assert_eq!(query.children().count(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Element {
    name: ByteString,
    namespace: ByteString,
    attributes: Vec<Attribute>,
    children: Vec<Node>,
}

fn valid_name(name: &str) -> ByteString {
    assert!(check_ncname(name), "{name:?} is not a valid XML local name");
    ByteString::from(name)
}

/// Checks that an attribute can be written: its name is an `NCName`, and it
/// is not a namespace declaration in disguise (`xmlns` in no namespace, or
/// anything in the `xmlns` namespace), which the writer would turn into a
/// declaration that changes the element's meaning.
fn check_attr(ns: &str, name: &str) {
    assert!(check_ncname(name), "{name:?} is not a valid XML local name");
    assert!(
        !(ns.is_empty() && name == "xmlns") && ns != XMLNS_NS,
        "a namespace declaration cannot be set as an attribute"
    );
}

impl Element {
    /// An empty element.
    ///
    /// # Panics
    /// If `name` is not a valid XML local name (an `NCName`), or `namespace`
    /// is the reserved [`names::XMLNS_NS`](crate::names::XMLNS_NS), which no
    /// element may be in; names are nearly always literals in code, so this
    /// is a programming error.
    pub fn new(name: &str, namespace: &str) -> Element {
        assert!(
            namespace != XMLNS_NS,
            "no element may be in the xmlns namespace"
        );
        Element {
            name: valid_name(name),
            namespace: ByteString::from(namespace),
            attributes: Vec::new(),
            children: Vec::new(),
        }
    }

    /// A builder for an element (see [`ElementBuilder`]).
    ///
    /// # Panics
    /// As [`Element::new`].
    pub fn builder(name: &str, namespace: &str) -> ElementBuilder {
        ElementBuilder {
            element: Element::new(name, namespace),
        }
    }

    /// Parses one complete element (an XML declaration may precede it) with
    /// the default [`Limits`].
    pub fn parse(input: &[u8]) -> Result<Element, Error> {
        Self::parse_with_limits(input, Limits::default())
    }

    /// Parses one complete element with the given limits.
    pub fn parse_with_limits(input: &[u8], limits: Limits) -> Result<Element, Error> {
        let mut tok = Tokenizer::with_limits(limits);
        tok.feed(input);
        tok.finish();
        let mut builder = TreeBuilder::new();
        let mut root = None;
        while let Some(t) = tok.next_token()? {
            if let Some(e) = builder.push(t) {
                root = Some(e);
            }
        }
        root.ok_or(Error {
            kind: ErrorKind::UnexpectedEof,
            offset: tok.offset(),
        })
    }

    /// The local name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace name (empty if none).
    pub fn ns(&self) -> &str {
        &self.namespace
    }

    /// Whether this is the element `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        str_eq(&self.name, name) && str_eq(&self.namespace, ns)
    }

    /// The value of the attribute `name` (in no namespace).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attr_ns("", name)
    }

    /// The value of the attribute `name` in namespace `ns` (use
    /// [`names::XML_NS`](crate::names::XML_NS) for `xml:lang`).
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| str_eq(&a.name, name) && str_eq(&a.namespace, ns))
            .map(|a| &*a.value)
    }

    /// The `xml:lang` attribute.
    pub fn lang(&self) -> Option<&str> {
        self.attr_ns(XML_NS, "lang")
    }

    /// All attributes, in order.
    pub fn attrs(&self) -> &[Attribute] {
        &self.attributes
    }

    /// Sets (or, with `None`, removes) the attribute `name` in no namespace.
    ///
    /// # Panics
    /// If `name` is not a valid XML local name, or is `xmlns` (a namespace
    /// declaration, not an attribute).
    pub fn set_attr(&mut self, name: &str, value: Option<&str>) {
        self.set_attr_ns("", name, value);
    }

    /// Sets (or removes) the attribute `name` in namespace `ns`.
    ///
    /// # Panics
    /// If `name` is not a valid XML local name, or the pair is a namespace
    /// declaration (`xmlns` in no namespace, or `ns` is
    /// [`names::XMLNS_NS`](crate::names::XMLNS_NS)).
    pub fn set_attr_ns(&mut self, ns: &str, name: &str, value: Option<&str>) {
        let pos = self
            .attributes
            .iter()
            .position(|a| str_eq(&a.name, name) && str_eq(&a.namespace, ns));
        match (pos, value) {
            (Some(i), Some(v)) => self.attributes[i].value = ByteString::from(v),
            (Some(i), None) => {
                self.attributes.remove(i);
            }
            (None, Some(v)) => {
                check_attr(ns, name);
                self.attributes.push(Attribute {
                    namespace: ByteString::from(ns),
                    name: ByteString::from(name),
                    value: ByteString::from(v),
                });
            }
            (None, None) => {}
        }
    }

    /// Sets an attribute in no namespace from shared strings without copying
    /// them.
    ///
    /// # Panics
    /// As [`set_attr`](Self::set_attr).
    pub fn set_attr_shared(&mut self, name: ByteString, value: ByteString) {
        check_attr("", &name);
        match self
            .attributes
            .iter_mut()
            .find(|a| a.namespace.is_empty() && str_eq(&a.name, &name))
        {
            Some(a) => a.value = value,
            None => self.attributes.push(Attribute {
                namespace: ByteString::new(),
                name,
                value,
            }),
        }
    }

    /// Moves this element and every descendant in namespace `from` into
    /// namespace `to` (for example a stanza from `jabber:client` to
    /// `jabber:server` when it crosses to a server-to-server stream,
    /// RFC 6120 §4.8.3). Other namespaces are left alone.
    ///
    /// ```
    /// use starling_xml::Element;
    ///
    /// let mut el: Element = "<message xmlns='jabber:client'><body>hi</body><x xmlns='urn:x'/></message>"
    ///     .parse()
    ///     .unwrap();
    /// el.rename_namespace("jabber:client", "jabber:server");
    /// assert!(el.is("message", "jabber:server"));
    /// assert!(el.has_child("body", "jabber:server"));
    /// assert!(el.has_child("x", "urn:x"));
    /// ```
    pub fn rename_namespace(&mut self, from: &str, to: &str) {
        if str_eq(&self.namespace, from) {
            self.namespace = ByteString::from(to);
        }
        for c in self.children_mut() {
            c.rename_namespace(from, to);
        }
    }

    /// All child nodes, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.children
    }

    /// The child elements, in order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The child elements, mutably.
    pub fn children_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element `name` in namespace `ns`.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|e| e.is(name, ns))
    }

    /// The first child element `name` in namespace `ns`, mutably.
    pub fn get_child_mut(&mut self, name: &str, ns: &str) -> Option<&mut Element> {
        self.children_mut().find(|e| e.is(name, ns))
    }

    /// Whether there is a child element `name` in namespace `ns`.
    pub fn has_child(&self, name: &str, ns: &str) -> bool {
        self.get_child(name, ns).is_some()
    }

    /// The text directly inside this element (not its descendants'),
    /// concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Appends a child element.
    pub fn append_child(&mut self, child: Element) -> &mut Element {
        self.children.push(Node::Element(child));
        match self.children.last_mut() {
            Some(Node::Element(e)) => e,
            _ => unreachable!("an element was just pushed"),
        }
    }

    /// Appends text, merged with a preceding text node; empty text is ignored.
    ///
    /// A merge copies the text so far: to build a long text from many
    /// pieces, join them first ([`TreeBuilder`] does).
    pub fn append_text(&mut self, text: impl Into<ByteString>) {
        let text = text.into();
        if text.is_empty() {
            return;
        }
        if let Some(Node::Text(prev)) = self.children.last_mut() {
            let mut s = String::with_capacity(prev.len() + text.len());
            s.push_str(prev);
            s.push_str(&text);
            *prev = ByteString::from(s);
        } else {
            self.children.push(Node::Text(text));
        }
    }

    /// Removes and returns the first child element `name` in namespace `ns`.
    pub fn remove_child(&mut self, name: &str, ns: &str) -> Option<Element> {
        let i = self
            .children
            .iter()
            .position(|n| matches!(n, Node::Element(e) if e.is(name, ns)))?;
        match self.children.remove(i) {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        }
    }

    /// Removes all children and returns them.
    pub fn take_nodes(&mut self) -> Vec<Node> {
        std::mem::take(&mut self.children)
    }

    /// Serialises the element (with the namespace declarations it needs) to
    /// a string.
    pub fn to_xml(&self) -> String {
        let bytes = Writer::new().element_to_vec(self);
        String::from_utf8(bytes).unwrap_or_default()
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xml())
    }
}

impl FromStr for Element {
    type Err = Error;
    fn from_str(s: &str) -> Result<Element, Error> {
        Element::parse(s.as_bytes())
    }
}

/// Builds an [`Element`] in one expression.
///
/// ```
/// use starling_xml::Element;
///
/// let presence = Element::builder("presence", "jabber:client")
///     .attr("type", "unavailable")
///     .append(Element::builder("status", "jabber:client").text("Gone"))
///     .build();
/// assert_eq!(presence.get_child("status", "jabber:client").unwrap().text(), "Gone");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ElementBuilder {
    element: Element,
}

impl ElementBuilder {
    /// Adds an attribute in no namespace.
    pub fn attr(mut self, name: &str, value: &str) -> Self {
        self.element.set_attr(name, Some(value));
        self
    }

    /// Adds an attribute in no namespace if `value` is `Some`.
    pub fn attr_opt(mut self, name: &str, value: Option<&str>) -> Self {
        if value.is_some() {
            self.element.set_attr(name, value);
        }
        self
    }

    /// Adds an attribute in namespace `ns`.
    pub fn attr_ns(mut self, ns: &str, name: &str, value: &str) -> Self {
        self.element.set_attr_ns(ns, name, Some(value));
        self
    }

    /// Appends a child element (an [`Element`] or a builder).
    pub fn append(mut self, child: impl Into<Element>) -> Self {
        self.element.append_child(child.into());
        self
    }

    /// Appends text.
    pub fn text(mut self, text: &str) -> Self {
        self.element.append_text(text);
        self
    }

    /// The element.
    pub fn build(self) -> Element {
        self.element
    }
}

impl From<ElementBuilder> for Element {
    fn from(b: ElementBuilder) -> Element {
        b.element
    }
}

/// Builds elements from tokens: push tokens, get each element back when its
/// end tag arrives.
///
/// The stream layer pushes the tokens of each child of the stream root and
/// gets stanzas back; [`Element::parse`] pushes a whole document.
///
/// ```
/// use starling_xml::{Tokenizer, TreeBuilder};
///
/// let mut tok = Tokenizer::new();
/// tok.feed(b"<r><a x='1'>hi</a></r>");
/// let mut tree = TreeBuilder::new();
/// let mut done = None;
/// while let Some(t) = tok.next_token().unwrap() {
///     if let Some(e) = tree.push(t) {
///         done = Some(e);
///     }
/// }
/// assert_eq!(done.unwrap().get_child("a", "").unwrap().text(), "hi");
/// ```
#[derive(Debug, Default)]
pub struct TreeBuilder {
    stack: Vec<Element>,
    /// Text of the innermost open element not yet made a node: pieces are
    /// gathered here so that text cut into many pieces costs linear time,
    /// and a text that came in one piece stays the input's slice.
    text: PendingText,
}

#[derive(Debug, Default)]
enum PendingText {
    #[default]
    None,
    One(ByteString),
    Many(String),
}

impl TreeBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        TreeBuilder::default()
    }

    /// Frees the builder's scratch memory when no element is open (idle
    /// streams).
    pub fn shrink(&mut self) {
        if self.stack.is_empty() {
            self.stack = Vec::new();
        }
    }

    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// Discards any partly built element.
    pub fn clear(&mut self) {
        self.stack.clear();
        self.text = PendingText::None;
    }

    /// Makes the gathered text a node of the innermost open element.
    fn flush_text(&mut self) {
        let text = match std::mem::take(&mut self.text) {
            PendingText::None => return,
            PendingText::One(t) => t,
            PendingText::Many(t) => ByteString::from(t),
        };
        if let Some(top) = self.stack.last_mut() {
            top.append_text(text);
        }
    }

    /// Takes one token; returns an element when the outermost open element
    /// is complete. Text with no open element and declarations are ignored.
    pub fn push(&mut self, token: Token<'_>) -> Option<Element> {
        match token {
            Token::Start(s) => {
                self.flush_text();
                self.stack.push(Element {
                    name: s.name,
                    namespace: s.namespace,
                    attributes: s.attributes.to_vec(),
                    children: Vec::new(),
                });
                None
            }
            Token::Text(t) => {
                if self.stack.is_empty() || t.is_empty() {
                    return None;
                }
                self.text = match std::mem::take(&mut self.text) {
                    PendingText::None => PendingText::One(t),
                    PendingText::One(first) => {
                        let mut all = String::with_capacity(2 * (first.len() + t.len()));
                        all.push_str(&first);
                        all.push_str(&t);
                        PendingText::Many(all)
                    }
                    PendingText::Many(mut all) => {
                        all.push_str(&t);
                        PendingText::Many(all)
                    }
                };
                None
            }
            Token::End(_) => {
                self.flush_text();
                let done = self.stack.pop()?;
                match self.stack.last_mut() {
                    Some(parent) => {
                        parent.children.push(Node::Element(done));
                        None
                    }
                    None => Some(done),
                }
            }
            Token::Declaration(_) => None,
        }
    }
}
