//! End-to-end tests of the real `starling` binary: each test starts its own
//! server (temporary data directory, free loopback ports), creates accounts
//! with the admin CLI and drives real clients (`starling-client`) against
//! it, checking the rules of RFC 6120 (streams, SASL, binding, addressing),
//! RFC 6121 (roster, subscriptions, presence, delivery), XEP-0030, -0092,
//! -0199 and -0203, the admin commands, restarts and signals.
//!
//! Every wait is bounded (`starling_testkit::wait::WAIT`); negative checks
//! ("X was not delivered") use a marker message sent after X to the same
//! session, never a sleep.

mod common;

use std::fs;
use std::time::Duration;

use common::{ServerExt, befriend, body, send_marker, until_marker, wait_all, wait_body, wait_for};
use starling_auth::sasl::{Condition as SaslCondition, Mechanism};
use starling_client::{Client, Error, Event};
use starling_jid::Jid;
use starling_stanza::{
    Delay, DiscoInfo, DiscoItems, Header, Iq, IqKind, MessageType, Ping, Presence, PresenceType,
    Roster, RosterItem, Show, StanzaError, StanzaErrorCondition, Subscription, Version,
};
use starling_stream::Condition;
use starling_testkit::process::run_with_limit;
use starling_testkit::raw::{self, Raw};
use starling_testkit::server::{Options, Server, starling_bin};
use starling_testkit::stanzas::{bare, jid, message, presence};
use starling_testkit::wait::{blocking, within};
use starling_xml::Element;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn pw(user: &str) -> String {
    format!("pw-{user}")
}

fn acct(user: &str) -> String {
    format!("{user}@localhost")
}

/// Logs `user` in over STARTTLS with only `mechanisms` allowed.
async fn login_with(server: &Server, user: &str, mechanisms: Vec<Mechanism>) -> Client {
    within(
        "login",
        server
            .client(&acct(user), &pw(user))
            .mechanisms(mechanisms.clone())
            .connect(),
    )
    .await
    .unwrap_or_else(|e| panic!("{user} cannot log in with {mechanisms:?}: {e}"))
}

/// The error condition of a stanza-level error reply.
fn stanza_condition(r: Result<Iq, Error>) -> StanzaErrorCondition {
    match r {
        Err(Error::Stanza(e)) => e.condition,
        other => panic!("expected a stanza error, got {other:?}"),
    }
}

/// An iq get with an arbitrary payload.
fn iq_get(id: &str, to: Option<Jid>, payload: Element) -> Iq {
    Iq {
        header: Header {
            to,
            id: Some(id.to_owned()),
            ..Header::default()
        },
        kind: IqKind::Get(payload),
    }
}

fn is_presence_from(ev: &Event, from: &Jid, t: PresenceType) -> bool {
    matches!(ev, Event::Presence(p) if p.presence_type == t && p.header.from.as_ref() == Some(from))
}

async fn wait_presence(c: &mut Client, from: &Jid, t: PresenceType, what: &str) -> Presence {
    wait_for(c, what, |ev| match ev {
        Event::Presence(p) if p.presence_type == t && p.header.from.as_ref() == Some(from) => {
            Some(p.clone())
        }
        _ => None,
    })
    .await
}

async fn wait_push(c: &mut Client, what: &str, pick: impl Fn(&RosterItem) -> bool) -> Roster {
    wait_for(c, what, |ev| match ev {
        Event::RosterPush(r) if r.items.iter().any(&pick) => Some(r.clone()),
        _ => None,
    })
    .await
}

fn item<'a>(r: &'a Roster, who: &str) -> Option<&'a RosterItem> {
    r.items.iter().find(|i| i.jid.as_str() == who)
}

// ---------------------------------------------------------------------------
// Logging in (RFC 6120 §5, §6, §7; XEP-0368)
// ---------------------------------------------------------------------------

/// STARTTLS then each SASL mechanism the contract names: SCRAM-SHA-256,
/// SCRAM-SHA-1, SCRAM-SHA-256-PLUS (tls-exporter), PLAIN (over TLS only);
/// each bound session answers a ping.
#[tokio::test(flavor = "multi_thread")]
async fn login_over_starttls_with_each_mechanism() {
    let server = Server::start();
    server.add_users(&["alice"]);
    for m in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::ScramSha256Plus,
        Mechanism::Plain,
    ] {
        let c = login_with(&server, "alice", vec![m]).await;
        assert_eq!(c.jid().bare().as_str(), "alice@localhost", "{m:?}");
        within("ping", c.ping(None))
            .await
            .unwrap_or_else(|e| panic!("ping after {m:?}: {e}"));
        within("close", c.close()).await.expect("close");
    }
    // The default choice (the strongest both offer) works too.
    let c = server.connect(&acct("alice"), &pw("alice")).await;
    within("ping", c.ping(None)).await.expect("ping");
}

/// XEP-0368: the direct TLS port serves the same accounts.
#[tokio::test(flavor = "multi_thread")]
async fn login_over_direct_tls() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = within(
        "direct TLS login",
        server
            .client(&acct("alice"), &pw("alice"))
            .server(&format!("127.0.0.1:{}", server.c2s_tls_port))
            .direct_tls(true)
            .resource("direct")
            .connect(),
    )
    .await
    .expect("login over direct TLS");
    assert_eq!(a.jid().as_str(), "alice@localhost/direct");
    within("ping", a.ping(None)).await.expect("ping");
    // And the session is a normal one: it talks to a STARTTLS session.
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    within(
        "send",
        a.send_message(Jid::from(b.jid().clone()), "over direct TLS"),
    )
    .await
    .expect("send");
    let m = wait_body(&mut b, "over direct TLS").await;
    assert_eq!(
        m.header.from.as_ref().map(Jid::as_str),
        Some("alice@localhost/direct")
    );
}

/// RFC 6120 §6.5.10: a wrong password and an unknown account both fail
/// with `not-authorized`, for SCRAM and PLAIN alike.
#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_user_are_not_authorized() {
    let server = Server::start();
    server.add_users(&["alice"]);
    for (user, password) in [("alice", "wrong"), ("nobody", "whatever")] {
        for mechs in [vec![Mechanism::ScramSha256], vec![Mechanism::Plain], vec![]] {
            let mut b = server.client(&acct(user), password);
            if !mechs.is_empty() {
                b = b.mechanisms(mechs.clone());
            }
            match within("a failing login", b.connect()).await {
                Err(Error::Auth(f)) => assert_eq!(
                    f.condition,
                    SaslCondition::NotAuthorized,
                    "{user}/{mechs:?}: {f}"
                ),
                Err(e) => panic!("{user}/{mechs:?}: expected a SASL failure, got {e}"),
                Ok(_) => panic!("{user}/{mechs:?}: logged in with a wrong password"),
            }
        }
    }
    // The right password still works afterwards.
    server.connect(&acct("alice"), &pw("alice")).await;
}

/// RFC 6120 §7.6: the server generates a resource when none is asked
/// for, and grants the requested one otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn generated_and_requested_resources() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let generated1 = server.connect(&acct("alice"), &pw("alice")).await;
    let generated2 = server.connect(&acct("alice"), &pw("alice")).await;
    for c in [&generated1, &generated2] {
        assert_eq!(c.jid().bare().as_str(), "alice@localhost");
        assert!(!c.jid().resource().is_empty());
    }
    assert_ne!(
        generated1.jid(),
        generated2.jid(),
        "two generated resources must differ"
    );
    let requested = within(
        "login",
        server
            .client(&acct("alice"), &pw("alice"))
            .resource("balcony")
            .connect(),
    )
    .await
    .expect("login");
    assert_eq!(requested.jid().as_str(), "alice@localhost/balcony");
    // All three sessions are usable at once.
    for c in [&generated1, &generated2, &requested] {
        within("ping", c.ping(None)).await.expect("ping");
    }
}

