//! Certificates for tests — a private CA whose certificates name real
//! domains (so that certificate verification and SASL `EXTERNAL` are
//! exercised for real), and self-signed identities — and [`pump`], two
//! sans-IO negotiators connected in memory through real rustls sessions.

pub mod pump;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use starling_auth::tls::{ServerTlsBuilder, certified_key};

use crate::dirs::TestDir;

/// How long the certificates of a [`TestCa`] are valid (from a day before
/// they are made): some peers (ejabberd's Erlang) refuse the far-future
/// expiry dates that rcgen gives by default.
const VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Sets the validity of a certificate to [`VALIDITY`].
fn set_validity(params: &mut CertificateParams) {
    let day = Duration::from_secs(24 * 3600);
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - day;
    params.not_after = now + VALIDITY;
}

/// A certificate chain and its private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A private certificate authority (ECDSA P-256) for one test. It lives in
/// memory; the first call of [`TestCa::ca_file`] or [`TestCa::issue`]
/// gives it a directory (removed on drop) for PEM files.
///
/// ```
/// use starling_auth::tls::verify_peer;
/// use starling_testkit::tls::TestCa;
///
/// let ca = TestCa::new();
/// let (chain, _key) = ca.leaf("a.example");
/// assert!(verify_peer(&chain, &ca.roots(), "a.example").is_ok());
/// assert!(verify_peer(&chain, &ca.roots(), "b.example").is_err());
/// // As files, for a server's configuration.
/// let (cert, key) = ca.issue("a.example");
/// assert!(cert.is_file() && key.is_file() && ca.ca_file().is_file());
/// ```
#[derive(Debug)]
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    roots: Arc<RootCertStore>,
    dir: OnceLock<TestDir>,
}

impl TestCa {
    /// A new CA.
    ///
    /// # Panics
    ///
    /// When rcgen fails (it does not for these parameters).
    pub fn new() -> TestCa {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "Starling test CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Starling");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        set_validity(&mut params);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("the CA certificate");
        let mut roots = RootCertStore::empty();
        roots.add(cert.der().clone()).expect("the CA as a root");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
            roots: Arc::new(roots),
            dir: OnceLock::new(),
        }
    }

    /// The CA as the only trust anchor.
    pub fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// A certificate for `names` (DNS SANs; the first is also the common
    /// name) for server and client authentication, as a server uses one
    /// certificate both ways, signed by this CA.
    ///
    /// # Panics
    ///
    /// When `names` is empty or not valid DNS names.
    pub fn leaf_for(&self, names: &[&str]) -> Identity {
        let (cert, key) = self.sign(names);
        (
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).expect("a PKCS#8 key"),
        )
    }

    /// [`TestCa::leaf_for`] one name.
    pub fn leaf(&self, name: &str) -> Identity {
        self.leaf_for(&[name])
    }

    fn sign(&self, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let first = *names.first().expect("at least one name");
        let key = KeyPair::generate().expect("a key");
        let sans: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        let mut params = CertificateParams::new(sans).expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, first);
        params.is_ca = IsCa::ExplicitNoCa;
        set_validity(&mut params);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing a certificate");
        (cert, key)
    }

    fn dir(&self) -> &TestDir {
        self.dir.get_or_init(|| TestDir::create("ca"))
    }

    /// The CA certificate as a PEM file: the trust anchor to configure.
    ///
    /// # Panics
    ///
    /// When the file cannot be written.
    pub fn ca_file(&self) -> PathBuf {
        let path = self.dir().join("ca.pem");
        if !path.exists() {
            fs::write(&path, &self.pem).expect("writing the CA certificate");
        }
        path
    }

    /// A certificate for `domain` signed by this CA, written as PEM files:
    /// `(DOMAIN.crt, DOMAIN.key)` in the CA's directory.
    pub fn issue(&self, domain: &str) -> (PathBuf, PathBuf) {
        self.issue_into(self.dir().path(), domain, &[domain])
    }

    /// A certificate for `names` written as `STEM.crt` and `STEM.key` into
    /// `dir`; the key is readable by everyone, for a server that runs as
    /// another user.
    ///
    /// # Panics
    ///
    /// When the files cannot be written.
    pub fn issue_into(&self, dir: &Path, stem: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        let (cert, key) = self.sign(names);
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        fs::write(&cert_path, cert.pem()).expect("writing a certificate");
        fs::write(&key_path, key.serialize_pem()).expect("writing a key");
        let _ = fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644));
        (cert_path, key_path)
    }

    /// The CA certificate as PEM text.
    pub fn pem(&self) -> &str {
        &self.pem
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// A self-signed certificate for one domain (and its subdomains), trusted
/// by itself.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate chain (one certificate).
    pub chain: Vec<CertificateDer<'static>>,
    /// Its private key.
    pub key: PrivateKeyDer<'static>,
    /// The certificate as the only trust anchor.
    pub roots: Arc<RootCertStore>,
    domain: String,
}

impl SelfSigned {
    /// A certificate for `domain` and `*.domain`.
    ///
    /// # Panics
    ///
    /// When `domain` is not a DNS name.
    pub fn new(domain: &str) -> SelfSigned {
        let names = vec![domain.to_owned(), format!("*.{domain}")];
        let made = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
        let chain = vec![made.cert.der().clone()];
        let mut roots = RootCertStore::empty();
        roots
            .add(chain[0].clone())
            .expect("the certificate as a root");
        SelfSigned {
            chain,
            key: PrivateKeyDer::try_from(made.signing_key.serialize_der()).expect("a PKCS#8 key"),
            roots: Arc::new(roots),
            domain: domain.to_owned(),
        }
    }

    /// A server configuration presenting this certificate for its domain.
    ///
    /// # Panics
    ///
    /// When the configuration cannot be built.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = certified_key(self.chain.clone(), self.key.clone_key()).expect("a certified key");
        ServerTlsBuilder::new()
            .domain(&self.domain, key)
            .build()
            .expect("a TLS server configuration")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_auth::tls::verify_peer;

    #[test]
    fn leaves_verify_for_their_names_only() {
        let ca = TestCa::new();
        let (chain, _) = ca.leaf_for(&["a.example", "b.example"]);
        let roots = ca.roots();
        assert!(verify_peer(&chain, &roots, "a.example").is_ok());
        assert!(verify_peer(&chain, &roots, "b.example").is_ok());
        assert!(verify_peer(&chain, &roots, "c.example").is_err());
        assert!(verify_peer(&chain, &TestCa::new().roots(), "a.example").is_err());
    }

    #[test]
    fn files_are_written_on_demand() {
        let ca = TestCa::new();
        let ca_file = ca.ca_file();
        assert_eq!(fs::read_to_string(&ca_file).unwrap(), ca.pem());
        let (cert, key) = ca.issue("x.example");
        assert!(
            fs::read_to_string(cert)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        assert!(fs::read_to_string(key).unwrap().contains("PRIVATE KEY"));
        let dir = ca_file.parent().unwrap().to_owned();
        drop(ca);
        assert_eq!(dir.exists(), crate::dirs::keep());
    }
}
