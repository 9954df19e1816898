//! The address types: [`Jid`], [`BareJid`] and [`FullJid`].

use crate::error::JidError;
use crate::macros::string_like;
use crate::parts::{DomainPart, NodePart, ResourcePart};
use crate::prep::Prep;
use crate::repr::Repr;

/// An XMPP address, bare (`[localpart@]domainpart`) or full
/// (`[localpart@]domainpart/resourcepart`), in prepared form (RFC 7622).
///
/// A `Jid` is valid by construction: every way to make one prepares and
/// enforces all of its parts. It is one shared buffer plus offsets, so
/// cloning it, taking its [bare](Jid::bare) form or one of its
/// [parts](Jid::node_part) never copies. Equality, ordering and hashing
/// are those of the prepared string ([`Jid::as_str`]).
///
/// ```
/// use starling_jid::Jid;
///
/// let jid: Jid = "Juliet@Example.COM/Balcony".parse()?;
/// assert_eq!(jid.as_str(), "juliet@example.com/Balcony");
/// assert_eq!(jid.node(), Some("juliet"));
/// assert_eq!(jid.domain(), "example.com");
/// assert_eq!(jid.resource(), Some("Balcony"));
/// assert!(jid.is_full());
/// assert_eq!(jid.bare(), "juliet@example.com");
///
/// // Comparison is on the prepared form.
/// assert_eq!(jid, "juliet@EXAMPLE.com/Balcony".parse::<Jid>()?);
/// # Ok::<(), starling_jid::JidError>(())
/// ```
#[derive(Clone)]
pub struct Jid(pub(crate) Repr);

/// An XMPP address without a resourcepart: `[localpart@]domainpart`.
///
/// ```
/// use starling_jid::{BareJid, ResourcePart};
///
/// let bare: BareJid = "romeo@montague.lit".parse()?;
/// let full = bare.with_resource(&ResourcePart::new("orchard")?);
/// assert_eq!(full, "romeo@montague.lit/orchard");
/// assert_eq!(full.bare(), bare);
///
/// assert!("romeo@montague.lit/orchard".parse::<BareJid>().is_err());
/// # Ok::<(), starling_jid::JidError>(())
/// ```
#[derive(Clone)]
pub struct BareJid(pub(crate) Repr);

/// An XMPP address with a resourcepart:
/// `[localpart@]domainpart/resourcepart`.
///
/// ```
/// use starling_jid::{FullJid, Jid};
///
/// let full: FullJid = "juliet@example.com/foo@bar".parse()?;
/// assert_eq!(full.resource(), "foo@bar");
///
/// let jid = Jid::from(full.clone());
/// assert_eq!(FullJid::try_from(jid)?, full);
///
/// assert!("juliet@example.com".parse::<FullJid>().is_err());
/// # Ok::<(), starling_jid::JidError>(())
/// ```
#[derive(Clone)]
pub struct FullJid(pub(crate) Repr);

string_like!(Jid);
string_like!(BareJid);
string_like!(FullJid);

fn parts_prep<'a>(
    node: Option<&'a NodePart>,
    domain: &'a DomainPart,
) -> (Option<Prep<'a>>, Prep<'a>) {
    (
        node.map(|n| Prep::Verbatim(n.as_str())),
        Prep::Verbatim(domain.as_str()),
    )
}

impl Jid {
    /// Parses and prepares an address.
    ///
    /// ```
    /// use starling_jid::{Jid, JidError, Part};
    ///
    /// assert!(Jid::new("example.com").is_ok());
    /// assert_eq!(Jid::new("@example.com").unwrap_err(), JidError::EmptyLocalpart);
    /// assert_eq!(
    ///     Jid::new("foo bar@example.com").unwrap_err(),
    ///     JidError::ForbiddenChar { part: Part::Localpart, ch: ' ' },
    /// );
    /// ```
    pub fn new(s: &str) -> Result<Jid, JidError> {
        Repr::parse(s).map(Jid)
    }