/// RFC 6120 §7.7.2.2 with `resource_conflict = "replace"` (the default):
/// the new session gets the resource, the old one a `conflict` stream
/// error.
#[tokio::test(flavor = "multi_thread")]
async fn resource_conflict_replaces_the_old_session() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut old = server
        .online(&acct("alice"), &pw("alice"), Some("phone"), 0)
        .await;
    let new = server
        .online(&acct("alice"), &pw("alice"), Some("phone"), 0)
        .await;
    assert_eq!(new.jid().as_str(), "alice@localhost/phone");
    let err = wait_for(&mut old, "the old session's end", |ev| match ev {
        Event::Disconnected(e) => Some(e.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        err.map(|e| e.condition),
        Some(Condition::Conflict),
        "the replaced session must get <conflict/>"
    );
    // Messages to the full JID now reach the new session.
    let b = server.online(&acct("bob"), &pw("bob"), None, 0).await;
    let mut new = new;
    within(
        "send",
        b.send_message(jid("alice@localhost/phone"), "to the new one"),
    )
    .await
    .expect("send");
    wait_body(&mut new, "to the new one").await;
}

/// RFC 6120 §7.7.2.1 with `resource_conflict = "refuse"`: the second bind
/// of the same resource fails with `conflict`; the first session stays.
#[tokio::test(flavor = "multi_thread")]
async fn resource_conflict_refused() {
    let server = Server::start_with(Options {
        c2s_toml: "resource_conflict = \"refuse\"".into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let first = server
        .online(&acct("alice"), &pw("alice"), Some("phone"), 0)
        .await;
    let second = within(
        "the refused login",
        server
            .client(&acct("alice"), &pw("alice"))
            .resource("phone")
            .connect(),
    )
    .await;
    match second {
        Err(Error::BindConflict(e)) => assert_eq!(e.condition, StanzaErrorCondition::Conflict),
        Err(e) => panic!("expected a bind conflict, got {e}"),
        Ok(c) => panic!("bound {} although the resource was taken", c.jid()),
    }
    within("ping", first.ping(None))
        .await
        .expect("the first session is unaffected");
}

// ---------------------------------------------------------------------------
// Messages (RFC 6120 §8.1.2.1, §10; RFC 6121 §8.5)
// ---------------------------------------------------------------------------

/// Two users exchange chat messages addressed to full JIDs; the server
/// stamps `from` with the sender's full JID (RFC 6120 §8.1.2.1).
#[tokio::test(flavor = "multi_thread")]
async fn two_clients_exchange_messages_to_full_jids() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    within("send", a.send_message(jid("bob@localhost/b"), "hello bob"))
        .await
        .expect("send");
    let m = wait_body(&mut b, "hello bob").await;
    assert_eq!(m.header.from, Some(jid("alice@localhost/a")));
    assert_eq!(m.message_type, MessageType::Chat);
    within(
        "send",
        b.send_message(jid("alice@localhost/a"), "hello alice"),
    )
    .await
    .expect("send");
    let m = wait_body(&mut a, "hello alice").await;
    assert_eq!(m.header.from, Some(jid("bob@localhost/b")));
    // Order is kept (RFC 6120 §10.1).
    for i in 0..20 {
        within(
            "send",
            a.send_message(jid("bob@localhost/b"), &format!("n{i}")),
        )
        .await
        .expect("send");
    }
    for i in 0..20 {
        let got = wait_for(&mut b, "the numbered messages", |ev| {
            body(ev).filter(|t| t.starts_with('n')).map(str::to_owned)
        })
        .await;
        assert_eq!(got, format!("n{i}"), "messages arrived out of order");
    }
}

/// Three users, messages to bare JIDs in a ring.
#[tokio::test(flavor = "multi_thread")]
async fn three_clients_exchange_messages_to_bare_jids() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let mut clients = Vec::new();
    for u in ["alice", "bob", "carol"] {
        clients.push(server.online(&acct(u), &pw(u), Some("home"), 0).await);
    }
    let names = ["alice", "bob", "carol"];
    for i in 0..3 {
        let to = names[(i + 1) % 3];
        within(
            "send",
            clients[i].send_message(jid(&acct(to)), &format!("from {} to {to}", names[i])),
        )
        .await
        .expect("send");
    }
    for i in 0..3 {
        let from = names[(i + 2) % 3];
        let m = wait_body(&mut clients[i], &format!("from {from} to {}", names[i])).await;
        assert_eq!(m.header.from, Some(jid(&format!("{from}@localhost/home"))));
        assert_eq!(
            m.header.to.as_ref().map(Jid::as_str),
            Some(acct(names[i]).as_str())
        );
    }
}

/// RFC 6121 §8.5.2.1.1: to a bare JID, `chat` and `normal` go to the
/// highest-priority available resource; `headline` to every resource of
/// non-negative priority; a resource of negative priority gets none of
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn bare_jid_delivery_follows_priorities() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut high = server
        .online(&acct("bob"), &pw("bob"), Some("high"), 5)
        .await;
    let mut low = server
        .online(&acct("bob"), &pw("bob"), Some("low"), 1)
        .await;
    let mut neg = server
        .online(&acct("bob"), &pw("bob"), Some("neg"), -1)
        .await;
    for (kind, text) in [
        (MessageType::Chat, "a chat"),
        (MessageType::Normal, "a normal"),
        (MessageType::Headline, "a headline"),
    ] {
        within("send", a.send(message("bob@localhost", kind, text)))
            .await
            .expect("send");
    }
    let mut seen = Vec::new();
    for c in [&mut high, &mut low, &mut neg] {
        let full = c.jid().clone();
        let marker = send_marker(&a, &full).await;
        let before = until_marker(c, &marker).await;
        let mut bodies: Vec<String> = before
            .iter()
            .filter_map(|e| body(e).map(str::to_owned))
            .collect();
        bodies.sort();
        seen.push((full.resource().to_owned(), bodies));
    }
    assert_eq!(
        seen,
        vec![
            (
                "high".to_owned(),
                vec![
                    "a chat".to_owned(),
                    "a headline".to_owned(),
                    "a normal".to_owned()
                ]
            ),
            ("low".to_owned(), vec!["a headline".to_owned()]),
            ("neg".to_owned(), vec![]),
        ],
        "(resource, bodies received) for priorities 5, 1 and -1"
    );
}

/// RFC 6121 §8.5.3.2.1: a message to a full JID whose resource is not
/// connected is handled as if sent to the bare JID; an iq to it gets
/// `service-unavailable`.
#[tokio::test(flavor = "multi_thread")]
async fn full_jid_without_session_falls_back_to_bare() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    within(
        "send",
        a.send_message(jid("bob@localhost/gone"), "to a gone resource"),
    )
    .await
    .expect("send");
    let m = wait_body(&mut b, "to a gone resource").await;
    assert_eq!(m.header.from, Some(jid("alice@localhost/a")));
    let r = within(
        "iq to a resource that is not connected",
        a.request(Iq::get(a.new_id(), Ping).with_to(jid("bob@localhost/gone"))),
    )
    .await;
    assert_eq!(
        stanza_condition(r),
        StanzaErrorCondition::ServiceUnavailable
    );
}

/// RFC 6120 §10.3.1: a message without `to` is handled as if sent to the
/// sender's own bare JID (here: to the highest-priority resource).
#[tokio::test(flavor = "multi_thread")]
async fn message_without_to_goes_to_own_account() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut high = server
        .online(&acct("alice"), &pw("alice"), Some("high"), 5)
        .await;
    let low = server
        .online(&acct("alice"), &pw("alice"), Some("low"), 1)
        .await;
    let mut m = starling_stanza::Message::chat(jid("alice@localhost"), "note to self");
    m.header.to = None;
    within("send", low.send(m.to_element()))
        .await
        .expect("send");
    let got = wait_body(&mut high, "note to self").await;
    assert_eq!(got.header.from, Some(jid("alice@localhost/low")));
}

/// RFC 6121 §8.5.2.1.1 and §8.5.2.2.1: `groupchat` to a bare JID is never
/// delivered and gets `service-unavailable` (online or offline);
/// `headline` and `error` to an offline user are silently dropped (not
/// stored, no error back).
#[tokio::test(flavor = "multi_thread")]
async fn groupchat_headline_and_error_to_bare_jids() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    for to in ["bob@localhost", "carol@localhost"] {
        within(
            "send",
            a.send(message(to, MessageType::Groupchat, &format!("gc to {to}"))),
        )
        .await
        .expect("send");
        let err = wait_for(&mut a, "the groupchat error", |ev| match ev {
            Event::Message(m)
                if m.message_type == MessageType::Error
                    && m.header.from.as_ref().map(Jid::as_str) == Some(to) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
        assert_eq!(
            err.error.map(|e| e.condition),
            Some(StanzaErrorCondition::ServiceUnavailable),
            "groupchat to {to}"
        );
    }
    // Bob (online) did not get the groupchat.
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|t| t.starts_with("gc "))),
        "{before:?}"
    );
    // Headline and error to offline Carol: dropped silently.
    within(
        "send",
        a.send(message(
            "carol@localhost",
            MessageType::Headline,
            "offline headline",
        )),
    )
    .await
    .expect("send");
    let mut e = starling_stanza::Message::chat(jid("carol@localhost"), "offline error");
    e.message_type = MessageType::Error;
    e.error = Some(StanzaError::new(StanzaErrorCondition::ItemNotFound));
    within("send", a.send(e.to_element())).await.expect("send");
    let marker = send_marker(&a, a.jid()).await;
    let before = until_marker(&mut a, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, Event::Message(m) if m.message_type == MessageType::Error)),
        "an error came back for a headline or an error: {before:?}"
    );
    let mut c = server
        .online(&acct("carol"), &pw("carol"), Some("c"), 0)
        .await;
    let marker = send_marker(&a, c.jid()).await;
    let before = until_marker(&mut c, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|t| t.starts_with("offline"))),
        "a headline or an error was stored offline: {before:?}"
    );
}

/// RFC 7622 §3.2–3.3: the localpart and domainpart are case-insensitive;
/// a stanza addressed in capitals (sent raw, so no client library
/// normalises it) reaches the account.
#[tokio::test(flavor = "multi_thread")]
async fn addresses_are_case_insensitive() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let mut raw = Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        &acct("alice"),
        &pw("alice"),
        Some("raw"),
    )
    .await;
    raw.send_str(
        "<message to='BOB@LocalHost' type='chat'><body>capital bare</body></message>\
         <message to='Bob@LOCALHOST/b' type='chat'><body>capital full</body></message>",
    )
    .await
    .expect("send");
    for t in ["capital bare", "capital full"] {
        let m = wait_body(&mut b, t).await;
        assert_eq!(m.header.from, Some(jid("alice@localhost/raw")));
    }
    // The admin command line normalises too.
    blocking(|| server.add_user("Carol@LOCALHOST", "pw-carol"));
    let out = blocking(|| server.admin(&["user", "list"]));
    assert!(
        out.stdout.lines().any(|l| l == "carol@localhost"),
        "{}",
        out.describe()
    );
    server.connect("carol@localhost", "pw-carol").await;
}

