//! A raw client connection: TCP, TLS and bytes of our choosing, with the
//! server's answers read by a stream framer. For the tests that must break
//! the protocol (forged addresses, bad XML, stanzas out of order) and for
//! those that need a session whose every byte they see.
//!
//! [`Io`] (the stack's plain-or-TLS `Transport`) is also the transport
//! of hand-made server-to-server streams.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ClientEvent, ClientNegotiator, ClientSettings, NegotiationError};
use starling_auth::sasl::ClientConfig as SaslConfig;
use starling_auth::tls::{self, ClientTlsBuilder, Trust};
use starling_jid::{FullJid, Jid};
use starling_stream::{ContentNamespace, Event, Features, Framer, FramerConfig, StreamError};
use starling_xml::{Element, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use crate::wait::WAIT;

/// The TLS namespace.
pub const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// The SASL namespace.
pub const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

/// A client stream header for `domain`.
pub fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' \
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
}

/// The connection of a [`Raw`]: the stack's own plain-or-TLS
/// [`Transport`](starling_net::Transport).
pub type Io = starling_net::Transport;

/// What the server sent.
#[derive(Debug, Clone)]
pub enum Got {
    /// Its stream header.
    Header,
    /// `<stream:features/>`.
    Features(Features),
    /// A top-level element.
    Element(Element),
    /// `<stream:error/>`.
    StreamError(StreamError),
    /// `</stream:stream>`.
    Closed,
    /// The connection was closed (or reset).
    Eof,
    /// Output that did not parse.
    Bad(String),
    /// Nothing within the time given.
    Timeout,
}

/// How a stream ended (see [`Raw::ending`]).
#[derive(Debug, Default)]
pub struct Ending {
    /// The server's stream error.
    pub error: Option<StreamError>,
    /// The server sent `</stream:stream>`.
    pub closed_tag: bool,
    /// The connection was closed.
    pub eof: bool,
    /// Elements that came before the end.
    pub elements: Vec<Element>,
}

impl Ending {
    /// The stream error's condition name, or "none".
    pub fn condition(&self) -> String {
        self.error
            .as_ref()
            .map_or_else(|| "none".to_owned(), |e| e.condition.name().to_owned())
    }
}

/// A raw connection.
pub struct Raw {
    io: Io,
    framer: Framer,
    eof: bool,
    failed: bool,
    pending: VecDeque<Got>,
    domain: String,
    ca: PathBuf,
    /// The bound JID, after [`Raw::login`].
    pub jid: Option<FullJid>,
}

fn client_framer() -> Framer {
    Framer::new(FramerConfig {
        expected: Some(ContentNamespace::Client),
        limits: Limits {
            max_element_bytes: 16 * 1024 * 1024,
            ..Limits::default()
        },
    })
}

