//! The initiating side of a server-to-server stream.

use std::time::Instant;

use starling_jid::DomainPart;
use starling_stream::{Condition, ContentNamespace, Event, Features, StreamError, ns};
use starling_xml::{BytesMut, Element};

use super::{AuthMethod, PeerTls, S2sError, S2sSettings, server_header};
use crate::dialback::{DbElement, DbParseError};
use crate::negotiate::common::{self, Common, Lifecycle, Negotiator, machine};
use crate::sasl::{ClientConfig, ClientConnection, ClientStep, Mechanism, SaslClient};

mod requests;

/// What happened on an outgoing server-to-server stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundEvent {
    /// `<proceed/>` arrived: run the TLS handshake (SNI and certificate
    /// verification for the remote domain, our certificate presented if we
    /// have one), then call [`S2sOutbound::tls_established`].
    StartTls,
    /// The first domain pair is authenticated: stanzas from `local` to
    /// `remote` may be sent.
    Ready {
        /// Our domain (the Sender Domain).
        local: DomainPart,
        /// The peer's domain (the Target Domain).
        remote: DomainPart,
        /// How.
        method: AuthMethod,
    },
    /// A further pair asked for with
    /// [`authenticate_additional`](S2sOutbound::authenticate_additional)
    /// is authenticated.
    PairReady {
        /// Our domain.
        local: DomainPart,
        /// The peer's domain.
        remote: DomainPart,
    },
    /// A further pair was refused. After [`S2sError::DialbackInvalid`] the
    /// peer closes the stream; after a dialback error the stream stays.
    PairFailed {
        /// Our domain.
        local: DomainPart,
        /// The peer's domain.
        remote: DomainPart,
        /// Why.
        error: S2sError,
    },
    /// The Authoritative Server answered a [`S2sOutbound::verify`] request.
    Verified {
        /// The stream id the request was about.
        stream_id: String,
        /// Whether the key is valid.
        valid: bool,
    },
    /// A [`S2sOutbound::verify`] request got no answer: a dialback error,
    /// the stream closing, or the timeout.
    VerifyFailed {
        /// The stream id the request was about.
        stream_id: String,
        /// Why.
        error: S2sError,
    },
    /// The stream is over after it was established (our close is in the
    /// output); `error` is the stream error the peer sent, if any.
    Closed {
        /// The peer's stream error.
        error: Option<StreamError>,
    },
    /// Negotiation failed; the stream is closed.
    Failed(S2sError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    AwaitHeader,
    AwaitFeatures,
    AwaitProceed,
    TlsPending,
    Sasl,
    /// `<db:result/>` for the first pair is out.
    Dialback,
    /// Established: stanzas (authenticating stream) or verification
    /// requests (verifier) may be sent.
    Ready,
    Closed,
}

impl Lifecycle for Phase {
    const CLOSED: Self = Phase::Closed;
    const TLS_PENDING: Self = Phase::TlsPending;
}

#[derive(Debug)]
struct Pending {
    /// Our domain (a pair), or the stream id (a verification).
    what: String,
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct QueuedVerify {
    stream_id: String,
    key: String,
    deadline: Option<Instant>,
}

/// A sans-IO negotiator for a server-to-server connection we opened, to
/// send stanzas from `local` to `remote` — or, as a
/// [verifier](Self::verifier), to ask `remote`'s Authoritative Server about
/// dialback keys.
///
/// The stream header (`from` = local, `to` = remote, with the dialback
/// prefix) is written when it is created; feed it what the peer sends, act
/// on [`OutboundEvent`]s and write [`take_output`](Self::take_output).
///
/// 1. STARTTLS when offered (for a verifier with
///    [`S2sSettings::verify_without_tls`], only when the peer requires it);
///    without it, [`S2sError::TlsUnavailable`] if TLS is required.
/// 2. SASL `EXTERNAL` (authzid: our domain, XEP-0178) when TLS is on, we
///    present a certificate ([`S2sSettings::have_client_cert`]) and the
///    peer offers it; after a SASL failure, dialback if possible.
/// 3. Otherwise dialback, when allowed and the peer supports it (the
///    `urn:xmpp:features:dialback` feature, or the dialback prefix on its
///    header — the only sign a pre-1.0 server gives): `<db:result/>` with
///    the XEP-0185 key for the peer's stream id.
///
/// See [`S2sInbound`](super::S2sInbound) for a complete dialback exchange.
pub struct S2sOutbound {
    settings: S2sSettings,
    local: DomainPart,
    remote: DomainPart,
    verifier: bool,
    c: Common<Phase, OutboundEvent>,
    tls: Option<PeerTls>,
    stream_id: Option<String>,
    /// The peer's header declared the dialback prefix.
    header_dialback: bool,
    /// The peer does dialback (header prefix or feature).
    peer_dialback: bool,
    sasl: Option<SaslClient>,
    sasl_done: bool,
    sasl_failed: bool,
    method: Option<AuthMethod>,
    /// Authenticated local domains.
    pairs: Vec<DomainPart>,
    pending_pairs: Vec<Pending>,
    queued_verifies: Vec<QueuedVerify>,
    pending_verifies: Vec<Pending>,
    deadline: Option<Instant>,
}

impl std::fmt::Debug for S2sOutbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S2sOutbound")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("verifier", &self.verifier)
            .field("phase", &self.c.phase)
            .field("tls", &self.tls)
            .field("pairs", &self.pairs)
            .finish_non_exhaustive()
    }
}