/// RFC 6120 §8.2.3 and §8.3.1: `result` and `error` stanzas are never
/// answered, whoever they are addressed to (no error loops).
#[tokio::test(flavor = "multi_thread")]
async fn results_and_errors_are_never_answered() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut raw = Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        &acct("alice"),
        &pw("alice"),
        Some("raw"),
    )
    .await;
    let err = "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>";
    raw.send_str(&format!(
        "<iq type='result' id='r1' to='ghost@localhost'/>\
         <iq type='result' id='r2' to='localhost'/>\
         <iq type='error' id='r3' to='localhost'>{err}</iq>\
         <iq type='error' id='r4' to='ghost@localhost/x'>{err}</iq>\
         <iq type='result' id='r5' to='juliet@capulet.example'/>\
         <message type='error' to='ghost@localhost'>{err}</message>\
         <message type='error' to='juliet@capulet.example'>{err}</message>\
         <presence type='error' to='ghost@localhost'>{err}</presence>\
         <iq type='get' id='done'><ping xmlns='urn:xmpp:ping'/></iq>"
    ))
    .await
    .expect("send");
    // Everything that came back before the ping's answer is a reply to a
    // result or an error.
    let mut answered = Vec::new();
    loop {
        let e = raw.element().await;
        if e.attr("id") == Some("done") {
            assert_eq!(e.attr("type"), Some("result"), "{e}");
            break;
        }
        answered.push(e.to_string());
    }
    assert!(
        answered.is_empty(),
        "results/errors were answered: {answered:#?}"
    );
}

// ---------------------------------------------------------------------------
// Presence (RFC 6121 §4)
// ---------------------------------------------------------------------------

/// RFC 6121 §4.2: initial presence goes to the user's own resources
/// (including the sender) and to subscribers; the server probes the
/// user's subscriptions and delivers the contacts' current presence.
#[tokio::test(flavor = "multi_thread")]
async fn initial_presence_broadcast_and_probes() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a1"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    befriend(&mut a, &mut b).await;
    // Bob sets a status.
    let mut away = presence(0);
    away.show = Some(Show::Away);
    away.statuses = vec![starling_stanza::LangText::new("at lunch")];
    within("presence", b.send_presence(away))
        .await
        .expect("presence");
    within("sync", b.ping(None)).await.expect("ping");
    // A second resource of Alice comes online.
    let a2 = within(
        "login",
        server
            .client(&acct("alice"), &pw("alice"))
            .resource("a2")
            .connect(),
    )
    .await
    .expect("login");
    let mut a2 = a2;
    within("initial presence", a2.send_presence(presence(3)))
        .await
        .expect("presence");
    let a2_jid = Jid::from(a2.jid().clone());
    // The subscriber Bob and the other resource a1 get it…
    let p = wait_presence(
        &mut b,
        &a2_jid,
        PresenceType::Available,
        "alice/a2's presence at bob",
    )
    .await;
    assert_eq!(p.priority, 3);
    wait_presence(
        &mut a,
        &a2_jid,
        PresenceType::Available,
        "a2's presence at a1",
    )
    .await;
    // …and so does a2 itself (§4.2.2); the probe brings Bob's current
    // presence (with its status) and that of a1.
    let bj = jid("bob@localhost/b");
    let a1j = jid("alice@localhost/a1");
    let got = wait_all(
        &mut a2,
        "a2's own presence, bob's and a1's",
        &[
            &|ev| is_presence_from(ev, &a2_jid, PresenceType::Available),
            &|ev| matches!(ev, Event::Presence(p) if p.header.from.as_ref() == Some(&bj) && p.status(None) == Some("at lunch")),
            &|ev| is_presence_from(ev, &a1j, PresenceType::Available),
        ],
    )
    .await;
    match &got[1] {
        Event::Presence(p) => assert_eq!(p.show, Some(Show::Away)),
        other => panic!("{other:?}"),
    }
}

/// RFC 6121 §4.3: a contact who is online before the user logs in is
/// seen by the user at initial presence (probe answered); no presence
/// comes before the user's initial presence.
#[tokio::test(flavor = "multi_thread")]
async fn contact_online_first_is_seen_at_login() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    {
        let mut a = server
            .online(&acct("alice"), &pw("alice"), Some("setup"), 0)
            .await;
        let mut b = server
            .online(&acct("bob"), &pw("bob"), Some("setup"), 0)
            .await;
        befriend(&mut a, &mut b).await;
        within("close", a.close()).await.expect("close");
        within("close", b.close()).await.expect("close");
    }
    let b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let mut a = within(
        "login",
        server
            .client(&acct("alice"), &pw("alice"))
            .resource("a")
            .connect(),
    )
    .await
    .expect("login");
    // Before initial presence, no presence is delivered (RFC 6121 §4.2.1:
    // probes are sent on initial presence).
    let marker = send_marker(&b, a.jid()).await;
    let before = until_marker(&mut a, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, Event::Presence(p) if p.presence_type == PresenceType::Available)),
        "presence delivered before initial presence: {before:?}"
    );
    within("presence", a.send_presence(presence(0)))
        .await
        .expect("presence");
    wait_presence(
        &mut a,
        &jid("bob@localhost/b"),
        PresenceType::Available,
        "bob's presence",
    )
    .await;
}

/// RFC 6121 §4.5: a clean close makes the server broadcast unavailable
/// presence to the subscribers.
#[tokio::test(flavor = "multi_thread")]
async fn unavailable_presence_on_close() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    befriend(&mut a, &mut b).await;
    within("close", a.close()).await.expect("close");
    wait_presence(
        &mut b,
        &jid("alice@localhost/a"),
        PresenceType::Unavailable,
        "alice's unavailable",
    )
    .await;
    // An explicit unavailable presence is broadcast too.
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    wait_presence(
        &mut b,
        &jid("alice@localhost/a"),
        PresenceType::Available,
        "alice back",
    )
    .await;
    let mut off = Presence::new(PresenceType::Unavailable);
    off.statuses = vec![starling_stanza::LangText::new("bye")];
    within("unavailable", a.send_presence(off))
        .await
        .expect("send");
    let p = wait_presence(
        &mut b,
        &jid("alice@localhost/a"),
        PresenceType::Unavailable,
        "alice's unavailable",
    )
    .await;
    assert_eq!(p.status(None), Some("bye"));
}

/// RFC 6121 §4.5.3 / RFC 6120 §4.4: when the connection is lost without a
/// stream close (a TCP reset), the server broadcasts unavailable presence
/// for the session.
#[tokio::test(flavor = "multi_thread")]
async fn unavailable_presence_on_abrupt_connection_loss() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    {
        let mut a = server
            .online(&acct("alice"), &pw("alice"), Some("setup"), 0)
            .await;
        let mut b = server
            .online(&acct("bob"), &pw("bob"), Some("setup"), 0)
            .await;
        befriend(&mut a, &mut b).await;
        within("close", a.close()).await.expect("close");
    }
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let mut raw = Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        &acct("alice"),
        &pw("alice"),
        Some("doomed"),
    )
    .await;
    raw.send_str("<presence/>").await.expect("presence");
    let doomed = jid("alice@localhost/doomed");
    wait_presence(
        &mut b,
        &doomed,
        PresenceType::Available,
        "the raw session's presence",
    )
    .await;
    raw.abort();
    wait_presence(
        &mut b,
        &doomed,
        PresenceType::Unavailable,
        "unavailable after the connection was reset",
    )
    .await;
}

/// RFC 6121 §4.6: directed presence reaches a non-subscriber; when the
/// sender then broadcasts unavailable presence, or its session ends, the
/// server sends unavailable presence to that entity as well.
#[tokio::test(flavor = "multi_thread")]
async fn directed_presence_and_its_cleanup() {
    let server = Server::start();
    server.add_users(&["alice", "carol"]);
    let mut c = server
        .online(&acct("carol"), &pw("carol"), Some("c"), 0)
        .await;
    let carol_full = Jid::from(c.jid().clone());
    // 1. Cleanup by unavailable broadcast.
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a1"), 0)
        .await;
    let mut directed = presence(0);
    directed.header.to = Some(carol_full.clone());
    within("directed presence", a.send_presence(directed.clone()))
        .await
        .expect("send");
    let a1 = jid("alice@localhost/a1");
    wait_presence(&mut c, &a1, PresenceType::Available, "directed presence").await;
    within(
        "unavailable",
        a.send_presence(Presence::new(PresenceType::Unavailable)),
    )
    .await
    .expect("send");
    wait_presence(
        &mut c,
        &a1,
        PresenceType::Unavailable,
        "unavailable after broadcast unavailable",
    )
    .await;
    // 2. Cleanup when the session ends.
    let a2 = server
        .online(&acct("alice"), &pw("alice"), Some("a2"), 0)
        .await;
    within("directed presence", a2.send_presence(directed))
        .await
        .expect("send");
    let a2j = jid("alice@localhost/a2");
    wait_presence(&mut c, &a2j, PresenceType::Available, "directed presence").await;
    within("close", a2.close()).await.expect("close");
    wait_presence(
        &mut c,
        &a2j,
        PresenceType::Unavailable,
        "unavailable after the session closed",
    )
    .await;
    // Carol's roster did not change: directed presence is no subscription.
    let r = within("roster", c.roster()).await.expect("roster");
    assert!(item(&r, "alice@localhost").is_none(), "{r:?}");
}

// ---------------------------------------------------------------------------
// Roster (RFC 6121 §2)
// ---------------------------------------------------------------------------

