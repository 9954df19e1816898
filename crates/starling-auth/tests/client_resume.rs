//! The client negotiator's XEP-0198 resumption (`ClientSettings::resume`):
//! `<resume/>` instead of binding when the server offers stream
//! management, and binding after `<failed/>` or without the feature.
//! Scripted server transcripts over a stream that is already TLS (direct
//! TLS), with SASL PLAIN.

use std::time::Instant;

use starling_auth::negotiate::{ClientEvent, ClientNegotiator, ClientSettings};
use starling_auth::sasl::{ClientConfig, Mechanism};
use starling_jid::FullJid;
use starling_stanza::{H, SmResume, SmResumed, StanzaErrorCondition};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0'>";
const SASL: &str = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
    <mechanism>PLAIN</mechanism></mechanisms></stream:features>";
const SUCCESS: &str = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
const BIND_SM: &str = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
    <sm xmlns='urn:xmpp:sm:3'/></stream:features>";
const BIND_ONLY: &str =
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";

fn jid() -> FullJid {
    "alice@localhost/phone".parse().unwrap()
}

/// A negotiator that resumes `previd` with `h = 7`, authenticated, after
/// the post-authentication features `features`; the events and output.
fn after_auth(features: &str) -> (ClientNegotiator, Vec<ClientEvent>, String) {
    let mut settings = ClientSettings::new(jid().into());
    settings.resume = Some(SmResume {
        h: H(7),
        previd: "old-stream".into(),
    });
    let mut sasl = ClientConfig::password("alice", "secret".to_owned());
    sasl.mechanisms = vec![Mechanism::Plain];
    let mut n = ClientNegotiator::new(settings, sasl, Some(None), Instant::now());
    n.start();
    let mut events = Vec::new();
    for input in [
        format!("{HEADER}{SASL}{SUCCESS}"),
        format!("{HEADER}{features}"),
    ] {
        n.feed(input.as_bytes());
        while let Some(ev) = n.next_event() {
            events.push(ev);
        }
    }
    let out = String::from_utf8(n.take_output()).unwrap();
    (n, events, out)
}

fn drain(n: &mut ClientNegotiator, input: &str) -> (Vec<ClientEvent>, String) {
    n.feed(input.as_bytes());
    let mut events = Vec::new();
    while let Some(ev) = n.next_event() {
        events.push(ev);
    }
    (events, String::from_utf8(n.take_output()).unwrap())
}

#[test]
fn resumes_instead_of_binding() {
    let (mut n, events, out) = after_auth(BIND_SM);
    assert!(events.contains(&ClientEvent::Authenticated));
    assert!(
        out.contains("<resume xmlns='urn:xmpp:sm:3' h='7' previd='old-stream'/>"),
        "{out}"
    );
    assert!(
        !out.contains("urn:ietf:params:xml:ns:xmpp-bind"),
        "no binding: {out}"
    );
    assert!(n.features().is_some_and(|f| f.bind));
    let (events, out) = drain(
        &mut n,
        "<resumed xmlns='urn:xmpp:sm:3' h='3' previd='old-stream'/>",
    );
    assert_eq!(
        events,
        [ClientEvent::Resumed(SmResumed {
            h: H(3),
            previd: "old-stream".into()
        })]
    );
    assert!(out.is_empty());
    assert_eq!(n.bound_jid(), Some(&jid()));
    assert_eq!(n.poll_timeout(), None, "ready: no negotiation deadline");
    // Stanzas flow as on a bound stream.
    let (events, _) = drain(
        &mut n,
        "<message xmlns='jabber:client' from='bob@localhost'/>",
    );
    assert!(matches!(&events[..], [ClientEvent::Stanza(el)] if el.name() == "message"));
}

#[test]
fn binds_after_failed_or_without_the_feature() {
    // (post-auth features, server answer to <resume/>, expected condition)
    let table: [(&str, Option<&str>, Option<StanzaErrorCondition>); 2] = [
        (
            BIND_SM,
            Some(
                "<failed xmlns='urn:xmpp:sm:3' h='2'>\
                 <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
            ),
            Some(StanzaErrorCondition::ItemNotFound),
        ),
        (BIND_ONLY, None, None),
    ];
    for (features, answer, condition) in table {
        let (mut n, mut events, mut out) = after_auth(features);
        if let Some(answer) = answer {
            assert!(out.contains("resume"), "{out}");
            let (more, more_out) = drain(&mut n, answer);
            events.extend(more);
            out = more_out;
        }
        let failed = events.iter().find_map(|e| match e {
            ClientEvent::ResumeFailed(f) => Some(f.clone()),
            _ => None,
        });
        let failed = failed.unwrap_or_else(|| panic!("{features}: no ResumeFailed: {events:?}"));
        assert_eq!(failed.condition, condition, "{features}");
        assert!(
            out.contains("urn:ietf:params:xml:ns:xmpp-bind"),
            "binds: {out}"
        );
        assert!(
            out.contains("phone"),
            "the same resource is asked for: {out}"
        );
        let (events, _) = drain(
            &mut n,
            "<iq xmlns='jabber:client' type='result' id='bind_1'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/phone</jid></bind></iq>",
        );
        assert_eq!(events, [ClientEvent::Bound(jid())], "{features}");
    }
}

#[test]
fn junk_instead_of_an_answer_is_a_violation() {
    let (mut n, _, _) = after_auth(BIND_SM);
    let (events, out) = drain(&mut n, "<a xmlns='urn:xmpp:sm:3' h='1'/>");
    assert!(
        matches!(&events[..], [ClientEvent::Failed(_)]),
        "{events:?}"
    );
    assert!(out.contains("unsupported-stanza-type"), "{out}");
    assert!(n.is_closed());
}

#[test]
fn stream_error_ends_the_stream() {
    let (mut n, _, _) = after_auth(BIND_SM);
    let _ = drain(
        &mut n,
        "<resumed xmlns='urn:xmpp:sm:3' h='0' previd='old-stream'/>",
    );
    let err = starling_stream::StreamError::new(starling_stream::Condition::UndefinedCondition);
    n.stream_error(&err);
    let out = String::from_utf8(n.take_output()).unwrap();
    assert!(
        out.contains("undefined-condition") && out.contains("</stream:stream>"),
        "{out}"
    );
}
