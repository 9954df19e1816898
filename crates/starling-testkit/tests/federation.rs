//! Federation end to end: two real `starling` processes on loopback (or
//! one, and a stream we drive ourselves), exchanging stanzas over
//! server-to-server streams — RFC 6120 (s2s streams, STARTTLS, SASL
//! `EXTERNAL` with XEP-0178 certificates, stream errors, §10.4.3 remote
//! domains), XEP-0220 dialback with XEP-0185 keys, XEP-0368 direct TLS, SRV
//! discovery (RFC 6120 §3.2.1) and RFC 6121 subscriptions and presence
//! across domains.
//!
//! Domains are `*.fed.test`, which resolve nowhere: each server reaches the
//! other through `[s2s.hosts]` or through a DNS responder on loopback
//! (`name_servers`). Every wait is bounded (`starling_testkit::wait::WAIT`);
//! "X was not delivered" is checked with a marker sent after X, never with a
//! sleep.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Instant;

use common::{FedServerExt, body, send_marker, until_marker, wait_all, wait_body, wait_for};
use starling_auth::negotiate::{AuthMethod, OutboundEvent, PeerTls, S2sOutbound, S2sSettings};
use starling_auth::tls::{self, ClientTlsBuilder, Trust};
use starling_client::{Client, Error, Event};
use starling_jid::Jid;
use starling_stanza::{
    Delay, MessageType, PresenceType, Roster, StanzaErrorCondition, Subscription,
};
use starling_stream::{Condition, ContentNamespace, Framer, FramerConfig, StreamError};
use starling_testkit::dns::Dns;
use starling_testkit::ports::closed_port;
use starling_testkit::raw::Io;
use starling_testkit::server::FedServer;
use starling_testkit::stanzas::{bare, jid};
use starling_testkit::tls::TestCa;
use starling_testkit::wait::{WAIT, blocking, within};
use starling_xml::{Element, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const A: &str = "a.fed.test";
const B: &str = "b.fed.test";

/// Starts `a` and `b` and creates `alice` on `a`, `bob` (and `carol`)
/// on `b`.
fn start_pair(a: &mut FedServer, b: &mut FedServer) {
    blocking(|| {
        a.start();
        b.start();
        a.add_user("alice");
        b.add_user("bob");
        b.add_user("carol");
    });
}

/// Two servers that reach each other through `[s2s.hosts]`; with `ca`,
/// both present certificates of that CA and trust it.
fn routed_pair(ca: Option<&TestCa>) -> (FedServer, FedServer) {
    let mut a = FedServer::new(A);
    let mut b = FedServer::new(B);
    if let Some(ca) = ca {
        a.use_ca(ca);
        b.use_ca(ca);
    }
    a.route_to(&b);
    b.route_to(&a);
    start_pair(&mut a, &mut b);
    (a, b)
}

/// alice@a and bob@b online; a message each way (to the bare JID, so that
/// the receiving server routes it), and an iq each way (a ping of the
/// other server, answered by it).
async fn exchange(a: &FedServer, b: &FedServer) -> (Client, Client) {
    let mut alice = a.online("alice", "home").await;
    let mut bob = b.online("bob", "work").await;
    within(
        "alice sending to bob",
        alice.send_message(jid(&b.jid("bob")), "hello from a"),
    )
    .await
    .expect("sending");
    let m = wait_body(&mut bob, "hello from a").await;
    assert_eq!(
        m.header.from.as_ref().map(ToString::to_string).as_deref(),
        Some(format!("{}/home", a.jid("alice")).as_str()),
        "the message keeps alice's full JID across the s2s stream"
    );
    within(
        "bob answering alice",
        bob.send_message(jid(&a.jid("alice")), "hello from b"),
    )
    .await
    .expect("sending");
    wait_body(&mut alice, "hello from b").await;
    within("alice pinging b", alice.ping(Some(jid(&b.domain))))
        .await
        .unwrap_or_else(|e| panic!("an iq from alice@a to {} failed: {e}", b.domain));
    within("bob pinging a", bob.ping(Some(jid(&a.domain))))
        .await
        .unwrap_or_else(|e| panic!("an iq from bob@b to {} failed: {e}", a.domain));
    (alice, bob)
}

/// Both servers present certificates of a CA the other trusts: the s2s
/// streams in both directions authenticate with SASL EXTERNAL (RFC 6120
/// §6.3.4, XEP-0178), no dialback.
#[tokio::test(flavor = "multi_thread")]
async fn external_authentication_with_ca_signed_certificates() {
    let ca = TestCa::new();
    let (a, b) = routed_pair(Some(&ca));
    exchange(&a, &b).await;
    for (srv, other) in [(&a, B), (&b, A)] {
        srv.wait_log(&[
            "s2s stream ready",
            &format!("remote={other}"),
            "method=External",
        ])
        .await;
        srv.wait_log(&[
            "incoming s2s stream authenticated",
            &format!("from={other}"),
            "method=External",
        ])
        .await;
        let log = srv.log();
        assert!(
            !log.contains("method=Dialback"),
            "{}: dialback was used although both certificates verify:\n{log}",
            srv.domain
        );
    }
}

/// Self-signed (generated) certificates and no CA: nothing verifies, so
/// both directions use dialback (XEP-0220), each receiving server asking
/// the other's authoritative server (the real one) about the key.
#[tokio::test(flavor = "multi_thread")]
async fn dialback_with_self_signed_certificates() {
    let (a, b) = routed_pair(None);
    exchange(&a, &b).await;
    for (srv, other) in [(&a, B), (&b, A)] {
        srv.wait_log(&[
            "s2s stream ready",
            &format!("remote={other}"),
            "method=Dialback",
        ])
        .await;
        srv.wait_log(&[
            "incoming s2s stream authenticated",
            &format!("from={other}"),
            "method=Dialback",
        ])
        .await;
        // The other server's verification request, answered with our
        // dialback secret (XEP-0220 §2.1.2, §2.2.2).
        srv.wait_log(&["answered a dialback verification", "valid=true"])
            .await;
        let log = srv.log();
        assert!(
            !log.contains("method=External"),
            "{}: EXTERNAL with an untrusted certificate:\n{log}",
            srv.domain
        );
    }
}

/// Two of A's domains talk to B over one stream (XEP-0220 §2.5, sender
/// multiplexing): the second domain is authenticated by dialback on the
/// stream the first one opened, and B delivers from both.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_domain_piggybacks_on_the_stream() {
    const A2: &str = "a2.fed.test";
    let mut a = FedServer::new(A);
    a.extra_domains.push(A2.to_owned());
    let mut b = FedServer::new(B);
    a.route_to(&b);
    b.route_to(&a);
    b.map(A2, a.s2s_port);
    start_pair(&mut a, &mut b);
    let out = blocking(|| {
        a.admin(&[
            "user",
            "add",
            &format!("dave@{A2}"),
            "--password",
            "pw-dave",
        ])
    });
    assert!(out.success(), "user add: {}", out.describe());
    let alice = a.online("alice", "home").await;
    let mut bob = b.online("bob", "work").await;
    within(
        "alice sending to bob",
        alice.send_message(jid(&b.jid("bob")), "first domain"),
    )
    .await
    .expect("sending");
    wait_body(&mut bob, "first domain").await;
    a.wait_log(&[
        "s2s stream ready",
        &format!("local={A}"),
        &format!("remote={B}"),
    ])
    .await;
    let dave = within(
        "dave logging in",
        a.client_on(A2, "dave").resource("x").connect(),
    )
    .await
    .expect("dave logs in");
    within(
        "dave sending to bob",
        dave.send_message(jid(&b.jid("bob")), "second domain"),
    )
    .await
    .expect("sending");
    let m = wait_body(&mut bob, "second domain").await;
    assert_eq!(
        m.header
            .from
            .as_ref()
            .map(|f| f.domain().to_owned())
            .as_deref(),
        Some(A2)
    );
    a.wait_log(&[
        "s2s domain pair added to the stream",
        &format!("local={A2}"),
    ])
    .await;
    b.wait_log(&["incoming s2s stream authenticated", &format!("from={A2}")])
        .await;
    let log = a.log();
    assert!(
        !log.contains(&format!("s2s stream ready local={A2}")),
        "a second stream was opened for {A2}:\n{log}"
    );
}