/// RFC 6121 §2.1.6, §2.3–§2.5: get, set (pushed to every interested
/// resource, i.e. those that requested the roster), update, remove.
#[tokio::test(flavor = "multi_thread")]
async fn roster_get_set_remove_and_pushes() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut r1 = server
        .online(&acct("alice"), &pw("alice"), Some("r1"), 0)
        .await;
    let mut r2 = server
        .online(&acct("alice"), &pw("alice"), Some("r2"), 0)
        .await;
    let mut uninterested = server
        .online(&acct("alice"), &pw("alice"), Some("r3"), 0)
        .await;
    assert!(
        within("roster", r1.roster())
            .await
            .expect("roster")
            .items
            .is_empty()
    );
    assert!(
        within("roster", r2.roster())
            .await
            .expect("roster")
            .items
            .is_empty()
    );

    let mut it = RosterItem::new(bare("bob@localhost"));
    it.name = Some("Bob".into());
    it.groups = vec!["Friends".into(), "Work".into()];
    within("roster set", r1.roster_set(it))
        .await
        .expect("roster set");
    for c in [&mut r1, &mut r2] {
        let push = wait_push(c, "the push of the new item", |i| {
            i.jid.as_str() == "bob@localhost"
        })
        .await;
        let i = item(&push, "bob@localhost").expect("the item");
        assert_eq!(i.name.as_deref(), Some("Bob"));
        assert_eq!(i.subscription, Subscription::None);
        let mut g = i.groups.clone();
        g.sort();
        assert_eq!(g, ["Friends", "Work"]);
    }
    // The resource that never asked for the roster gets no push.
    let marker = send_marker(&r1, uninterested.jid()).await;
    let before = until_marker(&mut uninterested, &marker).await;
    assert!(
        !before.iter().any(|e| matches!(e, Event::RosterPush(_))),
        "a push went to a resource that never requested the roster: {before:?}"
    );

    let r = within("roster", r2.roster()).await.expect("roster");
    assert_eq!(r.items.len(), 1);
    assert_eq!(
        item(&r, "bob@localhost").and_then(|i| i.name.as_deref()),
        Some("Bob")
    );

    // Update: a new name, one group.
    let mut it = RosterItem::new(bare("bob@localhost"));
    it.name = Some("Robert".into());
    it.groups = vec!["Work".into()];
    within("roster set", r2.roster_set(it))
        .await
        .expect("roster set");
    wait_push(&mut r1, "the update push", |i| {
        i.name.as_deref() == Some("Robert")
    })
    .await;
    let r = within("roster", r1.roster()).await.expect("roster");
    let i = item(&r, "bob@localhost").expect("the item");
    assert_eq!(
        (i.name.as_deref(), i.groups.clone()),
        (Some("Robert"), vec!["Work".to_owned()])
    );

    // Remove.
    within("roster remove", r1.roster_remove(bare("bob@localhost")))
        .await
        .expect("roster remove");
    for c in [&mut r1, &mut r2] {
        wait_push(c, "the removal push", |i| {
            i.jid.as_str() == "bob@localhost" && i.subscription == Subscription::Remove
        })
        .await;
    }
    let r = within("roster", r1.roster()).await.expect("roster");
    assert!(r.items.is_empty(), "{r:?}");

    // Removing an item that is not there: item-not-found (§2.5.3).
    let r = within(
        "removing a missing item",
        r1.roster_remove(bare("nobody@localhost")),
    )
    .await;
    match r {
        Err(Error::Stanza(e)) => assert_eq!(e.condition, StanzaErrorCondition::ItemNotFound),
        other => panic!("expected item-not-found, got {other:?}"),
    }
}

/// RFC 6121 §2.3.3 and §2.1.5: malformed roster sets are refused with the
/// conditions the RFC names, and a roster request addressed to another
/// account is refused; nothing changes.
#[tokio::test(flavor = "multi_thread")]
async fn roster_set_errors() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let set = |c: &Client, to: Option<&str>, xml: &str| Iq {
        header: Header {
            to: to.map(jid),
            id: Some(c.new_id()),
            ..Header::default()
        },
        kind: IqKind::Set(xml.parse().expect("xml")),
    };
    let cases = [
        (
            "two items",
            "<query xmlns='jabber:iq:roster'><item jid='x@localhost'/><item jid='y@localhost'/></query>",
            vec![StanzaErrorCondition::BadRequest],
        ),
        (
            "an empty group",
            "<query xmlns='jabber:iq:roster'><item jid='x@localhost'><group></group></item></query>",
            vec![StanzaErrorCondition::NotAcceptable],
        ),
        (
            "a duplicate group",
            "<query xmlns='jabber:iq:roster'><item jid='x@localhost'><group>G</group><group>G</group></item></query>",
            vec![StanzaErrorCondition::BadRequest],
        ),
        (
            "no item",
            "<query xmlns='jabber:iq:roster'/>",
            vec![StanzaErrorCondition::BadRequest],
        ),
        (
            "a JID that is not one",
            "<query xmlns='jabber:iq:roster'><item jid='@@'/></query>",
            vec![
                StanzaErrorCondition::BadRequest,
                StanzaErrorCondition::JidMalformed,
            ],
        ),
    ];
    for (what, xml, conds) in cases {
        let r = within(what, a.request(set(&a, None, xml))).await;
        let c = stanza_condition(r);
        assert!(
            conds.contains(&c),
            "{what}: got {c:?}, expected one of {conds:?}"
        );
    }
    // Another account's roster: refused.
    let r = within(
        "a roster set to bob",
        a.request(set(
            &a,
            Some("bob@localhost"),
            "<query xmlns='jabber:iq:roster'><item jid='mallory@localhost'/></query>",
        )),
    )
    .await;
    assert!(matches!(r, Err(Error::Stanza(_))), "{r:?}");
    let r = within(
        "a roster get to bob",
        a.request(Iq::get(a.new_id(), Roster::default()).with_to(jid("bob@localhost"))),
    )
    .await;
    assert!(
        matches!(r, Err(Error::Stanza(_))),
        "bob's roster was served to alice: {r:?}"
    );
    let roster = within("roster", a.roster()).await.expect("roster");
    assert!(roster.items.is_empty(), "{roster:?}");
    let b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let roster = within("roster", b.roster()).await.expect("roster");
    assert!(
        roster.items.is_empty(),
        "alice changed bob's roster: {roster:?}"
    );
}

/// RFC 6121 §2.6: roster versioning. A request with `ver=''` gets the
/// roster with a version; the same version again gets an empty result;
/// pushes carry the new version; the old version gets either the full
/// roster or an empty result and the changes as pushes.
#[tokio::test(flavor = "multi_thread")]
async fn roster_versioning() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut c = server
        .online(&acct("alice"), &pw("alice"), Some("r"), 0)
        .await;
    let versioned_get = |c: &Client, ver: &str| {
        Iq::get(
            c.new_id(),
            Roster {
                ver: Some(ver.to_owned()),
                items: vec![],
            },
        )
    };
    let mut it = RosterItem::new(bare("bob@localhost"));
    it.name = Some("Bob".into());
    within("roster set", c.roster_set(it))
        .await
        .expect("roster set");
    let reply = within("versioned roster get", c.request(versioned_get(&c, "")))
        .await
        .expect("roster get");
    let roster = match reply.payload_as::<Roster>() {
        Some(Ok(r)) => r,
        other => panic!("expected a roster for ver='', got {other:?}"),
    };
    let v1 = roster.ver.clone().expect("the result carries 'ver'");
    assert_eq!(roster.items.len(), 1);

    // Same version: an empty result (§2.6.3).
    let reply = within(
        "roster get with the current ver",
        c.request(versioned_get(&c, &v1)),
    )
    .await
    .expect("roster get");
    assert!(
        matches!(reply.kind, IqKind::Result(None)),
        "expected an empty result for the current version, got {reply:?}"
    );

    // A change: its push carries a new version.
    let mut it = RosterItem::new(bare("carol@localhost"));
    it.name = Some("Carol".into());
    within("roster set", c.roster_set(it))
        .await
        .expect("roster set");
    let push = wait_push(&mut c, "the push", |i| i.jid.as_str() == "carol@localhost").await;
    let v2 = push.ver.clone().expect("a push carries 'ver' (§2.6.2)");
    assert_ne!(v1, v2, "the version must change");

    // The old version: the full roster, or an empty result then pushes.
    let reply = within(
        "roster get with an old ver",
        c.request(versioned_get(&c, &v1)),
    )
    .await
    .expect("roster get");
    match reply.payload_as::<Roster>() {
        Some(Ok(r)) => {
            assert!(item(&r, "carol@localhost").is_some(), "{r:?}");
            assert!(item(&r, "bob@localhost").is_some(), "{r:?}");
        }
        None => {
            wait_push(&mut c, "the change as a push", |i| {
                i.jid.as_str() == "carol@localhost"
            })
            .await;
        }
        Some(Err(e)) => panic!("bad roster: {e}"),
    }
    // The newest version: empty again.
    let reply = within(
        "roster get with the newest ver",
        c.request(versioned_get(&c, &v2)),
    )
    .await
    .expect("roster get");
    assert!(matches!(reply.kind, IqKind::Result(None)), "{reply:?}");
}

/// RFC 6121 §2.6.1 and §3.4.1: after authentication the server advertises
/// roster versioning and subscription pre-approval (checked on a raw
/// stream, with PLAIN over TLS).
#[tokio::test(flavor = "multi_thread")]
async fn post_auth_features_advertise_rosterver_and_preapproval() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let (mut raw, features) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    assert!(
        features.mechanisms.iter().any(|m| m == "PLAIN"),
        "PLAIN offered over TLS: {:?}",
        features.mechanisms
    );
    match raw.auth_plain("alice", &pw("alice")).await {
        raw::Got::Element(e) if e.name() == "success" => {}
        other => panic!("PLAIN failed: {other:?}"),
    }
    let f = raw.open().await;
    assert!(f.bind, "bind offered: {f:?}");
    assert!(f.roster_ver, "roster versioning advertised: {f:?}");
    assert!(f.pre_approval, "pre-approval advertised: {f:?}");
}

