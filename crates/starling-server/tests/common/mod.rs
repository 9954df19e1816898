//! Starts the real `starling` binary for end-to-end tests: a temporary data
//! directory, a config file, free loopback ports, accounts created with
//! `starling user add`, and clients that trust the server's generated
//! certificate.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test target uses a different part of these helpers"
)]

#[path = "../../../starling-client/tests/support/mod.rs"]
pub mod support;

use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use starling_client::{Client, ClientBuilder};
use starling_jid::Jid;

/// The binary under test.
pub fn starling_bin() -> &'static str {
    env!("CARGO_BIN_EXE_starling")
}

/// A running `starling serve` in its own temporary data directory.
pub struct Server {
    /// The data directory (removed on drop).
    pub dir: PathBuf,
    /// The config file passed with `--config`.
    pub config: PathBuf,
    /// The STARTTLS c2s port on 127.0.0.1.
    pub c2s_port: u16,
    /// The direct TLS c2s port on 127.0.0.1.
    pub c2s_tls_port: u16,
    /// The first served domain.
    pub domain: String,
    child: Option<Child>,
    stderr: Option<JoinHandle<String>>,
}

/// Extra TOML appended to the generated config (for limits etc.).
#[derive(Default, Clone)]
pub struct Options {
    /// Served domains; default `["localhost"]`.
    pub domains: Vec<String>,
    /// TOML text appended to the config file (sections such as
    /// `[limits]`).
    pub extra_toml: String,
    /// TOML lines added inside the generated `[c2s]` table (which already
    /// sets `listen` and `listen_tls`), e.g. `resource_conflict = "refuse"`.
    pub c2s_toml: String,
}

fn temp_dir() -> PathBuf {
    let base = std::env::temp_dir();
    for n in 0..1000u32 {
        let dir = base.join(format!(
            "starling-e2e-{}-{}-{n}",
            std::process::id(),
            Instant::now().elapsed().as_nanos() % 1000
        ));
        if fs::create_dir(&dir).is_ok() {
            return dir;
        }
    }
    panic!("cannot create a temporary directory in {}", base.display());
}

impl Server {
    /// Starts a server with the default options (domain `localhost`).
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    /// Starts a server with `options`, waits until it accepts connections.
    pub fn start_with(options: Options) -> Server {
        let dir = temp_dir();
        // Ports outside the ephemeral range, held until just before the
        // server starts (see `fed::reserve_ports`).
        let (ports, holds) = fed::reserve_ports(2);
        let domains = if options.domains.is_empty() {
            vec!["localhost".to_owned()]
        } else {
            options.domains.clone()
        };
        let mut toml = String::new();
        toml.push_str(&format!("data_dir = {:?}\n\n", dir.join("data")));
        for d in &domains {
            toml.push_str(&format!("[[hosts]]\ndomain = {d:?}\n\n"));
        }
        toml.push_str(&format!(
            "[c2s]\nlisten = [\"127.0.0.1:{}\"]\nlisten_tls = [\"127.0.0.1:{}\"]\n{}\n\n",
            ports[0], ports[1], options.c2s_toml
        ));
        toml.push_str("[log]\nlevel = \"info,starling_server=debug\"\n\n");
        toml.push_str(&options.extra_toml);
        let config = dir.join("starling.toml");
        fs::write(&config, toml).expect("writing the config");
        let mut server = Server {
            dir,
            config,
            c2s_port: ports[0],
            c2s_tls_port: ports[1],
            domain: domains[0].clone(),
            child: None,
            stderr: None,
        };
        drop(holds);
        server.launch();
        server
    }

    /// The data directory given to the server.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The generated certificate of `domain` (PEM), to trust in clients.
    pub fn cert_file(&self, domain: &str) -> PathBuf {
        self.data_dir().join("certs").join(format!("{domain}.crt"))
    }

