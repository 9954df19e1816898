//! Server-to-server stream negotiation (RFC 6120 §4–§6 for `jabber:server`
//! streams, XEP-0220 Server Dialback with XEP-0185 keys, XEP-0368 direct
//! TLS), sans-IO.
//!
//! * [`S2sInbound`] runs a connection another server opened to us: it
//!   offers STARTTLS, then SASL `EXTERNAL` when the peer's certificate was
//!   verified for the domain it claims, and dialback; it answers
//!   `<db:verify/>` requests as the Authoritative Server, asks the
//!   application to verify `<db:result/>` keys, and delivers the stanzas of
//!   the authenticated domain pairs.
//! * [`S2sOutbound`] runs a connection we opened: STARTTLS, then SASL
//!   `EXTERNAL` (when we present a certificate and the peer offers it) or
//!   dialback, and further domain pairs on the same stream
//!   (multiplexing); or, as a [verifier](S2sOutbound::verifier), only
//!   `<db:verify/>` requests to an Authoritative Server.
//!
//! Certificates are the application's: it runs the TLS handshake when
//! asked (`StartTls` events), verifies the peer's chain against its roots,
//! and reports the domains the certificate is valid for in a [`PeerTls`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition;
use starling_stream::{ContentNamespace, StreamError, StreamHeader, ns};
use starling_xml::{Element, Limits};

use crate::sasl::{ClientError, Failure};

mod inbound;
mod outbound;

pub use inbound::{InboundEvent, S2sInbound};
pub use outbound::{OutboundEvent, S2sOutbound};

/// What the incoming side asks of the application.
pub trait S2sHooks {
    /// Whether this server serves `domain` (a stream's `to`, the target of
    /// a dialback request, a stanza's `to` domain).
    fn serves(&self, domain: &DomainPart) -> bool;
}

/// Settings of both server-to-server negotiators.
#[derive(Clone)]
pub struct S2sSettings {
    /// Incoming: STARTTLS can be offered (a certificate is configured).
    /// Default: true.
    pub tls_available: bool,
    /// TLS must be negotiated before authentication: incoming streams
    /// offer `<starttls><required/></starttls>` and nothing else, and
    /// refuse dialback without TLS (`policy-violation` dialback error);
    /// outgoing streams fail with [`S2sError::TlsUnavailable`] when the
    /// peer offers no STARTTLS. Default: true.
    pub tls_required: bool,
    /// Dialback may authenticate domain pairs: incoming streams offer it
    /// (`urn:xmpp:features:dialback`) and accept `<db:result/>`, outgoing
    /// streams use it when SASL `EXTERNAL` is not possible. Default: true.
    /// `<db:verify/>` requests are answered either way.
    pub dialback_allowed: bool,
    /// `<db:verify/>` may be exchanged without TLS even when
    /// [`tls_required`](Self::tls_required) is set: incoming streams
    /// answer verification requests in plaintext, and a
    /// [verifier](S2sOutbound::verifier) skips STARTTLS unless the peer
    /// requires it (XEP-0220 §2.1.2 allows such verify-only connections).
    /// Default: false.
    pub verify_without_tls: bool,
    /// The secret dialback keys are made from (XEP-0185); the same for
    /// every process of this deployment.
    pub dialback_secret: Arc<[u8]>,
    /// Outgoing: our TLS layer presents a certificate for our domain, so
    /// SASL `EXTERNAL` is tried when the peer offers it. Default: false.
    pub have_client_cert: bool,
    /// Incoming: how many domain pairs one stream may authenticate or have
    /// pending (XEP-0220 §2.5 multiplexing); more requests get a
    /// `resource-constraint` dialback error. Default: 64.
    pub max_domain_pairs: usize,
    /// Tokenizer limits for the peer's stream (`max_element_bytes` is the
    /// stanza size limit).
    pub limits: Limits,
    /// How long negotiation may take (until the first domain pair is
    /// authenticated), and how long an outgoing dialback or verification
    /// request may wait for its answer.
    pub timeout: Duration,
}

