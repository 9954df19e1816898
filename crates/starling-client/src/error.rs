//! Client errors.

use starling_auth::negotiate::NegotiationError;
use starling_auth::sasl::Failure;
use starling_stanza::{PubSubError, StanzaError};
use starling_stream::StreamError;

/// Everything that can go wrong for a client, typed so that callers can
/// tell a DNS failure from a refused password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Looking up the server failed (SRV or address records).
    #[error("DNS: {0}")]
    Dns(String),
    /// The domain publishes "no XMPP service" (an SRV target of `.`).
    #[error("the domain {0} offers no XMPP client service")]
    NoService(String),
    /// No candidate address accepted a TCP connection; the last error.
    #[error("connection failed: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed (for example the certificate did not
    /// verify for the domain).
    #[error("TLS: {0}")]
    Tls(String),
    /// The server refused authentication with this SASL condition.
    #[error("authentication failed: {0}")]
    Auth(Failure),
    /// The requested resource is taken and the server refused it.
    #[error("resource binding refused: {0}")]
    BindConflict(Box<StanzaError>),
    /// The server sent a stream error.
    #[error("stream error: {0}")]
    Stream(Box<StreamError>),
    /// Stream negotiation failed for another reason.
    #[error("negotiation failed: {0}")]
    Negotiation(Box<NegotiationError>),
    /// An answer did not come in time.
    #[error("timed out")]
    Timeout,
    /// The session is closed.
    #[error("the connection is closed")]
    Closed,
    /// The server answered a request with an error.
    #[error("the request failed: {0}")]
    Stanza(Box<StanzaError>),
    /// A publish-subscribe request (XEP-0060, PEP) failed with a pubsub
    /// condition (`precondition-not-met`, `nodeid-required`, …) besides
    /// the general one in the stanza error.
    #[error("the pubsub request failed: {condition} ({error})")]
    PubSub {
        /// The `pubsub#errors` condition.
        condition: PubSubError,
        /// The whole stanza error.
        error: Box<StanzaError>,
    },
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(std::io::Error),
    /// The server did not offer this feature (its namespace), which the
    /// call needs.
    #[error("the server does not offer {0}")]
    Unsupported(&'static str),
    /// A bad argument (for example an address that is not a JID).
    #[error("{0}")]
    Invalid(String),
}

impl From<starling_net::discovery::DiscoveryError> for Error {
    fn from(e: starling_net::discovery::DiscoveryError) -> Error {
        use starling_net::discovery::DiscoveryError;
        match e {
            DiscoveryError::NoService(domain) => Error::NoService(domain),
            DiscoveryError::Dns(e) => Error::Dns(e),
            other => Error::Dns(other.to_string()),
        }
    }
}

impl From<NegotiationError> for Error {
    fn from(e: NegotiationError) -> Error {
        match e {
            NegotiationError::AuthFailed(f) => Error::Auth(f),
            NegotiationError::BindFailed(s)
                if s.condition == starling_stanza::StanzaErrorCondition::Conflict =>
            {
                Error::BindConflict(Box::new(s))
            }
            NegotiationError::StreamError(s) => Error::Stream(Box::new(s)),
            NegotiationError::Timeout => Error::Timeout,
            other => Error::Negotiation(Box::new(other)),
        }
    }
}

impl Error {
    /// The stanza error the server answered with, if this is one.
    pub fn stanza_error(&self) -> Option<&StanzaError> {
        match self {
            Error::Stanza(e) | Error::PubSub { error: e, .. } | Error::BindConflict(e) => Some(e),
            _ => None,
        }
    }

    /// [`Error::Stanza`] carrying a `pubsub#errors` condition becomes
    /// [`Error::PubSub`]; anything else is unchanged.
    pub(crate) fn with_pubsub_condition(self) -> Error {
        match self {
            Error::Stanza(e) => match PubSubError::from_stanza_error(&e) {
                Some(condition) => Error::PubSub {
                    condition,
                    error: e,
                },
                None => Error::Stanza(e),
            },
            other => other,
        }
    }
}
