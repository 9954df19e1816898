//! The incremental tokenizer.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;

use crate::chars::{self, MAX_REFERENCE, Mode, check_ncname, is_ws};
use crate::error::{Error, ErrorKind, Limit, Restricted};
use crate::names::{self, XML_NS, XMLNS_NS};
use crate::tag::{self, RawAttr};

/// Limits that bound the memory and work one peer can cause.
///
/// Crossing a limit is an [`ErrorKind::LimitExceeded`] error. The defaults
/// suit an XMPP server facing untrusted peers.
///
/// ```
/// use starling_xml::Limits;
///
/// let limits = Limits { max_element_bytes: 64 * 1024, ..Limits::default() };
/// assert_eq!(limits.max_depth, Limits::default().max_depth);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest element or attribute name (qualified, in bytes). Default 256.
    pub max_name_len: usize,
    /// Most attributes on one element, namespace declarations included.
    /// Default 128.
    pub max_attributes: usize,
    /// Most namespace declarations on one element. Default 32.
    pub max_namespace_decls: usize,
    /// Deepest nesting of elements, the root counted as 1. Default 64.
    pub max_depth: usize,
    /// Most bytes of one child of the root element (one stanza) from its
    /// `<` to the end of its end tag; also bounds every single tag,
    /// including the root's. Default 256 KiB.
    pub max_element_bytes: usize,
    /// Longest piece of text handed out as one [`Token::Text`] (counted in
    /// input bytes, before references are decoded); longer text comes in
    /// several pieces, so no more than this much text (and the few bytes
    /// that may start `]]>`) is ever buffered. Values below 48 count as 48.
    /// Default 64 KiB.
    pub max_text_chunk: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_name_len: 256,
            max_attributes: 128,
            max_namespace_decls: 32,
            max_depth: 64,
            max_element_bytes: 256 * 1024,
            max_text_chunk: 64 * 1024,
        }
    }
}

/// The XML declaration at the start of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlDecl {
    /// The `encoding` pseudo-attribute, if present (always UTF-8 in any case).
    pub encoding: Option<String>,
    /// The `standalone` pseudo-attribute, if present.
    pub standalone: Option<bool>,
}

/// A namespace-resolved attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Namespace name; empty for an attribute without a prefix.
    pub namespace: ByteString,
    /// Local name.
    pub name: ByteString,
    /// Normalised value (references decoded, white space normalised).
    pub value: ByteString,
}

/// A namespace declaration made on a start tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamespaceDecl {
    /// The prefix; empty for the default namespace.
    pub prefix: ByteString,
    /// The namespace name; empty when the default namespace is undeclared.
    pub namespace: ByteString,
}

/// A start tag, with namespaces resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTag<'a> {
    /// Prefix as written (empty if none).
    pub prefix: ByteString,
    /// Local name.
    pub name: ByteString,
    /// Namespace name (empty if the element is in no namespace).
    pub namespace: ByteString,
    /// Attributes other than namespace declarations, in document order.
    pub attributes: &'a [Attribute],
    /// Namespace declarations made on this tag, in document order.
    pub namespace_decls: &'a [NamespaceDecl],
    /// Whether the tag was written `<…/>`; an [`Token::End`] follows anyway.
    pub self_closing: bool,
}

impl StartTag<'_> {
    /// The value of the attribute `name` in no namespace.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.namespace.is_empty() && chars::str_eq(&a.name, name))
            .map(|a| &*a.value)
    }

    /// The value of the attribute `name` in namespace `ns`.
    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| chars::str_eq(&a.namespace, ns) && chars::str_eq(&a.name, name))
            .map(|a| &*a.value)
    }
}

/// An end tag (also produced after a self-closing start tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTag {
    /// Local name.
    pub name: ByteString,
    /// Namespace name (empty if none).
    pub namespace: ByteString,
}

/// One token of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// The XML declaration (only at the start of the input or after
    /// [`Tokenizer::restart`]).
    Declaration(XmlDecl),
    /// A start tag; for the root element it is reported as soon as it is
    /// complete.
    Start(StartTag<'a>),
    /// An end tag.
    End(EndTag),
    /// Character data (text or CDATA), references decoded and line ends
    /// normalised. Long text may come in several consecutive pieces. White
    /// space outside the root element is not reported.
    Text(ByteString),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing read yet: a byte order mark and the XML declaration may come.
    Start,
    /// Before the root element.
    Prolog,
    /// Inside the root element.
    Root,
    /// The root element has closed.
    Epilog,
}

struct Open {
    /// End of this element's qualified name in `Tokenizer::names`.
    name_end: usize,
    ns: ByteString,
    /// Length of `Tokenizer::bindings` before this element's declarations.
    bindings: usize,
}

enum Step {
    Wait,
    Decl(XmlDecl),
    Start {
        prefix: ByteString,
        name: ByteString,
        ns: ByteString,
        empty: bool,
    },
    End(EndTag),
    Text(ByteString),
}

const CDATA_START: &[u8] = b"<![CDATA[";
const DECL_START: &[u8] = b"<?xml";
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// The longest XML declaration accepted.
const MAX_DECL: usize = 512;
/// The smallest text piece: room for a reference and a UTF-8 sequence, so
/// that a piece can always be cut without splitting either.
const MIN_TEXT_CHUNK: usize = MAX_REFERENCE + 8;

