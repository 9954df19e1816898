//! What the session task does with a stanza from the server: answers,
//! request replies, carbons, pushes, events.

use starling_auth::negotiate::ClientNegotiator;
use starling_jid::{FullJid, Jid};
use starling_stanza::{
    Block, CarbonsReceived, CarbonsSent, Iq, IqKind, Message, Payload, Ping, PubSubEvent, Roster,
    Stanza, StanzaError, StanzaErrorCondition, Unblock, error_reply, ns,
};
use starling_xml::Element;

use crate::client::{Carbon, Event};
use crate::task::Task;

/// Whether a reply from `from` may answer a request sent to `to`
/// (RFC 6120 §8.2.3; a request to our own account or server may be
/// answered without `from`).
pub(crate) fn reply_matches(own: &FullJid, to: &Option<Jid>, from: &Option<Jid>) -> bool {
    let own_bare = Jid::from(own.bare());
    let own_domain = Jid::from(own.domain_part());
    let implicit = |j: &Option<Jid>| match j {
        None => true,
        Some(j) => *j == own_bare || *j == own_domain || j.as_str() == own.as_str(),
    };
    match (to, from) {
        (Some(t), Some(f)) if t == f => true,
        _ => implicit(to) && implicit(from),
    }
}

/// What a message is with respect to carbons (XEP-0280).
#[derive(Debug, PartialEq)]
pub(crate) enum Unwrapped {
    /// Not a carbon.
    Plain(Message),
    /// A carbon from our own bare JID, unwrapped.
    Carbon(Carbon, Message),
    /// A carbon from anyone else, or a malformed one: ignored (§11).
    Dropped,
}

/// Unwraps a carbon copy sent by the account's own bare JID.
pub(crate) fn unwrap_carbon(own: &FullJid, m: Message) -> Unwrapped {
    let wrapper = m
        .payloads
        .iter()
        .find(|p| p.ns() == ns::CARBONS && matches!(p.name(), "sent" | "received"));
    let Some(wrapper) = wrapper else {
        return Unwrapped::Plain(m);
    };
    let from_own = m
        .header
        .from
        .as_ref()
        .is_some_and(|f| f.as_str() == own.bare().as_str());
    if !from_own {
        return Unwrapped::Dropped;
    }
    let parsed = if wrapper.name() == "sent" {
        CarbonsSent::from_element(wrapper).map(|c| (Carbon::Sent, c.0.message))
    } else {
        CarbonsReceived::from_element(wrapper).map(|c| (Carbon::Received, c.0.message))
    };
    match parsed {
        Ok((kind, inner)) => Unwrapped::Carbon(kind, inner),
        Err(_) => Unwrapped::Dropped,
    }
}

/// A message carrying a pubsub notification, as [`Event::PubSub`]; any
/// other message (or a notification that does not parse) as
/// [`Event::Message`].
pub(crate) fn message_event(own: &FullJid, m: Message) -> Event {
    match m.payload::<PubSubEvent>() {
        Some(Ok(event)) => Event::PubSub {
            from: m
                .header
                .from
                .clone()
                .unwrap_or_else(|| Jid::from(own.bare())),
            event,
        },
        _ => Event::Message(m),
    }
}

/// A block or unblock push (XEP-0191 §3.3, §3.4), as an event.
fn blocking_push(payload: &Element) -> Option<Event> {
    if payload.is(Block::NAME, Block::NS) {
        return Block::from_element(payload)
            .ok()
            .map(|b| Event::Blocked(b.items));
    }
    if payload.is(Unblock::NAME, Unblock::NS) {
        return Unblock::from_element(payload)
            .ok()
            .map(|u| Event::Unblocked(u.items));
    }
    None
}

impl Task {
    pub(crate) async fn incoming(&mut self, neg: &mut ClientNegotiator, el: Element) {
        let stanza = match Stanza::from_element(&el) {
            Ok(s) => s,
            Err(e) => {
                // Answer a malformed request; ignore other junk.
                if el.name() == "iq" && matches!(el.attr("type"), Some("get" | "set")) {
                    if let Some(reply) = error_reply(&el, &e.to_stanza_error(), false) {
                        self.reply(neg, reply);
                    }
                }
                return;
            }
        };
        match stanza {
            Stanza::Message(m) => {
                let ev = match unwrap_carbon(&self.jid, m) {
                    Unwrapped::Plain(m) => message_event(&self.jid, m),
                    Unwrapped::Carbon(kind, m) => Event::Carbon(kind, m),
                    Unwrapped::Dropped => return,
                };
                let _ = self.events.send(ev).await;
            }
            Stanza::Presence(p) => {
                let _ = self.events.send(Event::Presence(p)).await;
            }
            Stanza::Iq(iq) => self.incoming_iq(neg, iq).await,
        }
    }