/// Errors and stored messages travel across domains too: an iq to an
/// account that does not exist on B, or to a resource that is not online,
/// comes back to alice as `service-unavailable` (RFC 6121 §8.5.1,
/// §8.5.3.2.2) over the B → A stream; a chat message to bob while he is
/// offline is stored by B and delivered at his next initial presence with
/// a `urn:xmpp:delay` stamp from b.fed.test (XEP-0203, RFC 6121 §8.5.2.2).
#[tokio::test(flavor = "multi_thread")]
async fn errors_and_offline_messages_across_domains() {
    let (a, b) = routed_pair(None);
    let alice = a.online("alice", "home").await;
    within(
        "sending to offline bob",
        alice.send_message(jid(&b.jid("bob")), "while you were away"),
    )
    .await
    .expect("sending");
    // Same stream, in order: once this error is back, B has handled the
    // message above.
    for to in [format!("nobody@{B}/x"), format!("{}/nosuch", b.jid("bob"))] {
        let r = within("an iq to B", alice.ping(Some(jid(&to)))).await;
        assert_eq!(
            iq_condition(r),
            StanzaErrorCondition::ServiceUnavailable,
            "an iq to {to}"
        );
    }
    let mut bob = b.online("bob", "work").await;
    let m = wait_body(&mut bob, "while you were away").await;
    assert_eq!(
        m.header.from.as_ref().map(ToString::to_string),
        Some(format!("{}/home", a.jid("alice")))
    );
    match m.payload::<Delay>() {
        Some(Ok(d)) => assert_eq!(d.from, Some(jid(B)), "the delay's 'from'"),
        other => panic!("no urn:xmpp:delay on the stored message {m:?}: {other:?}"),
    }
}