/// A push tokenizer: [`feed`](Self::feed) it bytes as they arrive, then pull
/// [`Token`]s with [`next_token`](Self::next_token) until it returns
/// `Ok(None)` (it needs more input).
///
/// Chunks may be cut anywhere, even inside a UTF-8 sequence; the tokens do
/// not depend on where. Each byte is examined a bounded number of times, so
/// the work is linear in the input whatever the chunking. Names, values and
/// text are [`ByteString`] slices of the input: nothing is copied unless it
/// must be transformed (references, line ends, attribute white space).
///
/// ```
/// use starling_xml::{Token, Tokenizer};
///
/// let mut tok = Tokenizer::new();
/// tok.feed(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' ");
/// tok.feed(b"xmlns:stream='http://etherx.jabber.org/streams' to='example.com' vers");
/// assert!(matches!(tok.next_token().unwrap(), Some(Token::Declaration(_))));
/// assert_eq!(tok.next_token().unwrap(), None); // the header is not complete yet
/// tok.feed(b"ion='1.0'><message><body>caf\xC3");
/// match tok.next_token().unwrap() {
///     Some(Token::Start(s)) => {
///         assert_eq!(&*s.name, "stream");
///         assert_eq!(&*s.namespace, "http://etherx.jabber.org/streams");
///         assert_eq!(s.attr("to"), Some("example.com"));
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(tok.next_token().unwrap(), Some(Token::Start(s)) if s.namespace == "jabber:client"));
/// assert!(matches!(tok.next_token().unwrap(), Some(Token::Start(s)) if s.name == "body"));
/// tok.feed(b"\xA9 &amp; cr\xC3\xA8me</body></message>");
/// assert_eq!(tok.next_token().unwrap(), Some(Token::Text("café & crème".into())));
/// ```
pub struct Tokenizer {
    limits: Limits,
    buf: BytesMut,
    /// Bytes consumed before `buf[0]`, for error offsets.
    consumed: u64,
    /// How far the current (incomplete) construct has been scanned.
    scan: usize,
    /// The quote character the tag scan is inside of, or 0.
    quote: u8,
    in_cdata: bool,
    phase: Phase,
    /// Whether the encoding signature (byte order mark, UTF-16/32) at the
    /// start of the current stream has been checked.
    signature_checked: bool,
    open: Vec<Open>,
    /// Qualified names of the open elements, back to back.
    names: String,
    bindings: Vec<NamespaceDecl>,
    interned: Vec<ByteString>,
    raw_attrs: Vec<RawAttr>,
    attrs: Vec<Attribute>,
    decls: Vec<NamespaceDecl>,
    /// A self-closing tag's end is due; its local name.
    pending_end: Option<ByteString>,
    /// Bytes of the current child of the root so far.
    element_bytes: usize,
    eof: bool,
    error: Option<Error>,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("buffered", &self.buf.len())
            .field("consumed", &self.consumed)
            .field("depth", &self.open.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// A tokenizer with the default [`Limits`].
    pub fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    /// A tokenizer with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Tokenizer {
            limits,
            buf: BytesMut::new(),
            consumed: 0,
            scan: 0,
            quote: 0,
            in_cdata: false,
            phase: Phase::Start,
            signature_checked: false,
            open: Vec::new(),
            names: String::new(),
            bindings: Vec::new(),
            interned: Vec::new(),
            raw_attrs: Vec::new(),
            attrs: Vec::new(),
            decls: Vec::new(),
            pending_end: None,
            element_bytes: 0,
            eof: false,
            error: None,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends input. Tokens are produced by [`next_token`](Self::next_token).
    pub fn feed(&mut self, data: &[u8]) {
        if self.buf.is_empty() && self.buf.capacity() > 4 * self.limits.max_text_chunk.max(4096) {
            // Do not keep a large buffer alive after a burst.
            self.buf = BytesMut::new();
        }
        self.buf.extend_from_slice(data);
    }

    /// Appends input handed over as an owned buffer, such as the one a
    /// read just filled: when nothing is buffered the tokenizer adopts it
    /// as its input buffer (no copy, and tokens are split off it as
    /// [`Bytes`] slices), otherwise its bytes are appended as by
    /// [`feed`](Self::feed).
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use starling_xml::{Token, Tokenizer};
    ///
    /// let mut tok = Tokenizer::new();
    /// tok.feed_bytes(BytesMut::from(&b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "[..]));
    /// tok.feed(b"xmlns='jabber:client'>");
    /// assert!(matches!(tok.next_token().unwrap(), Some(Token::Start(s)) if s.name == "stream"));
    /// assert_eq!(tok.buffered(), 0);
    /// ```
    pub fn feed_bytes(&mut self, data: BytesMut) {
        if self.buf.is_empty() {
            // Whatever capacity the old (empty) buffer had is released.
            self.buf = data;
        } else {
            self.buf.extend_from_slice(&data);
        }
    }

    /// Marks the end of the input: after this, an incomplete construct or an
    /// unclosed root element is [`ErrorKind::UnexpectedEof`].
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Starts over for a new stream (XMPP stream restart after STARTTLS or
    /// SASL), keeping the bytes already fed but not yet tokenized, the byte
    /// offset and the limits.
    ///
    /// Call it right after the token that ends the old stream's use (the
    /// end of `<success/>`), before pulling more: the new stream's bytes may
    /// already be buffered. If a pull went one token too far, an XML
    /// declaration there failed with [`ErrorKind::BadDeclaration`] without
    /// being consumed, and `restart` still recovers; a new stream header
    /// without a declaration would instead have been read as a child of the
    /// old root.
    pub fn restart(&mut self) {
        self.scan = 0;
        self.quote = 0;
        self.in_cdata = false;
        self.phase = Phase::Start;
        self.signature_checked = false;
        self.open.clear();
        self.names.clear();
        self.bindings.clear();
        self.pending_end = None;
        self.element_bytes = 0;
        self.eof = false;
        self.error = None;
    }

    /// Frees buffer memory if nothing is buffered (for idle connections).
    pub fn shrink(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        // Scratch space of the last tag: kept only while in use.
        self.raw_attrs = Vec::new();
        self.attrs = Vec::new();
        self.decls = Vec::new();
        self.open.shrink_to_fit();
        self.names.shrink_to_fit();
        self.bindings.shrink_to_fit();
    }

    /// Number of bytes fed but not yet consumed by a token.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Total bytes consumed by tokens so far.
    pub fn offset(&self) -> u64 {
        self.consumed
    }

    /// Depth of element nesting (0 outside the root, 1 directly inside it).
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// The next token, `Ok(None)` if more input is needed (or the input has
    /// ended cleanly), or the error that stopped the tokenizer.
    pub fn next_token(&mut self) -> Result<Option<Token<'_>>, Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        // The previous start tag's attributes hold slices of the input
        // buffer; release them so the buffer can be reused in place.
        self.attrs.clear();
        self.decls.clear();
        match self.step() {
            Ok(Step::Wait) => Ok(None),
            Ok(Step::Decl(d)) => Ok(Some(Token::Declaration(d))),
            Ok(Step::Start {
                prefix,
                name,
                ns,
                empty,
            }) => Ok(Some(Token::Start(StartTag {
                prefix,
                name,
                namespace: ns,
                attributes: &self.attrs,
                namespace_decls: &self.decls,
                self_closing: empty,
            }))),
            Ok(Step::End(e)) => Ok(Some(Token::End(e))),
            Ok(Step::Text(t)) => Ok(Some(Token::Text(t))),
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    fn err<T>(&self, kind: ErrorKind, at: usize) -> Result<T, Error> {
        Err(Error::new(kind, self.consumed + at as u64))
    }

    /// Removes `n` bytes from the front of the buffer.
    fn take(&mut self, n: usize) -> Bytes {
        self.consumed += n as u64;
        self.scan = 0;
        self.buf.split_to(n).freeze()
    }

    /// Adds `n` bytes to the current root child's size.
    fn account(&mut self, n: usize) -> Result<(), Error> {
        if self.open.len() >= 2 {
            self.element_bytes += n;
            if self.element_bytes > self.limits.max_element_bytes {
                return self.err(ErrorKind::LimitExceeded(Limit::ElementBytes), 0);
            }
        }
        Ok(())
    }

    /// How many more bytes the construct being scanned may take.
    fn budget(&self) -> usize {
        if self.open.len() >= 2 {
            self.limits
                .max_element_bytes
                .saturating_sub(self.element_bytes)
        } else {
            self.limits.max_element_bytes
        }
    }

    /// Validates `b`, just taken from the buffer, as UTF-8 (the one
    /// validation these bytes get); errors point into `b`.
    fn utf8(&self, b: Bytes) -> Result<ByteString, Error> {
        let start = self.consumed - b.len() as u64;
        ByteString::try_from(b)
            .map_err(|e| Error::new(ErrorKind::InvalidUtf8, start + e.valid_up_to() as u64))
    }

    fn step(&mut self) -> Result<Step, Error> {
        loop {
            if self.pending_end.is_some() {
                return self.close_element(None, 0);
            }
            if self.in_cdata {
                match self.cdata()? {
                    Some(s) => return Ok(s),
                    None if self.in_cdata => return self.wait(),
                    None => continue,
                }
            }
            if self.buf.is_empty() {
                return self.wait();
            }
            if self.phase == Phase::Start {
                match self.start()? {
                    Some(s) => return Ok(s),
                    None if self.phase == Phase::Start => return self.wait(),
                    None => continue,
                }
            }
            if self.buf[0] == b'<' {
                if self.buf.len() < 2 {
                    return self.wait();
                }
                if self.phase == Phase::Epilog {
                    return self.err(ErrorKind::JunkAfterRoot, 0);
                }
                match self.buf[1] {
                    b'/' => match self.end_tag()? {
                        Some(s) => return Ok(s),
                        None => return self.wait(),
                    },
                    b'?' => {
                        // `<?xml ` here is a misplaced XML declaration;
                        // anything else is a processing instruction.
                        let n = self.buf.len().min(DECL_START.len() + 1);
                        let k = n.min(DECL_START.len());
                        if self.buf[..k] == DECL_START[..k] {
                            if n <= DECL_START.len() {
                                return self.wait();
                            }
                            let c = self.buf[DECL_START.len()];
                            if is_ws(c) || c == b'?' {
                                return self.err(ErrorKind::BadDeclaration, 0);
                            }
                        }
                        return self.err(
                            ErrorKind::RestrictedXml(Restricted::ProcessingInstruction),
                            0,
                        );
                    }
                    b'!' => {
                        let n = self.buf.len().min(CDATA_START.len());
                        if self.buf[..n] == CDATA_START[..n] {
                            if n < CDATA_START.len() {
                                return self.wait();
                            }
                            if self.open.is_empty() {
                                return self.err(ErrorKind::TextOutsideRoot, 0);
                            }
                            self.account(CDATA_START.len())?;
                            self.take(CDATA_START.len());
                            self.in_cdata = true;
                            continue;
                        }
                        let what = if self.buf[2..].first() == Some(&b'-') {
                            Restricted::Comment
                        } else {
                            Restricted::Doctype
                        };
                        if self.buf.len() < 3 {
                            return self.wait();
                        }
                        return self.err(ErrorKind::RestrictedXml(what), 0);
                    }
                    _ => match self.start_tag()? {
                        Some(s) => return Ok(s),
                        None => return self.wait(),
                    },
                }
            }
            match self.text()? {
                Some(s) => return Ok(s),
                None if self.buf.is_empty() || self.buf[0] == b'<' => continue,
                None => return self.wait(),
            }
        }
    }

    /// Nothing more can be produced from what is buffered.
    fn wait(&self) -> Result<Step, Error> {
        if self.eof && (!self.buf.is_empty() || self.in_cdata || self.phase != Phase::Epilog) {
            return self.err(ErrorKind::UnexpectedEof, self.buf.len());
        }
        Ok(Step::Wait)
    }

    /// The start of the input: encoding signature, byte order mark and XML
    /// declaration.
    fn start(&mut self) -> Result<Option<Step>, Error> {
        if !self.signature_checked {
            let b = &self.buf[..];
            // In UTF-16 and UTF-32 one of the first two bytes is NUL (`<` is
            // 00 3C or 3C 00); FE FF and FF FE are UTF-16 byte order marks
            // (FF FE 00 00 is UTF-32's).
            if b[0] == 0 || b.get(1) == Some(&0) {
                return self.err(ErrorKind::UnsupportedEncoding("UTF-16 or UTF-32".into()), 0);
            }
            if b.starts_with(b"\xFE\xFF") || b.starts_with(b"\xFF\xFE") {
                return self.err(ErrorKind::UnsupportedEncoding("UTF-16".into()), 0);
            }
            // Decide only once enough bytes are there, so that the outcome
            // does not depend on how the input was cut.
            if !self.eof && (b.len() < 2 || (b.len() < BOM.len() && BOM.starts_with(b))) {
                return Ok(None);
            }
            self.signature_checked = true;
            if b.starts_with(BOM) {
                self.take(BOM.len());
                if self.buf.is_empty() {
                    return Ok(None);
                }
            }
        }
        let b = &self.buf[..];
        let n = b.len().min(DECL_START.len());
        if b[..n] != DECL_START[..n] {
            self.phase = Phase::Prolog;
            return Ok(None);
        }
        if b.len() <= DECL_START.len() {
            return Ok(None);
        }
        match b[DECL_START.len()] {
            c if is_ws(c) => {}
            b'?' => return self.err(ErrorKind::BadDeclaration, 0),
            // `<?xml-stylesheet …?>` and the like: a processing instruction.
            _ => {
                return self.err(
                    ErrorKind::RestrictedXml(Restricted::ProcessingInstruction),
                    0,
                );
            }
        }
        let from = self.scan.max(DECL_START.len());
        let end = match memchr::memmem::find(&b[from..], b"?>") {
            Some(p) => from + p + 2,
            None => {
                if b.len() >= MAX_DECL {
                    return self.err(ErrorKind::BadDeclaration, 0);
                }
                self.scan = b.len() - 1;
                return Ok(None);
            }
        };
        if end > MAX_DECL {
            return self.err(ErrorKind::BadDeclaration, 0);
        }
        let at = self.consumed;
        let raw = self.take(end);
        let text = self.utf8(raw)?;
        let fail = |kind: ErrorKind| Err(Error::new(kind, at));
        let Some(d) = tag::xml_decl(&text) else {
            return fail(ErrorKind::BadDeclaration);
        };
        if d.version != "1.0" {
            return fail(ErrorKind::UnsupportedVersion(d.version.to_owned()));
        }
        if let Some(enc) = d.encoding {
            if !enc.eq_ignore_ascii_case("utf-8") {
                return fail(ErrorKind::UnsupportedEncoding(enc.to_owned()));
            }
        }
        let standalone = match d.standalone {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(_) => return fail(ErrorKind::BadDeclaration),
        };
        let decl = XmlDecl {
            encoding: d.encoding.map(str::to_owned),
            standalone,
        };
        self.phase = Phase::Prolog;
        Ok(Some(Step::Decl(decl)))
    }

    /// Finds the end of the tag at the front of the buffer, tracking quotes,
    /// resuming where the previous call stopped.
    fn scan_tag(&mut self) -> Result<Option<usize>, Error> {
        let mut i = self.scan.max(1);
        let b = &self.buf[..];
        loop {
            if self.quote != 0 {
                match memchr::memchr(self.quote, &b[i..]) {
                    Some(p) => {
                        i += p + 1;
                        self.quote = 0;
                    }
                    None => {
                        i = b.len();
                        break;
                    }
                }
            }
            match memchr::memchr3(b'>', b'"', b'\'', &b[i..]) {
                Some(p) => {
                    let c = b[i + p];
                    i += p + 1;
                    if c == b'>' {
                        if i > self.budget() {
                            return self.err(ErrorKind::LimitExceeded(Limit::ElementBytes), 0);
                        }
                        return Ok(Some(i));
                    }
                    self.quote = c;
                }
                None => {
                    i = b.len();
                    break;
                }
            }
        }
        self.scan = i;
        if i > self.budget() {
            return self.err(ErrorKind::LimitExceeded(Limit::ElementBytes), 0);
        }
        Ok(None)
    }

    fn intern(&mut self, s: &str) -> ByteString {
        if s.is_empty() {
            return ByteString::new();
        }
        if let Some(found) = names::well_known(s) {
            return found;
        }
        if let Some(found) = self
            .interned
            .iter()
            .find(|i| i.len() == s.len() && **i == s)
        {
            return found.clone();
        }
        let owned = ByteString::from(s.to_owned());
        if self.interned.len() < names::MAX_INTERNED {
            self.interned.push(owned.clone());
        }
        owned
    }

    fn resolve(&self, prefix: &str) -> Option<ByteString> {
        if prefix == "xml" {
            return Some(ByteString::from_static(XML_NS));
        }
        self.bindings
            .iter()
            .rev()
            .find(|b| chars::str_eq(&b.prefix, prefix))
            .map(|b| b.namespace.clone())
    }

    fn split_qname<'n>(&self, q: &'n str, at: usize) -> Result<(&'n str, &'n str), Error> {
        if q.len() > self.limits.max_name_len {
            return self.err(ErrorKind::LimitExceeded(Limit::NameLength), at);
        }
        // One pass: find the colon and check ASCII names completely; names
        // with non-ASCII characters take the exact (slower) check.
        let b = q.as_bytes();
        let mut colon = None;
        let mut ascii_ok = true;
        let mut start = true;
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'a'..=b'z' | b'A'..=b'Z' | b'_' => {}
                b'0'..=b'9' | b'-' | b'.' if !start => {}
                b':' if colon.is_none() && i > 0 => {
                    colon = Some(i);
                    start = true;
                    continue;
                }
                _ => {
                    ascii_ok = false;
                    break;
                }
            }
            start = false;
        }
        let (p, l) = match colon {
            Some(i) => (&q[..i], &q[i + 1..]),
            None => ("", q),
        };
        if ascii_ok && !start {
            return Ok((p, l));
        }
        // Non-ASCII (or invalid): split at the first colon and check exactly.
        let (p, l) = match memchr::memchr(b':', b) {
            // A colon needs a prefix before it: `:a` is not a QName.
            Some(i) if check_ncname(&q[..i]) => (&q[..i], &q[i + 1..]),
            Some(_) => return self.err(ErrorKind::InvalidName, at),
            None => ("", q),
        };
        if !check_ncname(l) {
            return self.err(ErrorKind::InvalidName, at);
        }
        Ok((p, l))
    }

