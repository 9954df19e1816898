//! The server-to-server negotiators run against each other in memory, over
//! real rustls sessions with certificates from a test CA: SASL EXTERNAL,
//! dialback with a third server as Authoritative Server, multiplexing, and
//! the failure paths; then byte-level checks of single negotiators.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use starling_auth::dialback;
use starling_auth::negotiate::{
    AuthMethod, InboundEvent, OutboundEvent, PeerTls, S2sError, S2sHooks, S2sInbound, S2sOutbound,
    S2sSettings,
};
use starling_auth::tls::{self, ClientAuth, ClientTlsBuilder, ServerTlsBuilder, Trust};
use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition;
use starling_stream::{Condition, Event, Framer, FramerConfig, StreamError};
use starling_testkit::tls::pump::{Pump, S2sTls};
use starling_testkit::tls::{SelfSigned, TestCa};
use starling_xml::Element;

// ---------------------------------------------------------------------------
// Certificates: a test CA and leaf certificates signed by it.

type Ca = TestCa;

/// What a receiving server accepting connections for `names` uses: any
/// client certificate (or none) is accepted in the handshake and checked
/// afterwards (by [`S2sTls`], against the CA).
fn server_config(ca: &Ca, names: &[&str]) -> Arc<rustls::ServerConfig> {
    let mut b = ServerTlsBuilder::new().client_auth(ClientAuth::RequestAny);
    for n in names {
        let (chain, key) = ca.leaf(n);
        b = b.domain(n, tls::certified_key(chain, key).unwrap());
    }
    b.build().unwrap()
}

/// What an initiating server uses, presenting a certificate for `identity`
/// if any: signed by the CA, or self-signed when the name starts with
/// `self-signed:`.
fn client_config(ca: &Ca, identity: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut b = ClientTlsBuilder::new(Trust::Roots(ca.roots()));
    match identity.map(|n| (n, n.strip_prefix("self-signed:"))) {
        None => {}
        Some((_, Some(name))) => {
            let own = SelfSigned::new(name);
            b = b.identity(own.chain, own.key);
        }
        Some((name, None)) => {
            let (chain, key) = ca.leaf(name);
            b = b.identity(chain, key);
        }
    }
    b.build().unwrap()
}

// ---------------------------------------------------------------------------
// Servers.

fn d(s: &str) -> DomainPart {
    s.parse().unwrap()
}

