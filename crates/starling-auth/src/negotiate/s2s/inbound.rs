//! The receiving side of a server-to-server stream.

use std::sync::Arc;
use std::time::Instant;

use starling_jid::{BareJid, DomainPart, Jid};
use starling_stream::{
    Condition, ContentNamespace, Event, Features, StartTls, StreamError, StreamHeader, ns,
    random_id,
};
use starling_xml::{BytesMut, Element};

use super::{
    AuthMethod, PeerTls, S2sHooks, S2sSettings, dialback_feature, is_stanza, server_header,
};
use crate::dialback::{DbElement, DbParseError};
use crate::negotiate::common::{self, Common, Lifecycle, Negotiator, machine};
use crate::sasl::{
    Condition as SaslCondition, Failure, Mechanism, MemoryStore, OsRandom, SaslServer,
    ServerConfig, ServerConnection, ServerStep,
};

mod requests;

/// What happened on an incoming server-to-server stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundEvent {
    /// `<proceed/>` has been written: send the output, run the TLS
    /// handshake (asking for the peer's certificate), then call
    /// [`S2sInbound::tls_established`].
    StartTls,
    /// The domain pair (`from`, `to`) is authenticated: stanzas from
    /// `from` to `to` are accepted on this stream. For dialback this
    /// follows the application's own [`S2sInbound::dialback_result`].
    Authenticated {
        /// The peer's domain (the Sender Domain).
        from: DomainPart,
        /// Our domain (the Target Domain).
        to: DomainPart,
        /// How.
        method: AuthMethod,
    },
    /// The peer asks to send from `from` to `to` with this dialback key
    /// (XEP-0220 §2.2.1). Verify it — usually by sending `<db:verify/>`
    /// with `key` and `stream_id` to `from`'s Authoritative Server through
    /// an [`S2sOutbound::verifier`](super::S2sOutbound::verifier) — then
    /// call [`S2sInbound::dialback_result`] (or
    /// [`dialback_error`](S2sInbound::dialback_error)).
    DialbackRequest {
        /// The Sender Domain.
        from: DomainPart,
        /// The Target Domain (one we serve).
        to: DomainPart,
        /// The key, to be verified.
        key: String,
        /// The id of this stream (our header's).
        stream_id: String,
    },
    /// A `<db:verify/>` request (we are the Authoritative Server for `to`)
    /// was answered with the dialback secret: `valid` is the answer sent.
    VerifyAnswered {
        /// The asking server's domain (the Receiving Server).
        from: DomainPart,
        /// Our domain (the Sender Domain of the key).
        to: DomainPart,
        /// The stream id the key was made for.
        id: String,
        /// Whether the key was valid.
        valid: bool,
    },
    /// A stanza of an authenticated domain pair: its `from` and `to`
    /// domains have been checked; it is in `jabber:server`.
    Stanza(Element),
    /// The peer closed the stream (our close is in the output) or sent a
    /// stream error (`peer_error`).
    Closed {
        /// The stream error the peer sent, if any.
        peer_error: Option<StreamError>,
    },
    /// We sent this stream error and closed the stream.
    Failed(StreamError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    AwaitHeader,
    /// Our header (and features) are out.
    Open,
    TlsPending,
    Closed,
}

impl Lifecycle for Phase {
    const CLOSED: Self = Phase::Closed;
    const TLS_PENDING: Self = Phase::TlsPending;
}