    fn start_tag(&mut self) -> Result<Option<Step>, Error> {
        let Some(end) = self.scan_tag()? else {
            return Ok(None);
        };
        if self.open.len() >= self.limits.max_depth {
            return self.err(ErrorKind::LimitExceeded(Limit::Depth), 0);
        }
        let at = self.consumed;
        let raw = self.take(end);
        let t = self.utf8(raw)?;
        let mut raw_attrs = std::mem::take(&mut self.raw_attrs);
        let result = self.start_tag_inner(&t, &mut raw_attrs, at);
        self.raw_attrs = raw_attrs;
        let step = result?;
        if self.open.len() == 2 {
            self.element_bytes = 0;
        }
        self.account(end)?;
        Ok(Some(step))
    }

    fn start_tag_inner(
        &mut self,
        t: &ByteString,
        raw_attrs: &mut Vec<RawAttr>,
        at: u64,
    ) -> Result<Step, Error> {
        let fail = |kind: ErrorKind, off: usize| Err(Error::new(kind, at + off as u64));
        let parsed = match tag::start_tag(t, raw_attrs, self.limits.max_attributes) {
            Ok(p) => p,
            Err(e) if e.too_many_attributes => {
                return fail(ErrorKind::LimitExceeded(Limit::Attributes), e.at);
            }
            Err(e) => return fail(ErrorKind::Syntax(e.what), e.at),
        };
        let name_off = 1;
        let qname = parsed.name;
        let empty = parsed.empty;
        let slice = |r: (u32, u32)| &t[r.0 as usize..r.1 as usize];

        // Namespace declarations first: they apply to the element itself.
        self.decls.clear();
        let bindings_before = self.bindings.len();
        for a in raw_attrs.iter() {
            let name = slice(a.name);
            let prefix = if name == "xmlns" {
                ""
            } else if let Some(p) = name.strip_prefix("xmlns:") {
                p
            } else {
                continue;
            };
            if self.decls.len() == self.limits.max_namespace_decls {
                self.bindings.truncate(bindings_before);
                return fail(
                    ErrorKind::LimitExceeded(Limit::NamespaceDecls),
                    a.name.0 as usize,
                );
            }
            if name.len() > self.limits.max_name_len {
                self.bindings.truncate(bindings_before);
                return fail(
                    ErrorKind::LimitExceeded(Limit::NameLength),
                    a.name.0 as usize,
                );
            }
            // `xmlns:` alone declares nothing: the prefix must be an NCName.
            if name != "xmlns" && !check_ncname(prefix) {
                self.bindings.truncate(bindings_before);
                return fail(ErrorKind::InvalidName, a.name.0 as usize);
            }
            let value = match self.attr_value(t, slice(a.value), at + u64::from(a.value.0)) {
                Ok(v) => v,
                Err(e) => {
                    self.bindings.truncate(bindings_before);
                    return Err(e);
                }
            };
            let invalid = match prefix {
                "xmlns" => true,
                "xml" => value != XML_NS,
                "" => value == XML_NS || value == XMLNS_NS,
                _ => value.is_empty() || value == XML_NS || value == XMLNS_NS,
            };
            if invalid {
                self.bindings.truncate(bindings_before);
                return fail(ErrorKind::InvalidNamespaceDecl, a.name.0 as usize);
            }
            let decl = NamespaceDecl {
                prefix: self.intern(prefix),
                namespace: self.intern(&value),
            };
            self.bindings.push(decl.clone());
            self.decls.push(decl);
        }
        if let Some(i) = first_duplicate(&self.decls, |d| Key(&d.prefix)) {
            self.bindings.truncate(bindings_before);
            let off = raw_attrs
                .iter()
                .filter(|a| is_decl(slice(a.name)))
                .nth(i)
                .map_or(0, |a| a.name.0);
            return fail(ErrorKind::DuplicateAttribute, off as usize);
        }

        let result = self.resolve_element(t, qname, name_off, raw_attrs, at);
        let (prefix, local, ns) = match result {
            Ok(v) => v,
            Err(e) => {
                self.bindings.truncate(bindings_before);
                return Err(e);
            }
        };
        self.names.push_str(qname);
        self.open.push(Open {
            name_end: self.names.len(),
            ns: ns.clone(),
            bindings: bindings_before,
        });
        if self.phase != Phase::Root {
            self.phase = Phase::Root;
        }
        if empty {
            self.pending_end = Some(local.clone());
        }
        Ok(Step::Start {
            prefix,
            name: local,
            ns,
            empty,
        })
    }

