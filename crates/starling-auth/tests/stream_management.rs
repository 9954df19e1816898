//! XEP-0198 in the server's negotiator (`ServerSettings::stream_management`):
//! the `<sm/>` feature after authentication, `<resume/>` in place of
//! binding handed to the application, `<enable/>` before binding refused,
//! and what the session needs to know (did the peer end its stream, which
//! stanzas did the negotiator answer itself).

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::Hooks;
use starling_auth::negotiate::{ServerEvent, ServerNegotiator, ServerSettings};
use starling_auth::sasl::{MemoryStore, ServerConfig};
use starling_jid::FullJid;
use starling_stanza::{H, Payload, SmFailed, SmResumed, StanzaErrorCondition};

const HEADER: &str = "<stream:stream to='localhost' version='1.0' xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams'>";
// PLAIN "\0juliet\0pw".
const AUTH: &str =
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABwdw==</auth>";
const BIND: &str = "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";

/// A server on a direct TLS connection (PLAIN allowed), authenticated,
/// with the post-authentication features written; the output so far.
fn authenticated(sm: bool) -> (ServerNegotiator<Hooks>, String) {
    let mut store = MemoryStore::new();
    store.add_user("juliet", "pw", 4096).unwrap();
    let mut settings = ServerSettings::new(Arc::new(store));
    settings.sasl = Arc::new(ServerConfig::default());
    settings.stream_management = sm;
    let mut n = ServerNegotiator::new(settings, Hooks, Some(Vec::new()), Instant::now());
    for part in [HEADER, AUTH, HEADER] {
        n.feed(part.as_bytes());
    }
    let events: Vec<_> = std::iter::from_fn(|| n.next_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ServerEvent::Authenticated(_))),
        "{events:?}"
    );
    let out = String::from_utf8(n.take_output()).unwrap();
    (n, out)
}

fn feed(n: &mut ServerNegotiator<Hooks>, s: &str) -> (Vec<ServerEvent>, String) {
    n.feed(s.as_bytes());
    let events = std::iter::from_fn(|| n.next_event()).collect();
    (events, String::from_utf8(n.take_output()).unwrap())
}

#[test]
fn the_feature_is_offered_after_authentication_only_when_on() {
    let (_, out) = authenticated(true);
    let features = &out[out.rfind("<stream:features").unwrap()..];
    assert!(features.contains("<sm xmlns='urn:xmpp:sm:3'/>"), "{out}");
    let (_, out) = authenticated(false);
    assert!(!out.contains("urn:xmpp:sm:3"), "{out}");
}

#[test]
fn enable_before_binding_is_an_unexpected_request_and_binding_still_works() {
    let (mut n, _) = authenticated(true);
    let (events, out) = feed(&mut n, "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
    assert!(events.is_empty(), "{events:?}");
    let failed = SmFailed::from_element(&out.parse().unwrap()).unwrap();
    assert_eq!(
        failed.condition,
        Some(StanzaErrorCondition::UnexpectedRequest)
    );
    let (events, _) = feed(&mut n, BIND);
    assert!(matches!(&events[..], [ServerEvent::Bound(_)]), "{events:?}");
}

#[test]
fn resume_goes_to_the_application_and_input_waits_for_its_answer() {
    let (mut n, _) = authenticated(true);
    let (events, out) = feed(
        &mut n,
        "<resume xmlns='urn:xmpp:sm:3' previd='abc' h='7'/><message to='romeo@localhost'/>",
    );
    let [ServerEvent::Resume { user, request }] = &events[..] else {
        panic!("{events:?}");
    };
    assert_eq!(user.as_str(), "juliet@localhost");
    assert_eq!((request.h, request.previd.as_str()), (H(7), "abc"));
    assert!(out.is_empty(), "{out}");
    assert!(n.bound_jid().is_none());
    let jid: FullJid = "juliet@localhost/phone".parse().unwrap();
    let resumed = SmResumed {
        h: H(3),
        previd: "abc".into(),
    };
    n.resume_accepted(jid.clone(), &resumed.to_element());
    let events: Vec<_> = std::iter::from_fn(|| n.next_event()).collect();
    assert!(
        matches!(&events[..], [ServerEvent::Stanza(m)] if m.name() == "message"),
        "the stanza held during the resumption comes now: {events:?}"
    );
    assert_eq!(n.bound_jid(), Some(&jid));
    let out = String::from_utf8(n.take_output()).unwrap();
    assert!(out.starts_with("<resumed xmlns='urn:xmpp:sm:3'"), "{out}");
}

#[test]
fn a_refused_resumption_lets_the_client_bind() {
    let (mut n, _) = authenticated(true);
    let (events, _) = feed(&mut n, "<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>");
    assert_eq!(events.len(), 1);
    let failed = SmFailed {
        h: None,
        condition: Some(StanzaErrorCondition::ItemNotFound),
        handled_count_too_high: None,
    };
    n.resume_refused(&failed.to_element());
    assert!(
        String::from_utf8(n.take_output())
            .unwrap()
            .contains("item-not-found")
    );
    let (events, _) = feed(&mut n, BIND);
    assert!(matches!(&events[..], [ServerEvent::Bound(_)]), "{events:?}");
}

#[test]
fn without_stream_management_resume_is_not_a_bind() {
    let (mut n, _) = authenticated(false);
    let (events, out) = feed(&mut n, "<resume xmlns='urn:xmpp:sm:3' previd='x' h='0'/>");
    assert!(
        matches!(&events[..], [ServerEvent::Failed(e)] if e.condition.name() == "not-authorized"),
        "{events:?} {out}"
    );
}

#[test]
fn the_session_learns_how_the_stream_ended_and_what_was_answered() {
    let (mut n, _) = authenticated(true);
    feed(&mut n, BIND);
    feed(
        &mut n,
        "<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
    );
    assert_eq!(n.take_own_replies(), 1, "the legacy session result");
    assert_eq!(n.take_own_replies(), 0);
    // A broken connection is not an ended stream.
    n.eof();
    assert!(!n.peer_ended_stream());
    let (mut n, _) = authenticated(true);
    feed(&mut n, BIND);
    feed(&mut n, "</stream:stream>");
    assert!(n.peer_ended_stream());
}