fn is_presence(ev: &Event, from: &Jid, t: PresenceType) -> bool {
    matches!(ev, Event::Presence(p) if p.presence_type == t && p.header.from.as_ref() == Some(from))
}

fn push_has(ev: &Event, who: &str, pick: impl Fn(&starling_stanza::RosterItem) -> bool) -> bool {
    matches!(ev, Event::RosterPush(r) if r.items.iter().any(|i| i.jid.as_str() == who && pick(i)))
}

fn item_of<'a>(r: &'a Roster, who: &str) -> &'a starling_stanza::RosterItem {
    r.items
        .iter()
        .find(|i| i.jid.as_str() == who)
        .unwrap_or_else(|| panic!("{who} is not in the roster {r:?}"))
}

/// A mutual subscription between alice@a and bob@b over dialback
/// streams, with the roster states of RFC 6121 §3.1 on both sides,
/// presence after approval (§3.1.5), unavailable presence on logout
/// (§4.5.2), and probes answered at login (§4.3).
#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_and_presence_across_domains() {
    let (a, b) = routed_pair(None);
    let mut alice = a.online("alice", "home").await;
    let mut bob = b.online("bob", "work").await;
    let (alice_bare, bob_bare) = (a.jid("alice"), b.jid("bob"));
    let alice_full = jid(&format!("{alice_bare}/home"));
    let bob_full = jid(&format!("{bob_bare}/work"));
    within("alice's roster", alice.roster())
        .await
        .expect("roster");
    within("bob's roster", bob.roster()).await.expect("roster");

    // alice asks; bob's server delivers the request (RFC 6121 §3.1.3).
    within("subscribe", alice.subscribe(bare(&bob_bare)))
        .await
        .expect("subscribe");
    wait_for(&mut alice, "a push of bob with ask=subscribe", |ev| {
        push_has(ev, &bob_bare, |i| {
            i.subscription == Subscription::None && i.ask
        })
        .then_some(())
    })
    .await;
    let from_alice = jid(&alice_bare);
    wait_for(&mut bob, "alice's subscription request", |ev| {
        is_presence(ev, &from_alice, PresenceType::Subscribe).then_some(())
    })
    .await;

    // bob approves: 'from' for bob, 'to' for alice, and alice gets bob's
    // current presence (§3.1.5).
    within("approve", bob.approve(bare(&alice_bare)))
        .await
        .expect("approve");
    wait_for(&mut bob, "a push of alice with subscription=from", |ev| {
        push_has(ev, &alice_bare, |i| i.subscription == Subscription::From).then_some(())
    })
    .await;
    wait_all(
        &mut alice,
        "a push of bob with subscription=to and bob's presence",
        &[
            &|ev| {
                push_has(ev, &bob_bare, |i| {
                    i.subscription == Subscription::To && !i.ask
                })
            },
            &|ev| is_presence(ev, &bob_full, PresenceType::Available),
        ],
    )
    .await;

    // And back: both end with 'both'.
    within("subscribe", bob.subscribe(bare(&alice_bare)))
        .await
        .expect("subscribe");
    let from_bob = jid(&bob_bare);
    wait_for(&mut alice, "bob's subscription request", |ev| {
        is_presence(ev, &from_bob, PresenceType::Subscribe).then_some(())
    })
    .await;
    within("approve", alice.approve(bare(&bob_bare)))
        .await
        .expect("approve");
    wait_for(&mut alice, "a push of bob with subscription=both", |ev| {
        push_has(ev, &bob_bare, |i| i.subscription == Subscription::Both).then_some(())
    })
    .await;
    wait_all(
        &mut bob,
        "a push of alice with subscription=both and alice's presence",
        &[
            &|ev| {
                push_has(ev, &alice_bare, |i| {
                    i.subscription == Subscription::Both && !i.ask
                })
            },
            &|ev| is_presence(ev, &alice_full, PresenceType::Available),
        ],
    )
    .await;
    let r = within("alice's roster", alice.roster())
        .await
        .expect("roster");
    let i = item_of(&r, &bob_bare);
    assert_eq!((i.subscription, i.ask), (Subscription::Both, false));
    let r = within("bob's roster", bob.roster()).await.expect("roster");
    let i = item_of(&r, &alice_bare);
    assert_eq!((i.subscription, i.ask), (Subscription::Both, false));

    // bob logs out: alice gets his unavailable presence.
    within("bob closing", bob.close()).await.expect("close");
    drop(bob);
    wait_for(&mut alice, "bob's unavailable presence", |ev| {
        is_presence(ev, &bob_full, PresenceType::Unavailable).then_some(())
    })
    .await;

    // bob logs in again: his presence goes to alice, and his server's
    // probe to a.fed.test is answered with alice's presence.
    let mut bob = b.online("bob", "again").await;
    let bob_again = jid(&format!("{bob_bare}/again"));
    wait_for(&mut alice, "bob's presence after his login", |ev| {
        is_presence(ev, &bob_again, PresenceType::Available).then_some(())
    })
    .await;
    wait_for(
        &mut bob,
        "alice's presence, the answer to the probe",
        |ev| is_presence(ev, &alice_full, PresenceType::Available).then_some(()),
    )
    .await;

    // alice logs out: bob gets her unavailable presence.
    within("alice closing", alice.close()).await.expect("close");
    wait_for(&mut bob, "alice's unavailable presence", |ev| {
        is_presence(ev, &alice_full, PresenceType::Unavailable).then_some(())
    })
    .await;
}

