//! Namespace names of stanzas and core payloads.

/// Content namespace of client streams.
pub const CLIENT: &str = "jabber:client";
/// Content namespace of server streams.
pub const SERVER: &str = "jabber:server";
/// Stanza error conditions (RFC 6120 §8.3).
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// Resource binding (RFC 6120 §7).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// Roster (RFC 6121 §2).
pub const ROSTER: &str = "jabber:iq:roster";
/// XMPP Ping (XEP-0199).
pub const PING: &str = "urn:xmpp:ping";
/// Software Version (XEP-0092).
pub const VERSION: &str = "jabber:iq:version";
/// Service Discovery information (XEP-0030).
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Service Discovery items (XEP-0030).
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// Delayed Delivery (XEP-0203).
pub const DELAY: &str = "urn:xmpp:delay";
