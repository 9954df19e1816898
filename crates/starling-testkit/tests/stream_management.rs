//! XEP-0198 stream management against the real `starling` binary, with
//! the receiving client on a raw connection (every byte and count seen):
//! enabling, acknowledgements and their errors, resumption after a broken
//! TCP connection (nothing lost, nothing twice, in order), resumption
//! while the old connection still looks alive, expiry to offline storage,
//! and offline messages deleted only once acknowledged.

mod common;

use std::time::Duration;

use common::{ServerExt, befriend, body, send_marker, until_marker, wait_for};
use starling_client::Client;
use starling_client::Event;
use starling_stanza::{
    MessageType, Payload, PresenceType, SmFailed, SmNonza, SmResumed, StanzaErrorCondition,
};
use starling_testkit::raw::{Got, Raw};
use starling_testkit::server::{Options, Server};
use starling_testkit::sm;
use starling_testkit::stanzas::{jid, message};
use starling_testkit::wait::within;
use starling_xml::Element;

const ALICE: &str = "alice@localhost";
const BOB: &str = "bob@localhost";

fn server(extra: &str) -> Server {
    let s = Server::start_with(Options {
        extra_toml: extra.to_owned(),
        ..Options::default()
    });
    s.add_users(&["alice", "bob"]);
    s
}

async fn raw_alice(s: &Server, resource: &str) -> Raw {
    Raw::login(
        s.c2s_port,
        &s.cert_file("localhost"),
        ALICE,
        "pw-alice",
        Some(resource),
    )
    .await
}

/// Bob's `n` messages numbered from `from` to `to`, each acknowledged by
/// the server's answer to a ping sent after them.
async fn send_numbered(bob: &Client, to: &str, from: usize, n: usize) {
    for i in from..from + n {
        bob.send(message(to, MessageType::Chat, &format!("m{i:03}")))
            .await
            .expect("bob sends");
    }
    within("bob's ping after his messages", bob.ping(None))
        .await
        .expect("ping");
}

fn number(el: &Element) -> Option<usize> {
    let b = el
        .children()
        .find(|c| c.name() == "body")
        .map(Element::text)?;
    b.strip_prefix('m')?.parse().ok()
}

