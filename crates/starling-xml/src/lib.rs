//! # starling-xml
//!
//! The XML layer of the Starling XMPP stack: an incremental, zero-copy
//! tokenizer for the restricted XML that XMPP streams use (RFC 6120 §11), an
//! element tree, and a writer.
//!
//! * [`Tokenizer`] is a push (sans-IO) tokenizer: feed it bytes as they come
//!   from a socket, in chunks cut anywhere, and pull [`Token`]s. Names,
//!   attribute values and text are [`ByteString`] slices of the input buffer;
//!   a new buffer is made only when the input must be transformed. It
//!   resolves namespaces, enforces [`Limits`], and reports the root's start
//!   tag as soon as it is complete (an XMPP stream's root stays open for the
//!   whole session).
//! * It accepts exactly the XML that RFC 6120 §11 allows: an optional XML
//!   declaration (version 1.0, UTF-8), elements, attributes, text, CDATA, the
//!   five predefined entities and character references. Comments,
//!   processing instructions, document type declarations and other entity
//!   references are [`ErrorKind::RestrictedXml`].
//! * [`Element`] is a tree built from tokens (by [`TreeBuilder`], or
//!   [`Element::parse`]), with the accessors XMPP code wants.
//! * [`Writer`] serialises elements and stream-level tags with correct
//!   escaping and without redundant namespace declarations.
//!
//! ```
//! use starling_xml::{Element, Writer};
//!
//! let msg = Element::builder("message", "jabber:client")
//!     .attr("to", "juliet@example.com")
//!     .append(Element::builder("body", "jabber:client").text("Art thou <there>?"))
//!     .build();
//! let bytes = Writer::new().element_to_vec(&msg);
//! assert_eq!(
//!     std::str::from_utf8(&bytes).unwrap(),
//!     "<message xmlns='jabber:client' to='juliet@example.com'><body>Art thou &lt;there&gt;?</body></message>"
//! );
//! assert_eq!(Element::parse(&bytes).unwrap(), msg);
//! ```
#![forbid(unsafe_code)]

mod chars;
mod element;
mod error;
pub mod names;
mod tag;
mod tokenizer;
mod writer;

pub use bytes::BytesMut;
pub use bytestring::ByteString;
pub use element::{Element, ElementBuilder, Node, TreeBuilder};
pub use error::{Error, ErrorKind, Limit, Restricted};
pub use tokenizer::{
    Attribute, EndTag, Limits, NamespaceDecl, StartTag, Token, Tokenizer, XmlDecl,
};
pub use writer::Writer;