    /// Builds an address from already valid parts.
    pub fn from_parts(
        node: Option<&NodePart>,
        domain: &DomainPart,
        resource: Option<&ResourcePart>,
    ) -> Jid {
        let (n, d) = parts_prep(node, domain);
        let r = resource.map(|r| Prep::Verbatim(r.as_str()));
        Jid(Repr::assemble(n.as_ref(), &d, r.as_ref()))
    }

    /// The whole address in prepared form.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The localpart, if any.
    pub fn node(&self) -> Option<&str> {
        self.0.node()
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    /// The resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        self.0.resource()
    }

    /// The localpart as a [`NodePart`], sharing this address's buffer.
    pub fn node_part(&self) -> Option<NodePart> {
        self.0.node_span().map(NodePart)
    }

    /// The domainpart as a [`DomainPart`], sharing this address's buffer.
    pub fn domain_part(&self) -> DomainPart {
        DomainPart(self.0.domain_span())
    }

    /// The resourcepart as a [`ResourcePart`], sharing this address's
    /// buffer.
    pub fn resource_part(&self) -> Option<ResourcePart> {
        self.0.resource_span().map(ResourcePart)
    }

    /// Whether the address has no resourcepart.
    pub fn is_bare(&self) -> bool {
        !self.0.has_resource()
    }

    /// Whether the address has a resourcepart.
    pub fn is_full(&self) -> bool {
        self.0.has_resource()
    }

    /// The address without its resourcepart (no copy).
    pub fn bare(&self) -> BareJid {
        BareJid(self.0.bare())
    }

    /// Converts into the address without its resourcepart (no copy).
    pub fn into_bare(self) -> BareJid {
        BareJid(self.0.into_bare())
    }

    /// Converts into a [`FullJid`] if there is a resourcepart, or gives
    /// back the [`BareJid`].
    pub fn try_into_full(self) -> Result<FullJid, BareJid> {
        if self.0.has_resource() {
            Ok(FullJid(self.0))
        } else {
            Err(BareJid(self.0))
        }
    }

    /// The bare part of this address with `resource` as its resourcepart
    /// (replacing any existing one).
    pub fn with_resource(&self, resource: &ResourcePart) -> FullJid {
        FullJid(self.0.with_resource(resource.as_str()))
    }

    /// Like [`Jid::with_resource`], preparing `resource` first.
    pub fn with_resource_str(&self, resource: &str) -> Result<FullJid, JidError> {
        Ok(self.with_resource(&ResourcePart::new(resource)?))
    }
}

impl BareJid {
    /// Parses and prepares a bare address; an address with a resourcepart
    /// is rejected with [`JidError::ResourceNotAllowed`].
    pub fn new(s: &str) -> Result<BareJid, JidError> {
        let repr = Repr::parse(s)?;
        if repr.has_resource() {
            return Err(JidError::ResourceNotAllowed);
        }
        Ok(BareJid(repr))
    }

    /// Builds a bare address from already valid parts.
    pub fn from_parts(node: Option<&NodePart>, domain: &DomainPart) -> BareJid {
        let (n, d) = parts_prep(node, domain);
        BareJid(Repr::assemble(n.as_ref(), &d, None))
    }

    /// The whole address in prepared form.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The localpart, if any.
    pub fn node(&self) -> Option<&str> {
        self.0.node()
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    /// The localpart as a [`NodePart`], sharing this address's buffer.
    pub fn node_part(&self) -> Option<NodePart> {
        self.0.node_span().map(NodePart)
    }

    /// The domainpart as a [`DomainPart`], sharing this address's buffer.
    pub fn domain_part(&self) -> DomainPart {
        DomainPart(self.0.domain_span())
    }

    /// This address with `resource` as its resourcepart.
    pub fn with_resource(&self, resource: &ResourcePart) -> FullJid {
        FullJid(self.0.with_resource(resource.as_str()))
    }

    /// Like [`BareJid::with_resource`], preparing `resource` first.
    pub fn with_resource_str(&self, resource: &str) -> Result<FullJid, JidError> {
        Ok(self.with_resource(&ResourcePart::new(resource)?))
    }
}

impl FullJid {
    /// Parses and prepares a full address; an address without a
    /// resourcepart is rejected with [`JidError::ResourceRequired`].
    pub fn new(s: &str) -> Result<FullJid, JidError> {
        let repr = Repr::parse(s)?;
        if !repr.has_resource() {
            return Err(JidError::ResourceRequired);
        }
        Ok(FullJid(repr))
    }

