//! The initiating entity's stream negotiation (RFC 6120 §4.3, §5, §6, §7).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use starling_jid::{FullJid, Jid};
use starling_stanza::{Bind, Iq, IqKind, Payload, Session as SessionPayload, StanzaError};
use starling_stream::{
    Condition, ContentNamespace, Event, Features, Framer, FramerConfig, StreamError, StreamHeader,
    StreamWriter, ns,
};
use starling_xml::{Element, Limits};

use super::SASL_CB_NS;
use crate::sasl::{
    ChannelBinding, ClientConfig, ClientConnection, ClientError, ClientStep, Failure, SaslClient,
};

/// Settings of the client's negotiator.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The account: a bare JID, or a full JID whose resource is requested
    /// at binding (the server may assign another).
    pub jid: Jid,
    /// Refuse to continue without TLS (default true). When false, a server
    /// that does not offer STARTTLS is used in plaintext — for loopback
    /// tests only.
    pub require_tls: bool,
    /// Establish a legacy session when the server says it is not optional.
    pub legacy_session: bool,
    /// Tokenizer limits for the incoming stream.
    pub limits: Limits,
    /// How long negotiation may take.
    pub timeout: Duration,
}

impl ClientSettings {
    /// Defaults for `jid`: TLS required, legacy session when needed, 30 s.
    pub fn new(jid: Jid) -> Self {
        ClientSettings {
            jid,
            require_tls: true,
            legacy_session: true,
            limits: Limits {
                max_element_bytes: 4 * 1024 * 1024,
                ..Limits::default()
            },
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why client negotiation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The server offers no STARTTLS and TLS is required.
    #[error("the server does not offer TLS")]
    TlsUnavailable,
    /// The server answered `<starttls/>` with `<failure/>`.
    #[error("the server refused STARTTLS")]
    TlsRefused,
    /// No SASL mechanism both sides accept.
    #[error("SASL: {0}")]
    Sasl(ClientError),
    /// The server refused authentication.
    #[error("authentication failed: {0}")]
    AuthFailed(Failure),
    /// The server offers no resource binding after authentication.
    #[error("the server does not offer resource binding")]
    NoBind,
    /// Resource binding failed (`conflict`, `not-allowed`, …).
    #[error("resource binding failed: {0}")]
    BindFailed(StanzaError),
    /// Session establishment failed.
    #[error("session establishment failed: {0}")]
    SessionFailed(StanzaError),
    /// The server sent a stream error.
    #[error("{0}")]
    StreamError(StreamError),
    /// The server broke the protocol; we sent this stream error.
    #[error("protocol violation by the server: {0}")]
    Protocol(StreamError),
    /// The server closed the stream during negotiation.
    #[error("the server closed the stream")]
    Closed,
    /// Negotiation took longer than the configured timeout.
    #[error("negotiation timed out")]
    Timeout,
}

/// What happened on a client-side stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// `<proceed/>` arrived: run the TLS handshake on the connection (the
    /// output is empty), then call [`ClientNegotiator::tls_established`].
    StartTls,
    /// SASL succeeded.
    Authenticated,
    /// Bound: the session is ready with this full JID.
    Bound(FullJid),
    /// A stanza (or other top-level element) from the server.
    Stanza(Element),
    /// The server closed the stream after the session was ready (our
    /// close is in the output); `error` is the stream error it sent, if any.
    Closed {
        /// The server's stream error.
        error: Option<StreamError>,
    },
    /// Negotiation failed; the stream is closed.
    Failed(NegotiationError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitHeader,
    AwaitFeatures,
    AwaitProceed,
    TlsPending,
    Sasl,
    AwaitBind,
    AwaitSession,
    Ready,
    Closed,
}

const BIND_ID: &str = "bind_1";

/// The channel-binding types a server advertises (XEP-0440).
fn channel_binding_types(f: &Features) -> Vec<String> {
    f.other
        .iter()
        .filter(|e| e.is("sasl-channel-binding", SASL_CB_NS))
        .flat_map(|e| e.children().filter(|c| c.is("channel-binding", SASL_CB_NS)))
        .filter_map(|c| c.attr("type").map(str::to_owned))
        .collect()
}
const SESSION_ID: &str = "sess_1";

/// A sans-IO client-side stream negotiator: stream open, features,
/// STARTTLS (required by default), SASL with the strongest common
/// mechanism, restart, resource binding, optional legacy session, then the
/// session's stanzas.
///
/// Call [`start`](Self::start) and write the output; feed it what the
/// server sends; act on [`ClientEvent`]s.
pub struct ClientNegotiator {
    settings: ClientSettings,
    sasl_config: ClientConfig,
    sasl: Option<SaslClient>,
    framer: Framer,
    writer: StreamWriter,
    out: Vec<u8>,
    events: VecDeque<ClientEvent>,
    phase: Phase,
    tls_active: bool,
    channel_binding: Option<ChannelBinding>,
    authenticated: bool,
    session_needed: bool,
    bound: Option<FullJid>,
    stream_id: Option<String>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for ClientNegotiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientNegotiator")
            .field("phase", &self.phase)
            .field("tls_active", &self.tls_active)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

fn framer_for(limits: Limits) -> Framer {
    Framer::new(FramerConfig {
        expected: Some(ContentNamespace::Client),
        limits,
    })
}

impl ClientNegotiator {
    /// A negotiator for a new connection made at `now`. With `tls` (direct
    /// TLS, XEP-0368), TLS is already on with that channel binding.
    pub fn new(
        settings: ClientSettings,
        sasl: ClientConfig,
        tls: Option<Option<ChannelBinding>>,
        now: Instant,
    ) -> Self {
        ClientNegotiator {
            framer: framer_for(settings.limits),
            writer: StreamWriter::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            phase: Phase::AwaitHeader,
            tls_active: tls.is_some(),
            channel_binding: tls.flatten(),
            authenticated: false,
            session_needed: false,
            bound: None,
            stream_id: None,
            deadline: now.checked_add(settings.timeout),
            sasl_config: sasl,
            sasl: None,
            settings,
        }
    }

    /// Writes the initial stream header.
    pub fn start(&mut self) {
        self.open();
    }

    fn open(&mut self) {
        let to = Jid::from(self.settings.jid.domain_part());
        let mut header = StreamHeader::initial(ContentNamespace::Client, to).with_lang("en");
        if self.tls_active {
            // RFC 6120 §4.7.1: `from` only once the stream is protected.
            header.from = Some(Jid::from(self.settings.jid.bare()));
        }
        self.writer.open(&header, &mut self.out);
        self.phase = Phase::AwaitHeader;
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        if self.phase != Phase::TlsPending && self.phase != Phase::Closed {
            self.framer.feed(data);
        }
    }

    /// The connection reached end of file.
    pub fn eof(&mut self) {
        match self.phase {
            Phase::Closed => {}
            Phase::Ready => {
                self.phase = Phase::Closed;
                self.events.push_back(ClientEvent::Closed { error: None });
            }
            _ => {
                self.phase = Phase::Closed;
                self.events
                    .push_back(ClientEvent::Failed(NegotiationError::Closed));
            }
        }
    }

    /// The bytes to write, taken.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Whether the stream is over.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The bound full JID.
    pub fn bound_jid(&self) -> Option<&FullJid> {
        self.bound.as_ref()
    }

    /// The server's stream id.
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Ready | Phase::Closed) {
            None
        } else {
            self.deadline
        }
    }

    /// Time has passed: an unfinished negotiation at its deadline fails
    /// with [`NegotiationError::Timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.writer.close(&mut self.out);
            self.phase = Phase::Closed;
            self.events
                .push_back(ClientEvent::Failed(NegotiationError::Timeout));
        }
    }

    /// TLS is established after [`ClientEvent::StartTls`], with the channel
    /// binding the TLS layer exported (if any): the stream restarts.
    pub fn tls_established(&mut self, channel_binding: Option<ChannelBinding>) {
        if self.phase != Phase::TlsPending {
            return;
        }
        self.tls_active = true;
        self.channel_binding = channel_binding;
        self.framer = framer_for(self.settings.limits);
        self.writer.restart();
        self.open();
    }

    /// Sends an element once ready.
    pub fn send(&mut self, el: &Element) {
        if self.phase != Phase::Closed {
            self.writer.element(el, &mut self.out);
        }
    }

    /// Sends a whitespace keepalive.
    pub fn keepalive(&mut self) {
        if self.phase == Phase::Ready {
            self.writer.keepalive(&mut self.out);
        }
    }

    /// Closes the stream (`</stream:stream>`); the server's close follows
    /// as [`ClientEvent::Closed`].
    pub fn close(&mut self) {
        if self.writer.is_open() {
            self.writer.close(&mut self.out);
        }
    }

    /// The next event; `None` when more input (or TLS) is needed.
    pub fn next_event(&mut self) -> Option<ClientEvent> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Some(e);
            }
            if matches!(self.phase, Phase::Closed | Phase::TlsPending) {
                return None;
            }
            match self.framer.next_event() {
                Ok(None) => return None,
                Ok(Some(ev)) => self.on_event(ev),
                Err(e) => {
                    self.writer.error(&e.error, &mut self.out);
                    self.fail(NegotiationError::Protocol(e.error));
                }
            }
        }
    }

    fn fail(&mut self, e: NegotiationError) {
        if self.writer.is_open() {
            self.writer.close(&mut self.out);
        }
        self.phase = Phase::Closed;
        self.events.push_back(ClientEvent::Failed(e));
    }

    fn violation(&mut self, text: &str) {
        let err = StreamError::new(Condition::UnsupportedStanzaType).with_text(text);
        self.writer.error(&err, &mut self.out);
        self.fail(NegotiationError::Protocol(err));
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Header(h) => {
                if self.phase != Phase::AwaitHeader {
                    return;
                }
                self.stream_id = h.id;
                self.phase = Phase::AwaitFeatures;
            }
            Event::Features(f) if self.phase == Phase::AwaitFeatures => self.on_features(f),
            Event::Features(_) => self.violation("unexpected stream features"),
            Event::Keepalive => {}
            Event::Error(e) => {
                self.writer.close(&mut self.out);
                if self.phase == Phase::Ready {
                    self.phase = Phase::Closed;
                    self.events
                        .push_back(ClientEvent::Closed { error: Some(e) });
                } else {
                    self.phase = Phase::Closed;
                    self.events
                        .push_back(ClientEvent::Failed(NegotiationError::StreamError(e)));
                }
            }
            Event::Closed => {
                if self.writer.is_open() {
                    self.writer.close(&mut self.out);
                }
                if self.phase == Phase::Ready {
                    self.phase = Phase::Closed;
                    self.events.push_back(ClientEvent::Closed { error: None });
                } else {
                    self.phase = Phase::Closed;
                    self.events
                        .push_back(ClientEvent::Failed(NegotiationError::Closed));
                }
            }
            Event::Element(el) => self.on_element(el),
        }
    }

    fn on_features(&mut self, f: Features) {
        if !self.tls_active {
            if f.starttls.is_some() {
                self.writer
                    .element(&Element::new("starttls", ns::TLS), &mut self.out);
                self.phase = Phase::AwaitProceed;
                return;
            }
            if self.settings.require_tls {
                self.fail(NegotiationError::TlsUnavailable);
                return;
            }
        }
        if !self.authenticated {
            // Channel binding only with a type the server says it supports
            // (XEP-0440): servers that offer -PLUS without saying which
            // binding they implement often refuse the one we would pick.
            let advertised = channel_binding_types(&f);
            let channel_binding = self
                .channel_binding
                .clone()
                .filter(|cb| advertised.iter().any(|t| t == cb.kind().as_str()));
            let conn = ClientConnection {
                tls: self.tls_active,
                channel_binding,
            };
            let mut sasl = SaslClient::new(self.sasl_config.clone(), conn);
            match sasl.start(&f.mechanisms) {
                Ok(auth) => {
                    self.writer.element(&auth, &mut self.out);
                    self.sasl = Some(sasl);
                    self.phase = Phase::Sasl;
                }
                Err(e) => self.fail(NegotiationError::Sasl(e)),
            }
            return;
        }
        if !f.bind {
            self.fail(NegotiationError::NoBind);
            return;
        }
        self.session_needed =
            self.settings.legacy_session && f.session.is_some_and(|s| !s.optional);
        let resource = self.settings.jid.resource().map(str::to_owned);
        let iq = Iq::set(BIND_ID, Bind::request(resource));
        self.writer.element(&iq.to_element(), &mut self.out);
        self.phase = Phase::AwaitBind;
    }

    fn on_element(&mut self, el: Element) {
        match self.phase {
            Phase::AwaitProceed => {
                if el.is("proceed", ns::TLS) {
                    self.framer = framer_for(self.settings.limits);
                    self.phase = Phase::TlsPending;
                    self.events.push_back(ClientEvent::StartTls);
                } else if el.is("failure", ns::TLS) {
                    self.fail(NegotiationError::TlsRefused);
                } else {
                    self.violation("expected <proceed/>");
                }
            }
            Phase::Sasl => {
                let Some(sasl) = self.sasl.as_mut() else {
                    return;
                };
                match sasl.receive(&el) {
                    Ok(ClientStep::Response(r)) => self.writer.element(&r, &mut self.out),
                    Ok(ClientStep::Abort { element, .. }) => {
                        self.writer.element(&element, &mut self.out)
                    }
                    Ok(ClientStep::Success) => {
                        self.authenticated = true;
                        self.sasl = None;
                        self.framer.restart();
                        self.writer.restart();
                        self.events.push_back(ClientEvent::Authenticated);
                        self.open();
                    }
                    Ok(ClientStep::Failure(f)) => self.fail(NegotiationError::AuthFailed(f)),
                    Err(e) => self.fail(NegotiationError::Sasl(e)),
                }
            }
            Phase::AwaitBind | Phase::AwaitSession => self.on_iq_reply(el),
            Phase::Ready => self.events.push_back(ClientEvent::Stanza(el)),
            _ => self.violation("unexpected element during negotiation"),
        }
    }

    fn on_iq_reply(&mut self, el: Element) {
        let want = if self.phase == Phase::AwaitBind {
            BIND_ID
        } else {
            SESSION_ID
        };
        if !el.is("iq", ns::CLIENT) || el.attr("id") != Some(want) {
            self.violation("expected the reply to the binding request");
            return;
        }
        let iq = match Iq::from_element(&el) {
            Ok(iq) => iq,
            Err(_) => {
                self.violation("malformed iq reply");
                return;
            }
        };
        match (self.phase, iq.kind) {
            (Phase::AwaitBind, IqKind::Result(Some(p))) if p.is(Bind::NAME, Bind::NS) => {
                match Bind::from_element(&p).ok().and_then(|b| b.jid) {
                    Some(jid) => {
                        self.bound = Some(jid.clone());
                        if self.session_needed {
                            let iq = Iq::set(SESSION_ID, SessionPayload);
                            self.writer.element(&iq.to_element(), &mut self.out);
                            self.phase = Phase::AwaitSession;
                        } else {
                            self.ready(jid);
                        }
                    }
                    None => self.violation("the bind result has no JID"),
                }
            }
            (Phase::AwaitBind, IqKind::Error { error, .. }) => {
                self.fail(NegotiationError::BindFailed(error))
            }
            (Phase::AwaitSession, IqKind::Result(_)) => {
                if let Some(jid) = self.bound.clone() {
                    self.ready(jid);
                }
            }
            (Phase::AwaitSession, IqKind::Error { error, .. }) => {
                self.fail(NegotiationError::SessionFailed(error))
            }
            _ => self.violation("unexpected iq reply"),
        }
    }

    fn ready(&mut self, jid: FullJid) {
        self.phase = Phase::Ready;
        self.deadline = None;
        self.events.push_back(ClientEvent::Bound(jid));
    }
}
