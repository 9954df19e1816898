//! The initiating entity's stream negotiation (RFC 6120 §4.3, §5, §6, §7).

use std::time::{Duration, Instant};

use starling_jid::{FullJid, Jid};
use starling_stanza::{
    Bind, Iq, IqKind, Payload, Session as SessionPayload, SmFailed, SmResume, SmResumed,
    StanzaError,
};
use starling_stream::{
    Condition, ContentNamespace, Event, Features, StreamError, StreamHeader, ns,
};
use starling_xml::{BytesMut, Element, Limits};

use super::SASL_CB_NS;
use super::common::{self, Common, Lifecycle, Negotiator, machine};
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
    /// Resume this XEP-0198 stream instead of binding a resource, when the
    /// server offers stream management after authentication; `jid` must
    /// then be the full JID the old stream was bound to. The outcome is
    /// [`ClientEvent::Resumed`], or [`ClientEvent::ResumeFailed`] followed
    /// by a normal binding.
    pub resume: Option<SmResume>,
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
            resume: None,
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
    /// The XEP-0198 stream of [`ClientSettings::resume`] was resumed: the
    /// session is ready again with the same full JID, and the server has
    /// handled `h` stanzas of the old stream.
    Resumed(SmResumed),
    /// The server refused to resume (or offers no stream management); the
    /// negotiator binds a resource next ([`ClientEvent::Bound`]).
    ResumeFailed(SmFailed),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    AwaitHeader,
    AwaitFeatures,
    AwaitProceed,
    TlsPending,
    Sasl,
    AwaitResumed,
    AwaitBind,
    AwaitSession,
    Ready,
    Closed,
}

