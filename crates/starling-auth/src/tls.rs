//! TLS configuration with rustls (RFC 6120 §5, RFC 7590, XEP-0368).
//!
//! Builders for both sides: a server configuration from PEM files with SNI
//! selection among several domains, a self-signed certificate generator for
//! a fresh install (feature `cert-gen`), and a client configuration that trusts the webpki roots,
//! a given CA file, or (for tests only) anything. TLS 1.2 and 1.3 only,
//! rustls's default cipher suites, the `ring` provider. ALPN protocol names
//! for direct TLS (XEP-0368) are [`ALPN_XMPP_CLIENT`] and
//! [`ALPN_XMPP_SERVER`].
//!
//! Certificate identity (RFC 6125): the client verifies the certificate
//! against the XMPP domain it wants to reach (the DNS-ID), never against the
//! host name an SRV lookup produced. SRV-ID and XmppAddr identifiers are not
//! checked (webpki does not read `otherName` SANs); a certificate for the
//! domain as a DNS name is what every public XMPP service presents.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::sasl::ChannelBinding;

/// ALPN protocol name for client-to-server direct TLS (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";
/// ALPN protocol name for server-to-server direct TLS (XEP-0368).
pub const ALPN_XMPP_SERVER: &[u8] = b"xmpp-server";

/// What went wrong while building a TLS configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A PEM file held no usable certificate or key.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was missing or wrong.
        what: String,
    },
    /// rustls refused the configuration (for example a key that does not
    /// match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating a certificate failed.
    #[error("certificate generation: {0}")]
    Generate(String),
    /// A domain is not a valid TLS server name.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
    /// No certificate was configured for a server.
    #[error("no certificate configured")]
    NoCertificate,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Reads a PEM certificate chain.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: path.to_owned(),
            what: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            what: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&data).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        what: e.to_string(),
    })
}

/// A certificate chain and its key, checked to belong together.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = load_certs(cert)?;
    let key = load_key(key)?;
    certified_key(chain, key)
}

/// A certified key from DER parts.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let ck = CertifiedKey::from_der(chain, key, &provider())?;
    Ok(Arc::new(ck))
}

/// A self-signed certificate for `domain` (with the DNS names `domain` and
/// `*.domain`) in PEM: `(certificate, private key)`. Feature `cert-gen`.
#[cfg(feature = "cert-gen")]
pub fn generate_self_signed(domain: &str) -> Result<(String, String), TlsError> {
    let names = vec![domain.to_owned(), format!("*.{domain}")];
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}

/// The certificate and key files for `domain` in `dir`, generated
/// (self-signed) on first use and reused afterwards: `dir/DOMAIN.crt` and
/// `dir/DOMAIN.key` (the key file is created readable by its owner only).
/// Feature `cert-gen`.
#[cfg(feature = "cert-gen")]
pub fn ensure_self_signed(domain: &str, dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join(format!("{domain}.crt"));
    let key = dir.join(format!("{domain}.key"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let (c, k) = generate_self_signed(domain)?;
    write_private(&key, k.as_bytes())?;
    std::fs::write(&cert, c).map_err(|source| TlsError::Io {
        path: cert.clone(),
        source,
    })?;
    Ok((cert, key))
}

#[cfg(feature = "cert-gen")]
fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })?;
    f.write_all(data).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Chooses the certificate by SNI name, falling back to a default.
#[derive(Debug)]
struct SniResolver {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if let Some(k) = self.by_name.get(&name) {
                return Some(k.clone());
            }
            // A wildcard certificate registered for the parent domain.
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(k) = self.by_name.get(&format!("*.{parent}")) {
                    return Some(k.clone());
                }
            }
        }
        self.default.clone()
    }
}

/// Whether and how a server asks for client certificates.
#[derive(Debug, Clone, Default)]
pub enum ClientAuth {
    /// No client certificates (client-to-server).
    #[default]
    None,
    /// Ask for a certificate, verify it against these roots if sent, and
    /// accept connections without one (server-to-server: SASL EXTERNAL when
    /// the certificate verifies, dialback otherwise).
    Optional(Arc<RootCertStore>),
    /// Ask for a certificate and accept any (or none) during the
    /// handshake; the application checks it afterwards with
    /// [`verify_peer`] for the domain the peer claims (server-to-server,
    /// where a certificate that does not verify still allows dialback).
    RequestAny,
}

/// Builds a server [`ServerConfig`] that selects a certificate by SNI.
///
/// ```
/// use starling_auth::tls::{ServerTlsBuilder, certified_key, generate_self_signed};
/// use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
///
/// let (cert, key) = generate_self_signed("example.com").unwrap();
/// let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
/// let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
/// let config = ServerTlsBuilder::new()
///     .domain("example.com", certified_key(chain, key).unwrap())
///     .alpn(starling_auth::tls::ALPN_XMPP_CLIENT)
///     .build()
///     .unwrap();
/// assert_eq!(config.alpn_protocols, vec![b"xmpp-client".to_vec()]);
/// ```
#[derive(Debug, Default)]
pub struct ServerTlsBuilder {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
    alpn: Vec<Vec<u8>>,
    client_auth: ClientAuth,
}

