//! Two sans-IO negotiators connected in memory: the bytes one writes are
//! fed to the other, through real rustls sessions once the two agree on
//! STARTTLS, until neither has anything more to say. No sockets, no clock.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use starling_auth::negotiate::{
//!     ClientEvent, ClientNegotiator, ClientSettings, ServerHooks, ServerNegotiator, ServerSettings,
//! };
//! use starling_auth::sasl::{ClientConfig, MemoryStore};
//! use starling_auth::tls::{ClientTlsBuilder, Trust};
//! use starling_jid::{BareJid, DomainPart, FullJid};
//! use starling_stanza::StanzaError;
//! use starling_testkit::tls::SelfSigned;
//! use starling_testkit::tls::pump::{C2sTls, Pump};
//!
//! struct Serves;
//! impl ServerHooks for Serves {
//!     fn serves(&self, domain: &DomainPart) -> bool {
//!         domain.as_str() == "localhost"
//!     }
//!     fn bind(&mut self, user: &BareJid, _: Option<&str>) -> Result<FullJid, StanzaError> {
//!         Ok(user.with_resource_str("desk").unwrap())
//!     }
//! }
//!
//! let identity = SelfSigned::new("localhost");
//! let mut store = MemoryStore::new();
//! store.add_user("juliet", "r0m30", 4096).unwrap();
//! let mut settings = ServerSettings::new(Arc::new(store));
//! settings.tls_available = true;
//! let mut server = ServerNegotiator::new(settings, Serves, None, Instant::now());
//! let mut client = ClientNegotiator::new(
//!     ClientSettings::new("juliet@localhost".parse().unwrap()),
//!     ClientConfig::password("juliet", "r0m30"),
//!     None,
//!     Instant::now(),
//! );
//! let client_tls = ClientTlsBuilder::new(Trust::Roots(identity.roots.clone()))
//!     .build()
//!     .unwrap();
//! let mut pump = Pump::new(client_tls, identity.server_config());
//! let mut tls = C2sTls::new("localhost");
//! client.start();
//! let seen = pump.run(&mut client, &mut server, &mut tls);
//! assert!(tls.client_binding, "TLS 1.3 has tls-exporter");
//! let bound: FullJid = "juliet@localhost/desk".parse().unwrap();
//! assert!(seen.client.contains(&ClientEvent::Bound(bound)));
//! ```
//!
//! [`Endpoint`] is implemented for the client and server negotiators of
//! `starling-auth` (c2s and s2s); [`TlsHooks`] says what each side is told
//! when its handshake completes ([`C2sTls`] and [`S2sTls`] do what a client
//! and a server do).

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, RootCertStore, ServerConnection};
use starling_auth::negotiate::{
    ClientEvent, ClientNegotiator, InboundEvent, OutboundEvent, PeerTls, S2sHooks, S2sInbound,
    S2sOutbound, ServerEvent, ServerHooks, ServerNegotiator,
};
use starling_auth::sasl::ChannelBinding;
use starling_auth::tls;
use starling_jid::DomainPart;

/// How many rounds of exchange [`Pump::run`] does at most.
const ROUNDS: usize = 200;

/// One side of an in-memory connection: a sans-IO machine that takes bytes
/// and gives bytes and events.
pub trait Endpoint {
    /// What it reports.
    type Event;
    /// The next event, if any.
    fn next_event(&mut self) -> Option<Self::Event>;
    /// Whether `event` says that TLS starts now (STARTTLS agreed).
    fn starts_tls(event: &Self::Event) -> bool;
    /// The bytes it has to send.
    fn take_output(&mut self) -> Vec<u8>;
    /// Bytes from the other side.
    fn feed(&mut self, data: &[u8]);
}

impl Endpoint for ClientNegotiator {
    type Event = ClientEvent;
    fn next_event(&mut self) -> Option<ClientEvent> {
        ClientNegotiator::next_event(self)
    }
    fn starts_tls(event: &ClientEvent) -> bool {
        *event == ClientEvent::StartTls
    }
    fn take_output(&mut self) -> Vec<u8> {
        ClientNegotiator::take_output(self)
    }
    fn feed(&mut self, data: &[u8]) {
        ClientNegotiator::feed(self, data);
    }
}