// ----- streams we drive ourselves --------------------------------------------

/// A `jabber:server` stream of ours to a server, authenticated by dialback
/// with a key made from `secret` — the sending domain's real secret, so
/// that its real authoritative server confirms the key.
struct OurStream {
    io: Io,
    neg: S2sOutbound,
    buf: Vec<u8>,
}

impl OurStream {
    async fn flush(&mut self) {
        let out = self.neg.take_output();
        if !out.is_empty() {
            within("writing", self.io.write_all(&out))
                .await
                .expect("writing to the s2s stream");
            let _ = within("flushing", self.io.flush()).await;
        }
    }

    /// Reads once (at most until `deadline`) and feeds the negotiator;
    /// false on timeout.
    async fn read(&mut self, deadline: tokio::time::Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.io.read(&mut self.buf)).await {
            Err(_) => false,
            Ok(Ok(0) | Err(_)) => {
                self.neg.eof();
                true
            }
            Ok(Ok(n)) => {
                let data = self.buf[..n].to_vec();
                self.neg.feed(&data);
                true
            }
        }
    }

    /// TCP to `port`, STARTTLS (we present no certificate, so the server
    /// offers no EXTERNAL), dialback as `local` to `remote`.
    async fn dialback(port: u16, local: &str, remote: &str, secret: &str) -> OurStream {
        let tcp = within("connecting", TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("connecting to the s2s port");
        let mut settings = S2sSettings::new(secret.as_bytes().to_vec());
        settings.timeout = WAIT;
        let neg = S2sOutbound::new(
            settings,
            local.parse().expect("a domain"),
            remote.parse().expect("a domain"),
            None,
            Instant::now(),
        );
        let mut s = OurStream {
            io: Io::new(tcp),
            neg,
            buf: vec![0u8; 16384],
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(ev) = s.neg.next_event() {
                match ev {
                    OutboundEvent::StartTls => {
                        s.flush().await;
                        let cfg = ClientTlsBuilder::new(Trust::InsecureAcceptAnything)
                            .build()
                            .expect("a TLS client config");
                        let name = tls::server_name(remote).expect("a server name");
                        let connector = TlsConnector::from(cfg);
                        within("the TLS handshake", s.io.connect_tls(&connector, name))
                            .await
                            .expect("the TLS handshake");
                        s.neg.tls_established(PeerTls::default());
                    }
                    OutboundEvent::Ready { method, .. } => {
                        assert_eq!(method, AuthMethod::Dialback);
                        s.flush().await;
                        return s;
                    }
                    OutboundEvent::Failed(e) => panic!("our dialback as {local} failed: {e}"),
                    _ => {}
                }
            }
            s.flush().await;
            assert!(
                s.read(deadline).await,
                "our dialback as {local} to {remote} timed out"
            );
        }
    }

    /// Sends a stanza (in `jabber:server`).
    async fn send(&mut self, el: &Element) {
        assert!(self.neg.send(el), "the stream is not ready");
        self.flush().await;
    }

    /// Reads until the server ends the stream: its stream error, if any.
    async fn ending(&mut self) -> Option<StreamError> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(ev) = self.neg.next_event() {
                match ev {
                    OutboundEvent::Closed { error } => {
                        self.flush().await;
                        return error;
                    }
                    OutboundEvent::Failed(e) => panic!("the stream failed: {e}"),
                    _ => {}
                }
            }
            self.flush().await;
            assert!(
                self.read(deadline).await,
                "the server did not end the stream within {WAIT:?}"
            );
        }
    }
}