impl ServerTlsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The certificate for `domain` (also the default if it is the first).
    pub fn domain(mut self, domain: &str, key: Arc<CertifiedKey>) -> Self {
        if self.default.is_none() {
            self.default = Some(key.clone());
        }
        self.by_name
            .insert(domain.trim_end_matches('.').to_ascii_lowercase(), key);
        self
    }

    /// Adds an ALPN protocol to accept (direct TLS).
    pub fn alpn(mut self, proto: &[u8]) -> Self {
        self.alpn.push(proto.to_vec());
        self
    }

    /// Client certificate policy.
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// The configuration.
    pub fn build(self) -> Result<Arc<ServerConfig>, TlsError> {
        if self.default.is_none() {
            return Err(TlsError::NoCertificate);
        }
        let builder =
            ServerConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
        let builder = match self.client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(roots) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
                builder.with_client_cert_verifier(verifier)
            }
            ClientAuth::RequestAny => {
                builder.with_client_cert_verifier(Arc::new(AcceptAnyClient(provider())))
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(SniResolver {
            by_name: self.by_name,
            default: self.default,
        }));
        config.alpn_protocols = self.alpn;
        Ok(Arc::new(config))
    }
}

/// Which certificates a client trusts.
#[derive(Clone, Default)]
pub enum Trust {
    /// The Mozilla root program (webpki-roots).
    #[default]
    WebPki,
    /// The CA certificates in this PEM file (and nothing else).
    CaFile(PathBuf),
    /// These CA certificates.
    Roots(Arc<RootCertStore>),
    /// Accept any certificate. **For tests only**: it removes all
    /// protection against an active attacker.
    InsecureAcceptAnything,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trust::WebPki => f.write_str("WebPki"),
            Trust::CaFile(p) => f.debug_tuple("CaFile").field(p).finish(),
            Trust::Roots(r) => write!(f, "Roots({} certificates)", r.len()),
            Trust::InsecureAcceptAnything => f.write_str("InsecureAcceptAnything"),
        }
    }
}

/// A root store holding the certificates of a PEM file.
pub fn roots_from_pem_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for c in load_certs(path)? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// Builds a client [`ClientConfig`].
///
/// ```
/// use starling_auth::tls::{ClientTlsBuilder, Trust};
///
/// let config = ClientTlsBuilder::new(Trust::WebPki).build().unwrap();
/// assert!(config.alpn_protocols.is_empty());
/// ```
#[derive(Debug, Default)]
pub struct ClientTlsBuilder {
    trust: Trust,
    alpn: Vec<Vec<u8>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

impl ClientTlsBuilder {
    /// A builder with the given trust.
    pub fn new(trust: Trust) -> Self {
        ClientTlsBuilder {
            trust,
            alpn: Vec::new(),
            identity: None,
        }
    }

    /// Offers an ALPN protocol (direct TLS).
    pub fn alpn(mut self, proto: &[u8]) -> Self {
        self.alpn.push(proto.to_vec());
        self
    }

    /// Presents a client certificate (SASL EXTERNAL, server-to-server).
    pub fn identity(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Self {
        self.identity = Some((chain, key));
        self
    }

    /// The configuration.
    pub fn build(self) -> Result<Arc<ClientConfig>, TlsError> {
        let builder =
            ClientConfig::builder_with_provider(provider()).with_protocol_versions(VERSIONS)?;
        let builder = match self.trust {
            Trust::WebPki => {
                let roots = RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                builder.with_root_certificates(roots)
            }
            Trust::CaFile(p) => builder.with_root_certificates(roots_from_pem_file(&p)?),
            Trust::Roots(r) => builder.with_root_certificates(r),
            Trust::InsecureAcceptAnything => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider()))),
        };
        let mut config = match self.identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn;
        Ok(Arc::new(config))
    }
}

/// Checks a peer's certificate chain (as sent in the handshake, leaf
/// first) against `roots` for `domain` (its DNS-ID, RFC 6125), as a
/// server certificate. Used after handshakes that accepted any certificate
/// ([`ClientAuth::RequestAny`], [`Trust::InsecureAcceptAnything`]) to decide
/// between SASL EXTERNAL and dialback on server-to-server streams.
///
/// ```
/// use std::sync::Arc;
/// use rustls::pki_types::{CertificateDer, pem::PemObject};
/// use starling_auth::tls::{generate_self_signed, verify_peer};
///
/// let (cert, _key) = generate_self_signed("example.org").unwrap();
/// let leaf = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
/// // Not trusted: no root.
/// let empty = Arc::new(rustls::RootCertStore::empty());
/// assert!(verify_peer(&[leaf.clone()], &empty, "example.org").is_err());
/// // Trusted as its own anchor: valid for its name only.
/// let mut roots = rustls::RootCertStore::empty();
/// roots.add(leaf.clone()).unwrap();
/// let roots = Arc::new(roots);
/// assert!(verify_peer(&[leaf.clone()], &roots, "example.org").is_ok());
/// assert!(verify_peer(&[leaf], &roots, "example.net").is_err());
/// ```
pub fn verify_peer(
    chain: &[CertificateDer<'static>],
    roots: &Arc<RootCertStore>,
    domain: &str,
) -> Result<(), TlsError> {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err(TlsError::Rustls(rustls::Error::NoCertificatesPresented));
    };
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots.clone(), provider())
            .build()
            .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
    verifier
        .verify_server_cert(
            leaf,
            intermediates,
            &server_name(domain)?,
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
        .map_err(TlsError::Rustls)
}