impl<H: ServerHooks> Endpoint for ServerNegotiator<H> {
    type Event = ServerEvent;
    fn next_event(&mut self) -> Option<ServerEvent> {
        ServerNegotiator::next_event(self)
    }
    fn starts_tls(event: &ServerEvent) -> bool {
        *event == ServerEvent::StartTls
    }
    fn take_output(&mut self) -> Vec<u8> {
        ServerNegotiator::take_output(self)
    }
    fn feed(&mut self, data: &[u8]) {
        ServerNegotiator::feed(self, data);
    }
}

impl Endpoint for S2sOutbound {
    type Event = OutboundEvent;
    fn next_event(&mut self) -> Option<OutboundEvent> {
        S2sOutbound::next_event(self)
    }
    fn starts_tls(event: &OutboundEvent) -> bool {
        *event == OutboundEvent::StartTls
    }
    fn take_output(&mut self) -> Vec<u8> {
        S2sOutbound::take_output(self)
    }
    fn feed(&mut self, data: &[u8]) {
        S2sOutbound::feed(self, data);
    }
}

impl<H: S2sHooks> Endpoint for S2sInbound<H> {
    type Event = InboundEvent;
    fn next_event(&mut self) -> Option<InboundEvent> {
        S2sInbound::next_event(self)
    }
    fn starts_tls(event: &InboundEvent) -> bool {
        *event == InboundEvent::StartTls
    }
    fn take_output(&mut self) -> Vec<u8> {
        S2sInbound::take_output(self)
    }
    fn feed(&mut self, data: &[u8]) {
        S2sInbound::feed(self, data);
    }
}

/// What the application around each negotiator does with TLS: the name
/// the client verifies, and what each side is told once its handshake is
/// complete.
pub trait TlsHooks<C, S> {
    /// The name the client's TLS session verifies the server for.
    fn server_name(&mut self, client: &C) -> ServerName<'static>;
    /// The client's handshake is complete.
    fn client_ready(&mut self, client: &mut C, tls: &ClientConnection);
    /// The server's handshake is complete.
    fn server_ready(&mut self, server: &mut S, tls: &ServerConnection);
}

/// Client-to-server TLS: the client verifies `domain` and both sides get
/// the `tls-exporter` channel binding (when the TLS version has one).
#[derive(Debug)]
pub struct C2sTls {
    domain: String,
    /// Whether the client got a channel binding.
    pub client_binding: bool,
}

impl C2sTls {
    /// For a server of `domain`.
    pub fn new(domain: &str) -> C2sTls {
        C2sTls {
            domain: domain.to_owned(),
            client_binding: false,
        }
    }
}

impl<H: ServerHooks> TlsHooks<ClientNegotiator, ServerNegotiator<H>> for C2sTls {
    fn server_name(&mut self, _client: &ClientNegotiator) -> ServerName<'static> {
        tls::server_name(&self.domain).expect("a server name")
    }
    fn client_ready(&mut self, client: &mut ClientNegotiator, tls: &ClientConnection) {
        let binding = tls::tls_exporter(tls).map(ChannelBinding::tls_exporter);
        self.client_binding = binding.is_some();
        client.tls_established(binding);
    }
    fn server_ready(&mut self, server: &mut ServerNegotiator<H>, tls: &ServerConnection) {
        let bindings = tls::tls_exporter(tls)
            .map(ChannelBinding::tls_exporter)
            .into_iter()
            .collect();
        server.tls_established(bindings, None);
    }
}

/// Server-to-server TLS: the initiating server verifies the remote domain
/// (rustls did, with its trust anchors); the receiving server checks the
/// peer's certificate chain against `roots` for the domain the peer
/// claims.
#[derive(Debug)]
pub struct S2sTls {
    roots: Arc<RootCertStore>,
}