/// A chat message in `jabber:server`.
fn server_message(from: &str, to: &str, text: &str) -> Element {
    let body = Element::builder("body", "jabber:server").text(text).build();
    Element::builder("message", "jabber:server")
        .attr("from", from)
        .attr("to", to)
        .attr("type", "chat")
        .attr("id", text)
        .append(body)
        .build()
}

/// A plaintext `jabber:server` stream whose bytes are all ours.
struct PlainStream {
    tcp: TcpStream,
    framer: Framer,
}

impl PlainStream {
    async fn open(port: u16, from: &str, to: &str) -> PlainStream {
        let mut tcp = within("connecting", TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("connecting to the s2s port");
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
             xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' \
             from='{from}' to='{to}' version='1.0'>"
        );
        within("writing the header", tcp.write_all(header.as_bytes()))
            .await
            .expect("writing the header");
        let framer = Framer::new(FramerConfig {
            expected: Some(ContentNamespace::Server),
            limits: Limits::default(),
        });
        PlainStream { tcp, framer }
    }

    /// Every event until the server closes the connection.
    async fn events_until_eof(&mut self) -> Vec<starling_stream::Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut events = Vec::new();
        let mut buf = vec![0u8; 16384];
        loop {
            while let Ok(Some(ev)) = self.framer.next_event() {
                events.push(ev);
            }
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => panic!("the server did not close the stream; got {events:#?}"),
                Ok(Ok(0) | Err(_)) => return events,
                Ok(Ok(n)) => self.framer.feed(&buf[..n]),
            }
        }
    }

    /// Reads the server's header and features.
    async fn features(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut buf = vec![0u8; 16384];
        let mut header = false;
        loop {
            while let Ok(Some(ev)) = self.framer.next_event() {
                match ev {
                    starling_stream::Event::Header(_) => header = true,
                    starling_stream::Event::Features(_) if header => return,
                    other => panic!("expected the header and features, got {other:?}"),
                }
            }
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => panic!("no header and features within {WAIT:?}"),
                Ok(Ok(0) | Err(_)) => panic!("the server closed the connection"),
                Ok(Ok(n)) => self.framer.feed(&buf[..n]),
            }
        }
    }
}

