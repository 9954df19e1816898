//! Addresses and stanzas written the short way, for test bodies.

use starling_jid::{BareJid, Jid};
use starling_stanza::{Message, MessageType, Presence, PresenceType};
use starling_xml::Element;

/// A JID from a string.
///
/// # Panics
///
/// When `s` is not a JID.
pub fn jid(s: &str) -> Jid {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a JID: {e}"))
}

/// A bare JID from a string.
///
/// # Panics
///
/// When `s` is not a bare JID.
pub fn bare(s: &str) -> BareJid {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not a bare JID: {e}"))
}

/// A message of any type with one body.
pub fn message(to: &str, kind: MessageType, text: &str) -> Element {
    let mut m = Message::chat(jid(to), text);
    m.message_type = kind;
    m.to_element()
}

/// Available presence with a priority.
pub fn presence(priority: i8) -> Presence {
    let mut p = Presence::new(PresenceType::Available);
    p.priority = priority;
    p
}

/// The XEP-0357 summary in a push notification's pubsub publish payload
/// (`<pubsub><publish><item><notification><x/>`), if it is one.
pub fn push_summary(pubsub: &Element) -> Option<starling_stanza::PushSummary> {
    use starling_stanza::{Payload, PushNotification, PushSummary, ns};
    let n = pubsub
        .get_child("publish", ns::PUBSUB)?
        .get_child("item", ns::PUBSUB)?
        .get_child(PushNotification::NAME, PushNotification::NS)?;
    let form = PushNotification::from_element(n).ok()?.form?;
    PushSummary::from_form(&form).ok()
}

/// The `node` a push notification's pubsub payload publishes to.
pub fn push_node(pubsub: &Element) -> Option<String> {
    pubsub
        .get_child("publish", starling_stanza::ns::PUBSUB)?
        .attr("node")
        .map(str::to_owned)
}