/// A fresh number for ids and markers (unique in the process).
pub fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Base64 (RFC 4648) for SASL PLAIN.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Raw {
    /// A TCP connection to `port` on loopback (nothing sent yet).
    pub async fn tcp(port: u16, domain: &str, ca: &Path) -> Raw {
        let tcp = tokio::time::timeout(WAIT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("connect timed out")
            .expect("connect");
        Raw::adopt(tcp, domain, ca)
    }

    /// A TCP connection to `port` on 127.0.0.1 from the loopback address
    /// `source` (such as 127.0.0.2: another client address for the
    /// server's per-address limits), nothing sent yet.
    ///
    /// # Panics
    ///
    /// When `source` is not a loopback address or the connection fails.
    pub async fn tcp_from(source: IpAddr, port: u16, domain: &str, ca: &Path) -> Raw {
        assert!(source.is_loopback(), "{source} is not a loopback address");
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind(SocketAddr::new(source, 0))
            .expect("binding the source address");
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let tcp = tokio::time::timeout(WAIT, socket.connect(to))
            .await
            .expect("connect timed out")
            .expect("connect");
        Raw::adopt(tcp, domain, ca)
    }

    /// [`Raw::secure`] from the loopback address `source`.
    pub async fn secure_from(
        source: IpAddr,
        port: u16,
        domain: &str,
        ca: &Path,
    ) -> (Raw, Features) {
        let mut r = Raw::tcp_from(source, port, domain, ca).await;
        r.open().await;
        r.starttls().await;
        let f = r.open().await;
        (r, f)
    }

    fn adopt(tcp: TcpStream, domain: &str, ca: &Path) -> Raw {
        let _ = tcp.set_nodelay(true);
        Raw {
            io: Io::new(tcp),
            framer: client_framer(),
            eof: false,
            failed: false,
            pending: VecDeque::new(),
            domain: domain.to_owned(),
            ca: ca.to_owned(),
            jid: None,
        }
    }

    /// A direct TLS (XEP-0368) connection (handshake done, nothing
    /// sent yet).
    pub async fn direct_tls(port: u16, domain: &str, ca: &Path) -> Raw {
        let mut r = Raw::tcp(port, domain, ca).await;
        r.handshake(true).await;
        r
    }

    /// A direct TLS connection, or why the handshake failed.
    pub async fn try_direct_tls(port: u16, domain: &str, ca: &Path) -> Result<Raw, String> {
        let mut r = Raw::tcp(port, domain, ca).await;
        let connector = r.connector(true);
        let name = tls::server_name(domain).map_err(|e| e.to_string())?;
        match tokio::time::timeout(WAIT, r.io.connect_tls(&connector, name)).await {
            Err(_) => Err("the TLS handshake timed out".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(_)) => Ok(r),
        }
    }

    fn connector(&self, alpn: bool) -> TlsConnector {
        let mut b = ClientTlsBuilder::new(Trust::CaFile(self.ca.clone()));
        if alpn {
            b = b.alpn(tls::ALPN_XMPP_CLIENT);
        }
        TlsConnector::from(b.build().expect("TLS client config"))
    }

    async fn handshake(&mut self, alpn: bool) {
        let connector = self.connector(alpn);
        let name = tls::server_name(&self.domain).expect("server name");
        tokio::time::timeout(WAIT, self.io.connect_tls(&connector, name))
            .await
            .expect("TLS handshake timed out")
            .expect("TLS handshake");
        self.framer = client_framer();
        self.failed = false;
    }

    /// Writes bytes.
    pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let fut = async {
            self.io.write_all(data).await?;
            self.io.flush().await
        };
        match tokio::time::timeout(WAIT, fut).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
        }
    }

    /// Writes a string.
    pub async fn send_str(&mut self, s: &str) -> io::Result<()> {
        self.send(s.as_bytes()).await
    }

    /// The next thing the server sends, waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = vec![0u8; 16384];
        loop {
            if let Some(g) = self.pending.pop_front() {
                return g;
            }
            match self.framer.next_event() {
                Ok(Some(Event::Keepalive)) => continue,
                Ok(Some(Event::Header(_))) => return Got::Header,
                Ok(Some(Event::Features(f))) => return Got::Features(f),
                Ok(Some(Event::Element(e))) => return Got::Element(e),
                Ok(Some(Event::Error(e))) => return Got::StreamError(e),
                Ok(Some(Event::Closed)) => return Got::Closed,
                Ok(None) => {}
                Err(e) => {
                    if !self.failed {
                        self.failed = true;
                        return Got::Bad(format!("{e:?}"));
                    }
                    // Unparseable output: the rest is read and dropped
                    // until the connection closes.
                    if self.eof {
                        return Got::Eof;
                    }
                    match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
                        Err(_) => return Got::Timeout,
                        Ok(Ok(0) | Err(_)) => self.eof = true,
                        Ok(Ok(_)) => {}
                    }
                    continue;
                }
            }
            if self.eof {
                return Got::Eof;
            }
            match tokio::time::timeout_at(deadline, self.io.read(&mut buf)).await {
                Err(_) => return Got::Timeout,
                Ok(Ok(0) | Err(_)) => {
                    self.eof = true;
                    self.framer.finish();
                }
                Ok(Ok(n)) => self.framer.feed(&buf[..n]),
            }
        }
    }

    /// Sends the stream header and reads the server's header and
    /// features.
    pub async fn open(&mut self) -> Features {
        let h = header(&self.domain);
        self.send_str(&h).await.expect("sending the stream header");
        match self.next(WAIT).await {
            Got::Header => {}
            other => panic!("expected the server's stream header, got {other:?}"),
        }
        match self.next(WAIT).await {
            Got::Features(f) => f,
            other => panic!("expected stream features, got {other:?}"),
        }
    }

    /// `<starttls/>`, `<proceed/>`, the handshake.
    pub async fn starttls(&mut self) {
        self.send_str(&format!("<starttls xmlns='{NS_TLS}'/>"))
            .await
            .expect("sending starttls");
        match self.next(WAIT).await {
            Got::Element(e) if e.is("proceed", NS_TLS) => {}
            other => panic!("expected <proceed/>, got {other:?}"),
        }
        self.handshake(false).await;
    }

    /// TCP, stream, STARTTLS, stream again: ready for SASL. Returns the
    /// features offered after TLS.
    pub async fn secure(port: u16, domain: &str, ca: &Path) -> (Raw, Features) {
        let mut r = Raw::tcp(port, domain, ca).await;
        r.open().await;
        r.starttls().await;
        let f = r.open().await;
        (r, f)
    }

    /// One SASL PLAIN attempt: the server's answer (`<success/>`,
    /// `<failure/>`) or whatever else came.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Got {
        let creds = base64(format!("\0{user}\0{password}").as_bytes());
        // A failed write (the server has closed) shows in what is read.
        let _ = self
            .send_str(&format!(
                "<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{creds}</auth>"
            ))
            .await;
        let got = self.next(WAIT).await;
        if matches!(&got, Got::Element(e) if e.is("success", NS_SASL)) {
            self.framer.restart();
        }
        got
    }

    /// Logs in over STARTTLS with the client negotiator of `starling-auth`
    /// (the strongest SASL mechanism) and binds `resource` (or a
    /// server-generated one); afterwards every byte is ours.
    ///
    /// # Panics
    ///
    /// When the login fails or does not end within [`WAIT`].
    pub async fn login(
        port: u16,
        ca: &Path,
        account: &str,
        password: &str,
        resource: Option<&str>,
    ) -> Raw {
        let mut j: Jid = account.parse().expect("a JID");
        if let Some(r) = resource {
            j = Jid::from(j.bare().with_resource_str(r).expect("a resource"));
        }
        let domain = j.domain().to_owned();
        let mut r = Raw::tcp(port, &domain, ca).await;
        let mut settings = ClientSettings::new(j.clone());
        settings.timeout = WAIT;
        let sasl = SaslConfig::password(j.node().unwrap_or_default(), password);
        let mut neg = ClientNegotiator::new(settings, sasl, None, Instant::now());
        neg.start();
        let bound = r.negotiate(&mut neg, account).await;
        r.flush_negotiator(&mut neg).await;
        // Whatever the negotiator already read after binding.
        while let Some(ev) = neg.next_event() {
            r.pending.push_back(match ev {
                ClientEvent::Stanza(e) => Got::Element(e),
                ClientEvent::Closed { error: Some(e) }
                | ClientEvent::Failed(NegotiationError::StreamError(e)) => Got::StreamError(e),
                _ => Got::Closed,
            });
        }
        r.adopt_stream(&domain);
        r.jid = Some(bound);
        r
    }

    /// Writes what the negotiator has to send.
    async fn flush_negotiator(&mut self, neg: &mut ClientNegotiator) {
        let out = neg.take_output();
        if !out.is_empty() {
            self.send(&out).await.expect("writing");
        }
    }

    /// Drives `neg` over this connection until it has bound a resource;
    /// stanzas and stream ends that come meanwhile are kept for
    /// [`Raw::next`].
    async fn negotiate(&mut self, neg: &mut ClientNegotiator, account: &str) -> FullJid {
        let mut buf = vec![0u8; 16384];
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            self.flush_negotiator(neg).await;
            while let Some(ev) = neg.next_event() {
                match ev {
                    ClientEvent::StartTls => {
                        self.flush_negotiator(neg).await;
                        self.handshake(false).await;
                        let cb = self.io.tls_info().and_then(|i| i.exporter_binding());
                        neg.tls_established(cb);
                    }
                    ClientEvent::Bound(full) => return full,
                    ClientEvent::Failed(e) => panic!("raw login of {account} failed: {e}"),
                    ClientEvent::Authenticated => {}
                    other => self.pending.push_back(match other {
                        ClientEvent::Stanza(e) => Got::Element(e),
                        ClientEvent::Closed { error: Some(e) } => Got::StreamError(e),
                        _ => Got::Closed,
                    }),
                }
            }
            self.flush_negotiator(neg).await;
            let n = tokio::time::timeout_at(deadline, self.io.read(&mut buf))
                .await
                .expect("raw login timed out")
                .unwrap_or(0);
            if n == 0 {
                neg.eof();
            } else {
                neg.feed(&buf[..n]);
            }
        }
    }

    /// From here on our own framer reads the server's stream: it starts
    /// inside the stream the server opened.
    fn adopt_stream(&mut self, domain: &str) {
        self.framer = client_framer();
        self.framer.feed(
            format!(
                "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
                 version='1.0' from='{domain}' id='raw'>"
            )
            .as_bytes(),
        );
        match self.framer.next_event() {
            Ok(Some(Event::Header(_))) => {}
            other => panic!("the synthetic header did not parse: {other:?}"),
        }
    }

    /// The bound JID.
    pub fn full_jid(&self) -> FullJid {
        self.jid.clone().expect("logged in")
    }

    /// Waits for the next top-level element (skipping nothing else):
    /// panics on anything else.
    pub async fn element(&mut self) -> Element {
        match self.next(WAIT).await {
            Got::Element(e) => e,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// Reads until the connection closes (at most `within`): the stream
    /// error, whether `</stream:stream>` came, whether the connection
    /// closed, and the elements before. Answers the server's
    /// `</stream:stream>` with ours, as a client would.
    pub async fn ending(&mut self, within: Duration) -> Ending {
        let deadline = tokio::time::Instant::now() + within;
        let mut end = Ending::default();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Got::Header | Got::Features(_) => {}
                Got::Element(e) => end.elements.push(e),
                Got::StreamError(e) => {
                    if end.error.is_none() {
                        end.error = Some(e);
                    }
                }
                Got::Closed => {
                    end.closed_tag = true;
                    let _ = self.send_str("</stream:stream>").await;
                }
                Got::Eof => {
                    end.eof = true;
                    return end;
                }
                Got::Bad(_) => {}
                Got::Timeout => return end,
            }
        }
    }

    /// Closes the TCP connection with a reset, without closing the
    /// stream or TLS: an abrupt loss.
    pub fn abort(self) {
        if let Some(tcp) = self.io.socket() {
            let _ = tcp.set_zero_linger();
        }
        drop(self);
    }
}
