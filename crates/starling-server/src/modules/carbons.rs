//! XEP-0280 Message Carbons: copies of a user's conversations for every
//! client of the user that asked for them.
//!
//! A session enables or disables carbons with an iq set (`<enable/>`,
//! `<disable/>`); the switch is a [`SessionFlag`] on its handle, so the
//! tasks that deliver to it can read it. Then:
//!
//! * **sent carbons** (§8): an eligible message ([`eligible`]) a local client
//!   sends is copied, wrapped in `<sent/><forwarded/>`, to every other
//!   carbons-enabled session of the sender (before it is routed);
//! * **received carbons** (§7): an eligible message queued for one or more
//!   sessions of a local account is copied, wrapped in
//!   `<received/><forwarded/>`, to each carbons-enabled session of that
//!   account that did not get it ([`Hook::Delivered`]);
//! * a `<private xmlns='urn:xmpp:carbons:2'/>` message (§9) is never
//!   copied, and the element is removed when the message is written to the
//!   recipient (a delivery filter).
//!
//! Copies are queued directly on the sessions (never routed again), from
//! the account's bare JID to the session's full JID, keeping the type.

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{
    CarbonsReceived, CarbonsSent, Forwarded, Hint, IqType, Message, MessageType, Payload,
    StanzaError, StanzaErrorCondition as Cond, StanzaKind, ns,
};
use starling_xml::Element;

use crate::hub::Hub;
use crate::module::{
    Filter, Flow, Hook, IqOutcome, IqRequest, IqScope, Kinds, Module, Registrar, Session,
    SessionView,
};
use crate::registry::{SessionFlag, SessionHandle};
use crate::routed::Routed;

/// The MUC user namespace: a private message through a MUC room carries
/// `<x/>` in it (XEP-0045 §7.5).
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// Which way a message goes, seen from the account being copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by one of the account's clients.
    Sent,
    /// Received by the account.
    Received,
}

/// Whether a message is eligible for carbons (XEP-0280 §6, the suggested
/// rules):
///
/// * `chat` is; `normal` is when it has a `<body/>`;
/// * `groupchat` and `headline` are not; neither is `error` (the rule for
///   errors needs tracking which message each answers, which the server
///   does not do);
/// * a received message with MUC `<x xmlns='…muc#user'/>` is not (it
///   came from a room: a private message from an occupant); a sent one is,
///   so the user's other clients in the room see it;
/// * a message with `<private xmlns='urn:xmpp:carbons:2'/>` (§9) or the
///   XEP-0334 `<no-copy/>` hint is not, nor is a carbon itself.
pub fn eligible(el: &Element, kind: StanzaKind, dir: Direction) -> bool {
    let StanzaKind::Message(t) = kind else {
        return false;
    };
    let mut body = false;
    for c in el.children() {
        match (c.ns(), c.name()) {
            (ns::CARBONS, _) => return false,
            (ns::HINTS, n) if n == Hint::NoCopy.name() => return false,
            (MUC_USER, "x") if dir == Direction::Received => return false,
            (ns::CLIENT | ns::SERVER, "body") => body = true,
            _ => {}
        }
    }
    match t {
        MessageType::Chat => true,
        MessageType::Normal => body,
        MessageType::Groupchat | MessageType::Headline | MessageType::Error => false,
    }
}

/// The carbon of `st` (a `<sent/>` or `<received/>` wrapper), addressed
/// from `account` and still without `to`; `None` when the message does
/// not parse as a message.
pub fn wrap(st: &Routed, account: &BareJid, dir: Direction) -> Option<Element> {
    let message = Message::from_element(st.element()).ok()?;
    let fwd = Forwarded {
        delay: None,
        message,
    };
    let payload = match dir {
        Direction::Sent => CarbonsSent(fwd).to_element(),
        Direction::Received => CarbonsReceived(fwd).to_element(),
    };
    let mut el = Element::new("message", ns::CLIENT);
    el.set_attr("type", st.element().attr("type"));
    el.set_attr("from", Some(account.as_str()));
    el.append_child(payload);
    Some(el)
}