// ---------------------------------------------------------------------------
// Subscriptions (RFC 6121 §3)
// ---------------------------------------------------------------------------

/// RFC 6121 §3.1: subscribe / subscribed both ways; the roster pushes and
/// the final state `both` on both sides; presence flows once subscribed.
#[tokio::test(flavor = "multi_thread")]
async fn subscription_flow_ends_with_both() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    within("roster", a.roster()).await.expect("roster");
    within("roster", b.roster()).await.expect("roster");
    let (ab, bb) = (bare("alice@localhost"), bare("bob@localhost"));

    within("subscribe", a.subscribe(bb.clone()))
        .await
        .expect("subscribe");
    // §3.1.2: the user's roster gets the item with ask='subscribe'.
    let push = wait_push(&mut a, "the pending item", |i| i.jid == bb).await;
    let i = item(&push, "bob@localhost").expect("item");
    assert_eq!((i.subscription, i.ask), (Subscription::None, true), "{i:?}");
    // §3.1.3: the request reaches the contact from the user's bare JID.
    let req = wait_presence(
        &mut b,
        &Jid::from(ab.clone()),
        PresenceType::Subscribe,
        "the request",
    )
    .await;
    assert!(req.header.from.as_ref().is_some_and(Jid::is_bare));

    within("approve", b.approve(ab.clone()))
        .await
        .expect("approve");
    // §3.1.5: contact's roster: from; user's roster: to; the user gets the
    // contact's presence.
    let push = wait_push(&mut b, "from", |i| i.jid == ab).await;
    assert_eq!(
        item(&push, "alice@localhost").map(|i| i.subscription),
        Some(Subscription::From)
    );
    let bob_b = jid("bob@localhost/b");
    let got = wait_all(
        &mut a,
        "the push 'to', 'subscribed' and bob's presence",
        &[
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "bob@localhost").is_some_and(|i| i.subscription == Subscription::To)),
            &|ev| is_presence_from(ev, &Jid::from(bb.clone()), PresenceType::Subscribed),
            &|ev| is_presence_from(ev, &bob_b, PresenceType::Available),
        ],
    )
    .await;
    match &got[0] {
        Event::RosterPush(r) => assert!(!item(r, "bob@localhost").expect("item").ask, "{r:?}"),
        other => panic!("{other:?}"),
    }

    within("subscribe", b.subscribe(ab.clone()))
        .await
        .expect("subscribe");
    wait_presence(
        &mut a,
        &Jid::from(bb.clone()),
        PresenceType::Subscribe,
        "bob's request",
    )
    .await;
    within("approve", a.approve(bb.clone()))
        .await
        .expect("approve");
    wait_push(&mut a, "both", |i| {
        i.jid == bb && i.subscription == Subscription::Both
    })
    .await;
    let alice_a = jid("alice@localhost/a");
    wait_all(
        &mut b,
        "the push 'both' and alice's presence",
        &[
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "alice@localhost").is_some_and(|i| i.subscription == Subscription::Both)),
            &|ev| is_presence_from(ev, &alice_a, PresenceType::Available),
        ],
    )
    .await;

    let ra = within("roster", a.roster()).await.expect("roster");
    let rb = within("roster", b.roster()).await.expect("roster");
    assert_eq!(
        item(&ra, "bob@localhost").map(|i| (i.subscription, i.ask)),
        Some((Subscription::Both, false))
    );
    assert_eq!(
        item(&rb, "alice@localhost").map(|i| (i.subscription, i.ask)),
        Some((Subscription::Both, false))
    );
}

/// RFC 6121 §3.2, §3.3: from `both`, unsubscribe leaves from/to and sends
/// unavailable presence; unsubscribed then leaves none/none.
#[tokio::test(flavor = "multi_thread")]
async fn unsubscribe_and_unsubscribed_transitions() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    befriend(&mut a, &mut b).await;
    let (ab, bb) = (bare("alice@localhost"), bare("bob@localhost"));

    // Alice stops subscribing to Bob's presence (§3.3).
    within("unsubscribe", a.unsubscribe(bb.clone()))
        .await
        .expect("unsubscribe");
    // §3.3.3: Bob's server sends unavailable presence from Bob to Alice.
    let (abj, bbj) = (Jid::from(ab.clone()), Jid::from(bb.clone()));
    let (alice_a, bob_b) = (jid("alice@localhost/a"), jid("bob@localhost/b"));
    wait_all(
        &mut a,
        "alice: push 'from' and bob's unavailable",
        &[
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "bob@localhost").is_some_and(|i| i.subscription == Subscription::From)),
            &|ev| is_presence_from(ev, &bob_b, PresenceType::Unavailable),
        ],
    )
    .await;
    wait_all(
        &mut b,
        "bob: push 'to' and the unsubscribe",
        &[
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "alice@localhost").is_some_and(|i| i.subscription == Subscription::To)),
            &|ev| is_presence_from(ev, &abj, PresenceType::Unsubscribe),
        ],
    )
    .await;

    // Alice cancels Bob's subscription to her (§3.2).
    within("unsubscribed", a.deny(bb.clone()))
        .await
        .expect("unsubscribed");
    wait_push(&mut a, "alice: none", |i| {
        i.jid == bb && i.subscription == Subscription::None
    })
    .await;
    // §3.2.3: Bob is told, and gets unavailable presence from Alice.
    wait_all(
        &mut b,
        "bob: push 'none', the unsubscribed and alice's unavailable",
        &[
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "alice@localhost").is_some_and(|i| i.subscription == Subscription::None)),
            &|ev| is_presence_from(ev, &abj, PresenceType::Unsubscribed),
            &|ev| is_presence_from(ev, &alice_a, PresenceType::Unavailable),
        ],
    )
    .await;
    let _ = &bbj;

    let ra = within("roster", a.roster()).await.expect("roster");
    let rb = within("roster", b.roster()).await.expect("roster");
    assert_eq!(
        item(&ra, "bob@localhost").map(|i| i.subscription),
        Some(Subscription::None)
    );
    assert_eq!(
        item(&rb, "alice@localhost").map(|i| i.subscription),
        Some(Subscription::None)
    );

    // Without a subscription, presence no longer flows: Alice's new
    // presence does not reach Bob.
    let mut st = presence(0);
    st.statuses = vec![starling_stanza::LangText::new("unseen")];
    within("presence", a.send_presence(st))
        .await
        .expect("presence");
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, Event::Presence(p) if p.status(None) == Some("unseen"))),
        "presence went to a former subscriber: {before:?}"
    );
}

/// RFC 6121 §3.1.3: a subscription request for a subscription that
/// already exists is answered `subscribed` by the contact's server and not
/// delivered to the contact.
#[tokio::test(flavor = "multi_thread")]
async fn subscribe_when_already_subscribed_is_auto_answered() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    befriend(&mut a, &mut b).await;
    within("subscribe again", a.subscribe(bare("bob@localhost")))
        .await
        .expect("subscribe");
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before.iter().any(|e| is_presence_from(
            e,
            &jid("alice@localhost"),
            PresenceType::Subscribe
        )),
        "a request for an existing subscription was delivered: {before:?}"
    );
    wait_presence(
        &mut a,
        &jid("bob@localhost"),
        PresenceType::Subscribed,
        "the automatic 'subscribed'",
    )
    .await;
}

/// RFC 6121 §2.5.2: removing a contact with a mutual subscription cancels
/// both subscriptions: the contact gets `unsubscribe` and `unsubscribed`,
/// its roster goes to `none`, and the user's presence is withdrawn
/// (unavailable).
#[tokio::test(flavor = "multi_thread")]
async fn removing_a_contact_cancels_both_subscriptions() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    befriend(&mut a, &mut b).await;
    within("remove", a.roster_remove(bare("bob@localhost")))
        .await
        .expect("remove");
    wait_push(&mut a, "the removal push", |i| {
        i.jid.as_str() == "bob@localhost" && i.subscription == Subscription::Remove
    })
    .await;
    let (ab, alice_a) = (jid("alice@localhost"), jid("alice@localhost/a"));
    wait_all(
        &mut b,
        "unsubscribe, unsubscribed, alice's unavailable and the push 'none'",
        &[
            &|ev| is_presence_from(ev, &ab, PresenceType::Unsubscribe),
            &|ev| is_presence_from(ev, &ab, PresenceType::Unsubscribed),
            &|ev| is_presence_from(ev, &alice_a, PresenceType::Unavailable),
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "alice@localhost").is_some_and(|i| i.subscription == Subscription::None)),
        ],
    )
    .await;
    let r = within("roster", a.roster()).await.expect("roster");
    assert!(item(&r, "bob@localhost").is_none(), "{r:?}");
}

