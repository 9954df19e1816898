//! The receiving entity's stream negotiation (RFC 6120 §4.3, §5, §6, §7).

use std::sync::Arc;
use std::time::{Duration, Instant};

use starling_jid::{BareJid, DomainPart, FullJid, Jid};
use starling_stanza::{
    Bind, Iq, IqKind, Payload, SmFailed, SmResume, StanzaError, StanzaErrorCondition, error_reply,
};
use starling_stream::{
    Condition, ContentNamespace, Event, Features, Session, StartTls, StreamError, StreamHeader, ns,
    random_id,
};
use starling_xml::{BytesMut, Element, Limits};

use super::common::{self, Common, Lifecycle, Negotiator, machine};

use crate::sasl::{
    Authenticated, ChannelBinding, Condition as SaslCondition, CredentialStore, Failure,
    SaslServer, ServerConfig, ServerConnection, ServerError, ServerStep,
};

mod offload;

use offload::Job;
pub use offload::{SaslDone, SaslJob};

/// What the server's negotiator asks of the application.
pub trait ServerHooks {
    /// Whether this server serves `domain` (the stream's `to`).
    fn serves(&self, domain: &DomainPart) -> bool;

    /// The domain to use when the client's header has no `to`
    /// (RFC 6120 §4.7.2); `None` answers `host-unknown`.
    fn default_domain(&self) -> Option<DomainPart> {
        None
    }

    /// Binds a resource for `user` (RFC 6120 §7): `requested` is the
    /// resource the client asked for, already checked to be a valid
    /// resourcepart, or `None` for a server-generated one. Apply the
    /// conflict policy here; an error is sent back as the iq error.
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError>;
}

/// Settings of the server's negotiator.
#[derive(Clone)]
pub struct ServerSettings {
    /// STARTTLS can be offered (a certificate is configured).
    pub tls_available: bool,
    /// TLS must be negotiated before SASL (RFC 6120 §5.3.1). Default: true.
    pub tls_required: bool,
    /// SASL policy.
    pub sasl: Arc<ServerConfig>,
    /// Account credentials.
    pub store: Arc<dyn CredentialStore>,
    /// Advertise the legacy session feature (as optional) and answer
    /// session requests. Default: true (older clients send it).
    pub legacy_session: bool,
    /// Features added to the post-authentication features (roster
    /// versioning, pre-approval, stream management, …).
    pub extra_features: Features,
    /// Tokenizer limits for this stream (`max_element_bytes` is the stanza
    /// size limit).
    pub limits: Limits,
    /// How long negotiation may take before `connection-timeout`.
    pub timeout: Duration,
    /// Run the SASL steps that look credentials up and derive keys
    /// (`<auth/>`, `<response/>`) outside the negotiator: instead of
    /// running them inline, it hands each out as a [`SaslJob`]
    /// ([`ServerNegotiator::take_sasl_job`]) for a blocking thread, and
    /// waits for [`ServerNegotiator::sasl_done`]. Default: false (inline).
    pub offload_sasl: bool,
    /// With [`offload_sasl`](Self::offload_sasl): hand out the light
    /// steps too (SCRAM's client-final, a few HMACs), so that the caller
    /// sees the outcome of every step, e.g. to throttle failed logins;
    /// [`SaslJob::is_light`] says which jobs may run inline. Default:
    /// false (light steps run inline).
    pub offload_light_sasl: bool,
    /// Offer XEP-0198 stream management (`<sm xmlns='urn:xmpp:sm:3'/>`)
    /// after authentication and accept `<resume/>` in place of binding
    /// ([`ServerEvent::Resume`]). What `<enable/>`, `<r/>` and `<a/>`
    /// mean after binding is the application's business: they come out
    /// as [`ServerEvent::Stanza`]. Default: false.
    pub stream_management: bool,
}

impl std::fmt::Debug for ServerSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("tls_available", &self.tls_available)
            .field("tls_required", &self.tls_required)
            .field("legacy_session", &self.legacy_session)
            .field("timeout", &self.timeout)
            .field("offload_sasl", &self.offload_sasl)
            .field("offload_light_sasl", &self.offload_light_sasl)
            .field("stream_management", &self.stream_management)
            .finish_non_exhaustive()
    }
}

