//! Server Dialback keys (XEP-0185) and the dialback elements (XEP-0220).
//!
//! A dialback key proves that the server sending it knows the secret of
//! the domain it claims to be: the Initiating Server computes it for the
//! stream it opened, the Receiving Server hands it to the Authoritative
//! Server, which computes it again and compares. The recommended algorithm
//! (XEP-0185 §2) is
//!
//! ```text
//! key = HEX( HMAC-SHA256( HEX(SHA256(Secret)), Receiving + ' ' + Originating + ' ' + StreamID ) )
//! ```
//!
//! where the HMAC key is the *hexadecimal text* of the secret's SHA-256
//! digest, as the XEP's worked example shows.
//!
//! ```
//! use starling_auth::dialback;
//!
//! // The example of XEP-0185 §3.
//! let key = dialback::key(b"s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F");
//! assert_eq!(key, "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
//! assert!(dialback::verify(b"s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F", &key));
//! ```
//!
//! The stream negotiators of [`crate::negotiate`] (`S2sInbound`,
//! `S2sOutbound`) send and answer the `<db:result/>` and `<db:verify/>`
//! elements themselves; this module is what they compute with.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use starling_jid::DomainPart;
use starling_stanza::{StanzaError, StanzaErrorCondition};
use starling_stream::ns;
use starling_xml::Element;

use crate::sasl::{OsRandom, RandomError, RandomSource};

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The dialback key of XEP-0185 for a stream, in lowercase hexadecimal (64
/// characters).
///
/// `receiving` is the Receiving Server's domain (the Target Domain, the
/// `to` of `<db:result/>`), `originating` the Originating (Initiating)
/// Server's domain (the Sender Domain, its `from`), and `stream_id` the
/// `id` the Receiving Server gave the stream in its response header.
///
/// ```
/// use starling_auth::dialback;
///
/// // XEP-0220 §2.1.1: capulet.example asks montague.example.
/// let key = dialback::key(b"s3cr3tf0rd14lb4ck", "montague.example", "capulet.example", "D60000229F");
/// assert_eq!(key, "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3");
/// ```
pub fn key(secret: &[u8], receiving: &str, originating: &str, stream_id: &str) -> String {
    let hashed_secret = hex(&Sha256::digest(secret));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(hashed_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(receiving.as_bytes());
    mac.update(b" ");
    mac.update(originating.as_bytes());
    mac.update(b" ");
    mac.update(stream_id.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Whether `candidate` is the dialback key for these inputs (see [`key`]),
/// compared in time that does not depend on where they differ.
///
/// ```
/// use starling_auth::dialback;
///
/// let k = dialback::key(b"secret", "b.example", "a.example", "id-1");
/// assert!(dialback::verify(b"secret", "b.example", "a.example", "id-1", &k));
/// assert!(!dialback::verify(b"secret", "b.example", "a.example", "id-2", &k));
/// assert!(!dialback::verify(b"other", "b.example", "a.example", "id-1", &k));
/// ```
pub fn verify(
    secret: &[u8],
    receiving: &str,
    originating: &str,
    stream_id: &str,
    candidate: &str,
) -> bool {
    let expected = key(secret, receiving, originating, stream_id);
    ct_eq(expected.as_bytes(), candidate.as_bytes())
}

/// Compares two byte strings in time that depends only on their lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A fresh random secret of 32 bytes, for a server that has none
/// configured (XEP-0185 §2: configured, or generated at start-up). Every
/// process that answers `<db:verify/>` for the same domains must use the
/// same secret.
///
/// ```
/// let a = starling_auth::dialback::random_secret().unwrap();
/// let b = starling_auth::dialback::random_secret().unwrap();
/// assert_eq!(a.len(), 32);
/// assert_ne!(a, b);
/// ```
pub fn random_secret() -> Result<Arc<[u8]>, RandomError> {
    let mut s = [0u8; 32];
    OsRandom.fill(&mut s)?;
    Ok(Arc::from(&s[..]))
}

/// Which dialback element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbKind {
    /// `<db:result/>`: authorization of a domain pair.
    Result,
    /// `<db:verify/>`: verification of a key by the Authoritative Server.
    Verify,
}

impl DbKind {
    fn name(self) -> &'static str {
        match self {
            DbKind::Result => "result",
            DbKind::Verify => "verify",
        }
    }
}

/// The `type` of a dialback answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DbType {
    Valid,
    Invalid,
    /// A dialback error (XEP-0220 §2.4) with its stanza error condition.
    Error(StanzaErrorCondition),
}

/// A `<db:result/>` or `<db:verify/>`, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbElement {
    pub(crate) kind: DbKind,
    pub(crate) from: DomainPart,
    pub(crate) to: DomainPart,
    /// `id` (required on `<db:verify/>`).
    pub(crate) id: Option<String>,
    /// `None` for a request, the outcome for an answer.
    pub(crate) answer: Option<DbType>,
    /// The key (character data, trimmed), for a request.
    pub(crate) key: String,
}

