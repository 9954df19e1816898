//! XEP-0352 Client State Indication: while a client says it is inactive
//! (`<inactive/>`, typically a phone in a pocket), the server holds back
//! what is not urgent and writes it when the client becomes active again.
//!
//! The server offers `<csi xmlns='urn:xmpp:csi:0'/>` after authentication;
//! `<active/>` and `<inactive/>` are nonzas ([`Hook::Nonza`]). While a
//! session is inactive its delivery filter sorts what is about to be
//! written to it (see [`holdable`]):
//!
//! * **held**: presence broadcasts (available and unavailable; only the
//!   latest from each contact's full JID is kept), and messages without a
//!   body or subject that carry only chat states, receipts, chat markers,
//!   threads, hints, delays or stanza ids (also as carbons);
//! * **written at once**: everything else — messages with a body or a
//!   subject, errors, subscription requests and answers, iq, and any
//!   payload not listed above. What is held is written just *before* it,
//!   so the order of stanzas from each contact is kept.
//!
//! Everything held is written when `<active/>` arrives, and when the
//! buffer reaches `[modules.csi] max_held` stanzas or `max_held_bytes`
//! bytes (XML weight). What is held when a session ends is dropped: it is
//! only presence and chat states, which are stale by then (messages with
//! a body are never held).

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use starling_stanza::{CsiFeature, CsiState, Payload, PresenceType, StanzaKind, ns};
use starling_xml::Element;

use crate::config::CsiConfig;
use crate::hub::Hub;
use crate::module::{Extensions, Filter, Hook, Kinds, Module, Registrar, Session, SessionView};
use crate::queue::weight;
use crate::routed::Routed;

/// Namespaces of payloads that do not need a sleeping client at once.
const QUIET: &[&str] = &[
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:receipts",
    "urn:xmpp:chat-markers:0",
    ns::HINTS,
    ns::DELAY,
    "urn:xmpp:sid:0",
];

/// How deep carbons and forwards are looked into.
const MAX_DEPTH: usize = 3;

/// Whether a stanza may wait while its recipient is inactive (the rules
/// in the [module docs](self)).
pub fn holdable(st: &Routed) -> bool {
    match st.kind() {
        StanzaKind::Presence(PresenceType::Available | PresenceType::Unavailable, _) => true,
        StanzaKind::Message(starling_stanza::MessageType::Error) => false,
        StanzaKind::Message(_) => quiet(st.element(), 0),
        _ => false,
    }
}

/// Whether every child of a message is a quiet payload.
fn quiet(message: &Element, depth: usize) -> bool {
    message.children().all(|c| match (c.ns(), c.name()) {
        (ns::CLIENT | ns::SERVER, "thread") => true,
        (ns::CARBONS, "sent" | "received") if depth < MAX_DEPTH => c
            .children()
            .filter(|f| f.is("forwarded", ns::FORWARD))
            .flat_map(Element::children)
            .filter(|m| m.name() == "message")
            .all(|m| quiet(m, depth + 1)),
        (n, _) => QUIET.contains(&n),
    })
}

/// A session's indicated state and what is held for it.
#[derive(Debug, Default)]
struct CsiSession {
    inactive: bool,
    held: VecDeque<Arc<Routed>>,
    bytes: usize,
}

impl CsiSession {
    /// Holds `st` (replacing an earlier presence from the same sender);
    /// everything held, in order, when that makes the buffer exceed
    /// `limits`.
    fn hold(&mut self, st: Arc<Routed>, limits: &CsiConfig) -> Vec<Arc<Routed>> {
        if let StanzaKind::Presence(..) = st.kind() {
            let from = st.from();
            if let Some(i) = self
                .held
                .iter()
                .position(|h| matches!(h.kind(), StanzaKind::Presence(..)) && h.from() == from)
            {
                if let Some(old) = self.held.remove(i) {
                    self.bytes -= weight(old.element());
                }
            }
        }
        self.bytes += weight(st.element());
        self.held.push_back(st);
        if self.held.len() > limits.max_held || self.bytes > limits.max_held_bytes {
            return self.take();
        }
        Vec::new()
    }

    /// Everything held, in order.
    fn take(&mut self) -> Vec<Arc<Routed>> {
        self.bytes = 0;
        self.held.drain(..).collect()
    }
}

/// The client state indication module (`[modules.csi]`).
#[derive(Debug)]
pub struct Csi {
    limits: CsiConfig,
}

impl Csi {
    /// The module with the bounds of `limits`.
    pub fn new(limits: CsiConfig) -> Csi {
        Csi { limits }
    }
}

#[async_trait]
impl Module for Csi {
    fn name(&self) -> &'static str {
        "csi"
    }

    fn register(&self, r: &mut Registrar) {
        r.stream_features(|f| f.other.push(CsiFeature.to_element()));
        r.hook(Hook::Nonza);
        r.hook_for(Hook::Filter, Kinds::MESSAGE.or(Kinds::PRESENCE));
        r.hook(Hook::Hold);
    }

    async fn nonza(&self, _hub: &Hub, session: &mut Session<'_>, el: &Element) -> bool {
        let Ok(state) = CsiState::from_element(el) else {
            return false;
        };
        // The session writes what is held once the nonza is taken.
        session.ext().get_or_default::<CsiSession>().inactive = state == CsiState::Inactive;
        true
    }

    fn filter(&self, session: &SessionView<'_>, st: &Routed) -> Filter {
        let inactive = session.ext.get::<CsiSession>().is_some_and(|s| s.inactive);
        if inactive && holdable(st) {
            Filter::Hold
        } else {
            Filter::Deliver
        }
    }

    fn hold(&self, ext: &mut Extensions, st: Arc<Routed>) -> Vec<Arc<Routed>> {
        ext.get_or_default::<CsiSession>().hold(st, &self.limits)
    }

    fn release(&self, ext: &mut Extensions) -> Vec<Arc<Routed>> {
        // Sessions that never used CSI get no state here.
        if ext.get::<CsiSession>().is_none_or(|s| s.held.is_empty()) {
            return Vec::new();
        }
        ext.get_or_default::<CsiSession>().take()
    }
}

#[cfg(test)]
mod tests;
