//! Connecting to a remote server: the host map or SRV records, the
//! address policy (no IP-literal domains or non-public addresses unless
//! allowed), TCP, TLS (direct, or after `<proceed/>`), and what the peer's
//! certificate is valid for.

use std::net::SocketAddr;

use rustls::pki_types::CertificateDer;
use starling_auth::negotiate::{PeerTls, S2sOutbound};
use starling_auth::tls;
use starling_jid::DomainPart;
use starling_net::discovery::{self, Service, Target};
use starling_net::{Driver, Transport};
use starling_stanza::StanzaErrorCondition as Cond;
use tokio::net::TcpStream;
use tracing::debug;

use super::{Failure, S2s};

/// The driver of an outgoing (or verify-only) stream.
pub(super) type OutDriver = Driver<S2sOutbound>;

impl S2s {
    /// Where `remote`'s server is: the host map (trusted: `true`), else
    /// SRV records (their addresses still to be checked: `false`).
    async fn targets(&self, remote: &DomainPart) -> Result<(Vec<Target>, bool), Failure> {
        if let Some((_, addr)) = self.config.host_map.iter().find(|(d, _)| d == remote) {
            let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "5269"));
            let target = Target {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port: port.parse().unwrap_or(5269),
                direct_tls: false,
            };
            return Ok((vec![target], true));
        }
        if !self.addresses.domain_allowed(remote.as_str()) {
            return Err(Failure::new(
                Cond::RemoteServerNotFound,
                format!("{remote} is an IP address (allow_private_addresses is off)"),
            ));
        }
        discovery::discover_service(&self.resolver, remote.as_str(), Service::Server)
            .await
            .map(|t| (t, false))
            .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))
    }

    /// Whether `a` may be connected to (addresses from the host map
    /// always may).
    fn allowed(&self, a: SocketAddr, trusted: bool, remote: &DomainPart) -> Result<(), Failure> {
        if trusted {
            return Ok(());
        }
        self.addresses.address_allowed(a.ip()).map_err(|class| {
            debug!(%remote, address = %a, class = class.name(), "s2s address refused");
            Failure::new(
                Cond::RemoteServerNotFound,
                format!(
                    "{remote} resolves to {a}, a {} address (allow_private_addresses is off)",
                    class.name()
                ),
            )
        })
    }

    /// Connects to `remote`'s server: TCP, and TLS at once for direct TLS
    /// targets.
    pub(super) async fn connect(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(Transport, Option<PeerTls>), Failure> {
        let mut last = Failure::new(
            Cond::RemoteServerNotFound,
            format!("no address found for {remote}"),
        );
        let (targets, trusted) = self.targets(remote).await?;
        for t in targets {
            let addrs: Vec<SocketAddr> = match discovery::addresses(&self.resolver, &t).await {
                Ok(a) => a,
                Err(e) => {
                    last = Failure::new(Cond::RemoteServerNotFound, e.to_string());
                    continue;
                }
            };
            for a in addrs {
                if let Err(f) = self.allowed(a, trusted, remote) {
                    last = f;
                    continue;
                }
                match self.connect_to(a, &t, local, remote).await {
                    Ok(c) => return Ok(c),
                    Err(f) => last = f,
                }
            }
        }
        Err(last)
    }

    async fn connect_to(
        &self,
        a: SocketAddr,
        t: &Target,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(Transport, Option<PeerTls>), Failure> {
        let tcp =
            match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(a)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => {
                    return Err(Failure::new(
                        Cond::RemoteServerNotFound,
                        format!("{a}: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(Failure::new(
                        Cond::RemoteServerTimeout,
                        format!("{a}: connection timed out"),
                    ));
                }
            };
        let _ = tcp.set_nodelay(true);
        if !t.direct_tls {
            return Ok((Transport::new(tcp), None));
        }
        let (connector, name) = self.tls_client(local, remote, true)?;
        let connect = Transport::connect(tcp, &connector, name);
        let (transport, info) =
            match tokio::time::timeout(self.config.connect_timeout, connect).await {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => {
                    return Err(Failure::new(
                        Cond::RemoteServerNotFound,
                        format!("TLS: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(Failure::new(
                        Cond::RemoteServerTimeout,
                        "TLS handshake timed out",
                    ));
                }
            };
        let peer = self.verified_peer(&info.peer_certificates, remote)?;
        Ok((transport, Some(peer)))
    }

    /// The TLS connector of our domain `local` (with its certificate, ALPN
    /// for direct TLS) and the name to ask `remote` for.
    fn tls_client(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
        direct: bool,
    ) -> Result<
        (
            tokio_rustls::TlsConnector,
            rustls::pki_types::ServerName<'static>,
        ),
        Failure,
    > {
        let configs = if direct {
            &self.client_direct
        } else {
            &self.client_starttls
        };
        let Some(cfg) = configs.get(local) else {
            return Err(Failure::new(
                Cond::InternalServerError,
                format!("no certificate for {local}"),
            ));
        };
        let name = tls::server_name(remote.as_str())
            .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?;
        Ok((tokio_rustls::TlsConnector::from(cfg.clone()), name))
    }

    /// What `remote`'s certificate chain proves. A chain that does not
    /// verify leaves only dialback, which may be off.
    fn verified_peer(
        &self,
        chain: &[CertificateDer<'static>],
        remote: &DomainPart,
    ) -> Result<PeerTls, Failure> {
        let verified = tls::verify_peer(chain, &self.roots, remote.as_str()).is_ok();
        if !verified && !self.config.dialback {
            return Err(Failure::new(
                Cond::RemoteServerNotFound,
                format!("the certificate of {remote} does not verify and dialback is off"),
            ));
        }
        Ok(if verified {
            PeerTls::new(vec![remote.clone()])
        } else {
            PeerTls::default()
        })
    }

    /// The TLS upgrade after `<proceed/>` on an outgoing stream.
    pub(super) async fn starttls(
        &self,
        driver: &mut OutDriver,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(), Failure> {
        let (connector, name) = self.tls_client(local, remote, false)?;
        let info = driver
            .connect_tls(&connector, name)
            .await
            .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?;
        let peer = self.verified_peer(&info.peer_certificates, remote)?;
        driver.machine_mut().tls_established(peer);
        Ok(())
    }
}