/// A sans-IO negotiator for a server-to-server connection another server
/// opened to us (RFC 6120, XEP-0220), in the `jabber:server` namespace.
///
/// Feed it the bytes read from the connection (decrypted once TLS is on),
/// take [`InboundEvent`]s, and write [`take_output`](Self::take_output)
/// to the connection.
///
/// * The header's `to` must be a domain we [serve](S2sHooks::serves)
///   (else `host-unknown`); its `from` is optional but needed for SASL
///   `EXTERNAL`. A header without `version` (a pre-XMPP-1.0 server) gets
///   no features: only dialback is possible then.
/// * Before TLS the features are STARTTLS (with `<required/>` by
///   default, and then nothing else); after TLS, `EXTERNAL` when the
///   certificate was verified for the header's `from`, and dialback
///   (`urn:xmpp:features:dialback` with `<errors/>`) when allowed. After
///   SASL the stream restarts and offers dialback again, for more pairs.
/// * `<db:result/>` is checked (addressing, TLS policy, target served,
///   pair limit — each failure a dialback error, which keeps the stream)
///   and handed to the application as [`InboundEvent::DialbackRequest`];
///   `<db:verify/>` is answered here with the dialback secret.
/// * Stanzas are accepted only for authenticated pairs: no `from`/`to` or
///   malformed addresses get `improper-addressing`; a `from` domain not
///   authenticated, `invalid-from`; a `to` domain not served,
///   `host-unknown`; a served `to` not paired with that `from`,
///   `improper-addressing`; anything before authentication,
///   `not-authorized`.
///
/// A complete dialback, with the three servers in memory (no TLS, which
/// the settings allow):
///
/// ```
/// use std::time::Instant;
/// use starling_auth::negotiate::{
///     InboundEvent, OutboundEvent, S2sHooks, S2sInbound, S2sOutbound, S2sSettings,
/// };
/// use starling_jid::DomainPart;
///
/// struct Serves(&'static str);
/// impl S2sHooks for Serves {
///     fn serves(&self, d: &DomainPart) -> bool { d.as_str() == self.0 }
/// }
/// fn settings(secret: &[u8]) -> S2sSettings {
///     let mut s = S2sSettings::new(secret.to_vec());
///     s.tls_required = false; // loopback only: no TLS at all
///     s.tls_available = false;
///     s
/// }
/// // Shuttles bytes between two negotiators until neither has any.
/// fn pump<H: S2sHooks>(out: &mut S2sOutbound, inb: &mut S2sInbound<H>)
///     -> (Vec<OutboundEvent>, Vec<InboundEvent>) {
///     let (mut o, mut i) = (Vec::new(), Vec::new());
///     loop {
///         let (a, b) = (out.take_output(), inb.take_output());
///         if a.is_empty() && b.is_empty() { return (o, i); }
///         inb.feed(&a);
///         out.feed(&b);
///         o.extend(std::iter::from_fn(|| out.next_event()));
///         i.extend(std::iter::from_fn(|| inb.next_event()));
///     }
/// }
/// let (a, b): (DomainPart, DomainPart) = ("a.example".parse().unwrap(), "b.example".parse().unwrap());
/// let now = Instant::now();
///
/// // a.example connects to b.example and sends a dialback key.
/// let mut a_out = S2sOutbound::new(settings(b"a-secret"), a.clone(), b.clone(), None, now);
/// let mut b_in = S2sInbound::new(settings(b"b-secret"), Serves("b.example"), None, now);
/// let (_, events) = pump(&mut a_out, &mut b_in);
/// let Some(InboundEvent::DialbackRequest { from, to, key, stream_id }) = events.last().cloned()
///     else { panic!("{events:?}") };
///
/// // b.example asks a.example's Authoritative Server about the key…
/// let mut b_verifier = S2sOutbound::verifier(settings(b"b-secret"), b.clone(), a.clone(), None, now);
/// let mut a_in = S2sInbound::new(settings(b"a-secret"), Serves("a.example"), None, now);
/// b_verifier.verify(&stream_id, &key, now);
/// let (events, _) = pump(&mut b_verifier, &mut a_in);
/// assert!(events.iter().any(|e| matches!(e, OutboundEvent::Verified { valid: true, .. })));
///
/// // …and reports the result on the first stream: a.example may now send.
/// assert!(b_in.dialback_result(&from, &to, true));
/// let (events, _) = pump(&mut a_out, &mut b_in);
/// assert!(matches!(events.last(), Some(OutboundEvent::Ready { .. })));
/// assert!(b_in.is_authenticated(&a, &b));
/// ```
pub struct S2sInbound<H: S2sHooks> {
    settings: S2sSettings,
    hooks: H,
    c: Common<Phase, InboundEvent>,
    tls: Option<PeerTls>,
    /// The header's `to`: our domain on this stream.
    local: Option<DomainPart>,
    /// The header's `from`.
    peer: Option<DomainPart>,
    /// The peer's header had no `version`: no features, no TLS, no SASL.
    legacy: bool,
    stream_id: Option<String>,
    sasl: Option<SaslServer>,
    /// The pair SASL authenticated (the stream restarted for it).
    sasl_pair: Option<(DomainPart, DomainPart)>,
    pairs: Vec<(DomainPart, DomainPart)>,
    pending: Vec<(DomainPart, DomainPart)>,
    /// Elements to send once our next header is out (after a restart).
    deferred: Vec<Element>,
    deadline: Option<Instant>,
}