impl S2sTls {
    /// With `roots` as the receiving server's trust anchors.
    pub fn new(roots: Arc<RootCertStore>) -> S2sTls {
        S2sTls { roots }
    }
}

impl<H: S2sHooks> TlsHooks<S2sOutbound, S2sInbound<H>> for S2sTls {
    fn server_name(&mut self, client: &S2sOutbound) -> ServerName<'static> {
        tls::server_name(client.remote().as_str()).expect("a server name")
    }
    fn client_ready(&mut self, client: &mut S2sOutbound, _tls: &ClientConnection) {
        // rustls verified the certificate for the remote domain.
        let remote = client.remote().clone();
        client.tls_established(PeerTls::new(vec![remote]));
    }
    fn server_ready(&mut self, server: &mut S2sInbound<H>, tls: &ServerConnection) {
        let candidates: Vec<DomainPart> = server.peer_domain().cloned().into_iter().collect();
        let chain = tls.peer_certificates().unwrap_or_default();
        let verified = candidates
            .into_iter()
            .filter(|d| tls::verify_peer(chain, &self.roots, d.as_str()).is_ok())
            .collect();
        server.tls_established(PeerTls::new(verified));
    }
}

/// What both sides reported during one [`Pump::run`].
#[derive(Debug)]
pub struct Exchange<C, S> {
    /// The client's events, in order.
    pub client: Vec<C>,
    /// The server's events, in order.
    pub server: Vec<S>,
}

/// The in-memory connection: the TLS state of both sides, kept across
/// [`Pump::run`]s.
#[derive(Debug)]
pub struct Pump {
    client_config: Arc<rustls::ClientConfig>,
    server_config: Arc<rustls::ServerConfig>,
    client_tls: Option<ClientConnection>,
    server_tls: Option<ServerConnection>,
    client_wants_tls: bool,
    server_wants_tls: bool,
    client_ready: bool,
    server_ready: bool,
    /// Output taken from each side in a round where nothing else moved.
    held: (Vec<u8>, Vec<u8>),
}

impl Pump {
    /// A connection whose TLS sessions, once STARTTLS is agreed, use these
    /// configurations.
    pub fn new(
        client_config: Arc<rustls::ClientConfig>,
        server_config: Arc<rustls::ServerConfig>,
    ) -> Pump {
        Pump {
            client_config,
            server_config,
            client_tls: None,
            server_tls: None,
            client_wants_tls: false,
            server_wants_tls: false,
            client_ready: false,
            server_ready: false,
            held: (Vec::new(), Vec::new()),
        }
    }

    /// The client's TLS session, once started.
    pub fn client_tls(&self) -> Option<&ClientConnection> {
        self.client_tls.as_ref()
    }

    /// The server's TLS session, once started.
    pub fn server_tls(&self) -> Option<&ServerConnection> {
        self.server_tls.as_ref()
    }

    /// Moves bytes between `client` and `server`, doing the TLS handshakes
    /// when asked, until neither side has anything more to say (at most
    /// 200 rounds). Returns what each side reported meanwhile.
    ///
    /// # Panics
    ///
    /// When rustls fails (a test that expects that does not use a pump).
    pub fn run<C, S>(
        &mut self,
        client: &mut C,
        server: &mut S,
        hooks: &mut impl TlsHooks<C, S>,
    ) -> Exchange<C::Event, S::Event>
    where
        C: Endpoint,
        S: Endpoint,
    {
        let mut seen = Exchange {
            client: Vec::new(),
            server: Vec::new(),
        };
        for _ in 0..ROUNDS {
            while let Some(event) = client.next_event() {
                self.client_wants_tls |= C::starts_tls(&event);
                seen.client.push(event);
            }
            while let Some(event) = server.next_event() {
                self.server_wants_tls |= S::starts_tls(&event);
                seen.server.push(event);
            }
            let mut moved = self.client_to_server(client, server, hooks);
            moved |= self.server_to_client(client, server, hooks);
            moved |= self.check_ready(client, server, hooks);
            if !moved {
                self.held = (client.take_output(), server.take_output());
                if self.held.0.is_empty() && self.held.1.is_empty() {
                    break;
                }
            }
        }
        seen
    }