/// Reads until `n` numbered messages came (answering nothing), returning
/// their numbers and how many stanzas were read in all.
async fn read_numbered(raw: &mut Raw, n: usize) -> (Vec<usize>, u32) {
    let mut got = Vec::new();
    let mut stanzas = 0u32;
    while got.len() < n {
        match raw.next(Duration::from_secs(15)).await {
            Got::Element(e) if SmNonza::is_sm(&e) => {}
            Got::Element(e) => {
                stanzas += 1;
                got.extend(number(&e));
            }
            other => panic!("after {} messages: {other:?}", got.len()),
        }
    }
    (got, stanzas)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_acks_and_their_errors() {
    let s = server("");
    let mut alice = raw_alice(&s, "phone").await;
    let enabled = sm::enable(&mut alice, true).await;
    assert!(enabled.resume && enabled.id.as_ref().is_some_and(|i| i.len() >= 16));
    assert_eq!(enabled.max, Some(300), "the default resumption time");
    // Enabling twice: unexpected-request.
    alice
        .send_str("<enable xmlns='urn:xmpp:sm:3'/>")
        .await
        .unwrap();
    let f = SmFailed::from_element(&alice.element().await).expect("<failed/>");
    assert_eq!(f.condition, Some(StanzaErrorCondition::UnexpectedRequest));
    // h counts the stanzas the server handled from alice.
    assert_eq!(sm::request(&mut alice).await.0, 0);
    alice
        .send_str("<presence/><iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await
        .unwrap();
    let (h, mut got) = sm::request(&mut alice).await;
    assert_eq!(h, 2, "presence and iq handled");
    // What the server sent: the ping result, and perhaps alice's own
    // presence (collected until a second answer).
    got.extend(sm::request(&mut alice).await.1);
    let sent = got.iter().filter(|e| !SmNonza::is_sm(e)).count() as u32;
    assert!(got.iter().any(|e| e.attr("id") == Some("p1")));
    sm::ack(&mut alice, sent).await;
    sm::ack(&mut alice, sent + 1).await;
    let end = alice.ending(Duration::from_secs(10)).await;
    let err = end.error.expect("a stream error");
    assert_eq!(err.condition.name(), "undefined-condition");
    assert!(
        err.application
            .as_ref()
            .is_some_and(|a| a.name() == "handled-count-too-high"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_before_bind_fails_and_unknown_resumption_is_item_not_found() {
    let s = server("");
    let ca = s.cert_file("localhost");
    let (mut raw, _) = Raw::secure(s.c2s_port, "localhost", &ca).await;
    assert!(
        matches!(raw.auth_plain("alice", "pw-alice").await, Got::Element(e) if e.name() == "success")
    );
    raw.open().await;
    raw.send_str("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await
        .unwrap();
    let f = SmFailed::from_element(&raw.element().await).expect("<failed/>");
    assert_eq!(f.condition, Some(StanzaErrorCondition::UnexpectedRequest));
    let (mut raw, answer) = sm::resume_on(&s, "alice", "no-such-session", 0).await;
    let f = SmFailed::from_element(&answer).expect("<failed/>");
    assert_eq!(f.condition, Some(StanzaErrorCondition::ItemNotFound));
    // The client may bind instead.
    raw.send_str("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        .await
        .unwrap();
    let bound = raw.element().await;
    assert_eq!(bound.attr("type"), Some("result"), "{bound:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_after_a_broken_connection_loses_and_repeats_nothing() {
    let s = server("");
    let bob = s.online(BOB, "pw-bob", Some("desk"), 0).await;
    let mut alice = raw_alice(&s, "phone").await;
    let enabled = sm::enable(&mut alice, true).await;
    alice.send_str("<presence/>").await.unwrap();
    let full = format!("{ALICE}/phone");
    send_numbered(&bob, &full, 0, 10).await;
    let (first, stanzas) = read_numbered(&mut alice, 10).await;
    assert_eq!(first, (0..10).collect::<Vec<_>>());
    // Alice acknowledges what she read, then her connection breaks
    // (reset, no </stream>); bob sends 100 more meanwhile.
    sm::ack(&mut alice, stanzas).await;
    let _ = sm::request(&mut alice).await;
    alice.abort();
    send_numbered(&bob, &full, 10, 100).await;
    let (mut alice, answer) =
        sm::resume_on(&s, "alice", enabled.id.as_deref().unwrap(), stanzas).await;
    let resumed = SmResumed::from_element(&answer).unwrap_or_else(|e| panic!("{answer:?}: {e}"));
    assert_eq!(resumed.h.0, 1, "the server handled alice's presence");
    let (rest, _) = read_numbered(&mut alice, 100).await;
    assert_eq!(rest, (10..110).collect::<Vec<_>>(), "all, once, in order");
    // The session is the same: still bound, still available to bob.
    let (h, _) = sm::request(&mut alice).await;
    assert_eq!(h, 1);
    alice
        .send_str(&message(BOB, MessageType::Chat, "back").to_xml())
        .await
        .unwrap();
    let mut bob = bob;
    let from = wait_for(&mut bob, "alice's message", |ev| match ev {
        Event::Message(m) if body(ev) == Some("back") => Some(m.header.from.clone()),
        _ => None,
    })
    .await;
    assert_eq!(from.map(|f| f.to_string()), Some(full));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumption_while_the_old_connection_looks_alive_closes_it_with_conflict() {
    let s = server("");
    let bob = s.online(BOB, "pw-bob", Some("desk"), 0).await;
    let mut old = raw_alice(&s, "phone").await;
    let enabled = sm::enable(&mut old, true).await;
    let full = format!("{ALICE}/phone");
    send_numbered(&bob, &full, 0, 5).await;
    let (got, _) = read_numbered(&mut old, 5).await;
    assert_eq!(got.len(), 5);
    // Not acknowledged: the new connection says it handled 3.
    let (mut new, answer) = sm::resume_on(&s, "alice", enabled.id.as_deref().unwrap(), 3).await;
    assert!(SmResumed::from_element(&answer).is_ok(), "{answer:?}");
    let (again, _) = read_numbered(&mut new, 2).await;
    assert_eq!(again, [3, 4], "the two unacknowledged are sent again");
    let end = old.ending(Duration::from_secs(10)).await;
    assert_eq!(end.condition(), "conflict");
    send_numbered(&bob, &full, 5, 1).await;
    assert_eq!(read_numbered(&mut new, 1).await.0, [5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_leaves_its_messages_in_offline_storage() {
    let s = server("[modules.stream_management]\nresume_timeout = 2\n");
    let bob = s.online(BOB, "pw-bob", Some("desk"), 0).await;
    let mut alice = raw_alice(&s, "phone").await;
    let enabled = sm::enable(&mut alice, true).await;
    assert_eq!(enabled.max, Some(2));
    alice.send_str("<presence/>").await.unwrap();
    let full = format!("{ALICE}/phone");
    send_numbered(&bob, &full, 0, 3).await;
    // Read but never acknowledged, then the connection breaks.
    let _ = read_numbered(&mut alice, 3).await;
    alice.abort();
    send_numbered(&bob, &full, 3, 97).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, answer) = sm::resume_on(&s, "alice", enabled.id.as_deref().unwrap(), 0).await;
    let f = SmFailed::from_element(&answer).expect("<failed/>");
    assert_eq!(f.condition, Some(StanzaErrorCondition::ItemNotFound));
    // The next login gets all 100 from offline storage, once, in order.
    let mut next = raw_alice(&s, "laptop").await;
    next.send_str("<presence/>").await.unwrap();
    let (all, _) = read_numbered(&mut next, 100).await;
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_stay_stored_until_acknowledged() {
    let s = server("");
    let bob = s.online(BOB, "pw-bob", Some("desk"), 0).await;
    send_numbered(&bob, ALICE, 0, 5).await;
    // A session with stream management reads them and breaks before
    // acknowledging (resumption not asked for: the session ends).
    let mut first = raw_alice(&s, "phone").await;
    sm::enable(&mut first, false).await;
    first.send_str("<presence/>").await.unwrap();
    assert_eq!(read_numbered(&mut first, 5).await.0, [0, 1, 2, 3, 4]);
    first.abort();
    // They are still stored: the next session gets them, acknowledges
    // them, and then they are gone.
    let mut second = raw_alice(&s, "laptop").await;
    let _ = sm::enable(&mut second, false).await;
    second.send_str("<presence/>").await.unwrap();
    let (again, stanzas) = read_numbered(&mut second, 5).await;
    assert_eq!(again, [0, 1, 2, 3, 4]);
    sm::ack(&mut second, stanzas).await;
    let _ = sm::request(&mut second).await;
    drop(second);
    let mut third = raw_alice(&s, "tablet").await;
    third.send_str("<presence/>").await.unwrap();
    // Only bob's presence may come: no offline message.
    let mut tail = Vec::new();
    while let Got::Element(e) = third.next(Duration::from_secs(2)).await {
        tail.extend(number(&e));
    }
    assert!(
        tail.is_empty(),
        "acknowledged offline messages came again: {tail:?}"
    );
    let _ = jid(ALICE);
}

/// Reads until `<a/>` comes after a `<r/>`; its `h`.
async fn acked_by_server(raw: &mut Raw) -> u32 {
    sm::request(raw).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_acknowledged_to_their_sender_survive_kill_9() {
    let mut s = server("");
    // Bob's session acknowledges nothing it gets; alice's gets acks for
    // what she sends: 20 messages to bob (attached, reading, never
    // acknowledging) and 20 to bob's second resource, whose connection
    // broke (detached, waiting for resumption).
    let mut bob = raw_alice_like(&s, BOB, "pw-bob", "desk").await;
    sm::enable(&mut bob, true).await;
    bob.send_str("<presence/>").await.unwrap();
    let mut gone = raw_alice_like(&s, BOB, "pw-bob", "phone").await;
    sm::enable(&mut gone, true).await;
    gone.abort();
    let mut alice = raw_alice(&s, "laptop").await;
    sm::enable(&mut alice, false).await;
    for i in 0..20 {
        let to = format!("{BOB}/desk");
        alice
            .send_str(&message(&to, MessageType::Chat, &format!("m{i:03}")).to_xml())
            .await
            .unwrap();
    }
    for i in 20..40 {
        let to = format!("{BOB}/phone");
        alice
            .send_str(&message(&to, MessageType::Chat, &format!("m{i:03}")).to_xml())
            .await
            .unwrap();
    }
    assert_eq!(
        acked_by_server(&mut alice).await,
        40,
        "the server handled all 40"
    );
    let (seen, _) = read_numbered(&mut bob, 20).await;
    assert_eq!(seen, (0..20).collect::<Vec<_>>());
    let (status, _) = s.signal("KILL");
    assert!(status.is_some(), "the server was killed");
    s.restart();
    // Bob's next login gets every acknowledged message from offline
    // storage (at least once).
    let mut next = raw_alice_like(&s, BOB, "pw-bob", "tablet").await;
    next.send_str("<presence/>").await.unwrap();
    let (mut all, _) = read_numbered(&mut next, 40).await;
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (0..40).collect::<Vec<_>>());
}

async fn raw_alice_like(s: &Server, account: &str, password: &str, resource: &str) -> Raw {
    Raw::login(
        s.c2s_port,
        &s.cert_file("localhost"),
        account,
        password,
        Some(resource),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_pings_find_silent_clients_and_detach_their_sessions() {
    let s = server("[modules.ping]\nkeepalive_interval = 1\nkeepalive_timeout = 2\n");
    // A client that answers stays; its answer goes nowhere else.
    let mut alive = raw_alice(&s, "alive").await;
    for _ in 0..2 {
        let ping = alive.element().await;
        assert_eq!(ping.attr("type"), Some("get"), "{ping:?}");
        assert!(ping.has_child("ping", "urn:xmpp:ping"));
        let id = ping.attr("id").unwrap().to_owned();
        alive
            .send_str(&format!("<iq type='result' id='{id}' to='localhost'/>"))
            .await
            .unwrap();
    }
    // One that does not is closed with connection-timeout; with stream
    // management its session waits for a resumption.
    let mut silent = raw_alice(&s, "silent").await;
    let enabled = sm::enable(&mut silent, true).await;
    let end = silent.ending(Duration::from_secs(15)).await;
    assert_eq!(end.condition(), "connection-timeout");
    assert!(
        end.elements
            .iter()
            .any(|e| e.has_child("ping", "urn:xmpp:ping"))
    );
    let pings = end.elements.iter().filter(|e| e.name() == "iq").count() as u32;
    let (_, answer) = sm::resume_on(&s, "alice", enabled.id.as_deref().unwrap(), pings).await;
    assert!(SmResumed::from_element(&answer).is_ok(), "{answer:?}");
    // The answering client never got an error for its answers.
    let mut tail = Vec::new();
    while let Got::Element(e) = alive.next(Duration::from_millis(500)).await {
        tail.push(e);
    }
    assert!(
        tail.iter().all(|e| e.attr("type") != Some("error")),
        "{tail:?}"
    );
}

/// The presence bob sees from `from` next: its type.
async fn next_presence_from(bob: &mut Client, from: &str) -> PresenceType {
    let from = jid(from);
    wait_for(bob, "a presence from alice's phone", |ev| match ev {
        Event::Presence(p) if p.header.from.as_ref() == Some(&from) => Some(p.presence_type),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_session_stays_available_unless_configured_otherwise() {
    for keep in [true, false] {
        let s = server(&format!(
            "[modules.stream_management]\nkeep_presence = {keep}\n"
        ));
        let mut laptop = s.online(ALICE, "pw-alice", Some("laptop"), 0).await;
        let mut bob = s.online(BOB, "pw-bob", Some("desk"), 0).await;
        befriend(&mut laptop, &mut bob).await;
        let phone_jid = format!("{ALICE}/phone");
        let mut phone = raw_alice(&s, "phone").await;
        let enabled = sm::enable(&mut phone, true).await;
        phone.send_str("<presence/>").await.unwrap();
        assert_eq!(
            next_presence_from(&mut bob, &phone_jid).await,
            PresenceType::Available
        );
        phone.abort();
        if keep {
            // Nothing from the phone before laptop's marker.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let marker = send_marker(&laptop, bob.jid()).await;
            let before = until_marker(&mut bob, &marker).await;
            assert!(
                !before.iter().any(|e| matches!(e, Event::Presence(p)
                    if p.header.from.as_ref().map(ToString::to_string) == Some(phone_jid.clone()))),
                "{before:?}"
            );
        } else {
            assert_eq!(
                next_presence_from(&mut bob, &phone_jid).await,
                PresenceType::Unavailable
            );
        }
        let (_, answer) = sm::resume_on(&s, "alice", enabled.id.as_deref().unwrap(), 0).await;
        assert_eq!(answer.name(), "resumed", "{answer:?}");
        if !keep {
            assert_eq!(
                next_presence_from(&mut bob, &phone_jid).await,
                PresenceType::Available
            );
        }
    }
}