    fn resolve_element(
        &mut self,
        t: &ByteString,
        qname: &str,
        name_off: usize,
        raw_attrs: &[RawAttr],
        at: u64,
    ) -> Result<(ByteString, ByteString, ByteString), Error> {
        let fail = |kind: ErrorKind, off: usize| Err(Error::new(kind, at + off as u64));
        let (p, l) = self
            .split_qname(qname, 0)
            .map_err(|e| Error::new(e.kind, at + name_off as u64))?;
        let ns = match self.resolve(p) {
            Some(ns) => ns,
            None if p.is_empty() => ByteString::new(),
            None => return fail(ErrorKind::UndeclaredPrefix(p.to_owned()), name_off),
        };
        let prefix = if p.is_empty() {
            ByteString::new()
        } else {
            t.slice_ref(p)
        };
        let local = t.slice_ref(l);

        self.attrs.clear();
        for a in raw_attrs {
            let name = &t[a.name.0 as usize..a.name.1 as usize];
            if is_decl(name) {
                continue;
            }
            let (ap, al) = self
                .split_qname(name, 0)
                .map_err(|e| Error::new(e.kind, at + u64::from(a.name.0)))?;
            let ans = if ap.is_empty() {
                ByteString::new()
            } else {
                match self.resolve(ap) {
                    Some(ns) => ns,
                    None => {
                        return fail(
                            ErrorKind::UndeclaredPrefix(ap.to_owned()),
                            a.name.0 as usize,
                        );
                    }
                }
            };
            let raw_value = &t[a.value.0 as usize..a.value.1 as usize];
            let value = self.attr_value(t, raw_value, at + u64::from(a.value.0))?;
            self.attrs.push(Attribute {
                namespace: ans,
                name: t.slice_ref(al),
                value,
            });
        }
        // Duplicates after namespace expansion.
        if let Some(i) = first_duplicate(&self.attrs, |a| (Key(&a.namespace), Key(&a.name))) {
            let name = |a: &RawAttr| &t[a.name.0 as usize..a.name.1 as usize];
            let off = raw_attrs
                .iter()
                .filter(|a| !is_decl(name(a)))
                .nth(i)
                .map_or(0, |a| a.name.0);
            return fail(ErrorKind::DuplicateAttribute, off as usize);
        }
        Ok((prefix, local, ns))
    }

