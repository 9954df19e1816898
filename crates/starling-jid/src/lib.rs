//! XMPP addresses (JIDs) as defined by RFC 7622, prepared with PRECIS
//! (RFC 8264, RFC 8265) and IDNA2008 (RFC 5890–5893) rather than the
//! stringprep profiles of the obsolete RFC 6122.
//!
//! # Types
//!
//! * [`Jid`] — any address, bare or full; [`BareJid`] —
//!   `[localpart@]domainpart`; [`FullJid`] — `[localpart@]domainpart/resourcepart`.
//! * [`NodePart`], [`DomainPart`], [`ResourcePart`] — the three parts.
//!
//! Every value is valid by construction and holds its *prepared* form:
//! [`Display`](core::fmt::Display) prints it, and `Eq`, `Ord` and `Hash`
//! compare it byte for byte, which is the comparison RFC 7622 §3 defines.
//! A value is one reference-counted buffer plus 16-bit offsets, so `clone`,
//! [`Jid::bare`] and the part accessors never copy the string.
//!
//! ```
//! use starling_jid::{BareJid, FullJid, Jid, JidError, Part};
//!
//! let jid: Jid = "Juliet@Example.com/Balcony".parse()?;
//! assert_eq!(jid.to_string(), "juliet@example.com/Balcony");
//! assert_eq!(jid.bare(), "juliet@example.com".parse::<BareJid>()?);
//!
//! let full = FullJid::try_from(jid)?;
//! assert_eq!(full.resource(), "Balcony");
//!
//! // Internationalized addresses.
//! let jid: Jid = "ΣΑΣ@xn--bcher-kva.example".parse()?;
//! assert_eq!(jid.as_str(), "σασ@bücher.example");
//!
//! // Typed errors name the part and the rule.
//! assert_eq!(
//!     "henry\u{2163}@example.com".parse::<Jid>().unwrap_err(),
//!     JidError::ForbiddenChar { part: Part::Localpart, ch: '\u{2163}' },
//! );
//! # Ok::<(), JidError>(())
//! ```
//!
//! # What is implemented
//!
//! * **Parsing** (RFC 7622 §3.1): the resourcepart is everything after the
//!   first `/`, the localpart everything before the first `@` of what
//!   remains. Each part must be 1 to 1023 bytes long after preparation.
//! * **Localpart** (§3.3): the PRECIS `UsernameCaseMapped` profile — width
//!   mapping, the `IdentifierClass` (with the contextual rules of
//!   RFC 5892 Appendix A), Unicode `toLowerCase()` applied code point by
//!   code point, NFC, and the Bidi Rule of RFC 5893 for strings with
//!   right-to-left characters — and then the characters
//!   `" & ' / : < > @` are rejected.
//! * **Resourcepart** (§3.4): the PRECIS `OpaqueString` profile — the
//!   `FreeformClass`, non-ASCII spaces mapped to U+0020, NFC. Case is
//!   preserved.
//! * **Domainpart** (§3.2): a final `.` is stripped first; then either an
//!   IP literal (`192.0.2.1`, or `[2001:db8::1]` stored in RFC 5952 form)
//!   or an IDNA2008 domain name. Width mapping, case mapping and NFC are
//!   applied as RFC 5895 describes; A-labels (`xn--…`) are converted to
//!   U-labels, which are what is stored; [`DomainPart::to_ascii`] gives the
//!   A-label form back.
//! * **Idempotence**: following RFC 8265 §6, the localpart and
//!   resourcepart rules are re-applied to their own output until it no
//!   longer changes, and an input that has not stabilised after three
//!   extra rounds is rejected ([`JidError::Unstable`]). Preparing a
//!   prepared address therefore always returns it unchanged.
//! * **XEP-0106**: [`escape_node`], [`unescape_node`],
//!   [`NodePart::from_unescaped`], [`NodePart::unescaped`].
//! * **serde** (feature `serde`): every type serialises as its string form
//!   and deserialises through the same preparation as [`str::parse`].
//!
//! # Fast path
//!
//! Addresses whose parts are ASCII letters, digits and the usual
//! punctuation are checked and lower-cased with byte tables, without any
//! Unicode machinery, and stored with a single allocation. Only parts that
//! contain non-ASCII characters (or an `xn--` label) take the full path.
//!
//! # Unicode version and building blocks
//!
//! All character data — general category, bidi class, joining type,
//! script, combining class, the binary properties PRECIS and IDNA2008
//! need, and NFC/NFKC/NFKD — comes from the ICU4X crates `icu_properties`
//! and `icu_normalizer` (data from ICU 78), which follow **Unicode 17.0**.
//! The case mapping uses the standard library's `char::to_lowercase`,
//! whose tables are also Unicode 17.0; a unit test checks that the two
//! agree. The PRECIS and IDNA2008 derived properties (RFC 8264 §8,
//! RFC 5892 §3) are computed from those tables by this crate, rather than
//! taken from a frozen table, so they follow the same version. A unit test
//! checks the result against the `precis-core` crate, which embeds the IANA
//! PRECIS registry for Unicode 6.3.0: both agree on every code point
//! assigned in Unicode 6.3.0.
//!
//! What this means in practice: a code point that is unassigned in Unicode
//! 17.0 (including any character added in a later version) is *disallowed*
//! in every part ([`JidError::UnassignedChar`]), as PRECIS and IDNA2008
//! require. An address that uses such a character will be accepted only
//! once the tables are updated. Code points assigned after Unicode 6.3.0
//! (the last version the IANA PRECIS registry was published for) get the
//! value the RFC 8264 algorithm gives with the Unicode 17.0 properties.
//!
//! The `idna` crate implements UTS #46, which maps and accepts more than
//! IDNA2008. It is configured for nontransitional processing with
//! `UseSTD3ASCIIRules`, `CheckHyphens`, `CheckBidi` and `CheckJoiners`, and
//! wrapped: the RFC 5895-style mapping is done here before UTS #46 sees the
//! input, every label is checked against the IDNA2008 derived property
//! and contextual rules (so characters that UTS #46 would map or drop but
//! IDNA2008 disallows, such as `ﬁ`, `①` or a soft hyphen, are rejected),
//! every label must be at most 63 bytes in A-label form, and reserved
//! labels with `--` in the third and fourth positions are rejected unless
//! they are A-labels. Underscores are not allowed in domain labels.
//!
//! # Not implemented
//!
//! IPvFuture literals (`[v1.…]`) are rejected. The overall 253-byte DNS
//! name limit is not applied (RFC 7622 allows 1023 bytes).

#![forbid(unsafe_code)]

mod domain;
mod error;
mod escape;
mod jid;
mod macros;
mod parts;
mod prep;
mod repr;
mod unicode;

pub use error::{JidError, Part};
pub use escape::{escape_node, unescape_node};
pub use jid::{BareJid, FullJid, Jid};
pub use parts::{DomainPart, NodePart, ResourcePart};