impl Lifecycle for Phase {
    const CLOSED: Self = Phase::Closed;
    const TLS_PENDING: Self = Phase::TlsPending;
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
/// mechanism, restart, resource binding (or, with
/// [`ClientSettings::resume`], XEP-0198 resumption when the server offers
/// it), optional legacy session, then the session's stanzas.
///
/// Call [`start`](Self::start) and write the output; feed it what the
/// server sends; act on [`ClientEvent`]s.
pub struct ClientNegotiator {
    settings: ClientSettings,
    sasl_config: ClientConfig,
    sasl: Option<SaslClient>,
    c: Common<Phase, ClientEvent>,
    tls_active: bool,
    channel_binding: Option<ChannelBinding>,
    authenticated: bool,
    session_needed: bool,
    bound: Option<FullJid>,
    stream_id: Option<String>,
    deadline: Option<Instant>,
    /// The stream features offered after authentication.
    features: Option<Features>,
}

impl std::fmt::Debug for ClientNegotiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientNegotiator")
            .field("phase", &self.c.phase)
            .field("tls_active", &self.tls_active)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
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
            c: Common::new(
                ContentNamespace::Client,
                settings.limits,
                Phase::AwaitHeader,
            ),
            tls_active: tls.is_some(),
            channel_binding: tls.flatten(),
            authenticated: false,
            session_needed: false,
            bound: None,
            stream_id: None,
            features: None,
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
        self.c.open(&header);
        self.c.phase = Phase::AwaitHeader;
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
        match self.c.phase {
            Phase::Closed => {}
            Phase::Ready => {
                self.c.phase = Phase::Closed;
                self.c.push(ClientEvent::Closed { error: None });
            }
            _ => {
                self.c.phase = Phase::Closed;
                self.c.push(ClientEvent::Failed(NegotiationError::Closed));
            }
        }
    }

    /// The bytes to write, taken.
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

    /// Whether the stream is over.
    pub fn is_closed(&self) -> bool {
        self.c.is_closed()
    }

    /// The bound full JID.
    pub fn bound_jid(&self) -> Option<&FullJid> {
        self.bound.as_ref()
    }

    /// The stream features the server offered after authentication
    /// (stream management, client state indication, …).
    pub fn features(&self) -> Option<&Features> {
        self.features.as_ref()
    }

    /// Ends the stream with this stream error (for example XEP-0198's
    /// `undefined-condition` with `<handled-count-too-high/>`).
    pub fn stream_error(&mut self, error: &StreamError) {
        if !self.c.is_closed() {
            self.c.error(error);
            self.c.close();
        }
    }

    /// The server's stream id.
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use = "the deadline must be waited for"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.c.phase, Phase::Ready | Phase::Closed) {
            None
        } else {
            self.deadline
        }
    }

    /// Time has passed: an unfinished negotiation at its deadline fails
    /// with [`NegotiationError::Timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|d| now >= d) {
            self.c.close();
            self.c.push(ClientEvent::Failed(NegotiationError::Timeout));
        }
    }

    /// TLS is established after [`ClientEvent::StartTls`], with the channel
    /// binding the TLS layer exported (if any): the stream restarts.
    pub fn tls_established(&mut self, channel_binding: Option<ChannelBinding>) {
        if self.c.phase != Phase::TlsPending {
            return;
        }
        self.tls_active = true;
        self.channel_binding = channel_binding;
        self.c.tls_established();
        self.open();
    }

    /// Sends an element once ready.
    pub fn send(&mut self, el: &Element) {
        if !self.c.is_closed() {
            self.c.send(el);
        }
    }

    /// Sends a whitespace keepalive.
    pub fn keepalive(&mut self) {
        if self.c.phase == Phase::Ready {
            self.c.keepalive();
        }
    }

    /// Closes the stream (`</stream:stream>`); the server's close follows
    /// as [`ClientEvent::Closed`].
    pub fn close(&mut self) {
        self.c.end_stream();
    }

    /// The next event; `None` when more input (or TLS) is needed.
    #[must_use = "events must be acted on"]
    pub fn next_event(&mut self) -> Option<ClientEvent> {
        common::next_event(self)
    }

    fn fail(&mut self, e: NegotiationError) {
        self.c.close();
        self.c.push(ClientEvent::Failed(e));
    }

    fn violation(&mut self, text: &str) {
        let err = StreamError::new(Condition::UnsupportedStanzaType).with_text(text);
        self.c.error(&err);
        self.fail(NegotiationError::Protocol(err));
    }

    /// The server ended its stream, with a stream error or without.
    fn on_peer_close(&mut self, error: Option<StreamError>) {
        let ready = self.c.phase == Phase::Ready;
        self.c.close();
        self.c.push(match (ready, error) {
            (true, error) => ClientEvent::Closed { error },
            (false, Some(e)) => ClientEvent::Failed(NegotiationError::StreamError(e)),
            (false, None) => ClientEvent::Failed(NegotiationError::Closed),
        });
    }

    fn on_features(&mut self, f: Features) {
        if !self.tls_active {
            if f.starttls.is_some() {
                self.c.send(&Element::new("starttls", ns::TLS));
                self.c.phase = Phase::AwaitProceed;
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
                    self.c.send(&auth);
                    self.sasl = Some(sasl);
                    self.c.phase = Phase::Sasl;
                }
                Err(e) => self.fail(NegotiationError::Sasl(e)),
            }
            return;
        }
        let sm_offered = f.other.iter().any(|e| e.is("sm", starling_stanza::ns::SM));
        self.features = Some(f.clone());
        if let Some(resume) = self.settings.resume.clone() {
            if sm_offered {
                self.c.send(&resume.to_element());
                self.c.phase = Phase::AwaitResumed;
                return;
            }
            self.c.push(ClientEvent::ResumeFailed(SmFailed::default()));
        }
        self.bind(&f);
    }

    fn bind(&mut self, f: &Features) {
        if !f.bind {
            self.fail(NegotiationError::NoBind);
            return;
        }
        self.session_needed =
            self.settings.legacy_session && f.session.is_some_and(|s| !s.optional);
        let resource = self.settings.jid.resource().map(str::to_owned);
        let iq = Iq::set(BIND_ID, Bind::request(resource));
        self.c.send(&iq.to_element());
        self.c.phase = Phase::AwaitBind;
    }

    fn on_element(&mut self, el: Element) {
        match self.c.phase {
            Phase::AwaitProceed => {
                if el.is("proceed", ns::TLS) {
                    self.c.start_tls(ClientEvent::StartTls);
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
                    Ok(ClientStep::Response(r)) => self.c.send(&r),
                    Ok(ClientStep::Abort { element, .. }) => self.c.send(&element),
                    Ok(ClientStep::Success) => {
                        self.authenticated = true;
                        self.sasl = None;
                        self.c.restart();
                        self.c.push(ClientEvent::Authenticated);
                        self.open();
                    }
                    Ok(ClientStep::Failure(f)) => self.fail(NegotiationError::AuthFailed(f)),
                    Err(e) => self.fail(NegotiationError::Sasl(e)),
                }
            }
            Phase::AwaitResumed => self.on_resume_answer(&el),
            Phase::AwaitBind | Phase::AwaitSession => self.on_iq_reply(el),
            Phase::Ready => self.c.push(ClientEvent::Stanza(el)),
            _ => self.violation("unexpected element during negotiation"),
        }
    }

    /// `<resumed/>` or `<failed/>` (XEP-0198 §5).
    fn on_resume_answer(&mut self, el: &Element) {
        if el.is(SmResumed::NAME, SmResumed::NS) {
            let jid = FullJid::try_from(self.settings.jid.clone()).ok();
            match (SmResumed::from_element(el), jid) {
                (Ok(r), Some(jid)) => {
                    self.bound = Some(jid);
                    self.c.phase = Phase::Ready;
                    self.deadline = None;
                    self.c.push(ClientEvent::Resumed(r));
                }
                _ => self.violation("malformed <resumed/>"),
            }
        } else if el.is(SmFailed::NAME, SmFailed::NS) {
            let failed = SmFailed::from_element(el).unwrap_or_default();
            self.c.push(ClientEvent::ResumeFailed(failed));
            match self.features.clone() {
                Some(f) => self.bind(&f),
                None => self.fail(NegotiationError::NoBind),
            }
        } else {
            self.violation("expected <resumed/> or <failed/>");
        }
    }

    fn on_iq_reply(&mut self, el: Element) {
        let want = if self.c.phase == Phase::AwaitBind {
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
        match (self.c.phase, iq.kind) {
            (Phase::AwaitBind, IqKind::Result(Some(p))) if p.is(Bind::NAME, Bind::NS) => {
                match Bind::from_element(&p).ok().and_then(|b| b.jid) {
                    Some(jid) => {
                        self.bound = Some(jid.clone());
                        if self.session_needed {
                            let iq = Iq::set(SESSION_ID, SessionPayload);
                            self.c.send(&iq.to_element());
                            self.c.phase = Phase::AwaitSession;
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
        self.c.phase = Phase::Ready;
        self.deadline = None;
        self.c.push(ClientEvent::Bound(jid));
    }
}

impl Negotiator for ClientNegotiator {
    type Phase = Phase;
    type Event = ClientEvent;

    fn common(&mut self) -> &mut Common<Phase, ClientEvent> {
        &mut self.c
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Header(h) => {
                if self.c.phase != Phase::AwaitHeader {
                    return;
                }
                self.stream_id = h.id;
                self.c.phase = Phase::AwaitFeatures;
            }
            Event::Features(f) if self.c.phase == Phase::AwaitFeatures => self.on_features(f),
            Event::Features(_) => self.violation("unexpected stream features"),
            Event::Keepalive => {}
            Event::Error(e) => self.on_peer_close(Some(e)),
            Event::Closed => self.on_peer_close(None),
            Event::Element(el) => self.on_element(el),
        }
    }

    fn on_broken(&mut self, error: StreamError) {
        self.c.error(&error);
        self.fail(NegotiationError::Protocol(error));
    }
}

machine!(impl[] ClientNegotiator => ClientEvent);
