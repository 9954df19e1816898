//! Namespace names that XMPP uses, interned without allocation.

use bytestring::ByteString;

/// The namespace bound to the `xml` prefix.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` attributes; no prefix may be bound to it.
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// How many other namespace names and prefixes one tokenizer keeps
/// interned (besides the well-known ones).
pub(crate) const MAX_INTERNED: usize = 96;

const WELL_KNOWN: &[&str] = &[
    "jabber:client",
    "jabber:server",
    "jabber:component:accept",
    "http://etherx.jabber.org/streams",
    "stream",
    "db",
    "jabber:server:dialback",
    "urn:ietf:params:xml:ns:xmpp-streams",
    "urn:ietf:params:xml:ns:xmpp-stanzas",
    "urn:ietf:params:xml:ns:xmpp-tls",
    "urn:ietf:params:xml:ns:xmpp-sasl",
    "urn:ietf:params:xml:ns:xmpp-bind",
    "urn:ietf:params:xml:ns:xmpp-session",
    "urn:xmpp:features:dialback",
    "urn:xmpp:features:rosterver",
    "urn:xmpp:features:pre-approval",
    "jabber:iq:roster",
    "jabber:iq:version",
    "jabber:iq:private",
    "jabber:iq:register",
    "jabber:x:data",
    "jabber:x:oob",
    "urn:xmpp:ping",
    "urn:xmpp:time",
    "urn:xmpp:delay",
    "urn:xmpp:receipts",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:carbons:2",
    "urn:xmpp:forward:0",
    "urn:xmpp:mam:2",
    "urn:xmpp:sm:3",
    "urn:xmpp:sid:0",
    "urn:xmpp:hints",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:csi:0",
    "urn:xmpp:blocking",
    "urn:xmpp:http:upload:0",
    "urn:xmpp:avatar:metadata",
    "urn:xmpp:avatar:data",
    "urn:xmpp:bookmarks:1",
    "urn:xmpp:omemo:2",
    "eu.siacs.conversations.axolotl",
    "vcard-temp",
    "vcard-temp:x:update",
    "http://jabber.org/protocol/caps",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/muc#user",
    "http://jabber.org/protocol/pubsub",
    "http://jabber.org/protocol/pubsub#event",
    "http://jabber.org/protocol/nick",
    "http://jabber.org/protocol/address",
    "http://jabber.org/protocol/xhtml-im",
    "http://www.w3.org/1999/xhtml",
];

/// The well-known name equal to `s`, shared and static (no allocation,
/// nothing stored per tokenizer).
pub(crate) fn well_known(s: &str) -> Option<ByteString> {
    WELL_KNOWN
        .iter()
        .find(|w| w.len() == s.len() && **w == s)
        .map(|w| ByteString::from_static(w))
}
