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
/// Data Forms (XEP-0004).
pub const DATA_FORMS: &str = "jabber:x:data";
/// Blocking Command (XEP-0191).
pub const BLOCKING: &str = "urn:xmpp:blocking";
/// Blocking Command application error (XEP-0191 §3.5).
pub const BLOCKING_ERRORS: &str = "urn:xmpp:blocking:errors";
/// Stream Management (XEP-0198), version 3.
pub const SM: &str = "urn:xmpp:sm:3";
/// Message Carbons (XEP-0280), version 2.
pub const CARBONS: &str = "urn:xmpp:carbons:2";
/// Stanza Forwarding (XEP-0297).
pub const FORWARD: &str = "urn:xmpp:forward:0";
/// Message Processing Hints (XEP-0334).
pub const HINTS: &str = "urn:xmpp:hints";
/// Client State Indication (XEP-0352).
pub const CSI: &str = "urn:xmpp:csi:0";
/// Push Notifications (XEP-0357).
pub const PUSH: &str = "urn:xmpp:push:0";
/// Publish-Subscribe (XEP-0060), which XEP-0357 notifications use.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// The `FORM_TYPE` of the push notification summary (XEP-0357 §7).
pub const PUSH_SUMMARY: &str = "urn:xmpp:push:summary";
/// The `FORM_TYPE` of publish options (XEP-0060 §7.1.5), used by XEP-0357.
pub const PUBSUB_PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";
/// Publish-Subscribe owner requests (XEP-0060 §8).
pub const PUBSUB_OWNER: &str = "http://jabber.org/protocol/pubsub#owner";
/// Publish-Subscribe notifications (XEP-0060 §7.1.2).
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// Publish-Subscribe error conditions (XEP-0060 §14.2).
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// The `FORM_TYPE` of a node configuration (XEP-0060 §16.4.3).
pub const PUBSUB_NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
/// The `FORM_TYPE` of subscription options (XEP-0060 §16.4.2).
pub const PUBSUB_SUBSCRIBE_OPTIONS: &str = "http://jabber.org/protocol/pubsub#subscribe_options";
/// Personal Eventing Protocol (XEP-0163) and XEP-0060 feature names are
/// `http://jabber.org/protocol/pubsub#FEATURE`; this is the prefix.
pub const PUBSUB_FEATURE_PREFIX: &str = "http://jabber.org/protocol/pubsub#";
/// Entity Capabilities (XEP-0115).
pub const CAPS: &str = "http://jabber.org/protocol/caps";
/// vcard-temp (XEP-0054).
pub const VCARD: &str = "vcard-temp";
/// vCard-based avatars in presence (XEP-0153).
pub const VCARD_UPDATE: &str = "vcard-temp:x:update";
/// Private XML storage (XEP-0049).
pub const PRIVATE: &str = "jabber:iq:private";
/// User nickname (XEP-0172).
pub const NICK: &str = "http://jabber.org/protocol/nick";
/// User avatar data node and payload (XEP-0084).
pub const AVATAR_DATA: &str = "urn:xmpp:avatar:data";
/// User avatar metadata node and payload (XEP-0084).
pub const AVATAR_METADATA: &str = "urn:xmpp:avatar:metadata";
/// The account feature of a server converting vCard avatars and PEP
/// avatars (XEP-0398).
pub const PEP_VCARD_CONVERSION: &str = "urn:xmpp:pep-vcard-conversion:0";
/// PEP native bookmarks node and payload (XEP-0402).
pub const BOOKMARKS2: &str = "urn:xmpp:bookmarks:1";
/// The account feature of a server keeping XEP-0048 private storage
/// bookmarks in step with PEP native bookmarks (XEP-0402 §5).
pub const BOOKMARKS2_COMPAT: &str = "urn:xmpp:bookmarks:1#compat";
/// Bookmark storage (XEP-0048).
pub const BOOKMARKS: &str = "storage:bookmarks";