impl fmt::Debug for S2sSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S2sSettings")
            .field("tls_available", &self.tls_available)
            .field("tls_required", &self.tls_required)
            .field("dialback_allowed", &self.dialback_allowed)
            .field("verify_without_tls", &self.verify_without_tls)
            .field("dialback_secret", &"…")
            .field("have_client_cert", &self.have_client_cert)
            .field("max_domain_pairs", &self.max_domain_pairs)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl S2sSettings {
    /// The defaults documented on each field, with this dialback secret
    /// (see [`crate::dialback::random_secret`]).
    ///
    /// ```
    /// let s = starling_auth::negotiate::S2sSettings::new(b"s3cr3t".to_vec());
    /// assert!(s.tls_required && s.dialback_allowed && !s.have_client_cert);
    /// ```
    pub fn new(dialback_secret: impl Into<Arc<[u8]>>) -> Self {
        S2sSettings {
            tls_available: true,
            tls_required: true,
            dialback_allowed: true,
            verify_without_tls: false,
            dialback_secret: dialback_secret.into(),
            have_client_cert: false,
            max_domain_pairs: 64,
            limits: Limits::default(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// What the TLS layer established about the peer.
///
/// The application verifies the peer's certificate chain against its trust
/// anchors and lists the domains the certificate is valid for (RFC 6125
/// DNS-IDs, XEP-0178); an unverified certificate (or none) is an empty
/// list. The negotiators only consult the list: an incoming stream offers
/// SASL `EXTERNAL` only when it holds the `from` of the peer's stream
/// header ([`S2sInbound::peer_domain`] gives the one of the header before
/// TLS).
///
/// ```
/// use starling_auth::negotiate::PeerTls;
///
/// let tls = PeerTls::new(vec!["a.example".parse().unwrap()]);
/// assert!(tls.verified_for(&"a.example".parse().unwrap()));
/// assert!(!PeerTls::default().verified_for(&"a.example".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerTls {
    /// The domains the peer's certificate was verified for.
    pub verified_domains: Vec<DomainPart>,
}

impl PeerTls {
    /// A TLS connection whose peer certificate is valid for these domains.
    pub fn new(verified_domains: Vec<DomainPart>) -> Self {
        PeerTls { verified_domains }
    }

    /// Whether the certificate was verified for `domain`.
    pub fn verified_for(&self, domain: &DomainPart) -> bool {
        self.verified_domains.contains(domain)
    }
}

/// How a domain pair was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// SASL `EXTERNAL` with the certificate presented in TLS (RFC 6120
    /// §6, XEP-0178).
    External,
    /// Server Dialback (XEP-0220).
    Dialback,
}

/// Why an outgoing server-to-server stream (or one of its domain pairs or
/// verification requests) failed. A failed TLS handshake is the
/// application's to report: it happens outside the negotiator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum S2sError {
    /// The peer offers no STARTTLS and TLS is required.
    #[error("the peer does not offer TLS")]
    TlsUnavailable,
    /// The peer answered `<starttls/>` with `<failure/>`.
    #[error("the peer refused STARTTLS")]
    TlsRefused,
    /// Neither SASL `EXTERNAL` (with our certificate) nor dialback can be
    /// used with this peer (for a verifier: the peer does not do dialback).
    #[error("no authentication method both servers accept")]
    NoAuthMethod,
    /// SASL `EXTERNAL` failed and dialback could not be tried.
    #[error("SASL EXTERNAL failed: {0}")]
    AuthFailed(Failure),
    /// The peer broke the SASL exchange.
    #[error("SASL: {0}")]
    Sasl(ClientError),
    /// The Receiving Server answered the dialback key with
    /// `type='invalid'`; it closes the stream.
    #[error("the dialback key was found invalid")]
    DialbackInvalid,
    /// A dialback error (XEP-0220 §2.4): the stream stays usable for other
    /// domain pairs.
    #[error("dialback error: {0}")]
    DialbackError(StanzaErrorCondition),
    /// The peer sent this stream error.
    #[error("{0}")]
    StreamError(StreamError),
    /// The peer broke the protocol; we sent this stream error.
    #[error("protocol violation by the peer: {0}")]
    Protocol(StreamError),
    /// The peer closed the stream (or the connection) first.
    #[error("the peer closed the stream")]
    Closed,
    /// The negotiation, or the answer to a request, took longer than the
    /// configured timeout.
    #[error("timed out")]
    Timeout,
}

/// The dialback stream feature with `<errors/>` (XEP-0220 §2.4.2: we
/// handle dialback errors).
fn dialback_feature() -> Element {
    let mut f = Element::new("dialback", ns::DIALBACK_FEATURE);
    f.append_child(Element::new("errors", ns::DIALBACK_FEATURE));
    f
}

/// A `jabber:server` header from `from` to `to`, declaring the dialback
/// prefix.
fn server_header(
    from: Option<&DomainPart>,
    to: Option<&DomainPart>,
    id: Option<String>,
    v1: bool,
) -> StreamHeader {
    StreamHeader {
        content: ContentNamespace::Server,
        to: to.cloned().map(Into::into),
        from: from.cloned().map(Into::into),
        id,
        version: v1.then_some((1, 0)),
        lang: Some("en".to_owned()),
        dialback: true,
    }
}

/// Whether `el` is a stanza of a server stream.
fn is_stanza(el: &Element) -> bool {
    el.ns() == ns::SERVER && matches!(el.name(), "message" | "presence" | "iq")
}