/// RFC 6121 §3.4: Alice pre-approves Bob; Bob's later request is approved
/// by the server without reaching Alice.
#[tokio::test(flavor = "multi_thread")]
async fn subscription_pre_approval() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    within("roster", a.roster()).await.expect("roster");
    within("roster", b.roster()).await.expect("roster");
    let (ab, bb) = (bare("alice@localhost"), bare("bob@localhost"));

    within("pre-approve", a.approve(bb.clone()))
        .await
        .expect("approve");
    let push = wait_push(&mut a, "the pre-approved item", |i| i.jid == bb).await;
    let i = item(&push, "bob@localhost").expect("item");
    assert_eq!(
        (i.subscription, i.approved),
        (Subscription::None, true),
        "§3.4.2: {i:?}"
    );
    // Bob received nothing from the pre-approval (§3.4.2: not delivered).
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before.iter().any(|e| is_presence_from(
            e,
            &Jid::from(ab.clone()),
            PresenceType::Subscribed
        )),
        "the pre-approval was delivered as 'subscribed': {before:?}"
    );

    within("subscribe", b.subscribe(ab.clone()))
        .await
        .expect("subscribe");
    let abj = Jid::from(ab.clone());
    wait_all(
        &mut b,
        "the automatic approval and the push 'to'",
        &[
            &|ev| is_presence_from(ev, &abj, PresenceType::Subscribed),
            &|ev| matches!(ev, Event::RosterPush(r) if item(r, "alice@localhost").is_some_and(|i| i.subscription == Subscription::To)),
        ],
    )
    .await;
    wait_push(&mut a, "alice: from", |i| {
        i.jid == bb && i.subscription == Subscription::From
    })
    .await;
    // Alice never saw the request (§3.4.3).
    let marker = send_marker(&b, a.jid()).await;
    let before = until_marker(&mut a, &marker).await;
    assert!(
        !before.iter().any(|e| is_presence_from(
            e,
            &Jid::from(bb.clone()),
            PresenceType::Subscribe
        )),
        "a pre-approved request was delivered: {before:?}"
    );
    let ra = within("roster", a.roster()).await.expect("roster");
    assert_eq!(
        item(&ra, "bob@localhost").map(|i| i.subscription),
        Some(Subscription::From)
    );
}

/// RFC 6121 §3.1.3: a request to a contact who is offline is delivered
/// when the contact next sends initial presence (and survives the
/// contact's logins without presence).
#[tokio::test(flavor = "multi_thread")]
async fn subscription_request_delivered_when_contact_logs_in() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    within("roster", a.roster()).await.expect("roster");
    within("subscribe", a.subscribe(bare("bob@localhost")))
        .await
        .expect("subscribe");
    within("sync", a.ping(None)).await.expect("ping");
    let mut b = within(
        "login",
        server
            .client(&acct("bob"), &pw("bob"))
            .resource("b")
            .connect(),
    )
    .await
    .expect("login");
    within("presence", b.send_presence(presence(0)))
        .await
        .expect("presence");
    wait_presence(
        &mut b,
        &jid("alice@localhost"),
        PresenceType::Subscribe,
        "the stored request",
    )
    .await;
    // And Bob can answer it.
    within("approve", b.approve(bare("alice@localhost")))
        .await
        .expect("approve");
    wait_push(&mut a, "alice: to", |i| {
        i.jid.as_str() == "bob@localhost" && i.subscription == Subscription::To
    })
    .await;
}

// ---------------------------------------------------------------------------
// Offline messages (RFC 6121 §8.5.2.2, XEP-0160, XEP-0203)
// ---------------------------------------------------------------------------

/// Chat and normal messages to an offline user are stored and delivered,
/// in order and with a `urn:xmpp:delay` stamp from the server's domain, at
/// the next initial presence (not before); headlines are not stored.
#[tokio::test(flavor = "multi_thread")]
async fn offline_messages_delivered_at_initial_presence_with_delay() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let sent_at = unix_now();
    for (kind, text) in [
        (MessageType::Chat, "offline one"),
        (MessageType::Chat, "offline no-store"),
        (MessageType::Headline, "offline headline"),
        (MessageType::Normal, "offline two"),
    ] {
        let mut m = message("bob@localhost", kind, text);
        if text.ends_with("no-store") {
            // XEP-0334 §4.2: not stored, offline included.
            m.append_child(Element::new("no-store", "urn:xmpp:hints"));
        }
        within("send", a.send(m)).await.expect("send");
    }
    within("sync", a.ping(None)).await.expect("ping");

    let mut b = within(
        "login",
        server
            .client(&acct("bob"), &pw("bob"))
            .resource("b")
            .connect(),
    )
    .await
    .expect("login");
    // Nothing before initial presence.
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|t| t.starts_with("offline"))),
        "offline messages delivered before initial presence: {before:?}"
    );
    within("presence", b.send_presence(presence(0)))
        .await
        .expect("presence");
    let mut got = Vec::new();
    while got.len() < 2 {
        let m = wait_for(&mut b, "the stored messages", |ev| match ev {
            Event::Message(m) if m.body(None).is_some_and(|t| t.starts_with("offline")) => {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
        got.push(m);
    }
    assert_eq!(
        got.iter()
            .map(|m| m.body(None).unwrap_or_default())
            .collect::<Vec<_>>(),
        ["offline one", "offline two"],
        "stored in order, the headline and the no-store message not stored"
    );
    assert_eq!(got[0].message_type, MessageType::Chat);
    assert_eq!(got[1].message_type, MessageType::Normal);
    for m in &got {
        assert_eq!(m.header.from, Some(jid("alice@localhost/a")));
        let d = match m.payload::<Delay>() {
            Some(Ok(d)) => d,
            other => panic!("no urn:xmpp:delay in {m:?}: {other:?}"),
        };
        assert_eq!(
            d.from,
            Some(jid("localhost")),
            "delay 'from' is the server's domain"
        );
        assert!(
            d.unix()
                .is_some_and(|t| t >= sent_at - 1 && t <= unix_now() + 1),
            "stamp {:?}",
            d.stamp
        );
    }
    // The headline does not come later either, and the store is empty now.
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|t| t.starts_with("offline"))),
        "{before:?}"
    );
    within("close", b.close()).await.expect("close");
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|t| t.starts_with("offline"))),
        "stored messages delivered twice: {before:?}"
    );
}

/// RFC 6121 §8.5.3.2.1: a chat message to the full JID of a user with no
/// session is handled as if sent to the bare JID: stored offline.
#[tokio::test(flavor = "multi_thread")]
async fn offline_storage_for_a_full_jid() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    within(
        "send",
        a.send_message(jid("bob@localhost/phone"), "to an offline resource"),
    )
    .await
    .expect("send");
    within("sync", a.ping(None)).await.expect("ping");
    let mut b = server
        .online(&acct("bob"), &pw("bob"), Some("laptop"), 0)
        .await;
    let m = wait_body(&mut b, "to an offline resource").await;
    assert!(matches!(m.payload::<Delay>(), Some(Ok(_))), "{m:?}");
}

/// RFC 6121 §8.5.2.1.1: when the only available resource has a negative
/// priority, a chat message to the bare JID is handled as if no resource
/// were available (offline storage), not delivered to that resource.
#[tokio::test(flavor = "multi_thread")]
async fn negative_priority_only_means_offline_storage() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut neg = server
        .online(&acct("bob"), &pw("bob"), Some("neg"), -5)
        .await;
    within("send", a.send_message(jid("bob@localhost"), "for later"))
        .await
        .expect("send");
    let marker = send_marker(&a, neg.jid()).await;
    let before = until_marker(&mut neg, &marker).await;
    assert!(
        !before.iter().any(|e| body(e) == Some("for later")),
        "delivered to a negative-priority resource: {before:?}"
    );
    let mut b = server
        .online(&acct("bob"), &pw("bob"), Some("pos"), 1)
        .await;
    let m = wait_body(&mut b, "for later").await;
    assert!(matches!(m.payload::<Delay>(), Some(Ok(_))), "{m:?}");
}

/// `max_offline_messages = 2`: the third message gets a
/// `service-unavailable` error back (RFC 6121 §8.5.2.2.1), and only two are
/// delivered. (One sender may use the whole quota here: the per-sender
/// share is tested in `abuse_storage.rs`.)
#[tokio::test(flavor = "multi_thread")]
async fn offline_quota() {
    let server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_offline_messages = 2\nmax_offline_share = 100\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice", "bob"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    for i in 1..=3 {
        within(
            "send",
            a.send_message(jid("bob@localhost"), &format!("q{i}")),
        )
        .await
        .expect("send");
    }
    let err = wait_for(&mut a, "the error for the third message", |ev| match ev {
        Event::Message(m) if m.message_type == MessageType::Error => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        err.error.as_ref().map(|e| e.condition.clone()),
        Some(StanzaErrorCondition::ServiceUnavailable),
        "{err:?}"
    );
    assert_eq!(err.header.from, Some(jid("bob@localhost")));
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    let bodies: Vec<_> = before.iter().filter_map(body).collect();
    assert_eq!(bodies, ["q1", "q2"]);
}

// ---------------------------------------------------------------------------
// Addressing errors (RFC 6120 §8.3, §10.4, §10.5; RFC 6121 §8.5.1)
// ---------------------------------------------------------------------------

/// To a local account that does not exist: message and iq get
/// `service-unavailable`; presence is silently dropped.
#[tokio::test(flavor = "multi_thread")]
async fn stanzas_to_a_missing_local_account() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let ghost = jid("ghost@localhost");
    within("send", a.send_message(ghost.clone(), "anyone?"))
        .await
        .expect("send");
    let err = wait_for(&mut a, "the message error", |ev| match ev {
        Event::Message(m) if m.message_type == MessageType::Error => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(err.header.from, Some(ghost.clone()));
    assert_eq!(
        err.error.map(|e| e.condition),
        Some(StanzaErrorCondition::ServiceUnavailable)
    );
    let r = within(
        "iq to a missing account",
        a.request(Iq::get(a.new_id(), Version::default()).with_to(ghost.clone())),
    )
    .await;
    assert_eq!(
        stanza_condition(r),
        StanzaErrorCondition::ServiceUnavailable
    );
    let r = within(
        "iq to a missing account's full JID",
        a.request(Iq::get(a.new_id(), Ping).with_to(jid("ghost@localhost/x"))),
    )
    .await;
    assert_eq!(
        stanza_condition(r),
        StanzaErrorCondition::ServiceUnavailable
    );
    // Presence: nothing comes back.
    let mut p = presence(0);
    p.header.to = Some(ghost.clone());
    within("presence", a.send_presence(p)).await.expect("send");
    let marker = send_marker(&a, a.jid()).await;
    let before = until_marker(&mut a, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, Event::Presence(p) if p.header.from.as_ref() == Some(&ghost))),
        "presence to a missing account was answered: {before:?}"
    );
}

