//! Certificates and secrets of federation: the dialback secret, the trust
//! anchors, and which domains a peer's certificate is valid for.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use starling_auth::negotiate::PeerTls;
use starling_auth::tls;
use starling_jid::DomainPart;

use crate::config::Config;
use crate::server::StartError;

/// A dialback secret kept in the data directory (made on first use, in a
/// file created with mode 0600).
pub(super) fn dialback_secret(config: &Config) -> Result<Arc<[u8]>, StartError> {
    if let Some(s) = &config.s2s.dialback_secret {
        return Ok(Arc::from(s.as_bytes()));
    }
    let secret = crate::data_dir::load_or_create_secret(
        &config.data_dir.join("dialback.key"),
        |b| b.len() >= 16,
        || starling_auth::dialback::random_secret().map(|s| s.to_vec()),
    )?;
    Ok(Arc::from(secret))
}

pub(super) fn roots(ca_file: Option<&Path>) -> Result<Arc<RootCertStore>, StartError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(p) = ca_file {
        for c in tls::load_certs(p)? {
            roots
                .add(c)
                .map_err(|e| StartError::Tls(tls::TlsError::Rustls(e)))?;
        }
    }
    Ok(Arc::new(roots))
}

/// The domains a peer's certificate chain is valid for, among the names
/// it lists and `claimed`.
pub(super) fn peer_tls(
    chain: &[CertificateDer<'static>],
    roots: &Arc<RootCertStore>,
    claimed: Option<&DomainPart>,
) -> PeerTls {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(leaf) = chain.first() {
        if let Ok(ee) = webpki::EndEntityCert::try_from(leaf) {
            for n in ee.valid_dns_names() {
                if !n.starts_with('*') {
                    candidates.push(n.to_ascii_lowercase());
                }
            }
        }
    }
    if let Some(c) = claimed {
        candidates.push(c.as_str().to_owned());
    }
    candidates.sort();
    candidates.dedup();
    let mut verified = Vec::new();
    for c in candidates {
        if let Ok(d) = DomainPart::new(&c) {
            if tls::verify_peer(chain, roots, d.as_str()).is_ok() {
                verified.push(d);
            }
        }
    }
    PeerTls::new(verified)
}
