//! Connecting to a remote server: the host map or SRV records, TCP, and
//! TLS (direct, or after `<proceed/>`).

use std::net::SocketAddr;

use rustls::pki_types::CertificateDer;
use starling_auth::negotiate::{PeerTls, S2sOutbound};
use starling_auth::tls;
use starling_net::discovery::{self, Service, Target};
use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition as Cond;
use tokio::net::TcpStream;

use super::{Failure, S2s};
use crate::net::Io;

impl S2s {
    /// Connects to `remote`'s server: TCP, and TLS at once for direct TLS
    /// targets.
    pub(super) async fn connect(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(Io, Option<PeerTls>), Failure> {
        let targets = match self.config.host_map.iter().find(|(d, _)| d == remote) {
            Some((_, addr)) => {
                let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "5269"));
                vec![Target {
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    port: port.parse().unwrap_or(5269),
                    direct_tls: false,
                }]
            }
            None => discovery::discover_service(&self.resolver, remote.as_str(), Service::Server)
                .await
                .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?,
        };
        let mut last = Failure::new(
            Cond::RemoteServerNotFound,
            format!("no address found for {remote}"),
        );
        for t in targets {
            let addrs: Vec<SocketAddr> = match discovery::addresses(&self.resolver, &t).await {
                Ok(a) => a,
                Err(e) => {
                    last = Failure::new(Cond::RemoteServerNotFound, e.to_string());
                    continue;
                }
            };
            for a in addrs {
                match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(a)).await
                {
                    Ok(Ok(tcp)) => {
                        let _ = tcp.set_nodelay(true);
                        if !t.direct_tls {
                            return Ok((Io::Plain(tcp), None));
                        }
                        match self.tls_connect(tcp, local, remote, true).await {
                            Ok((io, peer)) => return Ok((io, Some(peer))),
                            Err(f) => last = f,
                        }
                    }
                    Ok(Err(e)) => {
                        last = Failure::new(Cond::RemoteServerNotFound, format!("{a}: {e}"))
                    }
                    Err(_) => {
                        last = Failure::new(
                            Cond::RemoteServerTimeout,
                            format!("{a}: connection timed out"),
                        )
                    }
                }
            }
        }
        Err(last)
    }

    async fn tls_connect(
        &self,
        tcp: TcpStream,
        local: &DomainPart,
        remote: &DomainPart,
        direct: bool,
    ) -> Result<(Io, PeerTls), Failure> {
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
        let connector = tokio_rustls::TlsConnector::from(cfg.clone());
        let s =
            match tokio::time::timeout(self.config.connect_timeout, connector.connect(name, tcp))
                .await
            {
                Ok(Ok(s)) => s,
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
        let chain: Vec<CertificateDer<'static>> = s
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let verified = tls::verify_peer(&chain, &self.roots, remote.as_str()).is_ok();
        if !verified && !self.config.dialback {
            return Err(Failure::new(
                Cond::RemoteServerNotFound,
                format!("the certificate of {remote} does not verify and dialback is off"),
            ));
        }
        let peer = if verified {
            PeerTls::new(vec![remote.clone()])
        } else {
            PeerTls::default()
        };
        Ok((Io::ClientTls(Box::new(s)), peer))
    }

    /// The TLS upgrade after `<proceed/>` on an outgoing stream.
    pub(super) async fn starttls(
        &self,
        io: &mut Io,
        neg: &mut S2sOutbound,
        local: &DomainPart,
        remote: &DomainPart,
    ) -> Result<(), Failure> {
        let out = neg.take_output();
        io.write_all(&out)
            .await
            .map_err(|e| Failure::new(Cond::RemoteServerNotFound, e.to_string()))?;
        let Some(tcp) = io.take_plain() else {
            return Err(Failure::new(Cond::InternalServerError, "STARTTLS twice"));
        };
        let (tls_io, peer) = self.tls_connect(tcp, local, remote, false).await?;
        *io = tls_io;
        neg.tls_established(peer);
        Ok(())
    }
}