/// No federation yet: stanzas to another domain get
/// `remote-server-not-found` (RFC 6120 §10.4.3).
#[tokio::test(flavor = "multi_thread")]
async fn other_domains_get_remote_server_not_found() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    within("send", a.send_message(jid("juliet@capulet.example"), "hi"))
        .await
        .expect("send");
    let err = wait_for(&mut a, "the message error", |ev| match ev {
        Event::Message(m) if m.message_type == MessageType::Error => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        err.error.map(|e| e.condition),
        Some(StanzaErrorCondition::RemoteServerNotFound)
    );
    assert_eq!(err.header.from, Some(jid("juliet@capulet.example")));
    let r = within(
        "iq to another domain",
        a.request(Iq::get(a.new_id(), Ping).with_to(jid("capulet.example"))),
    )
    .await;
    assert_eq!(
        stanza_condition(r),
        StanzaErrorCondition::RemoteServerNotFound
    );
}

// ---------------------------------------------------------------------------
// The server's own services (XEP-0030, -0092, -0199; RFC 6120 §8.4)
// ---------------------------------------------------------------------------

/// disco#info (identity server/im; features disco#info, disco#items,
/// ping, version, roster versioning), disco#items, ping and version on the
/// server's domain.
#[tokio::test(flavor = "multi_thread")]
async fn server_answers_disco_ping_and_version() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let c = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let domain = jid("localhost");
    let reply = within(
        "disco#info",
        c.request(Iq::get(c.new_id(), DiscoInfo::default()).with_to(domain.clone())),
    )
    .await
    .expect("disco#info");
    let info = match reply.payload_as::<DiscoInfo>() {
        Some(Ok(i)) => i,
        other => panic!("no disco#info payload: {other:?}"),
    };
    assert!(
        info.identities
            .iter()
            .any(|i| i.category == "server" && i.identity_type == "im"),
        "{:?}",
        info.identities
    );
    for f in [
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "urn:xmpp:ping",
        "jabber:iq:version",
        "urn:xmpp:features:rosterver",
    ] {
        assert!(
            info.features.iter().any(|x| x == f),
            "feature {f} missing from {:?}",
            info.features
        );
    }
    let reply = within(
        "disco#items",
        c.request(Iq::get(c.new_id(), DiscoItems::default()).with_to(domain.clone())),
    )
    .await
    .expect("disco#items");
    assert!(
        matches!(reply.payload_as::<DiscoItems>(), Some(Ok(_))),
        "disco#items result: {reply:?}"
    );
    within("ping", c.ping(Some(domain.clone())))
        .await
        .expect("ping to the domain");
    within("ping", c.ping(None)).await.expect("ping");
    let reply = within(
        "version",
        c.request(Iq::get(c.new_id(), Version::default()).with_to(domain.clone())),
    )
    .await
    .expect("version");
    let v = match reply.payload_as::<Version>() {
        Some(Ok(v)) => v,
        other => panic!("no version payload: {other:?}"),
    };
    assert_eq!(v.name.as_deref(), Some("starling"));
    assert!(v.version.is_some_and(|s| !s.is_empty()));
    // An iq without 'to' is for the account (RFC 6120 §10.3.3): ping too.
    let reply = within("ping without to", c.request(Iq::get(c.new_id(), Ping)))
        .await
        .expect("ping without 'to'");
    assert!(matches!(reply.kind, IqKind::Result(_)));
}

/// An iq to a bare JID is answered by the server on the account's behalf
/// (RFC 6120 §10.5.4, XEP-0030 §2): disco#info on an account, not routed
/// to its resources.
#[tokio::test(flavor = "multi_thread")]
async fn server_answers_for_accounts() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = within(
        "login",
        server
            .client(&acct("bob"), &pw("bob"))
            .resource("b")
            .handle_iq_requests(true)
            .connect(),
    )
    .await
    .expect("login");
    within("presence", b.send_presence(presence(0)))
        .await
        .expect("presence");
    for to in ["alice@localhost", "bob@localhost"] {
        let reply = within(
            "disco#info on an account",
            a.request(Iq::get(a.new_id(), DiscoInfo::default()).with_to(jid(to))),
        )
        .await
        .unwrap_or_else(|e| panic!("disco#info to {to}: {e}"));
        let info = match reply.payload_as::<DiscoInfo>() {
            Some(Ok(i)) => i,
            other => panic!("no disco#info from {to}: {other:?}"),
        };
        assert!(
            info.identities.iter().any(|i| i.category == "account"),
            "{to}: {:?}",
            info.identities
        );
    }
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before.iter().any(|e| matches!(e, Event::Iq(_))),
        "an iq to the bare JID was routed to a resource: {before:?}"
    );
}

/// RFC 6120 §8.4: an iq the server does not understand gets
/// `service-unavailable`, whether to the domain or to the account.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_iq_gets_service_unavailable() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let c = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    for to in [Some(jid("localhost")), Some(jid("alice@localhost")), None] {
        let payload = Element::new("query", "urn:example:unknown");
        let r = within(
            "unknown iq",
            c.request(iq_get(&c.new_id(), to.clone(), payload)),
        )
        .await;
        assert_eq!(
            stanza_condition(r),
            StanzaErrorCondition::ServiceUnavailable,
            "to {to:?}"
        );
    }
    // An unknown set too.
    let mut iq = iq_get(
        &c.new_id(),
        Some(jid("localhost")),
        Element::new("query", "urn:example:unknown"),
    );
    iq.kind = IqKind::Set(Element::new("query", "urn:example:unknown"));
    let r = within("unknown set", c.request(iq)).await;
    assert_eq!(
        stanza_condition(r),
        StanzaErrorCondition::ServiceUnavailable
    );
}

/// An iq between two clients and its error answer, routed back with the
/// condition, type and text intact (RFC 6120 §8.3).
#[tokio::test(flavor = "multi_thread")]
async fn stanza_error_round_trip() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let b = within(
        "login",
        server
            .client(&acct("bob"), &pw("bob"))
            .resource("b")
            .handle_iq_requests(true)
            .connect(),
    )
    .await
    .expect("login");
    let mut b = b;
    within("presence", b.send_presence(presence(0)))
        .await
        .expect("presence");
    let bob_full = Jid::from(b.jid().clone());
    let request = iq_get(
        "q1",
        Some(bob_full.clone()),
        Element::new("query", "urn:example:thing"),
    );
    let pending = tokio::spawn({
        let a_req = request.clone();
        async move {
            let r = within("the answer", a.request(a_req)).await;
            (a, r)
        }
    });
    let iq = wait_for(&mut b, "the request", |ev| match ev {
        Event::Iq(iq) => Some(iq.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        iq.header.from,
        Some(jid("alice@localhost/a")),
        "from stamped"
    );
    let err = StanzaError::new(StanzaErrorCondition::ItemNotFound).with_text("no such thing");
    within("answer", b.send(iq.error_reply(err).to_element()))
        .await
        .expect("send");
    let (_a, r) = within("the request task", pending).await.expect("task");
    match r {
        Err(Error::Stanza(e)) => {
            assert_eq!(e.condition, StanzaErrorCondition::ItemNotFound);
            assert_eq!(e.error_type, starling_stanza::ErrorType::Cancel);
            assert_eq!(e.text.as_deref(), Some("no such thing"));
        }
        other => panic!("expected the error, got {other:?}"),
    }
}

/// Two served domains: accounts of each log in with their own
/// certificate and talk to each other locally.
#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_are_served_and_route_locally() {
    let server = Server::start_with(Options {
        domains: vec!["localhost".into(), "example.test".into()],
        ..Options::default()
    });
    blocking(|| {
        server.add_user("alice@localhost", "pw-alice");
        server.add_user("alice@example.test", "pw-alice2");
    });
    let a = server
        .online("alice@localhost", "pw-alice", Some("a"), 0)
        .await;
    let mut a2 = server
        .online("alice@example.test", "pw-alice2", Some("a"), 0)
        .await;
    assert_eq!(a2.jid().as_str(), "alice@example.test/a");
    within(
        "send",
        a.send_message(jid("alice@example.test"), "across hosts"),
    )
    .await
    .expect("send");
    let m = wait_body(&mut a2, "across hosts").await;
    assert_eq!(m.header.from, Some(jid("alice@localhost/a")));
    // The accounts are distinct: the other host's password does not work.
    let r = within(
        "a login with the other host's password",
        server.client("alice@example.test", "pw-alice").connect(),
    )
    .await;
    assert!(
        matches!(r, Err(Error::Auth(_))),
        "{:?}",
        r.map(|c| c.jid().clone())
    );
}

// ---------------------------------------------------------------------------
// The admin command line
// ---------------------------------------------------------------------------