    async fn incoming_iq(&mut self, neg: &mut ClientNegotiator, iq: Iq) {
        match &iq.kind {
            IqKind::Result(_) | IqKind::Error { .. } => {
                let id = iq.id().to_owned();
                let matches = self
                    .pending
                    .get(&id)
                    .is_some_and(|p| reply_matches(&self.jid, &p.to, &iq.header.from));
                if matches {
                    if let Some(p) = self.pending.remove(&id) {
                        let _ = p.reply.send(iq);
                    }
                }
            }
            IqKind::Get(p) | IqKind::Set(p) => {
                let set = matches!(iq.kind, IqKind::Set(_));
                let from_server = reply_matches(&self.jid, &None, &iq.header.from);
                if p.is(Ping::NAME, Ping::NS) {
                    self.reply(neg, iq.result(None).to_element());
                } else if let Some(answer) = crate::disco::answer(&self.builder, &self.jid, &iq) {
                    self.reply(neg, answer.to_element());
                } else if set && from_server && p.is(Roster::NAME, Roster::NS) {
                    // RFC 6121 §2.1.6: only from the server (no `from`, or our bare JID).
                    self.reply(neg, iq.result(None).to_element());
                    if let Some(Ok(r)) = iq.payload_as::<Roster>() {
                        let _ = self.events.send(Event::RosterPush(r)).await;
                    }
                } else if let Some(ev) = blocking_push(p).filter(|_| set && from_server) {
                    self.reply(neg, iq.result(None).to_element());
                    let _ = self.events.send(ev).await;
                } else if self.builder.iq_requests {
                    let _ = self.events.send(Event::Iq(iq)).await;
                } else {
                    let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
                    self.reply(neg, iq.error_reply(e).to_element());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> FullJid {
        "romeo@montague.example/garden".parse().unwrap()
    }

    fn carbon(from: Option<&str>, kind: &str) -> Message {
        let xml = format!(
            "<message xmlns='jabber:client' {} to='romeo@montague.example/garden' type='chat'>\
             <{kind} xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client' from='juliet@capulet.example/balcony' \
             to='romeo@montague.example/home' type='chat'><body>hi</body></message>\
             </forwarded></{kind}></message>",
            from.map(|f| format!("from='{f}'")).unwrap_or_default()
        );
        let el: Element = xml.parse().unwrap();
        Message::from_element(&el).unwrap()
    }

    #[test]
    fn carbons_only_from_own_bare_jid() {
        // (from, wrapper, expected marker; None: dropped)
        let table = [
            (Some("romeo@montague.example"), "sent", Some(Carbon::Sent)),
            (
                Some("romeo@montague.example"),
                "received",
                Some(Carbon::Received),
            ),
            // XEP-0280 §11: forged carbons are ignored.
            (Some("mallory@evil.example"), "received", None),
            (Some("romeo@montague.example/other"), "sent", None),
            (Some("montague.example"), "sent", None),
            (None, "received", None),
        ];
        for (from, kind, want) in table {
            let got = unwrap_carbon(&own(), carbon(from, kind));
            match (want, got) {
                (Some(k), Unwrapped::Carbon(got_k, m)) => {
                    assert_eq!(got_k, k, "{from:?} {kind}");
                    assert_eq!(m.body(None), Some("hi"));
                }
                (None, Unwrapped::Dropped) => {}
                (want, got) => panic!("{from:?} {kind}: want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn plain_message_is_not_a_carbon() {
        let m = Message::chat("romeo@montague.example".parse().unwrap(), "hello");
        assert_eq!(unwrap_carbon(&own(), m.clone()), Unwrapped::Plain(m));
    }

    #[test]
    fn pubsub_notifications_become_events() {
        let event = "<event xmlns='http://jabber.org/protocol/pubsub#event'>\
            <items node='urn:xmpp:avatar:metadata'><item id='abc'>\
            <metadata xmlns='urn:xmpp:avatar:metadata'/></item></items></event>";
        let table: &[(&str, &str, Option<&str>)] = &[
            (
                "from='juliet@capulet.example'",
                event,
                Some("juliet@capulet.example"),
            ),
            ("", event, Some("romeo@montague.example")),
            ("from='juliet@capulet.example'", "<body>hi</body>", None),
            (
                "from='juliet@capulet.example'",
                "<event xmlns='http://jabber.org/protocol/pubsub#event'><items/></event>",
                None,
            ),
        ];
        for (from, inner, want) in table {
            let xml = format!("<message xmlns='jabber:client' {from}>{inner}</message>");
            let el: Element = xml.parse().unwrap();
            let m = Message::from_element(&el).unwrap();
            match (message_event(&own(), m), want) {
                (Event::PubSub { from, event }, Some(w)) => {
                    assert_eq!(from.as_str(), *w, "{xml}");
                    assert_eq!(event.node(), Some("urn:xmpp:avatar:metadata"));
                }
                (Event::Message(_), None) => {}
                (got, _) => panic!("{xml}: {got:?}"),
            }
        }
    }

    #[test]
    fn block_and_unblock_pushes() {
        let block: Element = "<block xmlns='urn:xmpp:blocking'><item jid='a@b.example'/></block>"
            .parse()
            .unwrap();
        let unblock_all: Element = "<unblock xmlns='urn:xmpp:blocking'/>".parse().unwrap();
        let other: Element = "<query xmlns='jabber:iq:roster'/>".parse().unwrap();
        assert_eq!(
            blocking_push(&block),
            Some(Event::Blocked(vec!["a@b.example".parse().unwrap()]))
        );
        assert_eq!(blocking_push(&unblock_all), Some(Event::Unblocked(vec![])));
        assert_eq!(blocking_push(&other), None);
    }

    #[test]
    fn replies_match_by_sender() {
        let j = own();
        let bare: Jid = "romeo@montague.example".parse().unwrap();
        let other: Jid = "juliet@capulet.example".parse().unwrap();
        assert!(reply_matches(&j, &None, &None));
        assert!(reply_matches(&j, &None, &Some(bare.clone())));
        assert!(reply_matches(
            &j,
            &Some(other.clone()),
            &Some(other.clone())
        ));
        assert!(!reply_matches(&j, &Some(other.clone()), &None));
        assert!(!reply_matches(&j, &None, &Some(other)));
    }
}