    /// Checks and normalises an attribute value.
    fn attr_value(&self, t: &ByteString, raw: &str, at: u64) -> Result<ByteString, Error> {
        let scan = chars::scan_text(raw.as_bytes(), Mode::Attr)
            .map_err(|(i, k)| Error::new(k, at + i as u64))?;
        let needs = scan.amp || scan.cr || scan.ws;
        if !needs {
            return Ok(t.slice_ref(raw));
        }
        match chars::unescape(raw, true) {
            Ok(Cow::Borrowed(s)) => Ok(t.slice_ref(s)),
            Ok(Cow::Owned(s)) => Ok(ByteString::from(s)),
            Err((i, k)) => Err(Error::new(k, at + i as u64)),
        }
    }

    fn end_tag(&mut self) -> Result<Option<Step>, Error> {
        let Some(end) = self.scan_tag()? else {
            return Ok(None);
        };
        if self.open.is_empty() {
            return self.err(ErrorKind::UnexpectedEndTag, 0);
        }
        let raw = self.take(end);
        let at = self.consumed - end as u64;
        let t = self.utf8(raw)?;
        let name = match tag::end_tag(&t) {
            Ok(n) => n,
            Err(e) => return Err(Error::new(ErrorKind::Syntax(e.what), at + e.at as u64)),
        };
        let name = t.slice_ref(name);
        self.close_element(Some(name), end)
            .map(Some)
            .map_err(|e| Error::new(e.kind, at))
    }