/// Queues the carbon `el` on each carbons-enabled session in `sessions`
/// for which `skip` is false, addressed to it.
fn copy_to(el: &Element, sessions: &[Arc<SessionHandle>], skip: impl Fn(&SessionHandle) -> bool) {
    for h in sessions {
        if !h.has_flag(SessionFlag::CARBONS) || h.is_closing() || skip(h) {
            continue;
        }
        let mut copy = el.clone();
        copy.set_attr("to", Some(h.jid.as_str()));
        match Routed::parse(copy) {
            Ok(st) => {
                h.deliver(Arc::new(st));
            }
            Err(bad) => tracing::warn!(error = %bad.1, "a carbon copy did not check"),
        }
    }
}

/// Queues the carbon of `st` on each carbons-enabled session of `account`
/// for which `skip` is false; the carbon is built only when there is one
/// (the account's sessions are looked at in place, not copied).
fn copy_to_account(
    hub: &Hub,
    st: &Routed,
    account: &BareJid,
    dir: Direction,
    skip: impl Fn(&SessionHandle) -> bool,
) {
    hub.sessions().with_sessions(account, |sessions| {
        let wanted = sessions
            .iter()
            .any(|h| h.has_flag(SessionFlag::CARBONS) && !skip(h));
        if wanted {
            if let Some(el) = wrap(st, account, dir) {
                copy_to(&el, sessions, skip);
            }
        }
    });
}

/// The carbons module (`[modules.carbons]`).
#[derive(Debug, Default)]
pub struct Carbons;

