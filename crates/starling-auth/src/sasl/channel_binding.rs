//! Channel binding data for the SCRAM `-PLUS` mechanisms.

use std::fmt;

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// A channel binding type (the IANA "Channel-Binding Types" registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelBindingType {
    /// `tls-exporter` (RFC 9266): keying material exported from the TLS
    /// session; the type to use with TLS 1.3.
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 §4): a hash of the server's
    /// certificate.
    TlsServerEndPoint,
}

impl ChannelBindingType {
    /// The registered name, as it appears in the gs2 header (`p=…`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelBindingType::TlsExporter => "tls-exporter",
            ChannelBindingType::TlsServerEndPoint => "tls-server-end-point",
        }
    }

    /// The type registered as `name`.
    pub fn from_name(name: &str) -> Option<ChannelBindingType> {
        match name {
            "tls-exporter" => Some(ChannelBindingType::TlsExporter),
            "tls-server-end-point" => Some(ChannelBindingType::TlsServerEndPoint),
            _ => None,
        }
    }
}

impl fmt::Display for ChannelBindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hash function named by a certificate's signature algorithm, for
/// `tls-server-end-point`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    /// MD5 (replaced by SHA-256, RFC 5929 §4.1).
    Md5,
    /// SHA-1 (replaced by SHA-256, RFC 5929 §4.1).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Channel binding data could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelBindingError {
    /// The bytes are not a DER `Certificate` whose signature algorithm can
    /// be read.
    #[error("the certificate is not DER that can be read")]
    MalformedCertificate,
    /// The certificate's signature algorithm uses no single hash function
    /// this crate knows (for example Ed25519, or RSASSA-PSS, whose hash is
    /// in its parameters); RFC 5929 §4.1 leaves `tls-server-end-point`
    /// undefined for the former. Pass the hash explicitly if it is known.
    #[error(
        "the certificate's signature algorithm ({oid}) names no hash function usable for tls-server-end-point"
    )]
    UnsupportedSignatureAlgorithm {
        /// The algorithm's object identifier, dotted.
        oid: String,
    },
}

/// The channel binding data of one TLS connection: a type and the bytes
/// the TLS layer exported for it (RFC 5056, RFC 5802 §6).
///
/// The TLS layer fills it; SASL only carries it:
///
/// * `tls-exporter` (RFC 9266): `export_keying_material` with the label
///   [`TLS_EXPORTER_LABEL`](Self::TLS_EXPORTER_LABEL), no context, and
///   [`TLS_EXPORTER_LEN`](Self::TLS_EXPORTER_LEN) bytes. With TLS 1.2 it is
///   safe only when the Extended Master Secret extension (RFC 7627) was
///   negotiated; the TLS layer must not offer it otherwise.
/// * `tls-server-end-point` (RFC 5929 §4): a hash of the server's
///   end-entity certificate, built with
///   [`tls_server_end_point`](Self::tls_server_end_point) on both sides.
///
/// ```
/// use starling_auth::sasl::{ChannelBinding, ChannelBindingType};
///
/// // What a TLS library exported for this connection.
/// let exported = [7u8; ChannelBinding::TLS_EXPORTER_LEN];
/// let cb = ChannelBinding::tls_exporter(exported.to_vec());
/// assert_eq!(cb.kind(), ChannelBindingType::TlsExporter);
/// assert_eq!(cb.data(), &exported);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    kind: ChannelBindingType,
    data: Vec<u8>,
}

impl ChannelBinding {
    /// The exporter label of `tls-exporter` (RFC 9266 §2).
    pub const TLS_EXPORTER_LABEL: &'static str = "EXPORTER-Channel-Binding";
    /// The number of bytes exported for `tls-exporter` (RFC 9266 §2).
    pub const TLS_EXPORTER_LEN: usize = 32;

    /// Channel binding data of type `kind`.
    pub fn new(kind: ChannelBindingType, data: Vec<u8>) -> ChannelBinding {
        ChannelBinding { kind, data }
    }

    /// `tls-exporter` data: the keying material exported from the TLS
    /// session.
    pub fn tls_exporter(keying_material: Vec<u8>) -> ChannelBinding {
        ChannelBinding::new(ChannelBindingType::TlsExporter, keying_material)
    }