    /// Pops the innermost open element; `written` is the end tag's name, or
    /// `None` for a self-closing tag.
    fn close_element(&mut self, written: Option<ByteString>, len: usize) -> Result<Step, Error> {
        let Some(top) = self.open.last() else {
            return self.err(ErrorKind::UnexpectedEndTag, 0);
        };
        let start = self
            .open
            .len()
            .checked_sub(2)
            .map_or(0, |i| self.open[i].name_end);
        let qname = &self.names[start..top.name_end];
        let local = match written {
            Some(w) => {
                if *w != *qname {
                    return self.err(ErrorKind::MismatchedEndTag, 0);
                }
                match memchr::memchr(b':', w.as_bytes()) {
                    Some(i) => w.slice_ref(&w[i + 1..]),
                    None => w,
                }
            }
            // A self-closing tag: its start tag's local name.
            None => match self.pending_end.take() {
                Some(l) => l,
                None => ByteString::from(qname.rsplit(':').next().unwrap_or(qname).to_owned()),
            },
        };
        self.account(len)?;
        let Some(top) = self.open.pop() else {
            return self.err(ErrorKind::UnexpectedEndTag, 0);
        };
        self.names.truncate(start);
        self.bindings.truncate(top.bindings);
        match self.open.len() {
            0 => self.phase = Phase::Epilog,
            1 => self.element_bytes = 0,
            _ => {}
        }
        Ok(Step::End(EndTag {
            name: local,
            namespace: top.ns,
        }))
    }

    /// The longest text piece, in input bytes.
    fn text_chunk(&self) -> usize {
        self.limits.max_text_chunk.max(MIN_TEXT_CHUNK)
    }