    /// A `starling` command with `--config` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(starling_bin());
        c.arg("--config").arg(&self.config);
        c
    }

    fn launch(&mut self) {
        let mut cmd = self.command();
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting starling serve");
        let stderr = child.stderr.take().map(|mut pipe| {
            thread::spawn(move || {
                let mut s = Vec::new();
                let _ = pipe.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        });
        self.child = Some(child);
        self.stderr = stderr;
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.c2s_port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("starling exited early: {status}\n{}", self.take_log());
            }
            assert!(
                Instant::now() < deadline,
                "starling did not listen within 30 s\n{}",
                self.take_log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `starling ARGS…` (with this server's config) to completion.
    pub fn admin(&self, args: &[&str]) -> support::Finished {
        let mut cmd = self.command();
        cmd.args(args);
        support::run_with_limit(&mut cmd, Duration::from_secs(60)).expect("running starling")
    }

    /// Creates an account with `starling user add`.
    pub fn add_user(&self, jid: &str, password: &str) {
        let out = self.admin(&["user", "add", jid, "--password", password]);
        assert!(out.success(), "user add {jid}: {}", out.describe());
    }

    /// A client builder for `jid` that connects to this server's STARTTLS
    /// port and trusts its certificate.
    pub fn client(&self, jid: &str, password: &str) -> ClientBuilder {
        let jid: Jid = jid.parse().expect("a valid JID");
        let domain = jid.domain().to_owned();
        Client::builder(jid, password)
            .server(&format!("127.0.0.1:{}", self.c2s_port))
            .ca_file(self.cert_file(&domain))
            .timeout(Duration::from_secs(10))
    }

    /// Connects `jid` over STARTTLS.
    pub async fn connect(&self, jid: &str, password: &str) -> Client {
        self.client(jid, password)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{jid} cannot log in: {e}\n{}", self.log_so_far()))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, …) and waits for the process to
    /// exit (up to 20 s); returns its exit status and log.
    pub fn signal(&mut self, sig: &str) -> (Option<std::process::ExitStatus>, String) {
        let pid = self.pid();
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -{sig} {pid} failed");
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Ok(Some(s)) = child.try_wait() {
                break Some(s);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        (status, self.take_log())
    }

    /// Starts the server again on the same ports and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.launch();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn take_log(&mut self) -> String {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
            self.child = None;
        }
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// A hint for failure messages (the log is collected when the server
    /// stops).
    pub fn log_so_far(&self) -> String {
        format!("(server log in {})", self.dir.display())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let log = self.take_log();
        if thread::panicking() {
            support::note(&format!("--- starling log ---\n{log}"));
        }
        if std::env::var_os("STARLING_KEEP_TEST_DIR").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Reads a file to a string, or an empty one.
pub fn read_or_empty(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// How long any single wait in these tests may take before the test fails
/// (generous: the machine is small and shared; nothing asserts a timing).
pub const WAIT: Duration = Duration::from_secs(30);

/// Runs blocking work (admin commands, signals, restarts) without stalling
/// the runtime's other tasks.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

/// Awaits `fut` for at most [`WAIT`]; a hang fails the test with `what`.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?}: {what}"),
    }
}

/// A JID from a string.
pub fn jid(s: &str) -> Jid {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a JID: {e}"))
}

/// A bare JID from a string.
pub fn bare(s: &str) -> starling_jid::BareJid {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a bare JID: {e}"))
}

/// The body of a message event.
pub fn body(ev: &starling_client::Event) -> Option<&str> {
    match ev {
        starling_client::Event::Message(m) => m.body(None),
        _ => None,
    }
}

/// Takes events until `pick` accepts one (skipping the others) or
/// [`WAIT`] passes.
pub async fn wait_for<T>(
    c: &mut Client,
    what: &str,
    mut pick: impl FnMut(&starling_client::Event) -> Option<T>,
) -> T {
    let me = c.jid().to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, c.next_event()).await {
            Err(_) => panic!("{me}: timed out waiting for {what}; skipped {seen:#?}"),
            Ok(None) => {
                panic!("{me}: the session ended while waiting for {what}; skipped {seen:#?}")
            }
            Ok(Some(ev)) => {
                if let Some(t) = pick(&ev) {
                    return t;
                }
                seen.push(ev);
            }
        }
    }
}

/// Waits for a message whose body is `text`.
pub async fn wait_body(c: &mut Client, text: &str) -> starling_stanza::Message {
    wait_for(c, &format!("a message {text:?}"), |ev| match ev {
        starling_client::Event::Message(m) if m.body(None) == Some(text) => Some(m.clone()),
        _ => None,
    })
    .await
}

/// Every event before the message whose body is `marker` (see
/// [`send_marker`]).
pub async fn until_marker(c: &mut Client, marker: &str) -> Vec<starling_client::Event> {
    let mut before = Vec::new();
    wait_for(c, &format!("the marker {marker:?}"), |ev| {
        if body(ev) == Some(marker) {
            Some(())
        } else {
            before.push(ev.clone());
            None
        }
    })
    .await;
    before
}

/// Sends a chat message with a unique body to `to` (a full JID) and returns
/// that body: once it arrives, everything `from` sent earlier to the same
/// session has been processed (RFC 6120 §10.1, in-order processing), so a
/// stanza that did not arrive before it will not arrive.
pub async fn send_marker(from: &Client, to: &starling_jid::FullJid) -> String {
    let marker = format!("marker-{}", from.new_id());
    within(
        "sending a marker",
        from.send_message(Jid::from(to.clone()), &marker),
    )
    .await
    .expect("sending a marker");
    marker
}

/// A message of any type with one body.
pub fn message(to: &str, kind: starling_stanza::MessageType, text: &str) -> starling_xml::Element {
    let mut m = starling_stanza::Message::chat(jid(to), text);
    m.message_type = kind;
    m.to_element()
}

/// Available presence with a priority.
pub fn presence(priority: i8) -> starling_stanza::Presence {
    let mut p = starling_stanza::Presence::new(starling_stanza::PresenceType::Available);
    p.priority = priority;
    p
}

impl Server {
    /// Connects `jid` with `resource` (or a server-generated one), sends
    /// initial presence with `priority` and waits until the server has
    /// processed it (a ping after it is answered).
    pub async fn online(
        &self,
        jid: &str,
        password: &str,
        resource: Option<&str>,
        priority: i8,
    ) -> Client {
        let mut b = self.client(jid, password);
        if let Some(r) = resource {
            b = b.resource(r);
        }
        let c = within(&format!("{jid} logging in"), b.connect())
            .await
            .unwrap_or_else(|e| panic!("{jid} cannot log in: {e}\n{}", self.log_so_far()));
        within("initial presence", c.send_presence(presence(priority)))
            .await
            .expect("sending presence");
        within("a ping after initial presence", c.ping(None))
            .await
            .expect("ping after initial presence");
        c
    }

    /// Creates the accounts `<name>@<domain>` with password `pw-<name>`.
    pub fn add_users(&self, names: &[&str]) {
        blocking(|| {
            for n in names {
                self.add_user(&format!("{n}@{}", self.domain), &format!("pw-{n}"));
            }
        });
    }

    /// Checks that the process still runs and serves a fresh login with a
    /// ping (`user` must exist with password `pw-<user>`).
    pub async fn assert_still_serving(&mut self, user: &str) {
        assert!(self.is_running(), "the server process died");
        let j = format!("{user}@{}", self.domain);
        let c = within(
            "a fresh login",
            self.client(&j, &format!("pw-{user}"))
                .resource("fresh")
                .connect(),
        )
        .await
        .unwrap_or_else(|e| panic!("a fresh login failed: {e}"));
        within("a ping on the fresh session", c.ping(None))
            .await
            .expect("the fresh session answers a ping");
        let _ = within("closing the fresh session", c.close()).await;
        assert!(self.is_running(), "the server process died");
    }
}

/// Both clients subscribe to each other (RFC 6121 §3.1), ending with
/// `subscription='both'` on both sides. Both must be available.
pub async fn befriend(a: &mut Client, b: &mut Client) {
    use starling_client::Event;
    use starling_stanza::{PresenceType, Subscription};
    let (ab, bb) = (a.jid().bare(), b.jid().bare());
    within("roster", a.roster()).await.expect("roster");
    within("roster", b.roster()).await.expect("roster");
    within("subscribe", a.subscribe(bb.clone()))
        .await
        .expect("subscribe");
    let from_a = Jid::from(ab.clone());
    wait_for(b, "the subscription request", |ev| match ev {
        Event::Presence(p)
            if p.presence_type == PresenceType::Subscribe
                && p.header.from.as_ref() == Some(&from_a) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    within("approve", b.approve(ab.clone()))
        .await
        .expect("approve");
    within("subscribe", b.subscribe(ab.clone()))
        .await
        .expect("subscribe");
    let from_b = Jid::from(bb.clone());
    wait_for(a, "the subscription request", |ev| match ev {
        Event::Presence(p)
            if p.presence_type == PresenceType::Subscribe
                && p.header.from.as_ref() == Some(&from_b) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
    within("approve", a.approve(bb.clone()))
        .await
        .expect("approve");
    for (c, other) in [(&mut *a, bb.clone()), (&mut *b, ab.clone())] {
        wait_for(c, "a roster push with subscription both", |ev| match ev {
            Event::RosterPush(r)
                if r.items
                    .iter()
                    .any(|i| i.jid == other && i.subscription == Subscription::Both) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    }
}

/// A raw client: TCP, TLS and bytes of our choosing, with the server's
/// answers read by a stream framer. For the tests that must break the
/// protocol (forged addresses, bad XML, stanzas out of order).
pub mod raw {
    use std::collections::VecDeque;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    use starling_auth::negotiate::{ClientEvent, ClientNegotiator, ClientSettings};
    use starling_auth::sasl::{ChannelBinding, ClientConfig as SaslConfig};
    use starling_auth::tls::{self, ClientTlsBuilder, Trust};
    use starling_jid::{FullJid, Jid};
    use starling_stream::{ContentNamespace, Event, Features, Framer, FramerConfig, StreamError};
    use starling_xml::{Element, Limits};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
    use tokio::net::TcpStream;
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;

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

    /// Plain TCP, or TLS over it.
    pub enum Io {
        /// Before STARTTLS.
        Plain(TcpStream),
        /// After.
        Tls(Box<TlsStream<TcpStream>>),
        /// During the handshake.
        Upgrading,
    }

    impl Io {
        fn tcp(&self) -> Option<&TcpStream> {
            match self {
                Io::Plain(s) => Some(s),
                Io::Tls(s) => Some(s.get_ref().0),
                Io::Upgrading => None,
            }
        }
    }

    impl AsyncRead for Io {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
                Io::Upgrading => Poll::Ready(Err(io::Error::other("upgrading"))),
            }
        }
    }

    impl AsyncWrite for Io {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            match self.get_mut() {
                Io::Plain(s) => Pin::new(s).poll_write(cx, data),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
                Io::Upgrading => Poll::Ready(Err(io::Error::other("upgrading"))),
            }
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Io::Plain(s) => Pin::new(s).poll_flush(cx),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
                Io::Upgrading => Poll::Ready(Ok(())),
            }
        }
        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            match self.get_mut() {
                Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
                Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
                Io::Upgrading => Poll::Ready(Ok(())),
            }
        }
    }

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
            let tcp = tokio::time::timeout(super::WAIT, TcpStream::connect(("127.0.0.1", port)))
                .await
                .expect("connect timed out")
                .expect("connect");
            let _ = tcp.set_nodelay(true);
            Raw {
                io: Io::Plain(tcp),
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
            let Io::Plain(tcp) = std::mem::replace(&mut r.io, Io::Upgrading) else {
                unreachable!("a new connection is plain");
            };
            let name = tls::server_name(domain).map_err(|e| e.to_string())?;
            match tokio::time::timeout(super::WAIT, connector.connect(name, tcp)).await {
                Err(_) => Err("the TLS handshake timed out".into()),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(tls)) => {
                    r.io = Io::Tls(Box::new(tls));
                    Ok(r)
                }
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
            let Io::Plain(tcp) = std::mem::replace(&mut self.io, Io::Upgrading) else {
                panic!("TLS on a connection that is not plain");
            };
            let name = tls::server_name(&self.domain).expect("server name");
            let tls = tokio::time::timeout(super::WAIT, connector.connect(name, tcp))
                .await
                .expect("TLS handshake timed out")
                .expect("TLS handshake");
            self.io = Io::Tls(Box::new(tls));
            self.framer = client_framer();
            self.failed = false;
        }

        /// Writes bytes.
        pub async fn send(&mut self, data: &[u8]) -> io::Result<()> {
            let fut = async {
                self.io.write_all(data).await?;
                self.io.flush().await
            };
            match tokio::time::timeout(super::WAIT, fut).await {
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
            match self.next(super::WAIT).await {
                Got::Header => {}
                other => panic!("expected the server's stream header, got {other:?}"),
            }
            match self.next(super::WAIT).await {
                Got::Features(f) => f,
                other => panic!("expected stream features, got {other:?}"),
            }
        }

        /// `<starttls/>`, `<proceed/>`, the handshake.
        pub async fn starttls(&mut self) {
            self.send_str(&format!("<starttls xmlns='{NS_TLS}'/>"))
                .await
                .expect("sending starttls");
            match self.next(super::WAIT).await {
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
            let got = self.next(super::WAIT).await;
            if matches!(&got, Got::Element(e) if e.is("success", NS_SASL)) {
                self.framer.restart();
            }
            got
        }

        /// Logs in over STARTTLS with the client library's negotiator
        /// (the strongest SASL mechanism) and binds `resource` (or a
        /// server-generated one); afterwards every byte is ours.
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
            settings.timeout = super::WAIT;
            let sasl = SaslConfig::password(j.node().unwrap_or_default(), password);
            let mut neg = ClientNegotiator::new(settings, sasl, None, Instant::now());
            neg.start();
            let mut buf = vec![0u8; 16384];
            let deadline = tokio::time::Instant::now() + super::WAIT;
            let bound = 'outer: loop {
                let out = neg.take_output();
                if !out.is_empty() {
                    r.send(&out).await.expect("writing");
                }
                while let Some(ev) = neg.next_event() {
                    match ev {
                        ClientEvent::StartTls => {
                            let out = neg.take_output();
                            if !out.is_empty() {
                                r.send(&out).await.expect("writing");
                            }
                            r.handshake(false).await;
                            let cb = match &r.io {
                                Io::Tls(t) => tls::tls_exporter(t.get_ref().1)
                                    .map(ChannelBinding::tls_exporter),
                                _ => None,
                            };
                            neg.tls_established(cb);
                        }
                        ClientEvent::Bound(full) => break 'outer full,
                        ClientEvent::Failed(e) => panic!("raw login of {account} failed: {e}"),
                        ClientEvent::Authenticated => {}
                        other => r.pending.push_back(match other {
                            ClientEvent::Stanza(e) => Got::Element(e),
                            ClientEvent::Closed { error: Some(e) } => Got::StreamError(e),
                            _ => Got::Closed,
                        }),
                    }
                }
                let out = neg.take_output();
                if !out.is_empty() {
                    r.send(&out).await.expect("writing");
                }
                let n = tokio::time::timeout_at(deadline, r.io.read(&mut buf))
                    .await
                    .expect("raw login timed out")
                    .unwrap_or(0);
                if n == 0 {
                    neg.eof();
                } else {
                    neg.feed(&buf[..n]);
                }
            };
            let out = neg.take_output();
            if !out.is_empty() {
                r.send(&out).await.expect("writing");
            }
            // Whatever the negotiator already read after binding.
            while let Some(ev) = neg.next_event() {
                r.pending.push_back(match ev {
                    ClientEvent::Stanza(e) => Got::Element(e),
                    ClientEvent::Closed { error: Some(e) }
                    | ClientEvent::Failed(
                        starling_auth::negotiate::NegotiationError::StreamError(e),
                    ) => Got::StreamError(e),
                    _ => Got::Closed,
                });
            }
            // From here on our own framer reads the server's stream: it
            // starts inside the stream the server opened.
            r.framer = client_framer();
            r.framer.feed(
                format!(
                    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
                     version='1.0' from='{domain}' id='raw'>"
                )
                .as_bytes(),
            );
            match r.framer.next_event() {
                Ok(Some(Event::Header(_))) => {}
                other => panic!("the synthetic header did not parse: {other:?}"),
            }
            r.jid = Some(bound);
            r
        }

        /// The bound JID.
        pub fn full_jid(&self) -> FullJid {
            self.jid.clone().expect("logged in")
        }

        /// Waits for the next top-level element (skipping nothing else):
        /// panics on anything else.
        pub async fn element(&mut self) -> Element {
            match self.next(super::WAIT).await {
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
            if let Some(tcp) = self.io.tcp() {
                let _ = tcp.set_zero_linger();
            }
            drop(self);
        }
    }
}

/// Takes events until each of `preds` has matched one (in any order, since
/// the server may send them in any order); returns the matching events in
/// the order of `preds`.
pub async fn wait_all(
    c: &mut Client,
    what: &str,
    preds: &[&dyn Fn(&starling_client::Event) -> bool],
) -> Vec<starling_client::Event> {
    let mut found: Vec<Option<starling_client::Event>> = vec![None; preds.len()];
    wait_for(c, what, |ev| {
        for (i, p) in preds.iter().enumerate() {
            if found[i].is_none() && p(ev) {
                found[i] = Some(ev.clone());
                break;
            }
        }
        found.iter().all(Option::is_some).then_some(())
    })
    .await;
    found.into_iter().flatten().collect()
}
pub mod fed;