#[derive(Debug)]
struct AcceptAnyClient(Arc<CryptoProvider>);

impl rustls::server::danger::ClientCertVerifier for AcceptAnyClient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        AcceptAnything(self.0.clone()).verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        AcceptAnything(self.0.clone()).verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS server name for an XMPP domain (the DNS-ID to verify).
pub fn server_name(domain: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(domain.trim_end_matches('.').to_owned())
        .map_err(|_| TlsError::ServerName(domain.to_owned()))
}

#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The `tls-exporter` channel binding data of a TLS 1.3 connection
/// (RFC 9266): 32 bytes exported with the label
/// `EXPORTER-Channel-Binding` and no context. `None` before the handshake
/// completes or on TLS 1.2, where the exporter is not a safe binding.
pub fn tls_exporter<D>(conn: &rustls::ConnectionCommon<D>) -> Option<Vec<u8>> {
    if conn.protocol_version() != Some(rustls::ProtocolVersion::TLSv1_3) {
        return None;
    }
    conn.export_keying_material(
        vec![0u8; ChannelBinding::TLS_EXPORTER_LEN],
        ChannelBinding::TLS_EXPORTER_LABEL.as_bytes(),
        None,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "cert-gen")]
    fn sni_selection_in_real_handshakes() {
        use std::io::{Read, Write};
        let (ca, ck) = generate_self_signed("a.example").unwrap();
        let (cb, kb) = generate_self_signed("b.example").unwrap();
        let load = |c: &str, k: &str| {
            certified_key(
                vec![CertificateDer::from_pem_slice(c.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap(),
            )
            .unwrap()
        };
        let server = ServerTlsBuilder::new()
            .domain("a.example", load(&ca, &ck))
            .domain("b.example", load(&cb, &kb))
            .build()
            .unwrap();
        for (name, cert) in [("a.example", &ca), ("b.example", &cb)] {
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(cert.as_bytes()).unwrap())
                .unwrap();
            let client_cfg = ClientTlsBuilder::new(Trust::Roots(Arc::new(roots)))
                .build()
                .unwrap();
            let mut c =
                rustls::ClientConnection::new(client_cfg, server_name(name).unwrap()).unwrap();
            let mut s = rustls::ServerConnection::new(server.clone()).unwrap();
            for _ in 0..10 {
                let mut buf = Vec::new();
                while c.wants_write() {
                    c.write_tls(&mut buf).unwrap();
                }
                let mut rd = &buf[..];
                while !rd.is_empty() {
                    s.read_tls(&mut rd).unwrap();
                    s.process_new_packets().unwrap();
                }
                let mut buf = Vec::new();
                while s.wants_write() {
                    s.write_tls(&mut buf).unwrap();
                }
                let mut rd = &buf[..];
                while !rd.is_empty() {
                    c.read_tls(&mut rd).unwrap();
                    // The client verifies the certificate for `name`: this
                    // fails if the server picked the other domain's.
                    c.process_new_packets().unwrap();
                }
            }
            assert!(!c.is_handshaking(), "handshake for {name}");
            c.writer().write_all(b"ping").unwrap();
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            s.read_tls(&mut &buf[..]).unwrap();
            s.process_new_packets().unwrap();
            let mut got = [0u8; 4];
            s.reader().read_exact(&mut got).unwrap();
            assert_eq!(&got, b"ping");
            assert_eq!(tls_exporter(&c).map(|v| v.len()), Some(32));
            assert_eq!(tls_exporter(&c), tls_exporter(&s));
        }
    }

    #[test]
    #[cfg(feature = "cert-gen")]
    fn self_signed_is_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("starling-tls-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (c1, k1) = ensure_self_signed("localhost", &dir).unwrap();
        let first = std::fs::read(&c1).unwrap();
        let (c2, k2) = ensure_self_signed("localhost", &dir).unwrap();
        assert_eq!((c1.clone(), k1.clone()), (c2, k2));
        assert_eq!(std::fs::read(&c1).unwrap(), first);
        assert!(load_certified_key(&c1, &k1).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&k1).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(matches!(load_certs(&k1), Err(TlsError::Pem { .. })));
        assert!(matches!(
            load_certs(&dir.join("missing.crt")),
            Err(TlsError::Io { .. })
        ));
        assert!(matches!(
            ServerTlsBuilder::new().build(),
            Err(TlsError::NoCertificate)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