    /// Character data at the front of the buffer.
    ///
    /// Inside the root, text longer than the chunk size is cut into pieces
    /// at places that depend only on the text, never on how it was fed: a
    /// piece is cut from the first `chunk` bytes once more than `chunk`
    /// bytes of text are known. So the work stays linear (no byte is
    /// searched more than twice) and the pieces, their checks and the
    /// errors are the same whatever the chunking.
    fn text(&mut self) -> Result<Option<Step>, Error> {
        let b = &self.buf[..];
        if self.open.is_empty() {
            // Outside the root only white space may stand; it is not reported.
            let end = memchr::memchr(b'<', b).unwrap_or(b.len());
            if let Some(i) = b[..end].iter().position(|&c| !is_ws(c)) {
                return self.err(ErrorKind::TextOutsideRoot, i);
            }
            self.take(end);
            return Ok(None);
        }
        let chunk = self.text_chunk();
        let limit = b.len().min(chunk + 1);
        let from = self.scan.min(limit);
        let (end, complete) = match memchr::memchr(b'<', &b[from..limit]) {
            Some(p) => (from + p, true),
            None => (limit, false),
        };
        let cut = if end > chunk {
            safe_cut(&b[..chunk], Mode::Text)
        } else if complete {
            end
        } else if self.eof {
            match safe_cut(&b[..end], Mode::Text) {
                0 => return self.err(ErrorKind::UnexpectedEof, end),
                cut => cut,
            }
        } else {
            self.scan = end;
            return Ok(None);
        };
        self.emit_text(cut, Mode::Text)
    }

    /// Takes `n` bytes of character data and turns them into a token.
    ///
    /// An error points at the first offending byte, whichever check finds
    /// it, so it does not depend on where the text was cut into pieces.
    fn emit_text(&mut self, n: usize, mode: Mode) -> Result<Option<Step>, Error> {
        self.account(n)?;
        let raw = self.take(n);
        let at = self.consumed - n as u64;
        let fail = |(i, k): (usize, ErrorKind)| Error::new(k, at + i as u64);
        let s = match ByteString::try_from(raw.clone()) {
            Ok(s) => s,
            Err(e) => {
                return Err(fail(first_text_error(
                    &raw,
                    e.valid_up_to(),
                    ErrorKind::InvalidUtf8,
                    mode,
                )));
            }
        };
        let scan = match chars::scan_text(s.as_bytes(), mode) {
            Ok(scan) => scan,
            Err((i, k)) => return Err(fail(first_text_error(&raw, i, k, mode))),
        };
        if s.is_empty() {
            return Ok(None);
        }
        if !(scan.amp || scan.cr) {
            return Ok(Some(Step::Text(s)));
        }
        let decoded = if mode == Mode::Cdata {
            Cow::Owned(s.replace("\r\n", "\n").replace('\r', "\n"))
        } else {
            chars::unescape(&s, false).map_err(fail)?
        };
        Ok(Some(Step::Text(match decoded {
            Cow::Borrowed(_) => s,
            Cow::Owned(o) => ByteString::from(o),
        })))
    }

    /// Inside a CDATA section. Long content is cut into pieces as in
    /// [`text`](Self::text).
    fn cdata(&mut self) -> Result<Option<Step>, Error> {
        let b = &self.buf[..];
        let chunk = self.text_chunk();
        let limit = b.len().min(chunk + 3);
        let from = self.scan.min(limit);
        let found = memchr::memmem::find(&b[from..limit], b"]]>").map(|p| from + p);
        if let Some(end) = found.filter(|&e| e <= chunk) {
            let out = self.emit_text(end, Mode::Cdata)?;
            self.account(3)?;
            self.take(3);
            self.in_cdata = false;
            return Ok(out);
        }
        // Without `]]>` in the first `chunk + 3` bytes the content is longer
        // than `chunk`.
        if found.is_some() || b.len() >= chunk + 3 {
            let cut = safe_cut(&b[..chunk], Mode::Cdata);
            return self.emit_text(cut, Mode::Cdata);
        }
        if self.eof {
            // The section is unterminated: check what there is (as for
            // text), then fail.
            let cut = safe_cut(&b[..b.len().min(chunk)], Mode::Cdata);
            if cut > 0 {
                return self.emit_text(cut, Mode::Cdata);
            }
        }
        self.scan = b.len().saturating_sub(2);
        Ok(None)
    }
}

/// Whether an attribute name is a namespace declaration.
fn is_decl(name: &str) -> bool {
    name == "xmlns" || name.starts_with("xmlns:")
}

/// A string compared without `memcmp` when empty (see [`chars::str_eq`]).
#[derive(Clone, Copy, PartialOrd, Ord)]
struct Key<'a>(&'a str);

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        chars::str_eq(self.0, other.0)
    }
}

impl Eq for Key<'_> {}

/// The index of the first item whose key equals an earlier item's; in
/// O(n log n), so that a large configured attribute limit cannot make a tag
/// cost quadratic time.
fn first_duplicate<'a, T, K: Ord>(items: &'a [T], key: impl Fn(&'a T) -> K) -> Option<usize> {
    if items.len() <= 16 {
        return (1..items.len()).find(|&j| items[..j].iter().any(|x| key(x) == key(&items[j])));
    }
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_unstable_by(|&a, &b| key(&items[a]).cmp(&key(&items[b])).then(a.cmp(&b)));
    // Within a run of equal keys (sorted by position) every item but the
    // first is a duplicate; the earliest such is the answer.
    order
        .windows(2)
        .filter(|w| key(&items[w[0]]) == key(&items[w[1]]))
        .map(|w| w[1])
        .min()
}

/// The first error in character data `raw`, given that a check found
/// `kind` at `at` (a character boundary, with valid UTF-8 before it): a bad
/// reference, or for invalid UTF-8 a character XML forbids, may come first.
fn first_text_error(raw: &[u8], at: usize, kind: ErrorKind, mode: Mode) -> (usize, ErrorKind) {
    let before = match std::str::from_utf8(&raw[..at]) {
        Ok(s) => s,
        // Not reached: the bytes before `at` are valid UTF-8.
        Err(e) => return (e.valid_up_to(), ErrorKind::InvalidUtf8),
    };
    let utf8 = kind == ErrorKind::InvalidUtf8;
    let mut first = (at, kind);
    if utf8 {
        if let Err(e) = chars::scan_text(before.as_bytes(), mode) {
            first = e;
        }
    }
    if mode == Mode::Text {
        if let Err(e) = chars::unescape(&before[..first.0], false) {
            first = e;
        }
    }
    first
}

