//! The TLS configurations and SASL settings every client connection
//! shares, and the certificates of the served domains (configured, or
//! generated on first start).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use starling_auth::sasl::{CredentialStore, ServerConfig as SaslConfig};
use starling_auth::tls::{self, ServerTlsBuilder};
use starling_jid::DomainPart;

use crate::config::Config;
use crate::data_dir;
use crate::server::StartError;

/// TLS configurations and what every connection shares.
pub(crate) struct TlsSetup {
    /// For STARTTLS.
    pub(crate) starttls: Arc<rustls::ServerConfig>,
    /// For direct TLS (ALPN `xmpp-client`).
    pub(crate) direct: Arc<rustls::ServerConfig>,
    /// Leaf certificate per domain (for `tls-server-end-point`).
    leaves: HashMap<String, CertificateDer<'static>>,
    default_leaf: Option<CertificateDer<'static>>,
    /// SASL policy.
    pub(crate) sasl: Arc<SaslConfig>,
    /// Credentials.
    pub(crate) store: Arc<dyn CredentialStore>,
}

impl TlsSetup {
    /// The DER leaf certificate presented for `sni`.
    pub(crate) fn leaf_for(&self, sni: Option<&str>) -> Option<&[u8]> {
        sni.and_then(|s| self.leaves.get(&s.to_ascii_lowercase()))
            .or(self.default_leaf.as_ref())
            .map(|c| c.as_ref())
    }
}

/// The certificate and key files of every host: configured, or generated
/// into `<data_dir>/certs` on first start.
pub fn certificate_files(
    config: &Config,
) -> Result<Vec<(DomainPart, PathBuf, PathBuf)>, StartError> {
    let dir = config.data_dir.join("certs");
    let mut out = Vec::new();
    for h in &config.hosts {
        let (c, k) = match (&h.certificate, &h.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                // The directory is made 0700 before anything is written in
                // it; the key is written 0600; the (public) certificate is
                // made 0600 like every file of the data directory.
                data_dir::ensure_private_dir(&dir)?;
                let (c, k) = tls::ensure_self_signed(h.domain.as_str(), &dir)?;
                data_dir::make_private(&c)?;
                (c, k)
            }
        };
        out.push((h.domain.clone(), c, k));
    }
    Ok(out)
}

/// A secret kept in the data directory across restarts (made on first
/// use, in a file created with mode 0600).
fn persistent_secret(dir: &Path) -> Result<[u8; 32], StartError> {
    let bytes = data_dir::load_or_create_secret(
        &dir.join("secret.key"),
        |b| b.len() == 32,
        || {
            let mut s = vec![0u8; 32];
            getrandom::fill(&mut s).map(|()| s)
        },
    )?;
    let mut s = [0u8; 32];
    s.copy_from_slice(&bytes);
    Ok(s)
}

/// A host's certificate: domain, chain, rustls key, key file.
pub(crate) type Identity = (
    DomainPart,
    Vec<CertificateDer<'static>>,
    Arc<rustls::sign::CertifiedKey>,
    PathBuf,
);

pub(crate) fn tls_setup(
    config: &Config,
    credentials: Arc<dyn CredentialStore>,
) -> Result<(TlsSetup, Vec<Identity>), StartError> {
    let mut starttls = ServerTlsBuilder::new();
    let mut direct = ServerTlsBuilder::new().alpn(tls::ALPN_XMPP_CLIENT);
    let mut leaves = HashMap::new();
    let mut default_leaf = None;
    let mut identities = Vec::new();
    for (domain, cert, key) in certificate_files(config)? {
        let chain = tls::load_certs(&cert)?;
        if let Some(leaf) = chain.first() {
            leaves.insert(domain.as_str().to_owned(), leaf.clone());
            if default_leaf.is_none() {
                default_leaf = Some(leaf.clone());
            }
        }
        let ck = tls::load_certified_key(&cert, &key)?;
        starttls = starttls.domain(domain.as_str(), ck.clone());
        direct = direct.domain(domain.as_str(), ck.clone());
        identities.push((domain, chain, ck, key));
    }
    let sasl = SaslConfig {
        scram_iterations: config.c2s.scram_iterations,
        max_attempts: config.limits.max_auth_failures,
        fake_salt_secret: persistent_secret(&config.data_dir)?,
        ..SaslConfig::default()
    };
    let setup = TlsSetup {
        starttls: starttls.build()?,
        direct: direct.build()?,
        leaves,
        default_leaf,
        sasl: Arc::new(sasl),
        store: credentials,
    };
    Ok((setup, identities))
}

/// Checks what `check-config` can check without starting: configured
/// certificate and key files load and match. Generated certificates are
/// not created here.
pub fn certificate_files_exist(config: &Config) -> Result<(), String> {
    for h in &config.hosts {
        if let (Some(c), Some(k)) = (&h.certificate, &h.key) {
            tls::load_certified_key(c, k).map_err(|e| format!("host {}: {e}", h.domain))?;
        }
    }
    Ok(())
}