#[async_trait]
impl Module for Carbons {
    fn name(&self) -> &'static str {
        "carbons"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Account, IqType::Set, ns::CARBONS, "enable");
        r.iq(IqScope::Account, IqType::Set, ns::CARBONS, "disable");
        r.disco_feature(ns::CARBONS);
        r.account_feature(ns::CARBONS);
        r.hook_for(Hook::ClientStanza, Kinds::MESSAGE);
        r.hook_for(Hook::Delivered, Kinds::MESSAGE);
        r.hook_for(Hook::Filter, Kinds::MESSAGE);
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        // §4.1/§5.1: only the user's own session may switch its carbons.
        let session = match req.from().clone().try_into_full() {
            Ok(full) if req.from_self => hub.sessions().get(&full),
            _ => None,
        };
        let Some(session) = session else {
            return IqOutcome::Error(StanzaError::new(Cond::NotAllowed));
        };
        let on = req.payload.name() == "enable";
        session.set_flag(SessionFlag::CARBONS, on);
        IqOutcome::Result(None)
    }

    async fn client_stanza(&self, hub: &Hub, session: &mut Session<'_>, st: Routed) -> Flow {
        if eligible(st.element(), st.kind(), Direction::Sent) {
            let account = session.jid().bare();
            let me = session.handle().id;
            copy_to_account(hub, &st, &account, Direction::Sent, |h| h.id == me);
        }
        Flow::Continue(st)
    }

    async fn delivered(
        &self,
        hub: &Hub,
        st: &Routed,
        account: &BareJid,
        delivered_to: &[Arc<SessionHandle>],
    ) {
        if !eligible(st.element(), st.kind(), Direction::Received) {
            return;
        }
        // A message between two clients of the account: its sender's other
        // clients had the sent carbon already.
        if st.from().is_some_and(|f| f.bare() == *account) {
            return;
        }
        let got = |h: &SessionHandle| delivered_to.iter().any(|d| d.id == h.id);
        copy_to_account(hub, st, account, Direction::Received, got);
    }

    fn filter(&self, _session: &SessionView<'_>, st: &Routed) -> Filter {
        // §9: the receiving server removes <private/> before delivery.
        if st
            .element()
            .children()
            .any(|c| c.is("private", ns::CARBONS))
        {
            let mut copy = st.clone();
            copy.remove_child("private", ns::CARBONS);
            return Filter::Replace(Box::new(copy));
        }
        Filter::Deliver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(xml: &str) -> Routed {
        Routed::parse(xml.parse().unwrap()).unwrap()
    }

    /// §6 (suggested rules) and §9, both directions.
    #[test]
    fn eligibility_follows_the_rules() {
        use Direction::{Received as R, Sent as S};
        let cases: &[(&str, Direction, bool)] = &[
            ("<message type='chat'><body>hi</body></message>", S, true),
            ("<message type='chat'><body>hi</body></message>", R, true),
            // Chat states alone, in a chat, are copied (§10.2).
            (
                "<message type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/></message>",
                R,
                true,
            ),
            ("<message><body>hi</body></message>", S, true),
            ("<message type='normal'><body>hi</body></message>", R, true),
            (
                "<message type='normal'><subject>s</subject></message>",
                R,
                false,
            ),
            (
                "<message type='groupchat'><body>hi</body></message>",
                S,
                false,
            ),
            (
                "<message type='groupchat'><body>hi</body></message>",
                R,
                false,
            ),
            (
                "<message type='headline'><body>hi</body></message>",
                R,
                false,
            ),
            ("<message type='error'><body>hi</body></message>", R, false),
            (
                "<message type='chat'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/></message>",
                S,
                false,
            ),
            (
                "<message type='chat'><body>hi</body><private xmlns='urn:xmpp:carbons:2'/></message>",
                R,
                false,
            ),
            (
                "<message type='chat'><body>hi</body><no-copy xmlns='urn:xmpp:hints'/></message>",
                S,
                false,
            ),
            (
                "<message type='chat'><body>hi</body><no-store xmlns='urn:xmpp:hints'/></message>",
                S,
                true,
            ),
            // MUC private messages: copied when sent, not when received.
            (
                "<message type='chat'><body>hi</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>",
                S,
                true,
            ),
            (
                "<message type='chat'><body>hi</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>",
                R,
                false,
            ),
            // A carbon is never copied again.
            (
                "<message type='chat'><received xmlns='urn:xmpp:carbons:2'/></message>",
                R,
                false,
            ),
        ];
        for (xml, dir, want) in cases {
            let xml = xml.replacen("<message", "<message xmlns='jabber:client' to='a@b'", 1);
            let st = routed(&xml);
            assert_eq!(
                eligible(st.element(), st.kind(), *dir),
                *want,
                "{xml} ({dir:?})"
            );
        }
        let iq = routed("<iq xmlns='jabber:client' type='get' id='1'><q xmlns='x'/></iq>");
        assert!(!eligible(iq.element(), iq.kind(), S));
    }

    #[test]
    fn carbons_wrap_the_message_from_the_bare_jid() {
        let st = routed(
            "<message xmlns='jabber:client' type='chat' from='j@c/b' to='r@m/g' id='m1'>\
             <body>hi</body><thread>t</thread></message>",
        );
        let account: BareJid = "r@m".parse().unwrap();
        let el = wrap(&st, &account, Direction::Received).unwrap();
        assert_eq!(el.attr("from"), Some("r@m"));
        assert_eq!(el.attr("type"), Some("chat"));
        assert_eq!(el.attr("to"), None);
        let r = CarbonsReceived::from_element(el.children().next().unwrap()).unwrap();
        assert_eq!(r.0.message.bodies[0].text, "hi");
        assert_eq!(r.0.message.header.id.as_deref(), Some("m1"));
        let sent = wrap(&st, &account, Direction::Sent).unwrap();
        assert!(CarbonsSent::from_element(sent.children().next().unwrap()).is_ok());
    }

    #[test]
    fn private_is_removed_on_delivery_and_nothing_else_is_touched() {
        let (h, _rx) = SessionHandle::new(
            "r@m/g".parse().unwrap(),
            1,
            crate::registry::QueueLimits {
                bytes: 1 << 16,
                count: 16,
            },
        );
        let ext = crate::module::Extensions::default();
        let view = SessionView {
            handle: &h,
            ext: &ext,
        };
        let private = routed(
            "<message xmlns='jabber:client' type='chat' to='r@m'><body>x</body>\
             <private xmlns='urn:xmpp:carbons:2'/></message>",
        );
        let Filter::Replace(copy) = Carbons.filter(&view, &private) else {
            panic!("not replaced");
        };
        assert!(copy.element().children().all(|c| c.name() != "private"));
        assert_eq!(copy.element().children().count(), 1);
        let plain =
            routed("<message xmlns='jabber:client' type='chat' to='r@m'><body>x</body></message>");
        assert!(matches!(Carbons.filter(&view, &plain), Filter::Deliver));
    }
}