/// Where incomplete character data may be cut so that nothing that must be
/// seen whole (a UTF-8 sequence, a reference, `\r\n`, `]]>`) is split.
fn safe_cut(b: &[u8], mode: Mode) -> usize {
    let mut cut = b.len();
    // An incomplete UTF-8 sequence at the end.
    let tail_start = cut.saturating_sub(3);
    if let Some(lead) = (tail_start..cut).rev().find(|&i| b[i] >= 0xC0) {
        let need = match b[lead] {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        if lead + need > cut {
            cut = lead;
        }
    }
    match mode {
        Mode::Text => {
            // An incomplete reference.
            let from = cut.saturating_sub(MAX_REFERENCE);
            if let Some(amp) = memchr::memrchr(b'&', &b[from..cut]).map(|p| from + p) {
                if memchr::memchr(b';', &b[amp..cut]).is_none() {
                    cut = amp;
                }
            }
            // A possible `]]>` or `\r\n` across the cut.
            while cut > 0 && matches!(b[cut - 1], b']' | b'\r') && b.len() - cut < 3 {
                cut -= 1;
            }
        }
        Mode::Cdata => {
            while cut > 0 && matches!(b[cut - 1], b']' | b'\r') && b.len() - cut < 3 {
                cut -= 1;
            }
        }
        Mode::Attr => {}
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_small_and_large() {
        assert_eq!(first_duplicate(&[1, 2, 3], |x| *x), None);
        assert_eq!(first_duplicate(&[1, 2, 1, 2], |x| *x), Some(2));
        assert_eq!(first_duplicate(&[3, 1, 2, 2, 1], |x| *x), Some(3));
        let mut many: Vec<u32> = (0..1000).collect();
        assert_eq!(first_duplicate(&many, |x| *x), None);
        many.push(500);
        many.push(7);
        assert_eq!(first_duplicate(&many, |x| *x), Some(1000));
        many[900] = 3;
        assert_eq!(first_duplicate(&many, |x| *x), Some(900));
    }

    #[test]
    fn cuts_keep_sequences_whole() {
        // A UTF-8 sequence cut short.
        assert_eq!(safe_cut("ab\u{1f600}".as_bytes(), Mode::Text), 6);
        assert_eq!(safe_cut(&"ab\u{1f600}".as_bytes()[..5], Mode::Text), 2);
        assert_eq!(safe_cut(&"ab\u{e9}".as_bytes()[..3], Mode::Cdata), 2);
        // A reference without its `;`.
        assert_eq!(safe_cut(b"abc&am", Mode::Text), 3);
        assert_eq!(safe_cut(b"abc&amp;", Mode::Text), 8);
        assert_eq!(safe_cut(b"abc&amp", Mode::Cdata), 7);
        // An `&` too far back to be waited for.
        let far = [&b"x&"[..], &[b'a'; MAX_REFERENCE][..]].concat();
        assert_eq!(safe_cut(&far, Mode::Text), far.len());
        // `]` and `\r` that might pair with what follows.
        assert_eq!(safe_cut(b"abc]]", Mode::Text), 3);
        assert_eq!(safe_cut(b"abc\r", Mode::Cdata), 3);
        assert_eq!(safe_cut(b"a]]]]", Mode::Text), 2);
    }

    #[test]
    fn first_error_in_text() {
        let e = |raw: &[u8], at, kind| first_text_error(raw, at, kind, Mode::Text);
        assert_eq!(
            e(b"ab\xFF", 2, ErrorKind::InvalidUtf8),
            (2, ErrorKind::InvalidUtf8)
        );
        assert_eq!(
            e(b"a\x01\xFF", 2, ErrorKind::InvalidUtf8),
            (1, ErrorKind::IllegalChar(1))
        );
        assert_eq!(e(b"&x;\xFF", 3, ErrorKind::InvalidUtf8).0, 0);
        assert_eq!(
            e(b"&#0;\x01", 4, ErrorKind::IllegalChar(1)),
            (0, ErrorKind::IllegalChar(0))
        );
        assert_eq!(
            e(b"a&b\x01;", 3, ErrorKind::IllegalChar(1)),
            (1, ErrorKind::InvalidReference)
        );
    }

    #[test]
    fn feed_bytes_adopts_when_empty_and_shrink_frees_it() {
        let mut tok = Tokenizer::new();
        let mut chunk = BytesMut::with_capacity(4096);
        chunk.extend_from_slice(b"<r xmlns='x'><a/>");
        let at = chunk.as_ptr();
        tok.feed_bytes(chunk);
        // Adopted: the very same allocation, no copy.
        assert_eq!(tok.buf.as_ptr(), at);
        assert!(matches!(tok.next_token(), Ok(Some(Token::Start(_)))));
        // Something is buffered now: the next buffer is appended.
        tok.feed(b"<b");
        let other = BytesMut::from(&b"/>"[..]);
        let other_at = other.as_ptr();
        tok.feed_bytes(other);
        assert_ne!(tok.buf.as_ptr(), other_at);
        let mut n = 0;
        while let Ok(Some(_)) = tok.next_token() {
            n += 1;
        }
        assert_eq!((n, tok.buffered()), (4, 0));
        // An idle tokenizer holds no input buffer.
        tok.shrink();
        assert_eq!(tok.buf.capacity(), 0);
    }
}