impl<H: S2sHooks> std::fmt::Debug for S2sInbound<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S2sInbound")
            .field("phase", &self.c.phase)
            .field("tls", &self.tls)
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("pairs", &self.pairs)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// SASL as a server-to-server stream uses it: `EXTERNAL` only, two tries
/// (RFC 6120 §6.4.5 asks for at least two).
fn sasl_config() -> Arc<ServerConfig> {
    Arc::new(ServerConfig {
        mechanisms: vec![Mechanism::External],
        anonymous: false,
        plain_without_tls: false,
        scram_iterations: 4096,
        max_attempts: 2,
        // Only SCRAM uses it, and SCRAM is never offered here.
        fake_salt_secret: [0; 32],
        authz_policy: None,
        random: Arc::new(OsRandom),
    })
}

impl<H: S2sHooks> S2sInbound<H> {
    /// A negotiator for a connection accepted at `now`. `tls` is `Some` on
    /// a direct TLS listener (XEP-0368), where the handshake already took
    /// place.
    pub fn new(settings: S2sSettings, hooks: H, tls: Option<PeerTls>, now: Instant) -> Self {
        S2sInbound {
            c: Common::new(
                ContentNamespace::Server,
                settings.limits,
                Phase::AwaitHeader,
            ),
            tls,
            local: None,
            peer: None,
            legacy: false,
            stream_id: None,
            sasl: None,
            sasl_pair: None,
            pairs: Vec::new(),
            pending: Vec::new(),
            deferred: Vec::new(),
            deadline: now.checked_add(settings.timeout),
            settings,
            hooks,
        }
    }

    /// The application hooks.
    pub fn hooks(&self) -> &H {
        &self.hooks
    }

    /// The application hooks, mutably.
    pub fn hooks_mut(&mut self) -> &mut H {
        &mut self.hooks
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        self.c.feed(data);
    }

    /// Appends a buffer read from the connection, without copying it when
    /// nothing is buffered.
    pub fn feed_bytes(&mut self, data: BytesMut) {
        self.c.feed_bytes(data);
    }

    /// The connection reached end of file.
    pub fn eof(&mut self) {
        if !self.c.is_closed() {
            self.c.phase = Phase::Closed;
            self.c.push(InboundEvent::Closed { peer_error: None });
        }
    }

    /// The bytes to write to the connection, taken.
    #[must_use = "the output must be written to the connection"]
    pub fn take_output(&mut self) -> Vec<u8> {
        self.c.take_output()
    }

    /// Whether output is waiting.
    pub fn has_output(&self) -> bool {
        self.c.has_output()
    }

    /// Frees the input buffer when nothing is pending and the output
    /// buffer (call before waiting on an idle connection).
    pub fn shrink(&mut self) {
        self.c.shrink();
    }

    /// Whether the stream is over (the output may still hold its end).
    pub fn is_closed(&self) -> bool {
        self.c.is_closed()
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// What TLS established about the peer, once it is on.
    pub fn peer_tls(&self) -> Option<&PeerTls> {
        self.tls.as_ref()
    }

    /// The `from` of the peer's latest stream header: the domain to verify
    /// its certificate for when TLS completes.
    pub fn peer_domain(&self) -> Option<&DomainPart> {
        self.peer.as_ref()
    }

    /// The `to` of the peer's stream header: our domain on this stream.
    pub fn local_domain(&self) -> Option<&DomainPart> {
        self.local.as_ref()
    }

    /// The id of our current stream header.
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// The authenticated domain pairs, as (`from`, `to`).
    pub fn authenticated_pairs(&self) -> &[(DomainPart, DomainPart)] {
        &self.pairs
    }

    /// Whether stanzas from `from` to `to` are accepted.
    pub fn is_authenticated(&self, from: &DomainPart, to: &DomainPart) -> bool {
        self.pairs.iter().any(|(f, t)| f == from && t == to)
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next:
    /// until a first pair is authenticated.
    #[must_use = "the deadline must be waited for"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.c.is_closed() {
            None
        } else {
            self.deadline
        }
    }