/// Why a dialback element could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbParseError {
    /// `from` or `to` (or `id` on `<db:verify/>`) is missing or is not a
    /// domain.
    Addressing,
    /// `type` has a value other than `valid`, `invalid` and `error`.
    BadType,
}

impl DbElement {
    /// Reads an element of the dialback namespace; `None` if it is neither
    /// `<db:result/>` nor `<db:verify/>`.
    pub(crate) fn parse(el: &Element) -> Option<Result<DbElement, DbParseError>> {
        let kind = match (el.ns(), el.name()) {
            (ns::DIALBACK, "result") => DbKind::Result,
            (ns::DIALBACK, "verify") => DbKind::Verify,
            _ => return None,
        };
        Some(Self::parse_kind(el, kind))
    }

    fn parse_kind(el: &Element, kind: DbKind) -> Result<DbElement, DbParseError> {
        let domain = |name: &str| {
            el.attr(name)
                .and_then(|v| DomainPart::new(v).ok())
                .ok_or(DbParseError::Addressing)
        };
        let from = domain("from")?;
        let to = domain("to")?;
        let id = el.attr("id").map(str::to_owned);
        if kind == DbKind::Verify && id.as_deref().is_none_or(str::is_empty) {
            return Err(DbParseError::Addressing);
        }
        let answer = match el.attr("type") {
            None => None,
            Some("valid") => Some(DbType::Valid),
            Some("invalid") => Some(DbType::Invalid),
            Some("error") => Some(DbType::Error(
                el.children()
                    .find(|c| c.name() == "error")
                    .and_then(StanzaError::from_element)
                    .map_or(StanzaErrorCondition::UndefinedCondition, |e| e.condition),
            )),
            Some(_) => return Err(DbParseError::BadType),
        };
        Ok(DbElement {
            kind,
            from,
            to,
            id,
            answer,
            key: el.text().trim().to_owned(),
        })
    }
}

fn base(kind: DbKind, from: &DomainPart, to: &DomainPart, id: Option<&str>) -> Element {
    let mut el = Element::new(kind.name(), ns::DIALBACK);
    el.set_attr("from", Some(from.as_str()));
    el.set_attr("to", Some(to.as_str()));
    if let Some(id) = id {
        el.set_attr("id", Some(id));
    }
    el
}

/// A request: `<db:result from to>key</db:result>` or
/// `<db:verify from to id>key</db:verify>`.
pub(crate) fn request(
    kind: DbKind,
    from: &DomainPart,
    to: &DomainPart,
    id: Option<&str>,
    key: &str,
) -> Element {
    let mut el = base(kind, from, to, id);
    el.append_text(key);
    el
}

/// An answer with `type='valid'` or `type='invalid'`.
pub(crate) fn answer(
    kind: DbKind,
    from: &DomainPart,
    to: &DomainPart,
    id: Option<&str>,
    valid: bool,
) -> Element {
    let mut el = base(kind, from, to, id);
    el.set_attr("type", Some(if valid { "valid" } else { "invalid" }));
    el
}

