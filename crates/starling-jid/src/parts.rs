//! The part types: [`NodePart`], [`DomainPart`] and [`ResourcePart`].

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use crate::domain;
use crate::error::JidError;
use crate::escape;
use crate::macros::string_like;
use crate::prep;
use crate::repr::Span;

/// A localpart (RFC 7622 §3.3), prepared with the PRECIS
/// `UsernameCaseMapped` profile (RFC 8265 §3.3) and free of the characters
/// `" & ' / : < > @`.
///
/// ```
/// use starling_jid::NodePart;
///
/// let node = NodePart::new("Σ")?;
/// assert_eq!(node, "σ");
///
/// // XEP-0106 escaping for characters a localpart cannot hold.
/// let node = NodePart::from_unescaped("d'artagnan")?;
/// assert_eq!(node, "d\\27artagnan");
/// assert_eq!(node.unescaped(), "d'artagnan");
/// # Ok::<(), starling_jid::JidError>(())
/// ```
#[derive(Clone)]
pub struct NodePart(pub(crate) Span);

/// A domainpart (RFC 7622 §3.2): an internationalized domain name in
/// IDNA2008 U-label form (lower case, no trailing dot), or an IP literal
/// (IPv4 in dotted-decimal form, IPv6 in brackets, RFC 5952 text form).
///
/// ```
/// use starling_jid::DomainPart;
///
/// let d = DomainPart::new("XN--BCHER-KVA.Example.")?;
/// assert_eq!(d, "bücher.example");
/// assert_eq!(d.to_ascii(), "xn--bcher-kva.example");
///
/// let ip = DomainPart::new("[2001:DB8:0::1]")?;
/// assert_eq!(ip, "[2001:db8::1]");
/// assert!(ip.ip_addr().is_some());
/// # Ok::<(), starling_jid::JidError>(())
/// ```
#[derive(Clone)]
pub struct DomainPart(pub(crate) Span);

/// A resourcepart (RFC 7622 §3.4), prepared with the PRECIS
/// `OpaqueString` profile (RFC 8265 §4.2): case is kept, spaces and
/// symbols are allowed, non-ASCII spaces become U+0020.
///
/// ```
/// use starling_jid::ResourcePart;
///
/// let r = ResourcePart::new("King \u{265A}")?;
/// assert_eq!(r, "King ♚");
/// assert!(ResourcePart::new("").is_err());
/// # Ok::<(), starling_jid::JidError>(())
/// ```
#[derive(Clone)]
pub struct ResourcePart(pub(crate) Span);

string_like!(NodePart);
string_like!(DomainPart);
string_like!(ResourcePart);

impl NodePart {
    /// Prepares and enforces a localpart.
    pub fn new(s: &str) -> Result<NodePart, JidError> {
        Ok(NodePart(Span::from_prep(&prep::localpart(s)?)))
    }

    /// Escapes `unescaped` with XEP-0106 (see [`escape_node`]) and prepares
    /// the result as a localpart.
    ///
    /// [`escape_node`]: crate::escape_node
    pub fn from_unescaped(unescaped: &str) -> Result<NodePart, JidError> {
        NodePart::new(&escape::escape_node(unescaped)?)
    }

    /// The prepared localpart.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The localpart with XEP-0106 escapes undone, for display (see
    /// [`unescape_node`]).
    ///
    /// [`unescape_node`]: crate::unescape_node
    pub fn unescaped(&self) -> Cow<'_, str> {
        escape::unescape_node(self.as_str())
    }
}

impl DomainPart {
    /// Prepares and enforces a domainpart.
    pub fn new(s: &str) -> Result<DomainPart, JidError> {
        Ok(DomainPart(Span::from_prep(&domain::domainpart(s)?)))
    }

    /// The prepared domainpart (U-labels).
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The IP address, if the domainpart is an IP literal.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        let s = self.as_str();
        if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        }
    }

    /// The domainpart with every U-label converted to its A-label
    /// (`xn--…`), as needed for DNS look-ups. Borrowed when it is ASCII
    /// already.
    pub fn to_ascii(&self) -> Cow<'_, str> {
        let s = self.as_str();
        if s.is_ascii() {
            return Cow::Borrowed(s);
        }
        Uts46::new()
            .to_ascii(
                s.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Check,
                DnsLength::Ignore,
            )
            .map_or(Cow::Borrowed(s), |a| Cow::Owned(a.into_owned()))
    }
}

impl ResourcePart {
    /// Prepares and enforces a resourcepart.
    pub fn new(s: &str) -> Result<ResourcePart, JidError> {
        Ok(ResourcePart(Span::from_prep(&prep::resourcepart(s)?)))
    }

    /// The prepared resourcepart.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}