    /// `tls-server-end-point` data for the server's end-entity certificate
    /// `cert_der` (RFC 5929 §4.1): the certificate hashed with the hash
    /// function of its signature algorithm, or with SHA-256 if that is MD5
    /// or SHA-1.
    ///
    /// With `signature_hash` set, that hash function is used as the
    /// certificate's; with `None`, it is read from the certificate's
    /// `signatureAlgorithm` (RSA PKCS #1 v1.5, ECDSA and DSA with MD5,
    /// SHA-1 or SHA-2 are recognised).
    ///
    /// ```
    /// use starling_auth::sasl::{ChannelBinding, SignatureHash};
    ///
    /// let der = [0x30, 0x03, 0x02, 0x01, 0x00]; // any bytes, when the hash is given
    /// let cb = ChannelBinding::tls_server_end_point(&der, Some(SignatureHash::Sha1)).unwrap();
    /// assert_eq!(cb.data().len(), 32); // SHA-1 is replaced by SHA-256
    /// let cb = ChannelBinding::tls_server_end_point(&der, Some(SignatureHash::Sha384)).unwrap();
    /// assert_eq!(cb.data().len(), 48);
    /// ```
    pub fn tls_server_end_point(
        cert_der: &[u8],
        signature_hash: Option<SignatureHash>,
    ) -> Result<ChannelBinding, ChannelBindingError> {
        let hash = match signature_hash {
            Some(h) => h,
            None => certificate_signature_hash(cert_der)?,
        };
        let data = match hash {
            SignatureHash::Md5 | SignatureHash::Sha1 | SignatureHash::Sha256 => {
                Sha256::digest(cert_der).to_vec()
            }
            SignatureHash::Sha224 => Sha224::digest(cert_der).to_vec(),
            SignatureHash::Sha384 => Sha384::digest(cert_der).to_vec(),
            SignatureHash::Sha512 => Sha512::digest(cert_der).to_vec(),
        };
        Ok(ChannelBinding::new(
            ChannelBindingType::TlsServerEndPoint,
            data,
        ))
    }

    /// The channel binding type.
    pub fn kind(&self) -> ChannelBindingType {
        self.kind
    }

    /// The channel binding data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Reads one DER tag and length at the start of `input`; returns the tag,
/// the contents and what follows.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, after) = rest.split_at(n);
        rest = after;
        len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, after) = rest.split_at(len);
    Some((tag, contents, after))
}