fn stream_error(events: &[starling_stream::Event]) -> Option<Condition> {
    events.iter().find_map(|e| match e {
        starling_stream::Event::Error(e) => Some(e.condition.clone()),
        _ => None,
    })
}

/// An incoming stream may carry stanzas only from the domain it
/// authenticated: a `from` of another domain is `invalid-from` (RFC 6120
/// §4.9.3.9), and the stanza is not delivered.
/// Also: a header `to` a domain B does not serve is `host-unknown`
/// (§4.9.3.6), and a stanza before authentication is `not-authorized`
/// (§4.9.3.12).
#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_sender_domain_is_refused() {
    let (a, b) = routed_pair(None);
    let mut bob = b.online("bob", "work").await;
    let carol = b.online("carol", "desk").await;

    // Header to a domain B does not serve.
    let mut s = PlainStream::open(b.s2s_port, A, "nowhere.fed.test").await;
    let events = s.events_until_eof().await;
    assert_eq!(
        stream_error(&events),
        Some(Condition::HostUnknown),
        "a header to an unserved domain: {events:#?}"
    );

    // A stanza before any authentication.
    let mut s = PlainStream::open(b.s2s_port, A, B).await;
    s.features().await;
    let early = server_message(&format!("alice@{A}/x"), &b.jid("bob"), "too-early");
    within("writing", s.tcp.write_all(early.to_xml().as_bytes()))
        .await
        .expect("writing");
    let events = s.events_until_eof().await;
    assert_eq!(
        stream_error(&events),
        Some(Condition::NotAuthorized),
        "a stanza before authentication: {events:#?}"
    );

    // Our own stream as a.fed.test, verified by dialback against A's real
    // authoritative server: a stanza from a.fed.test is delivered…
    let mut ours = OurStream::dialback(b.s2s_port, A, B, &a.dialback_secret).await;
    ours.send(&server_message(
        &format!("alice@{A}/x"),
        &b.jid("bob"),
        "legit",
    ))
    .await;
    wait_body(&mut bob, "legit").await;
    // …one from another domain ends the stream with invalid-from.
    ours.send(&server_message(
        "mallory@evil.test/x",
        &b.jid("bob"),
        "spoofed",
    ))
    .await;
    let err = ours.ending().await;
    assert_eq!(
        err.as_ref().map(|e| e.condition.clone()),
        Some(Condition::InvalidFrom),
        "a stanza from an unauthenticated domain: {err:?}"
    );
    let marker = send_marker(&carol, bob.jid()).await;
    let before = until_marker(&mut bob, &marker).await;
    assert!(
        !before.iter().any(|ev| body(ev) == Some("spoofed")),
        "the spoofed message was delivered: {before:#?}"
    );
    assert!(
        !before.iter().any(|ev| body(ev) == Some("too-early")),
        "the unauthenticated message was delivered: {before:#?}"
    );
    drop(a);
}

/// The error condition of a message error from `from`.
async fn message_error(c: &mut Client, from: &str) -> StanzaErrorCondition {
    let from = jid(from);
    wait_for(c, &format!("a message error from {from}"), |ev| match ev {
        Event::Message(m)
            if m.message_type == MessageType::Error && m.header.from.as_ref() == Some(&from) =>
        {
            Some(
                m.error
                    .as_ref()
                    .map(|e| e.condition.clone())
                    .expect("an error element"),
            )
        }
        _ => None,
    })
    .await
}