impl S2sOutbound {
    /// A stream from `local` to `remote` on a connection made at `now`;
    /// `tls` is `Some` for direct TLS (XEP-0368), where the handshake
    /// already took place. The header is in the output.
    pub fn new(
        settings: S2sSettings,
        local: DomainPart,
        remote: DomainPart,
        tls: Option<PeerTls>,
        now: Instant,
    ) -> Self {
        Self::build(settings, local, remote, tls, now, false)
    }

    /// A verify-only stream (XEP-0220 §2.1.2): `local` is our domain (the
    /// Target Domain of the keys to verify), `remote` the domain whose
    /// Authoritative Server is asked. Queue requests with
    /// [`verify`](Self::verify); close the stream when the answers are in.
    pub fn verifier(
        settings: S2sSettings,
        local: DomainPart,
        remote: DomainPart,
        tls: Option<PeerTls>,
        now: Instant,
    ) -> Self {
        Self::build(settings, local, remote, tls, now, true)
    }

    fn build(
        settings: S2sSettings,
        local: DomainPart,
        remote: DomainPart,
        tls: Option<PeerTls>,
        now: Instant,
        verifier: bool,
    ) -> Self {
        let mut s = S2sOutbound {
            c: Common::new(
                ContentNamespace::Server,
                settings.limits,
                Phase::AwaitHeader,
            ),
            tls,
            stream_id: None,
            header_dialback: false,
            peer_dialback: false,
            sasl: None,
            sasl_done: false,
            sasl_failed: false,
            method: None,
            pairs: Vec::new(),
            pending_pairs: Vec::new(),
            queued_verifies: Vec::new(),
            pending_verifies: Vec::new(),
            deadline: now.checked_add(settings.timeout),
            settings,
            local,
            remote,
            verifier,
        };
        s.open();
        s
    }

    fn open(&mut self) {
        let header = server_header(Some(&self.local), Some(&self.remote), None, true);
        self.c.open(&header);
        self.c.phase = Phase::AwaitHeader;
    }

    /// Our domain.
    pub fn local(&self) -> &DomainPart {
        &self.local
    }

    /// The peer's domain.
    pub fn remote(&self) -> &DomainPart {
        &self.remote
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
            self.terminate(None);
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

    /// Whether the stream is established: a pair is authenticated (or, for
    /// a verifier, requests can be sent).
    pub fn is_ready(&self) -> bool {
        self.c.phase == Phase::Ready
    }

    /// Whether TLS is on.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// What TLS established about the peer, once it is on.
    pub fn peer_tls(&self) -> Option<&PeerTls> {
        self.tls.as_ref()
    }

    /// The peer's stream id.
    pub fn stream_id(&self) -> Option<&str> {
        self.stream_id.as_deref()
    }

    /// How the first pair was authenticated.
    pub fn method(&self) -> Option<AuthMethod> {
        self.method
    }

    /// Our domains authenticated to send to [`remote`](Self::remote).
    pub fn authenticated_domains(&self) -> &[DomainPart] {
        &self.pairs
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next.
    #[must_use = "the deadline must be waited for"]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.c.is_closed() {
            return None;
        }
        let requests = self
            .pending_pairs
            .iter()
            .chain(&self.pending_verifies)
            .filter_map(|p| p.deadline)
            .chain(self.queued_verifies.iter().filter_map(|q| q.deadline));
        self.deadline.into_iter().chain(requests).min()
    }