    /// The client's output to the server; whether any bytes moved.
    fn client_to_server<C: Endpoint, S: Endpoint>(
        &mut self,
        client: &mut C,
        server: &mut S,
        hooks: &mut impl TlsHooks<C, S>,
    ) -> bool {
        let mut bytes = std::mem::take(&mut self.held.0);
        bytes.extend(client.take_output());
        let mut wire = Vec::new();
        match self.client_tls.as_mut() {
            Some(tls) => tls.writer().write_all(&bytes).expect("writing to rustls"),
            None => wire.extend_from_slice(&bytes),
        }
        if self.client_wants_tls && self.client_tls.is_none() {
            let name = hooks.server_name(client);
            let tls = ClientConnection::new(self.client_config.clone(), name)
                .expect("a TLS client session");
            self.client_tls = Some(tls);
        }
        if let Some(tls) = self.client_tls.as_mut() {
            while tls.wants_write() {
                tls.write_tls(&mut wire).expect("TLS records");
            }
        }
        if wire.is_empty() {
            return false;
        }
        if self.server_wants_tls && self.server_tls.is_none() {
            let tls =
                ServerConnection::new(self.server_config.clone()).expect("a TLS server session");
            self.server_tls = Some(tls);
        }
        match self.server_tls.as_mut() {
            Some(tls) => {
                receive(tls, &wire);
                self.check_ready(client, server, hooks);
                let plain = plaintext(self.server_tls.as_mut().expect("a TLS session"));
                server.feed(&plain);
            }
            None => server.feed(&wire),
        }
        true
    }

    /// The server's output to the client; whether any bytes moved.
    fn server_to_client<C: Endpoint, S: Endpoint>(
        &mut self,
        client: &mut C,
        server: &mut S,
        hooks: &mut impl TlsHooks<C, S>,
    ) -> bool {
        let mut bytes = std::mem::take(&mut self.held.1);
        bytes.extend(server.take_output());
        let mut wire = Vec::new();
        match self.server_tls.as_mut() {
            Some(tls) => {
                tls.writer().write_all(&bytes).expect("writing to rustls");
                while tls.wants_write() {
                    tls.write_tls(&mut wire).expect("TLS records");
                }
            }
            None => wire.extend_from_slice(&bytes),
        }
        if wire.is_empty() {
            return false;
        }
        match self.client_tls.as_mut() {
            Some(tls) => {
                receive(tls, &wire);
                self.check_ready(client, server, hooks);
                let plain = plaintext(self.client_tls.as_mut().expect("a TLS session"));
                client.feed(&plain);
            }
            None => client.feed(&wire),
        }
        true
    }

    /// Tells each side whose handshake has just completed; whether any was.
    fn check_ready<C, S>(
        &mut self,
        client: &mut C,
        server: &mut S,
        hooks: &mut impl TlsHooks<C, S>,
    ) -> bool {
        let mut any = false;
        if let Some(tls) = &self.client_tls {
            if !tls.is_handshaking() && !self.client_ready {
                self.client_ready = true;
                hooks.client_ready(client, tls);
                any = true;
            }
        }
        if let Some(tls) = &self.server_tls {
            if !tls.is_handshaking() && !self.server_ready {
                self.server_ready = true;
                hooks.server_ready(server, tls);
                any = true;
            }
        }
        any
    }
}

/// Feeds TLS records to a session.
fn receive<D>(tls: &mut rustls::ConnectionCommon<D>, mut wire: &[u8]) {
    while !wire.is_empty() {
        tls.read_tls(&mut wire).expect("reading TLS records");
        tls.process_new_packets().expect("processing TLS records");
    }
}

/// The plaintext a session has decrypted so far.
fn plaintext<D>(tls: &mut rustls::ConnectionCommon<D>) -> Vec<u8> {
    let mut plain = Vec::new();
    let _ = tls.reader().read_to_end(&mut plain);
    plain
}