fn iq_condition(r: Result<std::time::Duration, Error>) -> StanzaErrorCondition {
    match r {
        Err(Error::Stanza(e)) => e.condition,
        other => panic!("expected a stanza error, got {other:?}"),
    }
}

/// A remote domain whose server refuses connections bounces with
/// `remote-server-not-found` (RFC 6120 §8.3.3.15, §10.4.3); one whose
/// server accepts the connection but never answers, with
/// `remote-server-timeout` (§8.3.3.16) after the connect timeout. Both for
/// a message and an iq.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_remote_server_bounces() {
    let (closed, _closed_hold) = closed_port();
    // Connections complete in the kernel's backlog; nothing is ever read or
    // written.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a listener");
    let silent_port = silent.local_addr().expect("its address").port();
    let mut a = FedServer::new(A);
    a.map("c.fed.test", closed);
    a.map("d.fed.test", silent_port);
    a.connect_timeout = Some(2);
    blocking(|| {
        a.start();
        a.add_user("alice");
    });
    let mut alice = a.online("alice", "home").await;

    within(
        "sending to c",
        alice.send_message(jid("someone@c.fed.test"), "anyone there?"),
    )
    .await
    .expect("sending");
    let cond = message_error(&mut alice, "someone@c.fed.test").await;
    assert!(
        matches!(
            cond,
            StanzaErrorCondition::RemoteServerNotFound | StanzaErrorCondition::RemoteServerTimeout
        ),
        "a message to a refusing server: {cond:?}"
    );
    let r = within("an iq to c", alice.ping(Some(jid("someone@c.fed.test/r")))).await;
    let cond = iq_condition(r);
    assert!(
        matches!(
            cond,
            StanzaErrorCondition::RemoteServerNotFound | StanzaErrorCondition::RemoteServerTimeout
        ),
        "an iq to a refusing server: {cond:?}"
    );

    within(
        "sending to d",
        alice.send_message(jid("someone@d.fed.test"), "hello?"),
    )
    .await
    .expect("sending");
    let cond = message_error(&mut alice, "someone@d.fed.test").await;
    assert_eq!(
        cond,
        StanzaErrorCondition::RemoteServerTimeout,
        "a message to a server that never answers"
    );
    let r = within("an iq to d", alice.ping(Some(jid("someone@d.fed.test/r")))).await;
    assert_eq!(
        iq_condition(r),
        StanzaErrorCondition::RemoteServerTimeout,
        "an iq to a server that never answers"
    );
    drop(silent);
}

/// No host map: A finds B through `_xmpp-server._tcp.b.fed.test` SRV
/// records from a DNS server on loopback (RFC 6120 §3.2.1), trying the
/// records by priority and falling back past one whose port is closed;
/// B finds A the same way for its dialback verification and the replies.
#[tokio::test(flavor = "multi_thread")]
async fn srv_records_locate_the_remote_server() {
    let dns = Dns::start();
    let (closed, _closed_hold) = closed_port();
    let mut a = FedServer::new(A);
    let mut b = FedServer::new(B);
    a.name_servers = vec![dns.addr];
    b.name_servers = vec![dns.addr];
    dns.srv(
        &format!("_xmpp-server._tcp.{B}"),
        5,
        0,
        closed,
        &format!("down.{B}"),
    );
    dns.srv(
        &format!("_xmpp-server._tcp.{B}"),
        10,
        0,
        b.s2s_port,
        &format!("xmpp.{B}"),
    );
    dns.a(&format!("down.{B}"), Ipv4Addr::LOCALHOST);
    dns.a(&format!("xmpp.{B}"), Ipv4Addr::LOCALHOST);
    dns.srv(
        &format!("_xmpp-server._tcp.{A}"),
        0,
        0,
        a.s2s_port,
        &format!("xmpp.{A}"),
    );
    dns.a(&format!("xmpp.{A}"), Ipv4Addr::LOCALHOST);
    start_pair(&mut a, &mut b);
    exchange(&a, &b).await;
    a.wait_log(&["s2s stream ready", &format!("remote={B}")])
        .await;
}