/// A dialback error (XEP-0220 §2.4): `type='error'` with an `<error/>` in
/// `jabber:server` carrying the stanza error condition.
pub(crate) fn error(
    kind: DbKind,
    from: &DomainPart,
    to: &DomainPart,
    id: Option<&str>,
    condition: StanzaErrorCondition,
) -> Element {
    let mut el = base(kind, from, to, id);
    el.set_attr("type", Some("error"));
    el.append_child(StanzaError::new(condition).to_element_in(ns::SERVER));
    el
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values were computed independently with Python's hmac
    // and hashlib modules:
    //
    //   python3 -c "import hmac,hashlib; k=hashlib.sha256(b'SECRET').hexdigest().encode(); \
    //       print(hmac.new(k, b'RECEIVING ORIGINATING ID', hashlib.sha256).hexdigest())"

    #[test]
    fn xep_0185_example() {
        assert_eq!(
            hex(&Sha256::digest(b"s3cr3tf0rd14lb4ck")),
            "a7136eb1f46c9ef18c5e78c36ca257067c69b3d518285f0b18a96c33beae9acc"
        );
        assert_eq!(
            key(
                b"s3cr3tf0rd14lb4ck",
                "xmpp.example.com",
                "example.org",
                "D60000229F"
            ),
            "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
        );
    }

    #[test]
    fn xep_0220_examples() {
        // §2.1.1 (Example 1) and §2.2.2 (the Authoritative Server's check).
        assert_eq!(
            key(
                b"s3cr3tf0rd14lb4ck",
                "montague.example",
                "capulet.example",
                "D60000229F"
            ),
            "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3"
        );
        assert_eq!(
            key(
                b"d14lb4ck43v3r",
                "capulet.example",
                "montague.example",
                "417GAF25"
            ),
            "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d"
        );
    }

    #[test]
    fn independent_vector() {
        // python3 -c "import hmac,hashlib; k=hashlib.sha256(b'starling-secret').hexdigest().encode(); \
        //     print(hmac.new(k, b'b.example a.example 0123abcd', hashlib.sha256).hexdigest())"
        assert_eq!(
            key(b"starling-secret", "b.example", "a.example", "0123abcd"),
            "798ebea902d0b86e2eade37b18946f8a00f7f9ed19def861f707aff2110f5269"
        );
    }

    #[test]
    fn verify_is_exact() {
        let k = key(b"s", "b.example", "a.example", "id");
        assert!(verify(b"s", "b.example", "a.example", "id", &k));
        assert!(!verify(
            b"s",
            "b.example",
            "a.example",
            "id",
            &k.to_uppercase()
        ));
        assert!(!verify(b"s", "b.example", "a.example", "id", &k[..63]));
        assert!(!verify(b"s", "b.example", "a.example", "id", ""));
        // The order of the domains matters.
        assert!(!verify(b"s", "a.example", "b.example", "id", &k));
    }

    #[test]
    fn elements_round_trip() {
        let a: DomainPart = "a.example".parse().unwrap();
        let b: DomainPart = "b.example".parse().unwrap();
        let r = request(DbKind::Result, &a, &b, None, "k");
        let p = DbElement::parse(&r).unwrap().unwrap();
        assert_eq!(
            (p.kind, p.answer, p.key.as_str()),
            (DbKind::Result, None, "k")
        );
        let v = answer(DbKind::Verify, &b, &a, Some("id"), true);
        let p = DbElement::parse(&v).unwrap().unwrap();
        assert_eq!(p.answer, Some(DbType::Valid));
        assert_eq!(p.id.as_deref(), Some("id"));
        let e = error(
            DbKind::Result,
            &b,
            &a,
            None,
            StanzaErrorCondition::ItemNotFound,
        );
        let p = DbElement::parse(&e).unwrap().unwrap();
        assert_eq!(
            p.answer,
            Some(DbType::Error(StanzaErrorCondition::ItemNotFound))
        );
        let no_id = request(DbKind::Verify, &a, &b, None, "k");
        assert_eq!(
            DbElement::parse(&no_id),
            Some(Err(DbParseError::Addressing))
        );
        let mut bad = request(DbKind::Result, &a, &b, None, "k");
        bad.set_attr("type", Some("maybe"));
        assert_eq!(DbElement::parse(&bad), Some(Err(DbParseError::BadType)));
        let mut jid = request(DbKind::Result, &a, &b, None, "k");
        jid.set_attr("from", Some("user@a.example"));
        assert_eq!(DbElement::parse(&jid), Some(Err(DbParseError::Addressing)));
        assert_eq!(DbElement::parse(&Element::new("result", ns::SERVER)), None);
    }
}