impl ServerSettings {
    /// Settings with the defaults and the given credential store.
    pub fn new(store: Arc<dyn CredentialStore>) -> Self {
        ServerSettings {
            tls_available: true,
            tls_required: true,
            sasl: Arc::new(ServerConfig::default()),
            store,
            legacy_session: true,
            extra_features: Features::default(),
            limits: Limits::default(),
            timeout: Duration::from_secs(60),
            offload_sasl: false,
            offload_light_sasl: false,
            stream_management: false,
        }
    }
}

/// What happened on a server-side stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// `<proceed/>` has been written: send the output, then run the TLS
    /// handshake on the connection and call
    /// [`ServerNegotiator::tls_established`]. Bytes read before the
    /// handshake were discarded.
    StartTls,
    /// SASL succeeded.
    Authenticated(Authenticated),
    /// A resource was bound: the session is ready, stanzas follow.
    Bound(FullJid),
    /// The authenticated client asks to resume a XEP-0198 session in
    /// place of binding a resource (only with
    /// [`ServerSettings::stream_management`]). Nothing more is read until
    /// the application answers with
    /// [`ServerNegotiator::resume_accepted`] or
    /// [`ServerNegotiator::resume_refused`].
    Resume {
        /// The authenticated account.
        user: BareJid,
        /// The request.
        request: SmResume,
    },
    /// A stanza (or other top-level element) from the bound client; its
    /// `from` has not been checked or stamped.
    Stanza(Element),
    /// The stream is over: the peer closed it (our close is in the output)
    /// or sent a stream error (`peer_error`).
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
    /// Features sent before authentication.
    PreAuth,
    TlsPending,
    /// Features sent after authentication.
    Bind,
    /// A XEP-0198 `<resume/>` is with the application.
    Resuming,
    Ready,
    Closed,
}

impl Lifecycle for Phase {
    const CLOSED: Self = Phase::Closed;
    const TLS_PENDING: Self = Phase::TlsPending;
}

/// A sans-IO server-side stream negotiator: STARTTLS, SASL, resource
/// binding, then the bound session's stanzas.
///
/// Feed it the bytes read from the connection (decrypted, once TLS is on),
/// take [`ServerEvent`]s, and write [`take_output`](Self::take_output) to
/// the connection. It emits the right stream error or SASL failure for
/// every out-of-order or malformed step: `<auth/>` before STARTTLS when TLS
/// is required gets `encryption-required`; stanzas before authentication or
/// before binding get the `not-authorized` stream error; a header for a
/// domain not served gets `host-unknown`.
///
/// It is driven as the [module documentation](super#driving-a-machine)
/// says. With [`ServerSettings::offload_sasl`], the SASL steps that check
/// credentials come out as jobs instead: see
/// [`take_sasl_job`](Self::take_sasl_job).
///
/// See the crate documentation for a complete exchange.
pub struct ServerNegotiator<H: ServerHooks> {
    settings: ServerSettings,
    hooks: H,
    c: Common<Phase, ServerEvent>,
    domain: Option<DomainPart>,
    tls_active: bool,
    channel_bindings: Vec<ChannelBinding>,
    external_identity: Option<BareJid>,
    sasl: Option<SaslServer>,
    authenticated: Option<Authenticated>,
    bound: Option<FullJid>,
    deadline: Option<Instant>,
    job: Job,
    /// The peer ended its stream (`</stream>` or a stream error), as
    /// opposed to the connection just breaking.
    peer_ended: bool,
    /// Stanzas the negotiator answered by itself since binding (legacy
    /// session requests), not yet taken by the application.
    own_replies: u32,
}

impl<H: ServerHooks> std::fmt::Debug for ServerNegotiator<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerNegotiator")
            .field("phase", &self.c.phase)
            .field("tls_active", &self.tls_active)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