/// XEP-0368: B listens only for direct TLS and publishes it as
/// `_xmpps-server._tcp`; A connects with TLS at once (ALPN `xmpp-server`)
/// and authenticates with EXTERNAL inside it. B reaches A over STARTTLS
/// (`_xmpp-server._tcp`).
#[tokio::test(flavor = "multi_thread")]
async fn direct_tls_from_srv_records() {
    let ca = TestCa::new();
    let dns = Dns::start();
    let mut a = FedServer::new(A);
    let mut b = FedServer::new(B);
    a.use_ca(&ca);
    b.use_ca(&ca);
    a.name_servers = vec![dns.addr];
    b.name_servers = vec![dns.addr];
    b.starttls_listener = false;
    b.direct_tls_listener = true;
    dns.srv(
        &format!("_xmpps-server._tcp.{B}"),
        0,
        0,
        b.s2s_tls_port,
        &format!("xmpps.{B}"),
    );
    dns.a(&format!("xmpps.{B}"), Ipv4Addr::LOCALHOST);
    dns.srv(
        &format!("_xmpp-server._tcp.{A}"),
        0,
        0,
        a.s2s_port,
        &format!("xmpp.{A}"),
    );
    dns.a(&format!("xmpp.{A}"), Ipv4Addr::LOCALHOST);
    start_pair(&mut a, &mut b);
    exchange(&a, &b).await;
    a.wait_log(&[
        "s2s stream ready",
        &format!("remote={B}"),
        "method=External",
    ])
    .await;
    b.wait_log(&[
        "incoming s2s stream authenticated",
        &format!("from={A}"),
        "method=External",
    ])
    .await;
}

/// Stanzas from another server are checked like a client's (RFC 6120
/// §8.3): an invalid one is not delivered, and its sender gets the stanza
/// error back, over the receiving server's own stream to the peer.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_stanzas_from_a_peer_get_stanza_errors() {
    let (a, b) = routed_pair(None);
    let mut alice = a.online("alice", "x").await;
    let mut bob = b.online("bob", "work").await;
    let carol = b.online("carol", "desk").await;
    let mut ours = OurStream::dialback(b.s2s_port, A, B, &a.dialback_secret).await;
    // Two bodies with the same xml:lang (RFC 6121 §5.2.3).
    let mut twice = server_message(&format!("alice@{A}/x"), &b.jid("bob"), "twice");
    twice.append_child(
        Element::builder("body", "jabber:server")
            .text("again")
            .build(),
    );
    ours.send(&twice).await;
    assert_eq!(
        message_error(&mut alice, &b.jid("bob")).await,
        StanzaErrorCondition::BadRequest
    );
    // A priority out of range (RFC 6121 §4.7.2.3) in directed presence.
    let priority = Element::builder("priority", "jabber:server")
        .text("300")
        .build();
    let presence = Element::builder("presence", "jabber:server")
        .attr("from", &format!("alice@{A}/x"))
        .attr("to", &b.jid("bob"))
        .attr("id", "p300")
        .append(priority)
        .build();
    ours.send(&presence).await;
    let bob_bare = jid(&b.jid("bob"));
    let condition = wait_for(&mut alice, "a presence error", |ev| match ev {
        Event::Presence(p)
            if p.presence_type == PresenceType::Error
                && p.header.from.as_ref() == Some(&bob_bare) =>
        {
            p.error.as_ref().map(|e| e.condition.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(condition, StanzaErrorCondition::BadRequest);
    // A valid one from the same stream still goes through.
    ours.send(&server_message(
        &format!("alice@{A}/x"),
        &b.jid("bob"),
        "fine",
    ))
    .await;
    wait_body(&mut bob, "fine").await;
    let marker = send_marker(&carol, bob.jid()).await;
    let before = until_marker(&mut bob, &marker).await;
    assert!(
        !before
            .iter()
            .any(|ev| matches!(body(ev), Some("twice" | "again"))
                || matches!(ev, Event::Presence(p) if p.header.id.as_deref() == Some("p300"))),
        "an invalid stanza from a peer was delivered: {before:#?}"
    );
}
