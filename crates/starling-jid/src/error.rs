//! The error type shared by every constructor in the crate.

use core::fmt;

/// The part of an XMPP address that an error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Part {
    /// The localpart (the part before `@`, RFC 7622 §3.3).
    Localpart,
    /// The domainpart (RFC 7622 §3.2).
    Domainpart,
    /// The resourcepart (the part after `/`, RFC 7622 §3.4).
    Resourcepart,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Localpart => "localpart",
            Part::Domainpart => "domainpart",
            Part::Resourcepart => "resourcepart",
        })
    }
}

/// Why a string is not a valid XMPP address or address part.
///
/// Every variant names the rule that failed and, where it makes sense, the
/// part and the code point involved.
///
/// ```
/// use starling_jid::{Jid, JidError, Part};
///
/// match "\u{5D0}a@example.com".parse::<Jid>() {
///     Err(JidError::BidiRule { part: Part::Localpart }) => {}
///     other => panic!("unexpected {other:?}"),
/// }
/// assert_eq!(
///     "juliet@example.com/".parse::<Jid>().unwrap_err().to_string(),
///     "the resourcepart is empty",
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JidError {
    /// The localpart is empty, as in `@example.com` (RFC 7622 §3.3).
    #[error("the localpart is empty")]
    EmptyLocalpart,
    /// The domainpart is empty, as in `juliet@` or `/foobar` (RFC 7622 §3.2).
    #[error("the domainpart is empty")]
    EmptyDomain,
    /// The resourcepart is empty, as in `juliet@example.com/` (RFC 7622 §3.4).
    #[error("the resourcepart is empty")]
    EmptyResource,
    /// The prepared localpart is longer than 1023 bytes (RFC 7622 §3.3).
    #[error("the localpart is {len} bytes long after preparation, more than 1023")]
    LocalpartTooLong {
        /// Length in bytes (of the prepared form where it could be computed).
        len: usize,
    },
    /// The prepared domainpart is longer than 1023 bytes (RFC 7622 §3.2).
    #[error("the domainpart is {len} bytes long after preparation, more than 1023")]
    DomainTooLong {
        /// Length in bytes (of the prepared form where it could be computed).
        len: usize,
    },
    /// The prepared resourcepart is longer than 1023 bytes (RFC 7622 §3.4).
    #[error("the resourcepart is {len} bytes long after preparation, more than 1023")]
    ResourceTooLong {
        /// Length in bytes (of the prepared form where it could be computed).
        len: usize,
    },
    /// A code point that the part's rules disallow: outside the PRECIS
    /// `IdentifierClass` (localpart) or `FreeformClass` (resourcepart), one of
    /// the characters `" & ' / : < > @` in a localpart, or not allowed by
    /// IDNA2008 in a domain label.
    #[error("the {part} contains the disallowed character {ch:?} (U+{:04X})", u32::from(*ch))]
    ForbiddenChar {
        /// The offending part.
        part: Part,
        /// The offending code point.
        ch: char,
    },
    /// A code point that is unassigned in the Unicode version of the
    /// crate's tables (see the crate documentation); such code points are
    /// disallowed by PRECIS and IDNA2008.
    #[error("the {part} contains U+{:04X}, which is unassigned in the Unicode tables in use", u32::from(*ch))]
    UnassignedChar {
        /// The offending part.
        part: Part,
        /// The offending code point.
        ch: char,
    },
    /// A `CONTEXTJ` or `CONTEXTO` code point (such as ZERO WIDTH JOINER or
    /// MIDDLE DOT) whose contextual rule (RFC 5892 Appendix A) does not hold.
    #[error("the {part} contains U+{:04X} in a context its contextual rule does not allow", u32::from(*ch))]
    ContextRule {
        /// The offending part.
        part: Part,
        /// The code point whose rule failed.
        ch: char,
    },
    /// The part contains right-to-left characters and violates the Bidi
    /// Rule of RFC 5893 §2.
    #[error("the {part} violates the Bidi Rule (RFC 5893)")]
    BidiRule {
        /// The offending part.
        part: Part,
    },
    /// Applying the preparation rules again kept changing the string
    /// (RFC 8265 §6: reject after three additional applications).
    #[error("the {part} does not stabilise under repeated preparation")]
    Unstable {
        /// The offending part.
        part: Part,
    },
    /// The domainpart has an empty label, as in `example..com`.
    #[error("the domainpart contains an empty label")]
    EmptyLabel,
    /// A domain label is longer than 63 bytes in its A-label (ASCII) form
    /// (RFC 5890 §2.3.2.1).
    #[error("a domain label is {len} bytes long in A-label form, more than 63")]
    LabelTooLong {
        /// Length of the label's A-label form in bytes.
        len: usize,
    },
    /// A domain label starts or ends with a hyphen, or has hyphens in both
    /// the third and fourth positions without being an A-label
    /// (RFC 5891 §4.2.3.1).
    #[error(
        "a domain label has a hyphen at its start or end, or in the third and fourth positions"
    )]
    Hyphen,
    /// A label starting with `xn--` is not a valid A-label.
    #[error("a domain label starting with xn-- is not a valid A-label")]
    InvalidALabel,
    /// A domainpart in square brackets is not a valid IPv6 address.
    #[error("the domainpart is not a valid IP literal")]
    InvalidIpLiteral,
    /// IDNA processing rejected the domainpart for a reason not covered by
    /// a more specific variant.
    #[error("the domainpart is not a valid internationalized domain name")]
    Idna,
    /// A bare JID was required but the address has a resourcepart.
    #[error("a bare JID was expected, but the address has a resourcepart")]
    ResourceNotAllowed,
    /// A full JID was required but the address has no resourcepart.
    #[error("a full JID was expected, but the address has no resourcepart")]
    ResourceRequired,
    /// XEP-0106: an escaped localpart must not begin or end with a space
    /// (`\20`).
    #[error("a localpart to escape must not begin or end with a space (XEP-0106)")]
    EscapedSpaceAtEdge,
}

impl JidError {
    /// The part of the address the error refers to, when there is one.
    ///
    /// ```
    /// use starling_jid::{Jid, Part};
    /// let err = "\"juliet\"@example.com".parse::<Jid>().unwrap_err();
    /// assert_eq!(err.part(), Some(Part::Localpart));
    /// ```
    pub fn part(&self) -> Option<Part> {
        match self {
            JidError::EmptyLocalpart
            | JidError::LocalpartTooLong { .. }
            | JidError::EscapedSpaceAtEdge => Some(Part::Localpart),
            JidError::EmptyDomain
            | JidError::DomainTooLong { .. }
            | JidError::EmptyLabel
            | JidError::LabelTooLong { .. }
            | JidError::Hyphen
            | JidError::InvalidALabel
            | JidError::InvalidIpLiteral
            | JidError::Idna => Some(Part::Domainpart),
            JidError::EmptyResource
            | JidError::ResourceTooLong { .. }
            | JidError::ResourceNotAllowed
            | JidError::ResourceRequired => Some(Part::Resourcepart),
            JidError::ForbiddenChar { part, .. }
            | JidError::UnassignedChar { part, .. }
            | JidError::ContextRule { part, .. }
            | JidError::BidiRule { part }
            | JidError::Unstable { part } => Some(*part),
        }
    }
}
