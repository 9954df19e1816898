//! The SASL mechanisms this crate implements.

use std::fmt;
use std::str::FromStr;

use super::scram::ScramHash;

/// A SASL mechanism implemented by this crate.
///
/// The variants are declared from the strongest to the weakest password
/// mechanism, which is the order in which a client prefers them
/// ([`Ord`] follows it); `EXTERNAL` and `ANONYMOUS` come last because they
/// are chosen by configuration, not by strength.
///
/// ```
/// use starling_auth::sasl::Mechanism;
///
/// let m: Mechanism = "SCRAM-SHA-256-PLUS".parse().unwrap();
/// assert_eq!(m, Mechanism::ScramSha256Plus);
/// assert!(m.is_plus());
/// assert_eq!(m.to_string(), "SCRAM-SHA-256-PLUS");
/// assert!("DIGEST-MD5".parse::<Mechanism>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// `SCRAM-SHA-256-PLUS` (RFC 7677) with channel binding.
    ScramSha256Plus,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802) with channel binding.
    ScramSha1Plus,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `PLAIN` (RFC 4616): the password in clear, for TLS-protected streams.
    Plain,
    /// `EXTERNAL` (RFC 4422 Appendix A): the identity established by TLS
    /// (a client certificate).
    External,
    /// `ANONYMOUS` (RFC 4505).
    Anonymous,
}

impl Mechanism {
    /// Every mechanism, in the order of the enumeration.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
        Mechanism::External,
        Mechanism::Anonymous,
    ];

    /// The registered mechanism name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::Plain => "PLAIN",
            Mechanism::External => "EXTERNAL",
            Mechanism::Anonymous => "ANONYMOUS",
        }
    }

    /// The mechanism registered as `name` (SASL names are compared exactly).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The hash function of a SCRAM mechanism.
    pub fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Mechanism::ScramSha256Plus | Mechanism::ScramSha256 => Some(ScramHash::Sha256),
            Mechanism::ScramSha1Plus | Mechanism::ScramSha1 => Some(ScramHash::Sha1),
            _ => None,
        }
    }

    /// Whether this is a `-PLUS` (channel binding) variant.
    pub fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }

    /// The SCRAM mechanism for `hash`, with or without channel binding.
    pub fn scram(hash: ScramHash, plus: bool) -> Mechanism {
        match (hash, plus) {
            (ScramHash::Sha256, true) => Mechanism::ScramSha256Plus,
            (ScramHash::Sha1, true) => Mechanism::ScramSha1Plus,
            (ScramHash::Sha256, false) => Mechanism::ScramSha256,
            (ScramHash::Sha1, false) => Mechanism::ScramSha1,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a mechanism name this crate does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported SASL mechanism `{0}`")]
pub struct UnknownMechanism(pub String);

impl FromStr for Mechanism {
    type Err = UnknownMechanism;

    fn from_str(s: &str) -> Result<Mechanism, UnknownMechanism> {
        Mechanism::from_name(s).ok_or_else(|| UnknownMechanism(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(m.as_str()), Some(m));
            if let Some(h) = m.scram_hash() {
                assert_eq!(Mechanism::scram(h, m.is_plus()), m);
            }
        }
        assert_eq!(Mechanism::from_name("plain"), None);
        assert!(Mechanism::ScramSha256Plus < Mechanism::ScramSha1Plus);
        assert!(Mechanism::ScramSha1 < Mechanism::Plain);
    }
}
