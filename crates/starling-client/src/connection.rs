//! Opening a connection: TCP, TLS (direct or STARTTLS) and the stream
//! negotiation, driven over tokio.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ClientEvent, ClientNegotiator, ClientSettings};
use starling_auth::sasl::{ChannelBinding, ClientConfig as SaslConfig, Mechanism};
use starling_auth::tls::{self, ClientTlsBuilder, Trust};
use starling_jid::{FullJid, Jid};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

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

/// The connection: plain TCP before STARTTLS, TLS after.
#[derive(Debug)]
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Transiently, during the TLS upgrade.
    Upgrading,
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Upgrading => Poll::Ready(Err(io::Error::other("connection is being upgraded"))),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, data),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
            Conn::Upgrading => Poll::Ready(Err(io::Error::other("connection is being upgraded"))),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Upgrading => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

fn channel_binding(tls: &TlsStream<TcpStream>) -> Option<ChannelBinding> {
    tls::tls_exporter(tls.get_ref().1).map(ChannelBinding::tls_exporter)
}

/// Writes what the negotiator has to send.
pub(crate) async fn flush(conn: &mut Conn, neg: &mut ClientNegotiator) -> Result<(), Error> {
    let out = neg.take_output();
    if !out.is_empty() {
        conn.write_all(&out).await.map_err(Error::Io)?;
        conn.flush().await.map_err(Error::Io)?;
    }
    Ok(())
}

/// A connected, authenticated and bound session.
pub(crate) struct Session {
    pub(crate) conn: Conn,
    pub(crate) neg: ClientNegotiator,
    pub(crate) jid: FullJid,
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
pub(crate) async fn establish(config: &Config) -> Result<Session, Error> {
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
            match negotiate(tcp, target.direct_tls, config).await {
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

async fn negotiate(tcp: TcpStream, direct_tls: bool, config: &Config) -> Result<Session, Error> {
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
    let mut sasl = SaslConfig::password(
        config.jid.node().unwrap_or_default(),
        config.password.clone(),
    );
    if let Some(m) = &config.mechanisms {
        sasl.mechanisms = m.clone();
    }
    let deadline = tokio::time::Instant::now() + config.timeout;

    let (mut conn, mut neg) = if direct_tls {
        let tls = tokio::time::timeout_at(deadline, connector.connect(server_name.clone(), tcp))
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(|e| Error::Tls(e.to_string()))?;
        let cb = channel_binding(&tls);
        (
            Conn::Tls(Box::new(tls)),
            ClientNegotiator::new(settings, sasl, Some(cb), Instant::now()),
        )
    } else {
        (
            Conn::Plain(tcp),
            ClientNegotiator::new(settings, sasl, None, Instant::now()),
        )
    };
    neg.start();
    let mut buf = vec![0u8; 8192];
    loop {
        flush(&mut conn, &mut neg).await?;
        while let Some(ev) = neg.next_event() {
            match ev {
                ClientEvent::StartTls => {
                    flush(&mut conn, &mut neg).await?;
                    let Conn::Plain(tcp) = std::mem::replace(&mut conn, Conn::Upgrading) else {
                        return Err(Error::Tls(
                            "STARTTLS on a connection that is not plain".into(),
                        ));
                    };
                    let tls = tokio::time::timeout_at(
                        deadline,
                        connector.connect(server_name.clone(), tcp),
                    )
                    .await
                    .map_err(|_| Error::Timeout)?
                    .map_err(|e| Error::Tls(e.to_string()))?;
                    let cb = channel_binding(&tls);
                    conn = Conn::Tls(Box::new(tls));
                    neg.tls_established(cb);
                }
                ClientEvent::Authenticated => {}
                ClientEvent::Bound(jid) => {
                    flush(&mut conn, &mut neg).await?;
                    return Ok(Session { conn, neg, jid });
                }
                ClientEvent::Failed(e) => {
                    let _ = flush(&mut conn, &mut neg).await;
                    return Err(e.into());
                }
                ClientEvent::Stanza(_) | ClientEvent::Closed { .. } => {}
            }
        }
        flush(&mut conn, &mut neg).await?;
        let n = match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(Error::Io(e)),
            Err(_) => return Err(Error::Timeout),
        };
        if n == 0 {
            neg.eof();
        } else {
            neg.feed(&buf[..n]);
        }
    }
}
