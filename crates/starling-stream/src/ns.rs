//! Namespace names used at the stream level.

/// `http://etherx.jabber.org/streams`: the stream element, features, errors.
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// Stream error conditions.
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Content namespace of client streams.
pub const CLIENT: &str = "jabber:client";
/// Content namespace of server streams.
pub const SERVER: &str = "jabber:server";
/// Content namespace of component streams (XEP-0114).
pub const COMPONENT: &str = "jabber:component:accept";
/// Server dialback (XEP-0220), declared with the `db` prefix.
pub const DIALBACK: &str = "jabber:server:dialback";
/// The dialback stream feature (XEP-0220).
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";
/// STARTTLS (RFC 6120 §5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL (RFC 6120 §6).
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding (RFC 6120 §7).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Roster versioning stream feature (RFC 6121 §2.6).
pub const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
/// Subscription pre-approval stream feature (RFC 6121 §3.4).
pub const PRE_APPROVAL: &str = "urn:xmpp:features:pre-approval";