    /// Time has passed: an unfinished negotiation fails with
    /// [`S2sError::Timeout`]; requests unanswered at their deadline fail
    /// alone ([`OutboundEvent::PairFailed`],
    /// [`OutboundEvent::VerifyFailed`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.c.is_closed() {
            return;
        }
        if self.deadline.is_some_and(|d| now >= d) {
            self.fail(S2sError::Timeout);
            return;
        }
        self.expire_requests(now);
    }

    /// TLS is established after [`OutboundEvent::StartTls`]: the stream
    /// restarts (a new header is in the output).
    pub fn tls_established(&mut self, peer: PeerTls) {
        if self.c.phase != Phase::TlsPending {
            return;
        }
        self.tls = Some(peer);
        self.c.tls_established();
        self.open();
    }

    /// Sends a stanza once [`Ready`](OutboundEvent::Ready); false (nothing
    /// sent) before, after the close, and on a verifier. Its `from` must be
    /// one of the [authenticated domains](Self::authenticated_domains) and
    /// its `to` at [`remote`](Self::remote).
    pub fn send(&mut self, el: &Element) -> bool {
        if self.c.phase != Phase::Ready || self.verifier {
            return false;
        }
        self.c.send(el);
        true
    }

    /// Sends a whitespace keepalive on an established stream.
    pub fn keepalive(&mut self) {
        if self.c.phase == Phase::Ready {
            self.c.keepalive();
        }
    }

    /// Closes the stream (`</stream:stream>`); the peer's close follows as
    /// [`OutboundEvent::Closed`].
    pub fn close(&mut self) {
        self.c.end_stream();
    }

    /// Sends a stream error and closes the stream (for example
    /// `system-shutdown`); no event follows.
    pub fn close_with(&mut self, error: StreamError) {
        if self.c.is_closed() {
            return;
        }
        if self.c.is_open() {
            self.c.error(&error);
        }
        self.c.phase = Phase::Closed;
    }

    /// The next event; `None` when more input (or TLS) is needed.
    #[must_use = "events must be acted on"]
    pub fn next_event(&mut self) -> Option<OutboundEvent> {
        common::next_event(self)
    }

    /// Ends the stream: outstanding requests fail, then `Closed` (if it was
    /// established) or `Failed`.
    fn terminate(&mut self, peer_error: Option<StreamError>) {
        let established = self.c.phase == Phase::Ready;
        self.c.close();
        self.fail_outstanding(&S2sError::Closed);
        self.c.push(if established {
            OutboundEvent::Closed { error: peer_error }
        } else {
            OutboundEvent::Failed(peer_error.map_or(S2sError::Closed, S2sError::StreamError))
        });
    }

    fn fail(&mut self, e: S2sError) {
        self.c.close();
        self.fail_outstanding(&e);
        self.c.push(OutboundEvent::Failed(e));
    }

    fn violation(&mut self, condition: Condition, text: &str) {
        let err = StreamError::new(condition).with_text(text);
        if self.c.is_open() {
            self.c.error(&err);
        }
        self.fail(S2sError::Protocol(err));
    }

    fn on_header(&mut self, h: starling_stream::StreamHeader) {
        if self.c.phase != Phase::AwaitHeader {
            return;
        }
        let Some(id) = h.id.filter(|id| !id.is_empty()) else {
            self.violation(Condition::InvalidXml, "the response header has no 'id'");
            return;
        };
        self.stream_id = Some(id);
        self.header_dialback = h.dialback;
        if h.version.is_none() {
            // RFC 6120 §4.7.5: a pre-1.0 server sends no features.
            self.on_features(None);
        } else {
            self.c.phase = Phase::AwaitFeatures;
        }
    }

    fn on_features(&mut self, f: Option<Features>) {
        let starttls = f.as_ref().and_then(|f| f.starttls);
        self.peer_dialback = self.header_dialback || f.as_ref().is_some_and(|f| f.dialback);
        if self.tls.is_none() {
            let plaintext_verify = self.verifier && self.settings.verify_without_tls;
            let use_tls = match starttls {
                Some(s) => s.required || !plaintext_verify,
                None => false,
            };
            if use_tls {
                self.c.send(&Element::new("starttls", ns::TLS));
                self.c.phase = Phase::AwaitProceed;
                return;
            }
            if self.settings.tls_required && !plaintext_verify {
                self.fail(S2sError::TlsUnavailable);
                return;
            }
        }
        if self.verifier {
            if !self.peer_dialback {
                self.fail(S2sError::NoAuthMethod);
                return;
            }
            self.established();
            return;
        }
        if self.sasl_done {
            self.ready(AuthMethod::External);
            return;
        }
        let mechanisms = f.map(|f| f.mechanisms).unwrap_or_default();
        let external = self.tls.is_some()
            && self.settings.have_client_cert
            && mechanisms.iter().any(|m| m == Mechanism::External.as_str());
        if external {
            // XEP-0178 §3: the authzid is the domain of our header's 'from'.
            let config = ClientConfig {
                authzid: Some(self.local.to_string()),
                ..ClientConfig::external()
            };
            let conn = ClientConnection {
                tls: true,
                channel_binding: None,
            };
            let mut sasl = SaslClient::new(config, conn);
            match sasl.start_mechanism(Mechanism::External, false) {
                Ok(auth) => {
                    self.c.send(&auth);
                    self.sasl = Some(sasl);
                    self.c.phase = Phase::Sasl;
                }
                Err(e) => self.fail(S2sError::Sasl(e)),
            }
            return;
        }
        self.start_dialback(None);
    }

    fn established(&mut self) {
        self.c.phase = Phase::Ready;
        self.deadline = None;
        self.flush_verifies();
    }

    fn ready(&mut self, method: AuthMethod) {
        self.method = Some(method);
        if !self.pairs.contains(&self.local) {
            self.pairs.push(self.local.clone());
        }
        self.c.push(OutboundEvent::Ready {
            local: self.local.clone(),
            remote: self.remote.clone(),
            method,
        });
        self.established();
    }

    fn on_element(&mut self, el: Element) {
        match self.c.phase {
            Phase::AwaitProceed => {
                if el.is("proceed", ns::TLS) {
                    self.c.start_tls(OutboundEvent::StartTls);
                } else if el.is("failure", ns::TLS) {
                    self.fail(S2sError::TlsRefused);
                } else {
                    self.violation(Condition::UnsupportedStanzaType, "expected <proceed/>");
                }
            }
            Phase::Sasl if el.ns() == ns::SASL => self.on_sasl(&el),
            Phase::Dialback | Phase::Ready if el.ns() == ns::DIALBACK => {
                match DbElement::parse(&el) {
                    Some(Ok(db)) => self.on_dialback(db),
                    Some(Err(DbParseError::Addressing)) => self.violation(
                        Condition::ImproperAddressing,
                        "a dialback element needs 'from' and 'to' domains (and 'id')",
                    ),
                    Some(Err(DbParseError::BadType)) => {
                        self.violation(Condition::InvalidXml, "unknown dialback 'type'")
                    }
                    None => {
                        self.violation(Condition::UnsupportedStanzaType, "unknown dialback element")
                    }
                }
            }
            // Server-to-server streams carry stanzas one way only.
            _ => self.violation(
                Condition::UnsupportedStanzaType,
                "unexpected element on an outgoing server stream",
            ),
        }
    }

    fn on_sasl(&mut self, el: &Element) {
        let Some(sasl) = self.sasl.as_mut() else {
            return;
        };
        match sasl.receive(el) {
            Ok(ClientStep::Response(r)) => self.c.send(&r),
            Ok(ClientStep::Abort { element, .. }) => self.c.send(&element),
            Ok(ClientStep::Success) => {
                self.sasl = None;
                self.sasl_done = true;
                // RFC 6120 §6.4.6: both sides restart.
                self.c.restart();
                self.open();
            }
            Ok(ClientStep::Failure(f)) => {
                self.sasl = None;
                self.sasl_failed = true;
                self.start_dialback(Some(f));
            }
            Err(e) => self.fail(S2sError::Sasl(e)),
        }
    }
}

impl Negotiator for S2sOutbound {
    type Phase = Phase;
    type Event = OutboundEvent;

    fn common(&mut self) -> &mut Common<Phase, OutboundEvent> {
        &mut self.c
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Header(h) => self.on_header(h),
            Event::Features(f) if self.c.phase == Phase::AwaitFeatures => self.on_features(Some(f)),
            Event::Features(_) => self.violation(
                Condition::UnsupportedStanzaType,
                "unexpected stream features",
            ),
            Event::Keepalive => {}
            Event::Error(e) => self.terminate(Some(e)),
            Event::Closed => self.terminate(None),
            Event::Element(el) => self.on_element(el),
        }
    }

    fn on_broken(&mut self, error: StreamError) {
        self.c.error(&error);
        self.fail(S2sError::Protocol(error));
    }
}

machine!(impl[] S2sOutbound => OutboundEvent);