    /// Time has passed: a stream with no authenticated pair at its
    /// deadline is ended with `connection-timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.fail(
                StreamError::new(Condition::ConnectionTimeout)
                    .with_text("server-to-server negotiation took too long"),
            );
        }
    }

    /// TLS is established after [`InboundEvent::StartTls`]: the stream
    /// restarts.
    pub fn tls_established(&mut self, peer: PeerTls) {
        if self.c.phase != Phase::TlsPending {
            return;
        }
        self.tls = Some(peer);
        self.c.tls_established();
        self.c.phase = Phase::AwaitHeader;
    }

    /// Sends an element on the stream (held back while the stream
    /// restarts). Server-to-server streams carry stanzas one way only: this
    /// is for stream-level elements, not for routing.
    pub fn send(&mut self, el: &Element) {
        if !self.c.is_closed() {
            self.send_or_defer(el.clone());
        }
    }

    /// Sends a stream error and closes the stream (for example
    /// `system-shutdown`).
    pub fn close_with(&mut self, error: StreamError) {
        self.write_error(&error);
    }

    /// Closes the stream cleanly.
    pub fn close(&mut self) {
        if !self.c.is_closed() {
            self.c.close();
        }
    }

    /// The next event, processing buffered input; `None` when more input
    /// (or TLS) is needed.
    #[must_use = "events must be acted on"]
    pub fn next_event(&mut self) -> Option<InboundEvent> {
        common::next_event(self)
    }

    fn authenticate(&mut self, from: DomainPart, to: DomainPart, method: AuthMethod) {
        if !self.is_authenticated(&from, &to) {
            self.pairs.push((from.clone(), to.clone()));
        }
        self.deadline = None;
        self.c
            .push(InboundEvent::Authenticated { from, to, method });
    }

    /// Writes `el` now if our stream is open, else keeps it for when it is.
    fn send_or_defer(&mut self, el: Element) {
        if self.c.is_open() {
            self.c.send(&el);
        } else {
            self.deferred.push(el);
        }
    }

    /// Sends a stream error and closes the stream, then reports it.
    fn fail(&mut self, error: StreamError) {
        if self.write_error(&error) {
            self.c.push(InboundEvent::Failed(error));
        }
    }

    /// Sends a stream error and closes the stream (opening one first if
    /// needed); false if the stream was already closed.
    fn write_error(&mut self, error: &StreamError) -> bool {
        let local = self.local.as_ref();
        self.c.write_error(
            || server_header(local, None, Some(random_id()), true),
            error,
        )
    }

    fn on_header(&mut self, h: StreamHeader) {
        let local = match &h.to {
            Some(to) if to.node().is_none() && to.resource().is_none() => {
                Some(to.domain_part()).filter(|d| self.hooks.serves(d))
            }
            _ => None,
        };
        let Some(local) = local else {
            self.fail(
                StreamError::new(Condition::HostUnknown)
                    .with_text("this server does not serve that domain"),
            );
            return;
        };
        if self.local.as_ref().is_some_and(|prev| *prev != local) {
            self.fail(
                StreamError::new(Condition::HostUnknown).with_text("the domain changed on restart"),
            );
            return;
        }
        self.local = Some(local.clone());
        let peer = match &h.from {
            None => None,
            Some(f) if f.node().is_none() && f.resource().is_none() => Some(f.domain_part()),
            Some(_) => {
                self.fail(
                    StreamError::new(Condition::InvalidFrom)
                        .with_text("the 'from' of a server stream is a domain"),
                );
                return;
            }
        };
        if let (Some((authenticated, _)), Some(p)) = (&self.sasl_pair, &peer) {
            if authenticated != p {
                self.fail(
                    StreamError::new(Condition::InvalidFrom)
                        .with_text("the 'from' changed after authentication"),
                );
                return;
            }
        }
        self.peer = peer;
        // RFC 6120 §4.7.5: no version from the peer, none in our answer
        // and no features.
        self.legacy = h.version.is_none();
        let id = random_id();
        self.stream_id = Some(id.clone());
        let header = server_header(Some(&local), self.peer.as_ref(), Some(id), !self.legacy);
        self.c.open(&header);
        self.c.phase = Phase::Open;
        self.sasl = None;
        if !self.legacy {
            let Some(features) = self.features(local) else {
                return;
            };
            self.c.features(&features);
        }
        for el in std::mem::take(&mut self.deferred) {
            self.c.send(&el);
        }
    }

    /// The features to offer on the stream just opened (and sets up SASL);
    /// `None` if the stream failed.
    fn features(&mut self, local: DomainPart) -> Option<Features> {
        let mut f = Features::default();
        if self.tls.is_none() {
            if self.settings.tls_required && !self.settings.tls_available {
                self.fail(
                    StreamError::new(Condition::UndefinedCondition)
                        .with_text("TLS is required but no certificate is configured"),
                );
                return None;
            }
            if self.settings.tls_available {
                f.starttls = Some(StartTls {
                    required: self.settings.tls_required,
                });
            }
            // RFC 6120 §5.3.1: with TLS mandatory, offer nothing else.
            if !self.settings.tls_required && self.settings.dialback_allowed {
                f.other.push(dialback_feature());
            }
            return Some(f);
        }
        if self.sasl_pair.is_none() {
            let verified = self
                .peer
                .clone()
                .filter(|p| self.tls.as_ref().is_some_and(|t| t.verified_for(p)));
            let mut conn = ServerConnection::new(local);
            conn.tls = true;
            conn.external_identity = verified.map(BareJid::from);
            let sasl = SaslServer::new(sasl_config(), Arc::new(MemoryStore::new()), conn);
            f.mechanisms = sasl.mechanism_names();
            self.sasl = Some(sasl);
        }
        if self.settings.dialback_allowed {
            f.other.push(dialback_feature());
        }
        Some(f)
    }

    fn on_element(&mut self, el: Element) {
        if self.c.phase != Phase::Open {
            return;
        }
        match el.ns() {
            ns::TLS if el.name() == "starttls" => self.on_starttls(),
            ns::SASL => self.on_sasl(&el),
            ns::DIALBACK => match DbElement::parse(&el) {
                Some(Ok(db)) => self.on_dialback(db),
                Some(Err(DbParseError::Addressing)) => self.fail(
                    StreamError::new(Condition::ImproperAddressing)
                        .with_text("a dialback element needs 'from' and 'to' domains (and 'id')"),
                ),
                Some(Err(DbParseError::BadType)) => self.fail(
                    StreamError::new(Condition::InvalidXml).with_text("unknown dialback 'type'"),
                ),
                None => self.fail(
                    StreamError::new(Condition::UnsupportedStanzaType)
                        .with_text("unknown dialback element"),
                ),
            },
            _ if is_stanza(&el) => self.on_stanza(el),
            _ if self.pairs.is_empty() => self
                .fail(StreamError::new(Condition::NotAuthorized).with_text("authenticate first")),
            _ => self.fail(
                StreamError::new(Condition::UnsupportedStanzaType)
                    .with_text("not a stanza of a server stream"),
            ),
        }
    }

    fn on_starttls(&mut self) {
        let possible = !self.legacy
            && self.tls.is_none()
            && self.settings.tls_available
            && self.pairs.is_empty()
            && self.pending.is_empty();
        if !possible {
            // RFC 6120 §5.4.2.2: failure, then close.
            self.c.send(&Element::new("failure", ns::TLS));
            self.c.close();
            self.c.push(InboundEvent::Failed(
                StreamError::new(Condition::UndefinedCondition).with_text("STARTTLS refused"),
            ));
            return;
        }
        self.c.send(&Element::new("proceed", ns::TLS));
        self.c.start_tls(InboundEvent::StartTls);
    }

    fn on_sasl(&mut self, el: &Element) {
        if self.tls.is_none() {
            let f =
                Failure::new(SaslCondition::EncryptionRequired).with_text("negotiate TLS first");
            self.c.send(&f.to_element());
            return;
        }
        let Some(sasl) = self.sasl.as_mut() else {
            self.fail(
                StreamError::new(Condition::PolicyViolation)
                    .with_text("SASL is not offered on this stream"),
            );
            return;
        };
        let step = match sasl.receive(el) {
            Ok(step) => step,
            Err(_) => {
                self.fail(
                    StreamError::new(Condition::PolicyViolation)
                        .with_text("the SASL exchange is over"),
                );
                return;
            }
        };
        match step {
            ServerStep::Challenge(c) => self.c.send(&c),
            ServerStep::Success {
                element,
                authenticated,
            } => {
                self.c.send(&element);
                self.sasl = None;
                let (Some(to), from) = (self.local.clone(), authenticated.jid.domain_part()) else {
                    return;
                };
                self.sasl_pair = Some((from.clone(), to.clone()));
                self.c.restart();
                self.c.phase = Phase::AwaitHeader;
                self.authenticate(from, to, AuthMethod::External);
            }
            ServerStep::Failure { element, retry, .. } => {
                self.c.send(&element);
                if !retry {
                    // RFC 6120 §6.4.5: retries exhausted.
                    self.fail(
                        StreamError::new(Condition::PolicyViolation)
                            .with_text("too many failed attempts"),
                    );
                }
            }
        }
    }

    fn on_stanza(&mut self, el: Element) {
        if self.pairs.is_empty() {
            self.fail(StreamError::new(Condition::NotAuthorized).with_text("authenticate first"));
            return;
        }
        let address = |name: &str| el.attr(name).and_then(|v| Jid::new(v).ok());
        let (Some(from), Some(to)) = (address("from"), address("to")) else {
            self.fail(
                StreamError::new(Condition::ImproperAddressing)
                    .with_text("a stanza between servers needs valid 'from' and 'to' addresses"),
            );
            return;
        };
        let (from, to) = (from.domain_part(), to.domain_part());
        let condition = if !self.pairs.iter().any(|(f, _)| *f == from) {
            Some((
                Condition::InvalidFrom,
                "the 'from' domain is not authenticated on this stream",
            ))
        } else if !self.hooks.serves(&to) {
            Some((
                Condition::HostUnknown,
                "this server does not serve the 'to' domain",
            ))
        } else if !self.is_authenticated(&from, &to) {
            Some((
                Condition::ImproperAddressing,
                "this domain pair is not authenticated on this stream",
            ))
        } else {
            None
        };
        match condition {
            Some((c, text)) => self.fail(StreamError::new(c).with_text(text)),
            None => self.c.push(InboundEvent::Stanza(el)),
        }
    }
}

impl<H: S2sHooks> Negotiator for S2sInbound<H> {
    type Phase = Phase;
    type Event = InboundEvent;

    fn common(&mut self) -> &mut Common<Phase, InboundEvent> {
        &mut self.c
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Header(h) => self.on_header(h),
            Event::Keepalive => {}
            Event::Closed => {
                self.c.close();
                self.c.push(InboundEvent::Closed { peer_error: None });
            }
            Event::Error(e) => {
                self.c.close();
                self.c.push(InboundEvent::Closed {
                    peer_error: Some(e),
                });
            }
            Event::Features(_) => self.fail(
                StreamError::new(Condition::UnsupportedStanzaType)
                    .with_text("the initiating server does not send stream features"),
            ),
            Event::Element(el) => self.on_element(el),
        }
    }

    fn on_broken(&mut self, error: StreamError) {
        self.fail(error);
    }
}

machine!(impl[H: S2sHooks] S2sInbound<H> => InboundEvent);