    /// Builds a full address from already valid parts.
    pub fn from_parts(
        node: Option<&NodePart>,
        domain: &DomainPart,
        resource: &ResourcePart,
    ) -> FullJid {
        let (n, d) = parts_prep(node, domain);
        let r = Prep::Verbatim(resource.as_str());
        FullJid(Repr::assemble(n.as_ref(), &d, Some(&r)))
    }

    /// The whole address in prepared form.
    #[inline]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The localpart, if any.
    pub fn node(&self) -> Option<&str> {
        self.0.node()
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        self.0.domain()
    }

    /// The resourcepart.
    pub fn resource(&self) -> &str {
        self.0.resource().unwrap_or_default()
    }

    /// The localpart as a [`NodePart`], sharing this address's buffer.
    pub fn node_part(&self) -> Option<NodePart> {
        self.0.node_span().map(NodePart)
    }

    /// The domainpart as a [`DomainPart`], sharing this address's buffer.
    pub fn domain_part(&self) -> DomainPart {
        DomainPart(self.0.domain_span())
    }

    /// The resourcepart as a [`ResourcePart`], sharing this address's
    /// buffer.
    pub fn resource_part(&self) -> ResourcePart {
        match self.0.resource_span() {
            Some(span) => ResourcePart(span),
            None => unreachable!("a FullJid always has a resourcepart"),
        }
    }

    /// The address without its resourcepart (no copy).
    pub fn bare(&self) -> BareJid {
        BareJid(self.0.bare())
    }

    /// Converts into the address without its resourcepart (no copy).
    pub fn into_bare(self) -> BareJid {
        BareJid(self.0.into_bare())
    }

    /// The same bare address with `resource` as its resourcepart.
    pub fn with_resource(&self, resource: &ResourcePart) -> FullJid {
        FullJid(self.0.with_resource(resource.as_str()))
    }
}

impl From<BareJid> for Jid {
    fn from(j: BareJid) -> Jid {
        Jid(j.0)
    }
}

impl From<FullJid> for Jid {
    fn from(j: FullJid) -> Jid {
        Jid(j.0)
    }
}

impl From<DomainPart> for BareJid {
    fn from(d: DomainPart) -> BareJid {
        BareJid(Repr::from_domain(&d.0))
    }
}

impl From<DomainPart> for Jid {
    fn from(d: DomainPart) -> Jid {
        Jid(Repr::from_domain(&d.0))
    }
}

impl TryFrom<Jid> for FullJid {
    type Error = JidError;
    /// Fails with [`JidError::ResourceRequired`] for a bare address.
    fn try_from(j: Jid) -> Result<FullJid, JidError> {
        j.try_into_full().map_err(|_| JidError::ResourceRequired)
    }
}

impl TryFrom<Jid> for BareJid {
    type Error = JidError;
    /// Fails with [`JidError::ResourceNotAllowed`] for a full address; use
    /// [`Jid::into_bare`] to drop the resourcepart instead.
    fn try_from(j: Jid) -> Result<BareJid, JidError> {
        if j.is_full() {
            Err(JidError::ResourceNotAllowed)
        } else {
            Ok(BareJid(j.0))
        }
    }
}

macro_rules! cross_eq {
    ($a:ident, $b:ident) => {
        impl PartialEq<$b> for $a {
            fn eq(&self, other: &$b) -> bool {
                self.as_str() == other.as_str()
            }
        }
        impl PartialEq<$a> for $b {
            fn eq(&self, other: &$a) -> bool {
                self.as_str() == other.as_str()
            }
        }
    };
}

cross_eq!(Jid, BareJid);
cross_eq!(Jid, FullJid);