impl<H: ServerHooks> ServerNegotiator<H> {
    /// A negotiator for a new connection accepted at `now`. `tls_active` is
    /// true on a direct TLS listener (XEP-0368), with the channel bindings
    /// that connection exported.
    pub fn new(
        settings: ServerSettings,
        hooks: H,
        tls: Option<Vec<ChannelBinding>>,
        now: Instant,
    ) -> Self {
        let deadline = now.checked_add(settings.timeout);
        ServerNegotiator {
            c: Common::new(
                ContentNamespace::Client,
                settings.limits,
                Phase::AwaitHeader,
            ),
            domain: None,
            tls_active: tls.is_some(),
            channel_bindings: tls.unwrap_or_default(),
            external_identity: None,
            sasl: None,
            authenticated: None,
            bound: None,
            deadline,
            job: Job::None,
            peer_ended: false,
            own_replies: 0,
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
            self.c.push(ServerEvent::Closed { peer_error: None });
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

    /// The bound full JID, once [`ServerEvent::Bound`] has been emitted.
    pub fn bound_jid(&self) -> Option<&FullJid> {
        self.bound.as_ref()
    }

    /// The SASL outcome, once authenticated.
    pub fn authenticated(&self) -> Option<&Authenticated> {
        self.authenticated.as_ref()
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        self.tls_active
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

    /// Time has passed: a negotiation still unfinished at its deadline is
    /// ended with `connection-timeout`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(d) = self.poll_timeout() {
            if now >= d {
                self.fail(
                    StreamError::new(Condition::ConnectionTimeout)
                        .with_text("negotiation took too long"),
                );
            }
        }
    }

    /// TLS is established after [`ServerEvent::StartTls`]: the stream
    /// restarts. `channel_bindings` are what the TLS layer exported (for
    /// `-PLUS` mechanisms); `external_identity` is the identity verified in
    /// the client's certificate, if any (for `EXTERNAL`).
    pub fn tls_established(
        &mut self,
        channel_bindings: Vec<ChannelBinding>,
        external_identity: Option<BareJid>,
    ) {
        if self.c.phase != Phase::TlsPending {
            return;
        }
        self.tls_active = true;
        self.channel_bindings = channel_bindings;
        self.external_identity = external_identity;
        self.c.tls_established();
        self.c.phase = Phase::AwaitHeader;
    }

    /// Sends an element on the bound stream.
    pub fn send(&mut self, el: &Element) {
        if !self.c.is_closed() {
            self.c.send(el);
        }
    }

    /// Sends a stream error and closes the stream (for example
    /// `system-shutdown`, or `conflict` when another session takes over).
    pub fn close_with(&mut self, error: StreamError) {
        // The caller initiated this: no event needed.
        self.write_error(&error);
    }

    /// Closes the stream cleanly.
    pub fn close(&mut self) {
        if !self.c.is_closed() {
            self.c.close();
        }
    }

    /// The next event, processing buffered input; `None` when more input
    /// (or TLS) is needed — or, with [`ServerSettings::offload_sasl`],
    /// while a [`SaslJob`] is outstanding.
    #[must_use = "events must be acted on"]
    pub fn next_event(&mut self) -> Option<ServerEvent> {
        common::next_event(self)
    }

    /// Sends a stream error and closes the stream, then reports it.
    fn fail(&mut self, error: StreamError) {
        if self.write_error(&error) {
            self.c.push(ServerEvent::Failed(error));
        }
    }

    /// Sends a stream error and closes the stream (opening one first if
    /// needed); false if the stream was already closed.
    fn write_error(&mut self, error: &StreamError) -> bool {
        let from: Option<Jid> = if self.c.is_open() {
            None
        } else {
            self.domain
                .clone()
                .or_else(|| self.hooks.default_domain())
                .map(Jid::from)
        };
        let header = || StreamHeader {
            content: ContentNamespace::Client,
            to: None,
            from,
            id: Some(random_id()),
            version: Some((1, 0)),
            lang: None,
            dialback: false,
        };
        self.c.write_error(header, error)
    }

    fn send_el(&mut self, el: &Element) {
        self.c.send(el);
    }

    fn on_header(&mut self, h: StreamHeader) {
        let domain = match &h.to {
            Some(to) if to.node().is_none() && to.resource().is_none() => Some(to.domain_part()),
            Some(_) => None,
            None => self.hooks.default_domain(),
        };
        let domain = match domain {
            Some(d) if self.hooks.serves(&d) => d,
            _ => {
                self.fail(
                    StreamError::new(Condition::HostUnknown)
                        .with_text("this server does not serve that domain"),
                );
                return;
            }
        };
        if let Some(prev) = &self.domain {
            if *prev != domain {
                self.fail(
                    StreamError::new(Condition::HostUnknown)
                        .with_text("the domain changed on restart"),
                );
                return;
            }
        }
        self.domain = Some(domain.clone());
        let response = StreamHeader::response(&h, Jid::from(domain.clone()), random_id());
        self.c.open(&response);
        if !h.is_v1() {
            self.fail(
                StreamError::new(Condition::UnsupportedVersion).with_text("XMPP 1.0 is required"),
            );
            return;
        }
        let features = if self.authenticated.is_some() {
            let mut f = self.settings.extra_features.clone();
            f.bind = true;
            if self.settings.legacy_session {
                f.session = Some(Session { optional: true });
            }
            if self.settings.stream_management && !f.other.iter().any(|e| e.is("sm", SM_NS)) {
                f.other.push(Element::new("sm", SM_NS));
            }
            self.c.phase = Phase::Bind;
            f
        } else {
            if !self.tls_active && self.settings.tls_required && !self.settings.tls_available {
                self.fail(
                    StreamError::new(Condition::UndefinedCondition)
                        .with_text("TLS is required but no certificate is configured"),
                );
                return;
            }
            let mut f = Features::default();
            if !self.tls_active && self.settings.tls_available {
                f.starttls = Some(StartTls {
                    required: self.settings.tls_required,
                });
            }
            if self.tls_active || !self.settings.tls_required {
                let sasl = self.new_sasl(domain);
                f.mechanisms = sasl.mechanism_names();
                self.sasl = Some(sasl);
                if !self.channel_bindings.is_empty() {
                    // XEP-0440: say which channel bindings -PLUS may use.
                    let mut cb = Element::new("sasl-channel-binding", super::SASL_CB_NS);
                    for b in &self.channel_bindings {
                        let mut t = Element::new("channel-binding", super::SASL_CB_NS);
                        t.set_attr("type", Some(b.kind().as_str()));
                        cb.append_child(t);
                    }
                    f.other.push(cb);
                }
            }
            self.c.phase = Phase::PreAuth;
            f
        };
        self.c.features(&features);
    }

    fn new_sasl(&self, domain: DomainPart) -> SaslServer {
        let mut conn = ServerConnection::new(domain);
        conn.tls = self.tls_active;
        conn.channel_bindings = self.channel_bindings.clone();
        conn.external_identity = self.external_identity.clone();
        SaslServer::new(
            self.settings.sasl.clone(),
            self.settings.store.clone(),
            conn,
        )
    }

    fn on_element(&mut self, el: Element) {
        match self.c.phase {
            Phase::PreAuth => self.pre_auth(el),
            Phase::Bind => self.bind_phase(el),
            Phase::Ready => {
                if el.is("iq", ns::CLIENT)
                    && el.attr("type") == Some("set")
                    && el.children().count() == 1
                    && el.has_child("session", ns::SESSION)
                {
                    // Legacy session establishment: nothing to do.
                    if let Ok(iq) = Iq::from_element(&el) {
                        self.send_el(&iq.result(None).to_element());
                        self.own_replies = self.own_replies.saturating_add(1);
                    }
                    return;
                }
                self.c.push(ServerEvent::Stanza(el));
            }
            Phase::AwaitHeader | Phase::TlsPending | Phase::Resuming | Phase::Closed => {}
        }
    }

    fn pre_auth(&mut self, el: Element) {
        if el.is("starttls", ns::TLS) {
            if self.tls_active || !self.settings.tls_available {
                // RFC 6120 §5.4.2.2: failure, then close.
                self.send_el(&Element::new("failure", ns::TLS));
                self.c.close();
                self.c.push(ServerEvent::Failed(
                    StreamError::new(Condition::UndefinedCondition).with_text("STARTTLS refused"),
                ));
                return;
            }
            self.send_el(&Element::new("proceed", ns::TLS));
            self.c.start_tls(ServerEvent::StartTls);
            return;
        }
        if el.ns() == ns::SASL {
            if !self.tls_active && self.settings.tls_required {
                let f = Failure::new(SaslCondition::EncryptionRequired)
                    .with_text("negotiate TLS first");
                self.send_el(&f.to_element());
                return;
            }
            let Some(sasl) = self.sasl.as_mut() else {
                return;
            };
            let light = sasl.step_is_light(&el);
            let offload =
                self.settings.offload_sasl && (!light || self.settings.offload_light_sasl);
            if offload && matches!(el.name(), "auth" | "response") {
                // The step runs elsewhere; nothing else is processed until
                // its result is back (`sasl_done`).
                if let Some(sasl) = self.sasl.take() {
                    let job = SaslJob {
                        sasl,
                        element: el,
                        light,
                    };
                    self.job = Job::Waiting(Box::new(job));
                    self.c.hold(true);
                }
                return;
            }
            let step = sasl.receive(&el);
            self.sasl_step(step);
            return;
        }
        self.fail(StreamError::new(Condition::NotAuthorized).with_text("authenticate first"));
    }

    /// Sends what a SASL step produced and acts on it.
    fn sasl_step(&mut self, step: Result<ServerStep, ServerError>) {
        let Ok(step) = step else {
            self.fail(
                StreamError::new(Condition::PolicyViolation).with_text("the SASL exchange is over"),
            );
            return;
        };
        match step {
            ServerStep::Challenge(c) => self.send_el(&c),
            ServerStep::Success {
                element,
                authenticated,
            } => {
                self.send_el(&element);
                self.authenticated = Some(authenticated.clone());
                self.sasl = None;
                self.c.restart();
                self.c.phase = Phase::AwaitHeader;
                self.c.push(ServerEvent::Authenticated(authenticated));
            }
            ServerStep::Failure { element, retry, .. } => {
                self.send_el(&element);
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

    fn bind_phase(&mut self, el: Element) {
        if self.settings.stream_management && el.ns() == SM_NS && self.sm_before_bind(&el) {
            return;
        }
        if !(el.is("iq", ns::CLIENT)
            && el.attr("type") == Some("set")
            && el.has_child("bind", ns::BIND))
        {
            self.fail(
                StreamError::new(Condition::NotAuthorized).with_text("bind a resource first"),
            );
            return;
        }
        let iq = match Iq::from_element(&el) {
            Ok(iq) => iq,
            Err(e) => {
                if let Some(reply) = error_reply(&el, &e.to_stanza_error(), false) {
                    self.send_el(&reply);
                }
                return;
            }
        };
        let request = match iq.payload_as::<Bind>() {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                self.send_el(&iq.error_reply(e.to_stanza_error()).to_element());
                return;
            }
            None => return,
        };
        let Some(auth) = self.authenticated.clone() else {
            return;
        };
        let user = auth.authorized_jid().bare();
        if let Some(r) = &request.resource {
            if starling_jid::ResourcePart::new(r).is_err() {
                let err = StanzaError::new(starling_stanza::StanzaErrorCondition::BadRequest)
                    .with_text("the resource is not a valid resourcepart");
                self.send_el(&iq.error_reply(err).to_element());
                return;
            }
        }
        match self.hooks.bind(&user, request.resource.as_deref()) {
            Ok(full) => {
                let reply = Iq {
                    header: starling_stanza::Header {
                        to: None,
                        from: None,
                        id: iq.header.id.clone(),
                        lang: None,
                    },
                    kind: IqKind::Result(Some(Bind::result(full.clone()).to_element())),
                };
                self.send_el(&reply.to_element());
                self.bound = Some(full.clone());
                self.c.phase = Phase::Ready;
                self.deadline = None;
                self.c.push(ServerEvent::Bound(full));
            }
            Err(e) => self.send_el(&iq.error_reply(e).to_element()),
        }
    }
}

/// XEP-0198's namespace.
const SM_NS: &str = starling_stanza::ns::SM;

impl<H: ServerHooks> ServerNegotiator<H> {
    /// A XEP-0198 element after authentication and before binding: a
    /// `<resume/>` goes to the application; `<enable/>` gets
    /// `unexpected-request` (§3: binding comes first). False for others.
    fn sm_before_bind(&mut self, el: &Element) -> bool {
        match el.name() {
            "resume" => {
                let (Some(auth), Ok(request)) =
                    (self.authenticated.as_ref(), SmResume::from_element(el))
                else {
                    self.send_el(
                        &SmFailed::with_condition(StanzaErrorCondition::BadRequest).to_element(),
                    );
                    return true;
                };
                let user = auth.authorized_jid().bare();
                self.c.phase = Phase::Resuming;
                self.c.hold(true);
                self.c.push(ServerEvent::Resume { user, request });
                true
            }
            "enable" => {
                self.send_el(
                    &SmFailed::with_condition(StanzaErrorCondition::UnexpectedRequest).to_element(),
                );
                true
            }
            _ => false,
        }
    }

    /// The XEP-0198 session asked for with [`ServerEvent::Resume`] is
    /// resumed as `jid`: `resumed` (the `<resumed/>` element) is sent and
    /// the stream is bound, as after [`ServerEvent::Bound`] (no such event
    /// follows).
    pub fn resume_accepted(&mut self, jid: FullJid, resumed: &Element) {
        if self.c.phase != Phase::Resuming {
            return;
        }
        self.send_el(resumed);
        self.bound = Some(jid);
        self.deadline = None;
        self.c.phase = Phase::Ready;
        self.c.hold(false);
    }

    /// The resumption asked for with [`ServerEvent::Resume`] failed:
    /// `failed` (the `<failed/>` element) is sent and the client may bind
    /// a resource instead (XEP-0198 §5).
    pub fn resume_refused(&mut self, failed: &Element) {
        if self.c.phase != Phase::Resuming {
            return;
        }
        self.send_el(failed);
        self.c.phase = Phase::Bind;
        self.c.hold(false);
    }

    /// Whether the peer ended its stream (`</stream>` or a stream error)
    /// rather than the connection just breaking (XEP-0198 keeps a session
    /// for resumption only in the second case).
    pub fn peer_ended_stream(&self) -> bool {
        self.peer_ended
    }

    /// How many stanzas the negotiator answered by itself since the last
    /// call (legacy session requests after binding): XEP-0198 counts them
    /// as sent.
    pub fn take_own_replies(&mut self) -> u32 {
        std::mem::take(&mut self.own_replies)
    }
}

impl<H: ServerHooks> Negotiator for ServerNegotiator<H> {
    type Phase = Phase;
    type Event = ServerEvent;

    fn common(&mut self) -> &mut Common<Phase, ServerEvent> {
        &mut self.c
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Header(h) => self.on_header(h),
            Event::Keepalive => {}
            Event::Closed => {
                self.peer_ended = true;
                self.c.close();
                self.c.push(ServerEvent::Closed { peer_error: None });
            }
            Event::Error(e) => {
                self.peer_ended = true;
                self.c.close();
                self.c.push(ServerEvent::Closed {
                    peer_error: Some(e),
                });
            }
            Event::Features(_) => self.fail(
                StreamError::new(Condition::UnsupportedStanzaType)
                    .with_text("a client does not send stream features"),
            ),
            Event::Element(el) => self.on_element(el),
        }
    }

    fn on_broken(&mut self, error: StreamError) {
        self.fail(error);
    }
}

machine!(impl[H: ServerHooks] ServerNegotiator<H> => ServerEvent);
