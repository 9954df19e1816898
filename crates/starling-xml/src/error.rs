//! Typed errors of the tokenizer.

use std::fmt;

/// A construct that XML allows but RFC 6120 §11 forbids in XMPP streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Restricted {
    /// `<!-- … -->` (RFC 6120 §11.1).
    Comment,
    /// `<? … ?>` other than the XML declaration (RFC 6120 §11.1).
    ProcessingInstruction,
    /// `<!DOCTYPE …>` or any other markup declaration (RFC 6120 §11.1).
    Doctype,
    /// A reference to an entity other than the five predefined ones (RFC 6120 §11.1).
    EntityReference,
}

impl fmt::Display for Restricted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Restricted::Comment => "comment",
            Restricted::ProcessingInstruction => "processing instruction",
            Restricted::Doctype => "document type declaration",
            Restricted::EntityReference => "entity reference",
        })
    }
}

/// A configured limit (see [`Limits`](crate::Limits)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// [`Limits::max_name_len`](crate::Limits::max_name_len).
    NameLength,
    /// [`Limits::max_attributes`](crate::Limits::max_attributes).
    Attributes,
    /// [`Limits::max_namespace_decls`](crate::Limits::max_namespace_decls).
    NamespaceDecls,
    /// [`Limits::max_depth`](crate::Limits::max_depth).
    Depth,
    /// [`Limits::max_element_bytes`](crate::Limits::max_element_bytes).
    ElementBytes,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::NameLength => "name length",
            Limit::Attributes => "attributes per element",
            Limit::NamespaceDecls => "namespace declarations per element",
            Limit::Depth => "nesting depth",
            Limit::ElementBytes => "bytes per top-level element",
        })
    }
}

/// What was wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A character outside the XML `Char` production (the value is the code point).
    #[error("character U+{0:04X} is not allowed in XML")]
    IllegalChar(u32),
    /// A construct RFC 6120 §11 forbids.
    #[error("restricted XML: {0} not allowed in XMPP")]
    RestrictedXml(Restricted),
    /// The XML declaration names an encoding other than UTF-8, or the input
    /// starts with a UTF-16 or UTF-32 byte order mark.
    #[error("unsupported encoding {0:?}: only UTF-8 is allowed")]
    UnsupportedEncoding(String),
    /// The XML declaration names a version other than 1.0.
    #[error("unsupported XML version {0:?}")]
    UnsupportedVersion(String),
    /// The XML declaration is malformed or not at the very start.
    #[error("malformed or misplaced XML declaration")]
    BadDeclaration,
    /// A general syntax error; the text says what was expected.
    #[error("not well-formed: {0}")]
    Syntax(&'static str),
    /// An element or attribute name is not a valid XML name.
    #[error("invalid name")]
    InvalidName,
    /// An end tag does not match the open element.
    #[error("end tag does not match the open element")]
    MismatchedEndTag,
    /// An end tag with no open element.
    #[error("end tag without an open element")]
    UnexpectedEndTag,
    /// The same attribute twice on one element (after namespace expansion).
    #[error("duplicate attribute")]
    DuplicateAttribute,
    /// A prefix used without a declaration in scope.
    #[error("undeclared namespace prefix {0:?}")]
    UndeclaredPrefix(String),
    /// A namespace declaration that Namespaces in XML forbids (binding
    /// `xmlns`, rebinding `xml`, binding the XML namespace to another prefix,
    /// or undeclaring a prefix).
    #[error("invalid namespace declaration")]
    InvalidNamespaceDecl,
    /// A malformed character or entity reference.
    #[error("malformed character or entity reference")]
    InvalidReference,
    /// `<` inside an attribute value.
    #[error("'<' in attribute value")]
    LtInAttribute,
    /// `]]>` in character data.
    #[error("']]>' in character data")]
    CdataEndInText,
    /// Non-white-space text before the root element or after it closed.
    #[error("text outside the root element")]
    TextOutsideRoot,
    /// Markup after the root element closed.
    #[error("content after the root element")]
    JunkAfterRoot,
    /// The input ended inside a construct or inside the root element.
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// A configured limit was crossed.
    #[error("limit exceeded: {0}")]
    LimitExceeded(Limit),
}

/// A tokenizer error: what was wrong and the byte offset (from the start of
/// the input, counted across restarts) where it was detected.
///
/// After an error the tokenizer stays failed and returns it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct Error {
    /// What was wrong.
    pub kind: ErrorKind,
    /// Offset of the offending byte, or of the construct that holds it.
    pub offset: u64,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: u64) -> Self {
        Error { kind, offset }
    }
}
