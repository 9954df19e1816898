//! Where nonces, salts and anonymous user names come from.

use std::fmt;

use super::wire;

/// The random number generator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no random bytes: {0}")]
pub struct RandomError(pub String);

/// A source of unpredictable bytes for nonces, salts and anonymous user
/// names.
///
/// [`OsRandom`] (the operating system's generator, through `getrandom`) is
/// what the configurations use by default. Another implementation is
/// useful to replay fixed test vectors; it must never be used in
/// production, because SCRAM's security rests on unpredictable nonces.
///
/// ```
/// use starling_auth::sasl::{OsRandom, RandomSource};
///
/// let nonce = OsRandom.nonce().unwrap();
/// assert_eq!(nonce.len(), 32);
/// assert!(!nonce.contains(','));
/// ```
pub trait RandomSource: Send + Sync + fmt::Debug {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;

    /// A SCRAM nonce: printable ASCII without `,` (RFC 5802 §7). The
    /// default is 24 random bytes in base 64 (32 characters).
    fn nonce(&self) -> Result<String, RandomError> {
        let mut bytes = [0u8; 24];
        self.fill(&mut bytes)?;
        Ok(wire::encode(&bytes))
    }
}

/// The operating system's random number generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
    }
}