/// Formats DER object identifier contents in dotted form.
fn oid_string(contents: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &b in contents {
        value = value
            .saturating_mul(128)
            .saturating_add(u64::from(b & 0x7F));
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The hash function of the `signatureAlgorithm` of an X.509 certificate:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm
/// AlgorithmIdentifier, signatureValue }`, `AlgorithmIdentifier ::=
/// SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }`.
fn certificate_signature_hash(der: &[u8]) -> Result<SignatureHash, ChannelBindingError> {
    const SEQUENCE: u8 = 0x30;
    const OID: u8 = 0x06;
    let malformed = ChannelBindingError::MalformedCertificate;
    let (tag, certificate, _) = der_tlv(der).ok_or(malformed.clone())?;
    if tag != SEQUENCE {
        return Err(malformed);
    }
    let (tag, _tbs, rest) = der_tlv(certificate).ok_or(malformed.clone())?;
    if tag != SEQUENCE {
        return Err(malformed);
    }
    let (tag, algorithm, _) = der_tlv(rest).ok_or(malformed.clone())?;
    if tag != SEQUENCE {
        return Err(malformed);
    }
    let (tag, oid, _) = der_tlv(algorithm).ok_or(malformed.clone())?;
    if tag != OID || oid.is_empty() {
        return Err(malformed);
    }
    let oid = oid_string(oid);
    Ok(match oid.as_str() {
        // RSA PKCS #1 v1.5 (RFC 8017).
        "1.2.840.113549.1.1.4" => SignatureHash::Md5,
        "1.2.840.113549.1.1.5" => SignatureHash::Sha1,
        "1.2.840.113549.1.1.14" => SignatureHash::Sha224,
        "1.2.840.113549.1.1.11" => SignatureHash::Sha256,
        "1.2.840.113549.1.1.12" => SignatureHash::Sha384,
        "1.2.840.113549.1.1.13" => SignatureHash::Sha512,
        // ECDSA (RFC 5758).
        "1.2.840.10045.4.1" => SignatureHash::Sha1,
        "1.2.840.10045.4.3.1" => SignatureHash::Sha224,
        "1.2.840.10045.4.3.2" => SignatureHash::Sha256,
        "1.2.840.10045.4.3.3" => SignatureHash::Sha384,
        "1.2.840.10045.4.3.4" => SignatureHash::Sha512,
        // DSA (RFC 3279, RFC 5758).
        "1.2.840.10040.4.3" => SignatureHash::Sha1,
        "2.16.840.1.101.3.4.3.1" => SignatureHash::Sha224,
        "2.16.840.1.101.3.4.3.2" => SignatureHash::Sha256,
        _ => return Err(ChannelBindingError::UnsupportedSignatureAlgorithm { oid }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER skeleton of a certificate with the given signature algorithm
    /// OID contents: SEQUENCE { SEQUENCE {}, SEQUENCE { OID, NULL }, BIT STRING }.
    fn cert_with_oid(oid: &[u8]) -> Vec<u8> {
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend_from_slice(oid);
        alg.extend_from_slice(&[0x05, 0x00]);
        let mut body = vec![0x30, 0x00, 0x30, alg.len() as u8];
        body.extend_from_slice(&alg);
        body.extend_from_slice(&[0x03, 0x02, 0x00, 0xAA]);
        let mut der = vec![0x30, 0x81, body.len() as u8];
        der.extend_from_slice(&body);
        der
    }

    const SHA256_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
    const SHA1_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x05];
    const ECDSA_SHA384: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03];
    const ED25519: &[u8] = &[0x2B, 0x65, 0x70];

    #[test]
    fn reads_the_signature_algorithm() {
        let der = cert_with_oid(SHA256_RSA);
        assert_eq!(certificate_signature_hash(&der), Ok(SignatureHash::Sha256));
        let cb = ChannelBinding::tls_server_end_point(&der, None).unwrap();
        assert_eq!(cb.data(), Sha256::digest(&der).as_slice());

        let der = cert_with_oid(SHA1_RSA);
        let cb = ChannelBinding::tls_server_end_point(&der, None).unwrap();
        assert_eq!(cb.data(), Sha256::digest(&der).as_slice());

        let der = cert_with_oid(ECDSA_SHA384);
        let cb = ChannelBinding::tls_server_end_point(&der, None).unwrap();
        assert_eq!(cb.data(), Sha384::digest(&der).as_slice());
        assert_eq!(cb.kind(), ChannelBindingType::TlsServerEndPoint);
    }

    /// A self-signed ECDSA P-256 certificate signed with SHA-384, made for
    /// this test; its tls-server-end-point data is its SHA-384 hash.
    const ECDSA_SHA384_CERT: &str = "MIIBgTCCASegAwIBAgIUB9cw9i6Zi1UW3XngwlfJPBtE7REwCgYIKoZIzj0EAwMwFjEUMBIGA1UEAwwLZXhhbXBsZS5jb20wHhcNMjYxMTI1MTIzNjUwWhcNMzYxMTIyMTIzNjUwWjAWMRQwEgYDVQQDDAtleGFtcGxlLmNvbTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIXUtEwBMGji0+GQnOYu5Sy5mTX5KZK/TuJmjkQGoYJXba69bGmpfMXp3BHmni9LsEQBTM5RDJvHlPr4nnnOVMijUzBRMB0GA1UdDgQWBBQFI0d6/xyUJivI/Biw2982BrskeTAfBgNVHSMEGDAWgBQFI0d6/xyUJivI/Biw2982BrskeTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMDA0gAMEUCIQCgaLKneqnVL8WqWZ0Ij96e0TgI97LTDHrNqiqR5c3byAIgF9OTglbd9ksrdiRJ2xIGcRegySVxvP2iQ1LCqNvh7wY=";
    const ECDSA_SHA384_CERT_HASH: &str = "dd6425a305cb18ed63037b4c698909ab4437928ac719ec88dcb27b8aa38e98bd5cd79e4bc1a844eb84acf0722e8122b3";

    #[test]
    fn real_certificate() {
        let der = crate::sasl::wire::decode(ECDSA_SHA384_CERT).unwrap();
        let cb = ChannelBinding::tls_server_end_point(&der, None).unwrap();
        let hex: String = cb.data().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, ECDSA_SHA384_CERT_HASH);
    }

    #[test]
    fn unsupported_and_malformed() {
        let der = cert_with_oid(ED25519);
        assert_eq!(
            ChannelBinding::tls_server_end_point(&der, None),
            Err(ChannelBindingError::UnsupportedSignatureAlgorithm {
                oid: "1.3.101.112".into()
            })
        );
        // The hint overrides the certificate.
        assert!(ChannelBinding::tls_server_end_point(&der, Some(SignatureHash::Sha512)).is_ok());
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0x30],
            &[0x04, 0x00],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        ] {
            assert_eq!(
                ChannelBinding::tls_server_end_point(bad, None),
                Err(ChannelBindingError::MalformedCertificate)
            );
        }
    }

    #[test]
    fn type_names() {
        for t in [
            ChannelBindingType::TlsExporter,
            ChannelBindingType::TlsServerEndPoint,
        ] {
            assert_eq!(ChannelBindingType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(ChannelBindingType::from_name("tls-unique"), None);
    }
}