fn list_users(server: &Server, domain: Option<&str>) -> Vec<String> {
    let mut args = vec!["user", "list"];
    args.extend(domain);
    let out = blocking(|| server.admin(&args));
    assert!(out.success(), "user list: {}", out.describe());
    let mut v: Vec<String> = out
        .stdout
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// An account removed with `starling user remove` while it is online:
/// its sessions are closed with `not-authorized` (the server notices the
/// other process's change), other accounts' sessions stay.
#[tokio::test(flavor = "multi_thread")]
async fn removing_an_online_account_closes_its_sessions() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let alice = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut bob = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let out = blocking(|| server.admin(&["user", "remove", "bob@localhost"]));
    assert!(out.success(), "remove: {}", out.describe());
    let err = wait_for(&mut bob, "bob's session closed", |ev| match ev {
        Event::Disconnected(e) => Some(e.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        err.map(|e| e.condition),
        Some(Condition::NotAuthorized),
        "the removed account's session ends with not-authorized"
    );
    within("alice still served", alice.ping(None))
        .await
        .expect("alice's session is unaffected");
}

/// `user add/list/passwd/remove/import` while the server runs (same
/// database): the new password works and the old fails; a removed account
/// cannot log in.
#[tokio::test(flavor = "multi_thread")]
async fn admin_user_commands() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    assert_eq!(
        list_users(&server, None),
        ["alice@localhost", "bob@localhost"]
    );
    assert_eq!(
        list_users(&server, Some("localhost")),
        ["alice@localhost", "bob@localhost"]
    );

    let out = blocking(|| {
        server.admin(&[
            "user",
            "passwd",
            "alice@localhost",
            "--password",
            "new-secret",
        ])
    });
    assert!(out.success(), "passwd: {}", out.describe());
    match within(
        "old password",
        server.client(&acct("alice"), &pw("alice")).connect(),
    )
    .await
    {
        Err(Error::Auth(f)) => assert_eq!(f.condition, SaslCondition::NotAuthorized),
        other => panic!(
            "the old password must fail: {:?}",
            other.map(|c| c.jid().clone())
        ),
    }
    let c = within(
        "new password",
        server.client(&acct("alice"), "new-secret").connect(),
    )
    .await
    .expect("the new password works");
    within("close", c.close()).await.expect("close");

    let out = blocking(|| server.admin(&["user", "remove", "bob@localhost"]));
    assert!(out.success(), "remove: {}", out.describe());
    assert_eq!(list_users(&server, None), ["alice@localhost"]);
    match within(
        "removed account",
        server.client(&acct("bob"), &pw("bob")).connect(),
    )
    .await
    {
        Err(Error::Auth(f)) => assert_eq!(f.condition, SaslCondition::NotAuthorized),
        other => panic!(
            "a removed account must not log in: {:?}",
            other.map(|c| c.jid().clone())
        ),
    }

    let file = server.dir.join("import.txt");
    fs::write(
        &file,
        "# accounts\n\ncarol@localhost carol-pw\ndave@localhost dave-pw\n",
    )
    .expect("write");
    let out = blocking(|| server.admin(&["user", "import", file.to_str().expect("utf-8")]));
    assert!(out.success(), "import: {}", out.describe());
    assert_eq!(
        list_users(&server, None),
        ["alice@localhost", "carol@localhost", "dave@localhost"]
    );
    let c = within(
        "imported account",
        server.client("dave@localhost", "dave-pw").connect(),
    )
    .await
    .expect("an imported account logs in");
    within("ping", c.ping(None)).await.expect("ping");
}

/// The admin commands refuse what they cannot do, with a non-zero exit:
/// an account that exists already, an address that is not a JID, an empty
/// password (stdin closed), and changes to accounts that do not exist.
#[tokio::test(flavor = "multi_thread")]
async fn admin_commands_refuse_bad_input() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let cases: [(&str, Vec<&str>); 5] = [
        (
            "an existing account",
            vec!["user", "add", "alice@localhost", "--password", "x-123456"],
        ),
        (
            "not a JID",
            vec!["user", "add", "a@b@c", "--password", "x-123456"],
        ),
        (
            "an empty password from a closed stdin",
            vec!["user", "add", "bob@localhost"],
        ),
        (
            "passwd of a missing account",
            vec![
                "user",
                "passwd",
                "ghost@localhost",
                "--password",
                "x-123456",
            ],
        ),
        (
            "removing a missing account",
            vec!["user", "remove", "ghost@localhost"],
        ),
    ];
    for (what, args) in cases {
        let out = blocking(|| server.admin(&args));
        assert!(
            out.status.is_some() && !out.success(),
            "{what}: expected a failure: {}",
            out.describe()
        );
    }
    assert_eq!(list_users(&server, None), ["alice@localhost"]);
    // Alice's password was not changed by the refused add.
    server.connect(&acct("alice"), &pw("alice")).await;
}

/// `check-config`: exit 0 for a good file; exit 1 with `file:line` for
/// an unknown key, a bad value, and a plaintext listener off loopback.
#[tokio::test(flavor = "multi_thread")]
async fn check_config() {
    let server = Server::start();
    let out = blocking(|| server.admin(&["check-config"]));
    assert!(
        out.success(),
        "the generated config is valid: {}",
        out.describe()
    );

    let cases: [(&str, &str, Option<usize>); 4] = [
        (
            "unknown-key",
            "[storage]\nbackend = \"sqlite\"\n\n[limits]\nmax_stanza_size = 1000\nno_such_key = 3\n",
            Some(6),
        ),
        ("unknown-top", "bogus = true\n", Some(1)),
        (
            "bad-value",
            "[c2s]\nlisten = [\"127.0.0.1:5999\"]\nresource_conflict = \"sometimes\"\n",
            Some(3),
        ),
        (
            "plaintext-off-loopback",
            "[c2s]\nlisten = [\"0.0.0.0:5999\"]\nrequire_tls = false\n",
            None,
        ),
    ];
    for (name, text, line) in cases {
        let path = server.dir.join(format!("{name}.toml"));
        fs::write(&path, text).expect("write");
        let mut cmd = std::process::Command::new(starling_bin());
        cmd.arg("--config").arg(&path).arg("check-config");
        let out = blocking(|| run_with_limit(&mut cmd, Duration::from_secs(60)))
            .expect("running check-config");
        assert_eq!(out.code(), Some(1), "{name}: {}", out.describe());
        let all = format!("{}{}", out.stdout, out.stderr);
        let file = path.display().to_string();
        match line {
            Some(l) => assert!(
                all.contains(&format!("{file}:{l}")),
                "{name}: expected {file}:{l} in the message: {}",
                out.describe()
            ),
            None => assert!(
                all.contains(&file),
                "{name}: the file is named: {}",
                out.describe()
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Restarts, crashes and signals
// ---------------------------------------------------------------------------

/// The roster survives a graceful restart (SIGTERM).
#[tokio::test(flavor = "multi_thread")]
async fn roster_survives_restart() {
    let mut server = Server::start();
    server.add_users(&["alice"]);
    let c = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut it = RosterItem::new(bare("bob@localhost"));
    it.name = Some("Bob".into());
    it.groups = vec!["Friends".into()];
    within("roster set", c.roster_set(it))
        .await
        .expect("roster set");
    let (status, log) = blocking(|| server.signal("TERM"));
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM exit: {status:?}\n{log}"
    );
    drop(c);
    blocking(|| server.restart());
    let c = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let r = within("roster", c.roster()).await.expect("roster");
    let i = item(&r, "bob@localhost").expect("the item survived the restart");
    assert_eq!(i.name.as_deref(), Some("Bob"));
    assert_eq!(i.groups, ["Friends"]);
}

/// Durability: what the server acknowledged survives `kill -9`. A message
/// to an offline user is sent before a roster set; once the roster set is
/// answered, both were processed (RFC 6120 §10.1 in-order processing) and
/// must be on disk.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_state_survives_kill_9() {
    let mut server = Server::start();
    server.add_users(&["alice", "bob"]);
    let c = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    within(
        "send",
        c.send_message(jid("bob@localhost"), "written before the crash"),
    )
    .await
    .expect("send");
    let mut it = RosterItem::new(bare("bob@localhost"));
    it.name = Some("Bob".into());
    within("roster set", c.roster_set(it))
        .await
        .expect("roster set answered");
    let (status, _log) = blocking(|| server.signal("KILL"));
    assert!(status.is_some(), "the process did not die");
    drop(c);
    blocking(|| server.restart());
    let c = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let r = within("roster", c.roster()).await.expect("roster");
    assert_eq!(
        item(&r, "bob@localhost").and_then(|i| i.name.as_deref()),
        Some("Bob"),
        "the acknowledged roster set was lost: {r:?}"
    );
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let m = wait_body(&mut b, "written before the crash").await;
    assert!(matches!(m.payload::<Delay>(), Some(Ok(_))), "{m:?}");
}

/// SIGTERM and SIGINT: every session gets `<system-shutdown/>`, the
/// process exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn signals_shut_down_gracefully() {
    let mut server = Server::start();
    server.add_users(&["alice"]);
    for sig in ["TERM", "INT"] {
        let mut c1 = server
            .online(&acct("alice"), &pw("alice"), Some("one"), 0)
            .await;
        let mut c2 = server.online(&acct("alice"), &pw("alice"), None, 0).await;
        let (status, log) = blocking(|| server.signal(sig));
        assert!(
            status.is_some_and(|s| s.code() == Some(0)),
            "SIG{sig}: exit status {status:?}\n{log}"
        );
        for c in [&mut c1, &mut c2] {
            let err = wait_for(c, "the shutdown", |ev| match ev {
                Event::Disconnected(e) => Some(e.clone()),
                _ => None,
            })
            .await;
            assert_eq!(
                err.map(|e| e.condition),
                Some(Condition::SystemShutdown),
                "SIG{sig}: the session must get <system-shutdown/>"
            );
        }
        blocking(|| server.restart());
    }
}