struct Serves(Vec<&'static str>);

impl S2sHooks for Serves {
    fn serves(&self, domain: &DomainPart) -> bool {
        self.0.iter().any(|s| domain.as_str() == *s)
    }
}

fn settings(secret: &[u8]) -> S2sSettings {
    S2sSettings::new(secret.to_vec())
}

/// A link between an outgoing and an incoming negotiator: the bytes move
/// in memory, through rustls once STARTTLS was agreed; the receiving side
/// checks the initiating side's certificate against the CA.
struct Link {
    pump: Pump,
    tls: S2sTls,
}

#[derive(Debug, Default)]
struct Seen {
    out: Vec<OutboundEvent>,
    inb: Vec<InboundEvent>,
}

impl Link {
    fn new(ca: &Ca, identity: Option<&str>, server_names: &[&str]) -> Link {
        Link {
            pump: Pump::new(client_config(ca, identity), server_config(ca, server_names)),
            tls: S2sTls::new(ca.roots()),
        }
    }

    /// Moves bytes until neither side has anything to say.
    fn pump(&mut self, out: &mut S2sOutbound, inb: &mut S2sInbound<Serves>) -> Seen {
        let seen = self.pump.run(out, inb, &mut self.tls);
        Seen {
            out: seen.client,
            inb: seen.server,
        }
    }
}

/// The Authoritative Server's answer to a dialback request, as the
/// receiving server's application gets it: a verifier stream from `local`
/// to the sender domain's server (a fresh connection over TLS).
fn verify_with(
    ca: &Ca,
    receiving_secret: &[u8],
    authoritative: (&[u8], Vec<&'static str>),
    request: &InboundEvent,
) -> (Vec<OutboundEvent>, Vec<InboundEvent>) {
    let InboundEvent::DialbackRequest {
        from,
        to,
        key,
        stream_id,
    } = request
    else {
        panic!("not a dialback request: {request:?}")
    };
    let now = Instant::now();
    let names = authoritative.1.clone();
    let mut verifier = S2sOutbound::verifier(
        settings(receiving_secret),
        to.clone(),
        from.clone(),
        None,
        now,
    );
    let mut auth_in = S2sInbound::new(settings(authoritative.0), Serves(names.clone()), None, now);
    assert!(verifier.verify(stream_id, key, now));
    let mut link = Link::new(ca, Some(to.as_str()), &names);
    let seen = link.pump(&mut verifier, &mut auth_in);
    (seen.out, seen.inb)
}

fn dialback_request(events: &[InboundEvent]) -> InboundEvent {
    events
        .iter()
        .find(|e| matches!(e, InboundEvent::DialbackRequest { .. }))
        .cloned()
        .unwrap_or_else(|| panic!("no dialback request in {events:?}"))
}

fn message(from: &str, to: &str) -> Element {
    Element::builder("message", "jabber:server")
        .attr("from", from)
        .attr("to", to)
        .append(Element::builder("body", "jabber:server").text("hi"))
        .build()
}

fn failed_with(events: &[InboundEvent], condition: Condition) -> bool {
    matches!(events.last(), Some(InboundEvent::Failed(e)) if e.condition == condition)
}

// ---------------------------------------------------------------------------
// Whole exchanges over TLS.

/// a.example presents a certificate for a.example: b.example offers
/// EXTERNAL, and the stream is authenticated without dialback.
#[test]
fn external_when_the_certificate_verifies() {
    let ca = Ca::new();
    let now = Instant::now();
    let mut a_settings = settings(b"a-secret");
    a_settings.have_client_cert = true;
    let mut a_out = S2sOutbound::new(a_settings, d("a.example"), d("b.example"), None, now);
    let mut b_in = S2sInbound::new(settings(b"b-secret"), Serves(vec!["b.example"]), None, now);
    let mut link = Link::new(&ca, Some("a.example"), &["b.example"]);
    let seen = link.pump(&mut a_out, &mut b_in);

    assert_eq!(seen.out[0], OutboundEvent::StartTls);
    assert_eq!(
        seen.out.last(),
        Some(&OutboundEvent::Ready {
            local: d("a.example"),
            remote: d("b.example"),
            method: AuthMethod::External,
        }),
        "{seen:?}"
    );
    assert!(
        seen.inb.contains(&InboundEvent::Authenticated {
            from: d("a.example"),
            to: d("b.example"),
            method: AuthMethod::External,
        }),
        "{seen:?}"
    );
    assert!(b_in.is_tls() && a_out.is_tls());
    assert_eq!(a_out.method(), Some(AuthMethod::External));

    // Stanzas flow from a.example to b.example.
    assert!(a_out.send(&message("juliet@a.example/r", "romeo@b.example")));
    let seen = link.pump(&mut a_out, &mut b_in);
    assert_eq!(
        seen.inb,
        vec![InboundEvent::Stanza(message(
            "juliet@a.example/r",
            "romeo@b.example"
        ))]
    );
    assert_eq!(b_in.poll_timeout(), None, "no timeout once authenticated");
}

/// The full dialback: a.example's certificate is for another name, so
/// b.example offers only dialback; b.example asks a.example's
/// Authoritative Server (a third negotiator) over a verifier stream.
#[test]
fn dialback_when_the_certificate_does_not_verify() {
    for identity in [
        Some("elsewhere.example"),
        Some("self-signed:a.example"),
        None,
    ] {
        let ca = Ca::new();
        let now = Instant::now();
        let mut a_settings = settings(b"a-secret");
        a_settings.have_client_cert = identity.is_some();
        let mut a_out = S2sOutbound::new(a_settings, d("a.example"), d("b.example"), None, now);
        let mut b_in = S2sInbound::new(settings(b"b-secret"), Serves(vec!["b.example"]), None, now);
        let mut link = Link::new(&ca, identity, &["b.example"]);
        let seen = link.pump(&mut a_out, &mut b_in);
        assert!(b_in.is_tls());
        assert_eq!(b_in.peer_tls(), Some(&PeerTls::default()), "{identity:?}");
        let request = dialback_request(&seen.inb);
        let InboundEvent::DialbackRequest {
            from,
            to,
            key,
            stream_id,
        } = &request
        else {
            unreachable!()
        };
        assert_eq!((from, to), (&d("a.example"), &d("b.example")));
        assert_eq!(Some(stream_id.as_str()), b_in.stream_id());
        assert_eq!(
            key,
            &dialback::key(b"a-secret", "b.example", "a.example", stream_id)
        );
        assert!(
            !seen
                .out
                .iter()
                .any(|e| matches!(e, OutboundEvent::Ready { .. }))
        );

        // b.example's application asks a.example's Authoritative Server.
        let (v_out, auth_in) =
            verify_with(&ca, b"b-secret", (b"a-secret", vec!["a.example"]), &request);
        assert!(
            v_out.contains(&OutboundEvent::Verified {
                stream_id: stream_id.clone(),
                valid: true
            }),
            "{v_out:?}"
        );
        assert!(auth_in.contains(&InboundEvent::VerifyAnswered {
            from: d("b.example"),
            to: d("a.example"),
            id: stream_id.clone(),
            valid: true,
        }));

        assert!(b_in.dialback_result(&d("a.example"), &d("b.example"), true));
        assert!(!b_in.dialback_result(&d("a.example"), &d("b.example"), true));
        let seen = link.pump(&mut a_out, &mut b_in);
        assert_eq!(
            seen.out,
            vec![OutboundEvent::Ready {
                local: d("a.example"),
                remote: d("b.example"),
                method: AuthMethod::Dialback,
            }]
        );
        assert_eq!(
            seen.inb,
            vec![InboundEvent::Authenticated {
                from: d("a.example"),
                to: d("b.example"),
                method: AuthMethod::Dialback,
            }]
        );
        assert!(a_out.send(&message("a.example", "b.example")));
        let seen = link.pump(&mut a_out, &mut b_in);
        assert!(matches!(&seen.inb[..], [InboundEvent::Stanza(_)]));
    }
}

/// A key the Authoritative Server does not recognise (the initiating server
/// does not know a.example's secret): invalid, the stream closes and no
/// pair is authenticated.
#[test]
fn dialback_with_a_wrong_key_is_refused() {
    let ca = Ca::new();
    let now = Instant::now();
    let mut a_out = S2sOutbound::new(
        settings(b"an-impostor's-secret"),
        d("a.example"),
        d("b.example"),
        None,
        now,
    );
    let mut b_in = S2sInbound::new(settings(b"b-secret"), Serves(vec!["b.example"]), None, now);
    let mut link = Link::new(&ca, None, &["b.example"]);
    let seen = link.pump(&mut a_out, &mut b_in);
    let request = dialback_request(&seen.inb);
    let (v_out, auth_in) =
        verify_with(&ca, b"b-secret", (b"a-secret", vec!["a.example"]), &request);
    assert!(
        v_out
            .iter()
            .any(|e| matches!(e, OutboundEvent::Verified { valid: false, .. })),
        "{v_out:?}"
    );
    assert!(
        auth_in
            .iter()
            .any(|e| matches!(e, InboundEvent::VerifyAnswered { valid: false, .. }))
    );

    assert!(b_in.dialback_result(&d("a.example"), &d("b.example"), false));
    assert!(b_in.is_closed());
    assert!(!b_in.is_authenticated(&d("a.example"), &d("b.example")));
    let seen = link.pump(&mut a_out, &mut b_in);
    assert_eq!(
        seen.out,
        vec![OutboundEvent::Failed(S2sError::DialbackInvalid)]
    );
    assert!(a_out.is_closed());
    assert!(!a_out.send(&message("a.example", "b.example")));
}

/// A second domain of the initiating server on the same stream, by
/// dialback after EXTERNAL; and a third one the Authoritative Server
/// refuses.
#[test]
fn piggyback_a_second_domain() {
    let ca = Ca::new();
    let now = Instant::now();
    let mut a_settings = settings(b"a-secret");
    a_settings.have_client_cert = true;
    let mut a_out = S2sOutbound::new(a_settings, d("a.example"), d("b.example"), None, now);
    let mut b_in = S2sInbound::new(settings(b"b-secret"), Serves(vec!["b.example"]), None, now);
    let mut link = Link::new(&ca, Some("a.example"), &["b.example"]);
    let seen = link.pump(&mut a_out, &mut b_in);
    assert!(matches!(seen.out.last(), Some(OutboundEvent::Ready { .. })));

    // Before the answer, the new domain may not send.
    assert!(a_out.authenticate_additional(d("chat.a.example"), now));
    assert!(!a_out.authenticate_additional(d("chat.a.example"), now));
    assert!(!a_out.authenticate_additional(d("a.example"), now));
    let seen = link.pump(&mut a_out, &mut b_in);
    let request = dialback_request(&seen.inb);
    let InboundEvent::DialbackRequest { from, .. } = &request else {
        unreachable!()
    };
    assert_eq!(from, &d("chat.a.example"));
    let (v_out, _) = verify_with(
        &ca,
        b"b-secret",
        (b"a-secret", vec!["a.example", "chat.a.example"]),
        &request,
    );
    assert!(
        matches!(
            &v_out[..],
            [
                OutboundEvent::StartTls,
                OutboundEvent::Verified { valid: true, .. }
            ]
        ),
        "{v_out:?}"
    );
    assert!(b_in.dialback_result(&d("chat.a.example"), &d("b.example"), true));
    let seen = link.pump(&mut a_out, &mut b_in);
    assert_eq!(
        seen.out,
        vec![OutboundEvent::PairReady {
            local: d("chat.a.example"),
            remote: d("b.example"),
        }]
    );
    assert_eq!(
        a_out.authenticated_domains(),
        &[d("a.example"), d("chat.a.example")]
    );
    assert_eq!(b_in.authenticated_pairs().len(), 2);

    // Both domains send.
    a_out.send(&message("a.example", "romeo@b.example"));
    a_out.send(&message("room@chat.a.example/nick", "romeo@b.example"));
    let seen = link.pump(&mut a_out, &mut b_in);
    assert_eq!(seen.inb.len(), 2, "{seen:?}");

    // A third domain whose verification could not be done: a dialback
    // error, which leaves the stream and its pairs in place.
    assert!(a_out.authenticate_additional(d("pubsub.a.example"), now));
    link.pump(&mut a_out, &mut b_in);
    assert!(b_in.dialback_error(
        &d("pubsub.a.example"),
        &d("b.example"),
        StanzaErrorCondition::RemoteServerTimeout
    ));
    let seen = link.pump(&mut a_out, &mut b_in);
    assert_eq!(
        seen.out,
        vec![OutboundEvent::PairFailed {
            local: d("pubsub.a.example"),
            remote: d("b.example"),
            error: S2sError::DialbackError(StanzaErrorCondition::RemoteServerTimeout),
        }]
    );
    assert!(a_out.is_ready() && !b_in.is_closed());

    // Stanzas from a domain that is not authenticated end the stream.
    a_out.send(&message("pubsub.a.example", "romeo@b.example"));
    let seen = link.pump(&mut a_out, &mut b_in);
    assert!(failed_with(&seen.inb, Condition::InvalidFrom), "{seen:?}");
    assert!(matches!(
        seen.out.last(),
        Some(OutboundEvent::Closed { error: Some(e) }) if e.condition == Condition::InvalidFrom
    ));
}

/// The receiving server closes plaintext negotiation when TLS is required,
/// and the initiating server refuses a peer without STARTTLS.
#[test]
fn plaintext_refused_when_tls_required() {
    let ca = Ca::new();
    let now = Instant::now();
    // The peer has no certificate and does not require TLS.
    let mut b_settings = settings(b"b-secret");
    b_settings.tls_available = false;
    b_settings.tls_required = false;
    let mut a_out = S2sOutbound::new(
        settings(b"a-secret"),
        d("a.example"),
        d("b.example"),
        None,
        now,
    );
    let mut b_in = S2sInbound::new(b_settings, Serves(vec!["b.example"]), None, now);
    let mut link = Link::new(&ca, None, &["b.example"]);
    let seen = link.pump(&mut a_out, &mut b_in);
    assert_eq!(
        seen.out,
        vec![OutboundEvent::Failed(S2sError::TlsUnavailable)]
    );
    assert!(
        !seen
            .inb
            .iter()
            .any(|e| matches!(e, InboundEvent::DialbackRequest { .. }))
    );
    assert_eq!(seen.inb, vec![InboundEvent::Closed { peer_error: None }]);
}

/// XEP-0368: TLS from the first byte; the certificate was checked before
/// the negotiators were made.
#[test]
fn direct_tls_goes_straight_to_external() {
    let now = Instant::now();
    let mut a_settings = settings(b"a-secret");
    a_settings.have_client_cert = true;
    let mut a_out = S2sOutbound::new(
        a_settings,
        d("a.example"),
        d("b.example"),
        Some(PeerTls::new(vec![d("b.example")])),
        now,
    );
    let mut b_in = S2sInbound::new(
        settings(b"b-secret"),
        Serves(vec!["b.example"]),
        Some(PeerTls::new(vec![d("a.example")])),
        now,
    );
    let (out, inb) = plain_pump(&mut a_out, &mut b_in);
    assert!(!out.contains(&OutboundEvent::StartTls));
    assert!(
        matches!(
            out.last(),
            Some(OutboundEvent::Ready {
                method: AuthMethod::External,
                ..
            })
        ),
        "{out:?}"
    );
    assert!(matches!(
        inb.last(),
        Some(InboundEvent::Authenticated { .. })
    ));
}

// ---------------------------------------------------------------------------
// Without TLS (the settings allow it), and byte-level checks.

fn plain_settings(secret: &[u8]) -> S2sSettings {
    let mut s = settings(secret);
    s.tls_available = false;
    s.tls_required = false;
    s
}

/// Moves bytes between two negotiators without TLS.
fn plain_pump(
    out: &mut S2sOutbound,
    inb: &mut S2sInbound<Serves>,
) -> (Vec<OutboundEvent>, Vec<InboundEvent>) {
    let (mut o, mut i) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        o.extend(std::iter::from_fn(|| out.next_event()));
        i.extend(std::iter::from_fn(|| inb.next_event()));
        let (a, b) = (out.take_output(), inb.take_output());
        if a.is_empty() && b.is_empty() {
            break;
        }
        inb.feed(&a);
        out.feed(&b);
    }
    (o, i)
}

const A_HEADER: &str = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
    xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='a.example' to='b.example' \
    version='1.0'>";

fn inbound(settings: S2sSettings) -> S2sInbound<Serves> {
    S2sInbound::new(
        settings,
        Serves(vec!["b.example", "muc.b.example"]),
        None,
        Instant::now(),
    )
}

/// Feeds `input` and returns the output and the events.
fn run(n: &mut S2sInbound<Serves>, input: &str) -> (String, Vec<InboundEvent>) {
    n.feed(input.as_bytes());
    let events: Vec<_> = std::iter::from_fn(|| n.next_event()).collect();
    (String::from_utf8(n.take_output()).unwrap(), events)
}

/// A plaintext inbound stream on which a.example is authenticated to
/// b.example by dialback.
fn authenticated_inbound() -> S2sInbound<Serves> {
    let mut n = inbound(plain_settings(b"b-secret"));
    let (_, events) = run(
        &mut n,
        &format!("{A_HEADER}<db:result from='a.example' to='b.example'>k</db:result>"),
    );
    assert!(matches!(
        &events[..],
        [InboundEvent::DialbackRequest { .. }]
    ));
    assert!(n.dialback_result(&d("a.example"), &d("b.example"), true));
    assert!(matches!(
        n.next_event(),
        Some(InboundEvent::Authenticated { .. })
    ));
    let out = String::from_utf8(n.take_output()).unwrap();
    assert!(
        out.ends_with("<db:result from='b.example' to='a.example' type='valid'/>"),
        "{out}"
    );
    n
}

#[test]
fn db_verify_answered_valid_and_invalid() {
    let mut s = plain_settings(b"b-secret");
    s.tls_required = true;
    s.tls_available = true;
    s.verify_without_tls = true;
    let mut n = inbound(s);
    // As the Authoritative Server for b.example, about a stream id that
    // b.example's outgoing stream to a.example got.
    let key = dialback::key(b"b-secret", "a.example", "b.example", "417GAF25");
    let (out, events) = run(
        &mut n,
        &format!(
            "{A_HEADER}<db:verify from='a.example' to='b.example' id='417GAF25'>{key}</db:verify>\
             <db:verify from='a.example' to='b.example' id='417GAF25'>{}</db:verify>",
            dialback::key(b"b-secret", "a.example", "b.example", "other-id")
        ),
    );
    assert!(
        out.contains(
            "<db:verify from='b.example' to='a.example' id='417GAF25' type='valid'/>\
             <db:verify from='b.example' to='a.example' id='417GAF25' type='invalid'/>"
        ),
        "{out}"
    );
    assert_eq!(
        events,
        vec![
            InboundEvent::VerifyAnswered {
                from: d("a.example"),
                to: d("b.example"),
                id: "417GAF25".into(),
                valid: true
            },
            InboundEvent::VerifyAnswered {
                from: d("a.example"),
                to: d("b.example"),
                id: "417GAF25".into(),
                valid: false
            },
        ]
    );
    // Only STARTTLS is offered, TLS being required…
    assert!(out.contains("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"), "{out}");
    // …and a domain we do not serve is a dialback error, not a stream error.
    let (out, _) = run(
        &mut n,
        "<db:verify from='a.example' to='c.example' id='x'>k</db:verify>",
    );
    assert_eq!(
        out,
        "<db:verify from='c.example' to='a.example' id='x' type='error'><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:verify>"
    );
    assert!(!n.is_closed());
}

#[test]
fn db_verify_without_tls_is_a_policy_violation_by_default() {
    let mut s = plain_settings(b"b-secret");
    s.tls_required = true;
    s.tls_available = true;
    let mut n = inbound(s);
    let (out, events) = run(
        &mut n,
        &format!("{A_HEADER}<db:verify from='a.example' to='b.example' id='i'>k</db:verify>"),
    );
    assert!(
        out.contains("type='error'><error type='modify'><policy-violation"),
        "{out}"
    );
    assert!(events.is_empty());
    // Dialback too, and SASL asks for TLS.
    let (out, _) = run(
        &mut n,
        "<db:result from='a.example' to='b.example'>k</db:result>\
         <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>",
    );
    assert!(
        out.contains("<db:result from='b.example' to='a.example' type='error'>"),
        "{out}"
    );
    assert!(out.contains("<encryption-required/>"), "{out}");
    assert!(!n.is_closed());
}

#[test]
fn stanzas_need_an_authenticated_pair() {
    // Before authentication.
    let mut n = inbound(plain_settings(b"b-secret"));
    let (_, events) = run(
        &mut n,
        &format!("{A_HEADER}<message from='a.example' to='b.example'/>"),
    );
    assert!(failed_with(&events, Condition::NotAuthorized), "{events:?}");

    let cases = [
        (
            "<message from='evil.example' to='b.example'/>",
            Condition::InvalidFrom,
        ),
        (
            "<message from='a.example' to='c.example'/>",
            Condition::HostUnknown,
        ),
        // Served, but not the pair authenticated.
        (
            "<message from='a.example' to='muc.b.example'/>",
            Condition::ImproperAddressing,
        ),
        ("<message to='b.example'/>", Condition::ImproperAddressing),
        (
            "<iq from='a.example' type='get' id='1'/>",
            Condition::ImproperAddressing,
        ),
        (
            "<presence from='a.example' to='@@'/>",
            Condition::ImproperAddressing,
        ),
        (
            "<message xmlns='jabber:client' from='a.example' to='b.example'/>",
            Condition::UnsupportedStanzaType,
        ),
        // An answer where only requests may come (unsolicited dialback).
        (
            "<db:result from='a.example' to='b.example' type='valid'/>",
            Condition::UnsupportedStanzaType,
        ),
        (
            "<db:result to='b.example'>k</db:result>",
            Condition::ImproperAddressing,
        ),
        (
            "<db:verify from='a.example' to='b.example'>k</db:verify>",
            Condition::ImproperAddressing,
        ),
        (
            "<db:result from='a.example' to='b.example' type='perhaps'/>",
            Condition::InvalidXml,
        ),
    ];
    for (stanza, condition) in cases {
        let mut n = authenticated_inbound();
        let (out, events) = run(&mut n, stanza);
        assert!(
            failed_with(&events, condition.clone()),
            "{stanza}: {events:?}"
        );
        assert!(out.contains(&format!("<{}", condition.name())), "{out}");
        assert!(n.is_closed());
    }

    let mut n = authenticated_inbound();
    let (_, events) = run(
        &mut n,
        "<message from='juliet@a.example/r' to='romeo@b.example' type='chat'/>",
    );
    assert!(
        matches!(&events[..], [InboundEvent::Stanza(_)]),
        "{events:?}"
    );
}

#[test]
fn dialback_errors_keep_the_stream() {
    let mut n = authenticated_inbound();
    let (out, events) = run(
        &mut n,
        "<db:result from='a.example' to='c.example'>k</db:result>\
         <db:result from='a.example' to='b.example'>k</db:result>",
    );
    assert_eq!(
        out,
        "<db:result from='c.example' to='a.example' type='error'><error type='cancel'>\
         <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>\
         <db:result from='b.example' to='a.example' type='valid'/>"
    );
    assert!(events.is_empty(), "{events:?}");
    assert!(!n.is_closed());
}

#[test]
fn dialback_can_be_disallowed_and_limited() {
    let mut s = plain_settings(b"b-secret");
    s.dialback_allowed = false;
    let mut n = inbound(s);
    let (out, _) = run(
        &mut n,
        &format!("{A_HEADER}<db:result from='a.example' to='b.example'>k</db:result>"),
    );
    assert!(!out.contains("urn:xmpp:features:dialback"), "{out}");
    assert!(
        out.contains("type='error'><error type='auth'><not-authorized"),
        "{out}"
    );

    let mut s = plain_settings(b"b-secret");
    s.max_domain_pairs = 1;
    let mut n = inbound(s);
    let (out, events) = run(
        &mut n,
        &format!(
            "{A_HEADER}<db:result from='a.example' to='b.example'>k</db:result>\
             <db:result from='x.a.example' to='b.example'>k</db:result>"
        ),
    );
    assert_eq!(events.len(), 1);
    // XEP-0220 §2.4.2: the feature says we handle dialback errors.
    assert!(
        out.contains(
            "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback>\
             </stream:features>"
        ),
        "{out}"
    );
    assert!(out.contains("<resource-constraint"), "{out}");
}

#[test]
fn header_checks() {
    for (header, condition) in [
        (
            A_HEADER.replace("to='b.example'", "to='c.example'"),
            Condition::HostUnknown,
        ),
        (
            A_HEADER.replace(" to='b.example'", ""),
            Condition::HostUnknown,
        ),
        (
            A_HEADER.replace("to='b.example'", "to='user@b.example'"),
            Condition::HostUnknown,
        ),
        (
            A_HEADER.replace("from='a.example'", "from='user@a.example'"),
            Condition::InvalidFrom,
        ),
        (
            A_HEADER.replace("jabber:server'", "jabber:client'"),
            Condition::InvalidNamespace,
        ),
    ] {
        let mut n = inbound(settings(b"b-secret"));
        let (out, events) = run(&mut n, &header);
        assert!(
            failed_with(&events, condition.clone()),
            "{header}: {events:?}"
        );
        assert!(out.contains(&format!("<{}", condition.name())), "{out}");
        // The error comes in a stream of ours, well-formed.
        assert!(
            out.starts_with("<?xml version='1.0'?><stream:stream"),
            "{out}"
        );
        assert!(out.ends_with("</stream:stream>"), "{out}");
    }
}

/// A pre-1.0 server (no version): no features in return, dialback only.
#[test]
fn a_server_without_version_gets_dialback_only() {
    let mut n = inbound(plain_settings(b"b-secret"));
    let header = A_HEADER.replace(" version='1.0'", "");
    let (out, events) = run(
        &mut n,
        &format!("{header}<db:result from='a.example' to='b.example'>k</db:result>"),
    );
    assert!(!out.contains("' version="), "{out}");
    assert!(!out.contains("features"), "{out}");
    assert!(matches!(
        &events[..],
        [InboundEvent::DialbackRequest { .. }]
    ));

    // And the outgoing side does dialback with such a server.
    let now = Instant::now();
    let mut a = S2sOutbound::new(
        plain_settings(b"a-secret"),
        d("a.example"),
        d("b.example"),
        None,
        now,
    );
    a.feed(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
        xmlns:db='jabber:server:dialback' from='b.example' to='a.example' id='old-1'>",
    );
    assert_eq!(a.next_event(), None);
    let out = String::from_utf8(a.take_output()).unwrap();
    let key = dialback::key(b"a-secret", "b.example", "a.example", "old-1");
    assert!(
        out.ends_with(&format!(
            "<db:result from='a.example' to='b.example'>{key}</db:result>"
        )),
        "{out}"
    );
    a.feed(b"<db:result from='b.example' to='a.example' type='valid'/>");
    assert!(matches!(
        a.next_event(),
        Some(OutboundEvent::Ready {
            method: AuthMethod::Dialback,
            ..
        })
    ));
}

#[test]
fn external_with_a_foreign_authzid_fails_then_dialback_is_possible() {
    let mut n = S2sInbound::new(
        settings(b"b-secret"),
        Serves(vec!["b.example"]),
        Some(PeerTls::new(vec![d("a.example")])),
        Instant::now(),
    );
    // "c.example" in base64.
    let (out, events) = run(
        &mut n,
        &format!(
            "{A_HEADER}<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>Yy5leGFtcGxl</auth>"
        ),
    );
    assert!(out.contains("<mechanism>EXTERNAL</mechanism>"), "{out}");
    assert!(out.contains("<invalid-authzid/>"), "{out}");
    assert!(events.is_empty());
    let (_, events) = run(
        &mut n,
        "<db:result from='a.example' to='b.example'>k</db:result>",
    );
    assert!(matches!(
        &events[..],
        [InboundEvent::DialbackRequest { .. }]
    ));

    // The outgoing side falls back to dialback after such a failure.
    let now = Instant::now();
    let mut s = plain_settings(b"a-secret");
    s.have_client_cert = true;
    let mut a = S2sOutbound::new(
        s,
        d("a.example"),
        d("b.example"),
        Some(PeerTls::default()),
        now,
    );
    a.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
        xmlns:db='jabber:server:dialback' from='b.example' to='a.example' id='s1' version='1.0'>\
        <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism>\
        </mechanisms><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>");
    assert_eq!(a.next_event(), None);
    let out = String::from_utf8(a.take_output()).unwrap();
    // XEP-0178: the authzid is our domain ("a.example").
    assert!(
        out.contains("mechanism='EXTERNAL'>YS5leGFtcGxl</auth>"),
        "{out}"
    );
    a.feed(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
    assert_eq!(a.next_event(), None);
    let out = String::from_utf8(a.take_output()).unwrap();
    assert!(
        out.starts_with("<db:result from='a.example' to='b.example'>"),
        "{out}"
    );
}

#[test]
fn inbound_times_out_without_authentication() {
    let start = Instant::now();
    let mut n = S2sInbound::new(
        plain_settings(b"b-secret"),
        Serves(vec!["b.example"]),
        None,
        start,
    );
    run(&mut n, A_HEADER);
    let deadline = n.poll_timeout().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(60));
    n.handle_timeout(deadline - Duration::from_secs(1));
    assert!(!n.is_closed());
    n.handle_timeout(deadline);
    let (out, events) = run(&mut n, "");
    assert!(
        failed_with(&events, Condition::ConnectionTimeout),
        "{events:?}"
    );
    assert!(out.contains("<connection-timeout"), "{out}");
    assert_eq!(n.poll_timeout(), None);
}

#[test]
fn outbound_times_out() {
    let now = Instant::now();
    let mut a = S2sOutbound::new(
        plain_settings(b"a-secret"),
        d("a.example"),
        d("b.example"),
        None,
        now,
    );
    let deadline = a.poll_timeout().unwrap();
    a.handle_timeout(deadline);
    assert_eq!(
        a.next_event(),
        Some(OutboundEvent::Failed(S2sError::Timeout))
    );
    assert!(a.is_closed());

    // A verification request waiting for its answer times out alone.
    let mut v = S2sOutbound::verifier(
        plain_settings(b"b-secret"),
        d("b.example"),
        d("a.example"),
        None,
        now,
    );
    assert!(v.verify("id-1", "key", now));
    assert!(!v.verify("id-1", "key", now), "one request per stream id");
    v.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
        xmlns:db='jabber:server:dialback' from='a.example' to='b.example' id='s' version='1.0'>\
        <stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>");
    assert_eq!(v.next_event(), None);
    let out = String::from_utf8(v.take_output()).unwrap();
    assert!(
        out.ends_with("<db:verify from='b.example' to='a.example' id='id-1'>key</db:verify>"),
        "{out}"
    );
    let later = now + Duration::from_secs(61);
    assert_eq!(v.poll_timeout(), Some(now + Duration::from_secs(60)));
    v.handle_timeout(later);
    assert_eq!(
        v.next_event(),
        Some(OutboundEvent::VerifyFailed {
            stream_id: "id-1".into(),
            error: S2sError::Timeout
        })
    );
    assert!(!v.is_closed());
    assert_eq!(v.poll_timeout(), None);
}

#[test]
fn outbound_rejects_unsolicited_answers() {
    let now = Instant::now();
    for answer in [
        "<db:result from='b.example' to='other.example' type='valid'/>",
        "<db:result from='evil.example' to='a.example' type='valid'/>",
        "<db:verify from='b.example' to='a.example' id='nope' type='valid'/>",
        "<db:result from='b.example' to='a.example'>key</db:result>",
        "<message from='b.example' to='a.example'/>",
    ] {
        let mut a = S2sOutbound::new(
            plain_settings(b"a-secret"),
            d("a.example"),
            d("b.example"),
            None,
            now,
        );
        a.feed(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
            xmlns:db='jabber:server:dialback' from='b.example' to='a.example' id='s' version='1.0'>\
            <stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>");
        a.feed(answer.as_bytes());
        let events: Vec<_> = std::iter::from_fn(|| a.next_event()).collect();
        assert!(
            matches!(
                events.last(),
                Some(OutboundEvent::Failed(S2sError::Protocol(_)))
            ),
            "{answer}: {events:?}"
        );
        let out = String::from_utf8(a.take_output()).unwrap();
        assert!(out.ends_with("</stream:error></stream:stream>"), "{out}");
    }
}

#[test]
fn outbound_without_a_common_method_fails() {
    let now = Instant::now();
    let mut s = plain_settings(b"a-secret");
    s.dialback_allowed = false;
    let mut a = S2sOutbound::new(s, d("a.example"), d("b.example"), None, now);
    a.feed(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
        xmlns:db='jabber:server:dialback' from='b.example' to='a.example' id='s' version='1.0'>\
        <stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    );
    assert_eq!(
        a.next_event(),
        Some(OutboundEvent::Failed(S2sError::NoAuthMethod))
    );

    // A peer's stream error during negotiation.
    let mut a = S2sOutbound::new(
        plain_settings(b"a-secret"),
        d("a.example"),
        d("b.example"),
        None,
        now,
    );
    a.feed(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:server' \
        from='b.example' id='s' version='1.0'><stream:error>\
        <host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    );
    assert_eq!(
        a.next_event(),
        Some(OutboundEvent::Failed(S2sError::StreamError(
            StreamError::new(Condition::HostUnknown)
        )))
    );
}

#[test]
fn the_outbound_header_declares_dialback() {
    let a = &mut S2sOutbound::new(
        settings(b"a-secret"),
        d("a.example"),
        d("b.example"),
        None,
        Instant::now(),
    );
    let out = String::from_utf8(a.take_output()).unwrap();
    assert_eq!(
        out,
        "<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='a.example' to='b.example' \
         version='1.0' xml:lang='en'>"
    );
}

// ---------------------------------------------------------------------------
// Arbitrary input never panics, and the output stays well-formed.

fn check_well_formed(out: &[u8]) {
    const DECL: &[u8] = b"<?xml version='1.0'?>";
    let mut starts: Vec<usize> = out
        .windows(DECL.len())
        .enumerate()
        .filter(|(_, w)| *w == DECL)
        .map(|(i, _)| i)
        .collect();
    starts.push(out.len());
    for pair in starts.windows(2) {
        let mut f = Framer::new(FramerConfig::default());
        f.feed(&out[pair[0]..pair[1]]);
        loop {
            match f.next_event() {
                Ok(Some(Event::Error(_) | Event::Closed)) | Ok(None) => break,
                Ok(Some(_)) => {}
                Err(e) => panic!("malformed output: {e}: {}", String::from_utf8_lossy(out)),
            }
        }
    }
}

/// Fragments that make sense on a server stream, to make the arbitrary
/// input reach deeper states.
const FRAGMENTS: &[&str] = &[
    "<db:result from='a.example' to='b.example'>k</db:result>",
    "<db:verify from='a.example' to='b.example' id='i'>k</db:verify>",
    "<db:result from='b.example' to='a.example' type='valid'/>",
    "<db:result from='b.example' to='a.example' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result>",
    "<db:verify from='b.example' to='a.example' id='i' type='invalid'/>",
    "<message from='a.example' to='b.example'><body>x</body></message>",
    "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>",
    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
    "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>",
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms></stream:features>",
    "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    "</stream:stream>",
    " ",
];

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(FRAGMENTS).prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..16),
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_input_never_panics(
        data in input(),
        chunk in 1usize..40,
        tls in any::<bool>(),
        early_timeout in any::<bool>(),
    ) {
        let now = Instant::now();
        let peer = tls.then(|| PeerTls::new(vec![d("a.example")]));
        let mut s = plain_settings(b"secret");
        s.have_client_cert = true;
        let mut inb = S2sInbound::new(s.clone(), Serves(vec!["b.example"]), peer.clone(), now);
        let mut out = S2sOutbound::new(s.clone(), d("a.example"), d("b.example"), peer.clone(), now);
        let mut ver = S2sOutbound::verifier(s, d("b.example"), d("a.example"), peer, now);
        ver.verify("i", "k", now);
        inb.feed(A_HEADER.as_bytes());
        let server_header = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' \
            xmlns='jabber:server' xmlns:db='jabber:server:dialback' from='b.example' id='s' version='1.0'>";
        out.feed(server_header.as_bytes());
        ver.feed(server_header.as_bytes());
        for c in data.chunks(chunk) {
            inb.feed(c);
            out.feed(c);
            ver.feed(c);
            while let Some(e) = inb.next_event() {
                if let InboundEvent::DialbackRequest { from, to, .. } = e {
                    inb.dialback_result(&from, &to, chunk % 2 == 0);
                }
            }
            while out.next_event().is_some() {}
            while ver.next_event().is_some() {}
            if out.is_ready() {
                out.authenticate_additional(d("x.a.example"), now);
                out.send(&message("a.example", "b.example"));
            }
        }
        if early_timeout {
            let later = now + Duration::from_secs(120);
            inb.handle_timeout(later);
            out.handle_timeout(later);
            ver.handle_timeout(later);
        }
        inb.eof();
        out.eof();
        ver.eof();
        while inb.next_event().is_some() {}
        while out.next_event().is_some() {}
        while ver.next_event().is_some() {}
        check_well_formed(&inb.take_output());
        check_well_formed(&out.take_output());
        check_well_formed(&ver.take_output());
    }
}
