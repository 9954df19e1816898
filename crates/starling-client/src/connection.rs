//! Opening a connection: TCP, TLS (direct or STARTTLS) and the stream
//! negotiation, run by the driver of `starling-net`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ClientEvent, ClientNegotiator, ClientSettings};
use starling_auth::sasl::{ClientConfig as SaslConfig, Mechanism};
use starling_auth::tls::{self, ClientTlsBuilder, Trust};
use starling_jid::{FullJid, Jid};
use starling_net::{Driver, Transport, UpgradeError, Wake};
use starling_stanza::{SmFailed, SmResume, SmResumed};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::discovery::{self, Target};
use crate::error::Error;

/// How a client connects; built by [`ClientBuilder`](crate::ClientBuilder).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) jid: Jid,
    pub(crate) password: String,
    pub(crate) server: Option<String>,
    pub(crate) direct_tls: bool,
    pub(crate) trust: Trust,
    pub(crate) require_tls: bool,
    pub(crate) timeout: Duration,
    pub(crate) mechanisms: Option<Vec<Mechanism>>,
    pub(crate) name_servers: Option<Vec<SocketAddr>>,
}

/// A connected, authenticated and bound session.
pub(crate) struct Session {
    pub(crate) driver: Driver<ClientNegotiator>,
    pub(crate) jid: FullJid,
    /// The XEP-0198 stream was resumed (instead of a new binding).
    pub(crate) resumed: Option<SmResumed>,
    /// A resumption was asked for and refused; `jid` is a new binding.
    pub(crate) resume_failed: Option<SmFailed>,
}

/// Splits `host:port`, `[v6]:port`, `host` or a bare IPv6 literal.
pub(crate) fn parse_server(s: &str, default_port: u16) -> (String, u16) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            let port = p
                .strip_prefix(':')
                .and_then(|p| p.parse().ok())
                .unwrap_or(default_port);
            return (h.to_owned(), port);
        }
    }
    if let Some((h, p)) = s.split_once(':') {
        if !p.contains(':') {
            if let Ok(port) = p.parse() {
                return (h.to_owned(), port);
            }
        }
    }
    (s.to_owned(), default_port)
}

fn target_for(config: &Config) -> Option<Target> {
    let server = config.server.as_ref()?;
    let (host, port) = parse_server(server, if config.direct_tls { 5223 } else { 5222 });
    Some(Target {
        host,
        port,
        direct_tls: config.direct_tls,
    })
}

/// Connects to the first target that works and negotiates a session.
/// With `resume`, the stream to resume instead of binding (and
/// `config.jid` is the full JID it was bound to).
pub(crate) async fn establish(config: &Config, resume: Option<SmResume>) -> Result<Session, Error> {
    let resolver = discovery::resolver(config.name_servers.as_deref())?;
    let targets = match target_for(config) {
        Some(t) => vec![t],
        None => discovery::discover(&resolver, config.jid.domain()).await?,
    };
    let mut last = None;
    for target in &targets {
        let addrs = match discovery::addresses(&resolver, target).await {
            Ok(a) => a,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        for addr in addrs {
            let tcp = match tokio::time::timeout(config.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    last = Some(Error::Connect(e));
                    continue;
                }
                Err(_) => {
                    last = Some(Error::Connect(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connect timed out",
                    )));
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            match negotiate(tcp, target.direct_tls, config, resume.clone()).await {
                Ok(s) => return Ok(s),
                // The server answered for the account: another target
                // would answer the same.
                Err(e @ (Error::Auth(_) | Error::BindConflict(_))) => return Err(e),
                Err(e) => last = Some(e),
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::Connect(io::Error::new(io::ErrorKind::NotFound, "no address to try"))
    }))
}

fn upgrade_error(e: UpgradeError) -> Error {
    match e {
        UpgradeError::Io(e) => Error::Io(e),
        UpgradeError::Timeout => Error::Timeout,
        UpgradeError::Handshake(e) => Error::Tls(e.to_string()),
        other => Error::Tls(other.to_string()),
    }
}

async fn negotiate(
    tcp: TcpStream,
    direct_tls: bool,
    config: &Config,
    resume: Option<SmResume>,
) -> Result<Session, Error> {
    let started = Instant::now();
    let mut tls_builder = ClientTlsBuilder::new(config.trust.clone());
    if direct_tls {
        tls_builder = tls_builder.alpn(tls::ALPN_XMPP_CLIENT);
    }
    let tls_config = tls_builder.build().map_err(|e| Error::Tls(e.to_string()))?;
    let connector = TlsConnector::from(Arc::clone(&tls_config));
    let server_name =
        tls::server_name(config.jid.domain()).map_err(|e| Error::Tls(e.to_string()))?;

    let mut settings = ClientSettings::new(config.jid.clone());
    settings.require_tls = config.require_tls;
    settings.timeout = config.timeout;
    settings.resume = resume;
    let mut sasl = SaslConfig::password(
        config.jid.node().unwrap_or_default(),
        config.password.clone(),
    );
    if let Some(m) = &config.mechanisms {
        sasl.mechanisms = m.clone();
    }

    let (transport, tls) = if direct_tls {
        let connect = Transport::connect(tcp, &connector, server_name.clone());
        let (transport, info) = tokio::time::timeout(config.timeout, connect)
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(|e| Error::Tls(e.to_string()))?;
        (transport, Some(info.exporter_binding()))
    } else {
        (Transport::new(tcp), None)
    };
    // The negotiation deadline counts from the connection, TLS included.
    let mut neg = ClientNegotiator::new(settings, sasl, tls, started);
    neg.start();
    let mut driver = Driver::new(transport, neg);
    let mut resume_failed = None;
    loop {
        while let Some(ev) = driver.machine_mut().next_event() {
            match ev {
                ClientEvent::StartTls => {
                    let info = driver
                        .connect_tls(&connector, server_name.clone())
                        .await
                        .map_err(upgrade_error)?;
                    driver
                        .machine_mut()
                        .tls_established(info.exporter_binding());
                }
                ClientEvent::Authenticated => {}
                ClientEvent::ResumeFailed(f) => resume_failed = Some(f),
                ClientEvent::Resumed(r) => {
                    driver.flush().await.map_err(Error::Io)?;
                    let jid = FullJid::try_from(config.jid.clone())
                        .map_err(|_| Error::Invalid("resumed without a full JID".to_owned()))?;
                    return Ok(Session {
                        driver,
                        jid,
                        resumed: Some(r),
                        resume_failed: None,
                    });
                }
                ClientEvent::Bound(jid) => {
                    driver.flush().await.map_err(Error::Io)?;
                    return Ok(Session {
                        driver,
                        jid,
                        resumed: None,
                        resume_failed,
                    });
                }
                ClientEvent::Failed(e) => {
                    let _ = driver.flush().await;
                    return Err(e.into());
                }
                ClientEvent::Stanza(_) | ClientEvent::Closed { .. } => {}
            }
        }
        driver.flush().await.map_err(Error::Io)?;
        // Input, end of file and the deadline all come back as events.
        if let Wake::Eof(Some(e)) = driver.wait(std::future::pending::<()>()).await {
            return Err(Error::Io(e));
        }
    }
}
