//! Adversarial tests of the real `starling` binary: oversized and deeply
//! nested stanzas, DTDs and entities, bytes that are not UTF-8, slowloris,
//! floods, forged addresses, password guessing, stanzas out of order and
//! the connection and resource limits. Each test starts its own server,
//! attacks it with raw connections (our own bytes, over TLS when needed),
//! checks the stream error of RFC 6120 §4.9 the attacker gets, that the
//! other users are unaffected, and that the process still serves a fresh
//! login afterwards.

mod common;

use std::time::Duration;

use common::{ServerExt, body, send_marker, until_marker, wait_body, wait_for};
use starling_client::{Client, Error, Event};
use starling_stanza::{Iq, IqKind, Ping, StanzaErrorCondition};
use starling_stream::Condition;
use starling_testkit::raw::{self, Ending, Got, NS_SASL, Raw, header};
use starling_testkit::server::{Options, Server};
use starling_testkit::stanzas::jid;
use starling_testkit::wait::{blocking, within};

fn pw(user: &str) -> String {
    format!("pw-{user}")
}

fn acct(user: &str) -> String {
    format!("{user}@localhost")
}

/// How long a server may take to end a stream it must end.
const END: Duration = Duration::from_secs(30);

async fn login(server: &Server, user: &str, resource: &str) -> Raw {
    Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        &acct(user),
        &pw(user),
        Some(resource),
    )
    .await
}

/// Asserts that the stream ended with one of `conditions` and the
/// connection was closed.
fn assert_ended(end: &Ending, conditions: &[Condition], what: &str) {
    let cond = end.error.as_ref().map(|e| e.condition.clone());
    assert!(
        cond.as_ref().is_some_and(|c| conditions.contains(c)),
        "{what}: expected a stream error among {conditions:?}, got {} ({end:?})",
        end.condition()
    );
    assert!(
        end.eof,
        "{what}: the server did not close the connection ({end:?})"
    );
}

/// Asserts that `c` got no message whose body contains `needle` before a
/// marker sent by `from`.
async fn assert_not_delivered(from: &Client, c: &mut Client, needle: &str) {
    let marker = send_marker(from, c.jid()).await;
    let before = until_marker(c, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|b| b.contains(needle))),
        "{} received what must not be delivered ({needle:?}): {before:?}",
        c.jid()
    );
}

/// RFC 6120 §13.12 / contract `max_stanza_size`: a stanza over the limit
/// ends that stream with `policy-violation`; another session keeps
/// exchanging messages.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_stanza_is_a_policy_violation() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_stanza_size = 10000\n".into(),
        ..Options::default()
    });
    server.add_users(&["mallory", "alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    // Under the limit: fine.
    let mut m = login(&server, "mallory", "m").await;
    let small = "x".repeat(5000);
    m.send_str(&format!(
        "<message to='bob@localhost/b' type='chat'><body>small {small}</body></message>"
    ))
    .await
    .expect("send");
    wait_body(&mut b, &format!("small {small}")).await;
    // Over it.
    let big = "y".repeat(20_000);
    let _ = m
        .send_str(&format!(
            "<message to='bob@localhost/b' type='chat'><body>big {big}</body></message>"
        ))
        .await;
    let end = m.ending(END).await;
    assert_ended(
        &end,
        &[Condition::PolicyViolation],
        "a 20 kB stanza with a 10 kB limit",
    );
    // The others are unaffected, and the oversized stanza was not delivered.
    within("send", a.send_message(jid("bob@localhost/b"), "still here"))
        .await
        .expect("send");
    wait_body(&mut b, "still here").await;
    assert_not_delivered(&a, &mut b, "big yyyy").await;
    // Sent slowly, in pieces, it is still caught (the limit counts the
    // stanza, not a read).
    let mut m = login(&server, "mallory", "m2").await;
    let _ = m
        .send_str("<message to='bob@localhost/b' type='chat'><body>")
        .await;
    let chunk = "z".repeat(4000);
    for _ in 0..4 {
        if m.send_str(&chunk).await.is_err() {
            break;
        }
    }
    let _ = m.send_str("</body></message>").await;
    let end = m.ending(END).await;
    assert_ended(
        &end,
        &[Condition::PolicyViolation],
        "a stanza over the limit sent in pieces",
    );
    server.assert_still_serving("alice").await;
}

/// Thousands of nested elements: a stream error (the depth limit), no
/// crash, no effect on others.
#[tokio::test(flavor = "multi_thread")]
async fn deep_nesting_is_refused() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let mut m = login(&server, "mallory", "m").await;
    let depth = 5000;
    let mut s = String::from("<message to='bob@localhost/b' type='chat'><body>deep</body>");
    for _ in 0..depth {
        s.push_str("<x xmlns='urn:example:deep'>");
    }
    for _ in 0..depth {
        s.push_str("</x>");
    }
    s.push_str("</message>");
    let _ = m.send_str(&s).await;
    let end = m.ending(END).await;
    assert_ended(
        &end,
        &[
            Condition::PolicyViolation,
            Condition::NotWellFormed,
            Condition::RestrictedXml,
        ],
        "5000 nested elements",
    );
    assert_not_delivered(&a, &mut b, "deep").await;
    // Before authentication too.
    let ca = server.cert_file("localhost");
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    raw.open().await;
    let mut s = String::new();
    for _ in 0..depth {
        s.push_str("<x>");
    }
    let _ = raw.send_str(&s).await;
    let end = raw.ending(END).await;
    assert!(end.error.is_some() && end.eof, "pre-auth nesting: {end:?}");
    server.assert_still_serving("alice").await;
}

/// RFC 6120 §11.1: DTDs, entity declarations (the billion laughs),
/// comments and processing instructions are restricted XML: the stream
/// ends with `restricted-xml`, before or after authentication.
#[tokio::test(flavor = "multi_thread")]
async fn dtds_entities_comments_and_pis_are_restricted_xml() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice", "bob"]);
    let ca = server.cert_file("localhost");
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;

    let mut laughs = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    laughs.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">");
    for i in 2..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"&lol{p};&lol{p};&lol{p};&lol{p};&lol{p};&lol{p};&lol{p};&lol{p};&lol{p};&lol{p};\">"
        ));
    }
    laughs.push_str("]>");

    // Before the stream header: the billion laughs in the prolog.
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let h = header("localhost");
    let (decl, rest) = h.split_at(h.find("<stream:stream").expect("header"));
    let _ = raw
        .send_str(&format!(
            "{decl}{laughs}{rest}<message><body>&lol9;</body></message>"
        ))
        .await;
    let end = raw.ending(END).await;
    assert_ended(
        &end,
        &[Condition::RestrictedXml],
        "the billion laughs before the stream",
    );

    // Inside a bound stream: each in its own session.
    let attacks = [
        ("a DOCTYPE", laughs.clone()),
        ("an entity declaration", "<!ENTITY x \"y\">".to_owned()),
        (
            "a comment",
            "<message to='bob@localhost/b' type='chat'><body>comment</body><!-- hi --></message>"
                .to_owned(),
        ),
        (
            "a processing instruction",
            "<message to='bob@localhost/b' type='chat'><?evil x?><body>pi</body></message>"
                .to_owned(),
        ),
        (
            "an undeclared entity reference",
            "<message to='bob@localhost/b' type='chat'><body>&lol9;</body></message>".to_owned(),
        ),
    ];
    for (i, (what, bytes)) in attacks.iter().enumerate() {
        let mut m = login(&server, "mallory", &format!("m{i}")).await;
        let _ = m.send_str(bytes).await;
        let end = m.ending(END).await;
        let allowed: &[Condition] = if what.starts_with("an undeclared") {
            // An unknown entity is not well-formed XML as well.
            &[Condition::RestrictedXml, Condition::NotWellFormed]
        } else {
            &[Condition::RestrictedXml]
        };
        assert_ended(&end, allowed, what);
    }
    for needle in ["comment", "pi", "lol"] {
        assert_not_delivered(&a, &mut b, needle).await;
    }
    server.assert_still_serving("alice").await;
}

/// Slowloris: a connection that sends its header one byte a second, and
/// one that sends nothing, are closed once `negotiation_timeout` (3 s)
/// passes, long before they finish.
#[tokio::test(flavor = "multi_thread")]
async fn slowloris_is_cut_off_by_the_negotiation_timeout() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nnegotiation_timeout = 3\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let silent = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let dribbler = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    // After TLS and the header, dribbling an <auth/> does not help either.
    let (mut slow_auth, _) = Raw::secure(server.c2s_port, "localhost", &ca).await;

    let header_bytes = header("localhost").into_bytes();
    let total = header_bytes.len();
    let dribble = tokio::spawn(async move {
        let mut r = dribbler;
        let mut sent = 0;
        for b in header_bytes {
            if r.send(&[b]).await.is_err() {
                break;
            }
            sent += 1;
            // Stop when the server has closed (a read would tell, but
            // writes to a closed socket fail soon enough).
            tokio::time::sleep(Duration::from_secs(1)).await;
            if sent > 60 {
                break;
            }
        }
        (r, sent)
    });
    let auth = format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>AGFsaWNlAHB3LWFsaWNl</auth>");
    let auth_task = tokio::spawn(async move {
        for b in auth.bytes() {
            if slow_auth.send(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        slow_auth
    });

    let mut silent = silent;
    let end = silent.ending(END).await;
    assert!(end.eof, "a silent connection was not closed: {end:?}");
    if let Some(e) = &end.error {
        assert_eq!(e.condition, Condition::ConnectionTimeout, "{end:?}");
    }
    let (mut dribbler, sent) = within("the dribbler", dribble).await.expect("task");
    assert!(
        sent < total,
        "the whole header went through one byte a second"
    );
    let end = dribbler.ending(END).await;
    assert!(end.eof, "a dribbling connection was not closed: {end:?}");
    let mut slow_auth = within("the slow auth", auth_task).await.expect("task");
    let end = slow_auth.ending(END).await;
    assert!(end.eof, "a slow SASL exchange was not closed: {end:?}");
    assert!(
        end.error
            .as_ref()
            .is_some_and(|e| e.condition == Condition::ConnectionTimeout),
        "expected <connection-timeout/> after the header: {end:?}"
    );
    server.assert_still_serving("alice").await;
}

/// How many messages a flood sends.
const FLOOD: usize = 20_000;

/// Writes [`FLOOD`] chat messages to `bob@localhost/b` as fast as the
/// connection takes them (60 kB writes); returns how many were written
/// before a write failed.
fn spawn_flood(mut m: Raw) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut batch = String::new();
        let mut written = 0;
        let mut in_batch = 0;
        for i in 0..FLOOD {
            batch.push_str(&format!(
                "<message to='bob@localhost/b' type='chat'><body>flood {i}</body></message>"
            ));
            in_batch += 1;
            if batch.len() > 60_000 || i == FLOOD - 1 {
                if m.send_str(&batch).await.is_err() {
                    break;
                }
                written += in_batch;
                in_batch = 0;
                batch.clear();
            }
        }
        // Keep the connection open until the caller is done.
        let _ = m.next(Duration::from_secs(600)).await;
        written
    })
}

/// What the flooded session saw.
#[derive(Debug)]
struct Drained {
    received: usize,
    last: String,
    disconnected: Option<Option<starling_stream::StreamError>>,
}

/// Reads `c`'s events as fast as they come, counting the flood, until
/// all of it arrived, the session ended, or nothing came for two minutes.
fn spawn_drain(mut c: Client) -> tokio::task::JoinHandle<Drained> {
    tokio::spawn(async move {
        let mut d = Drained {
            received: 0,
            last: String::new(),
            disconnected: None,
        };
        while d.received < FLOOD {
            match tokio::time::timeout(Duration::from_secs(120), c.next_event()).await {
                Ok(Some(Event::Message(msg)))
                    if msg.body(None).is_some_and(|t| t.starts_with("flood ")) =>
                {
                    d.received += 1;
                    d.last = msg.body(None).unwrap_or_default().to_owned();
                }
                Ok(Some(Event::Disconnected(e))) => {
                    d.disconnected = Some(e);
                    break;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        d
    })
}

/// One connection floods 20,000 messages as fast as it can; meanwhile a
/// third session's pings keep being answered (each within the generous
/// wait; no timing is asserted).
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_does_not_starve_other_sessions() {
    let mut server = Server::start();
    server.add_users(&["mallory", "bob", "carol"]);
    let b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let c = server
        .online(&acct("carol"), &pw("carol"), Some("c"), 0)
        .await;
    let m = login(&server, "mallory", "m").await;
    let drain = spawn_drain(b);
    let flood = spawn_flood(m);
    // Pings keep being answered while the flood is written and routed.
    let mut pings = 0;
    while !drain.is_finished() || pings < 3 {
        within("a ping during the flood", c.ping(None))
            .await
            .expect("a ping during the flood");
        pings += 1;
        assert!(pings < 100_000, "the flood never ended");
    }
    let drained = within("the drain", drain).await.expect("drain task");
    flood.abort();
    within("a ping after the flood", c.ping(None))
        .await
        .expect("ping");
    server.assert_still_serving("carol").await;
    // (What Bob got is checked by a_flood_reaches_its_recipient.)
    let _ = drained;
}

/// The flood's recipient reads as fast as it can: it gets every message,
/// in order, and stays connected — the sender is throttled (contract:
/// `read_rate`, "excess is throttled, not dropped"), so one user cannot
/// get another disconnected as a "slow reader".
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_reaches_its_recipient() {
    let mut server = Server::start();
    server.add_users(&["mallory", "bob"]);
    let b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let m = login(&server, "mallory", "m").await;
    let drain = spawn_drain(b);
    let flood = spawn_flood(m);
    let drained = tokio::time::timeout(Duration::from_secs(600), drain)
        .await
        .expect("bob did not get the flood in 10 minutes")
        .expect("drain task");
    flood.abort();
    assert!(
        drained.disconnected.is_none(),
        "the recipient of the flood was disconnected: {drained:?}"
    );
    assert_eq!(drained.received, FLOOD, "messages lost: {drained:?}");
    assert_eq!(drained.last, format!("flood {}", FLOOD - 1), "out of order");
    server.assert_still_serving("bob").await;
}

/// RFC 6120 §8.1.2.1: a `from` that is not the sender's own address
/// ends the stream with `invalid-from`, and nothing is delivered with the
/// forged address. The sender's own full or bare JID is accepted.
#[tokio::test(flavor = "multi_thread")]
async fn forged_from_is_refused() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice", "bob"]);
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;

    for (i, forged) in [
        "alice@localhost/a",
        "alice@localhost",
        "mallory@localhost/another-resource",
        "localhost",
    ]
    .iter()
    .enumerate()
    {
        let mut m = login(&server, "mallory", &format!("f{i}")).await;
        let _ = m
            .send_str(&format!(
                "<message from='{forged}' to='bob@localhost/b' type='chat'><body>forged {i}</body></message>"
            ))
            .await;
        let end = m.ending(END).await;
        assert_ended(&end, &[Condition::InvalidFrom], &format!("from='{forged}'"));
    }
    // Nothing forged reached Bob, under any address.
    let marker = send_marker(&a, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| body(e).is_some_and(|t| t.starts_with("forged"))),
        "a forged message was delivered: {before:?}"
    );
    server.assert_still_serving("alice").await;
}

/// RFC 6120 §8.1.2.1, §4.9.3.9: a `from` with the sender's own full JID,
/// or the bare JID it authenticated as, is accepted and stamped with the
/// full JID.
#[tokio::test(flavor = "multi_thread")]
async fn own_from_is_accepted_and_stamped() {
    let mut server = Server::start();
    server.add_users(&["mallory", "bob"]);
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let mut m = login(&server, "mallory", "m").await;
    m.send_str(
        "<message from='mallory@localhost/m' to='bob@localhost/b' type='chat'><body>own full</body></message>\
         <message from='mallory@localhost' to='bob@localhost/b' type='chat'><body>own bare</body></message>",
    )
    .await
    .expect("send");
    for t in ["own full", "own bare"] {
        let msg = wait_body(&mut b, t).await;
        assert_eq!(msg.header.from, Some(jid("mallory@localhost/m")), "{t}");
    }
    server.assert_still_serving("bob").await;
}

/// RFC 6120 §6.4.5 / contract `max_auth_failures`: after that many failed
/// attempts on one stream the server ends it with `policy-violation`.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_bad_passwords_close_the_stream() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_auth_failures = 4\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let (mut raw, _) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    let mut failures = 0;
    let mut outcome = None;
    for attempt in 1..=8 {
        match raw.auth_plain("alice", &format!("guess-{attempt}")).await {
            Got::Element(e) if e.is("failure", NS_SASL) => failures += 1,
            Got::StreamError(e) => {
                outcome = Some(e);
                break;
            }
            other => panic!("attempt {attempt}: unexpected {other:?}"),
        }
    }
    let end = raw.ending(END).await;
    let error = outcome.or(end.error.clone());
    assert_eq!(
        failures, 4,
        "max_auth_failures = 4: four <failure/>s, then the end"
    );
    assert_eq!(
        error.as_ref().map(|e| e.condition.clone()),
        Some(Condition::PolicyViolation),
        "after too many failures: {error:?} {end:?}"
    );
    assert!(end.eof, "the connection was not closed: {end:?}");
    // The account itself is not locked: the right password works on a new
    // stream.
    server.assert_still_serving("alice").await;
}

/// RFC 4616 §2 and RFC 6120 §6.4.6: a valid password for one account
/// with another account as the authorization identity must not log in
/// as that other account (`invalid-authzid` or `not-authorized`).
#[tokio::test(flavor = "multi_thread")]
async fn plain_authzid_cannot_impersonate() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice"]);
    let ca = server.cert_file("localhost");
    let (mut raw, _) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    let creds = raw::base64(b"alice@localhost\0mallory\0pw-mallory");
    raw.send_str(&format!(
        "<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{creds}</auth>"
    ))
    .await
    .expect("send");
    match raw.next(END).await {
        Got::Element(e) if e.is("failure", NS_SASL) => {
            assert!(
                e.has_child("invalid-authzid", NS_SASL) || e.has_child("not-authorized", NS_SASL),
                "{e}"
            );
        }
        Got::StreamError(_) | Got::Eof => {}
        Got::Element(e) if e.is("success", NS_SASL) => {
            // If the server accepted, binding must not give Alice's JID.
            raw.open().await;
            raw.send_str(
                "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
            )
            .await
            .expect("send");
            let e = raw.element().await;
            panic!("mallory authenticated with authzid alice: {e}");
        }
        other => panic!("unexpected {other:?}"),
    }
    server.assert_still_serving("alice").await;
}

/// Contract `idle_timeout`: a bound session that sends nothing is ended
/// with `connection-timeout`; one that sends whitespace keepalives
/// (RFC 6120 §4.6.1) stays.
#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_time_out_and_keepalives_keep_them() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nidle_timeout = 3\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice", "bob"]);
    let mut idle = login(&server, "alice", "idle").await;
    let mut alive = login(&server, "bob", "alive").await;
    let keep = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            alive.send_str(" ").await.expect("keepalive");
        }
        alive
            .send_str("<iq type='get' id='still'><ping xmlns='urn:xmpp:ping'/></iq>")
            .await
            .expect("ping");
        let e = alive.element().await;
        assert_eq!(e.attr("id"), Some("still"), "{e}");
        assert_eq!(e.attr("type"), Some("result"), "{e}");
    });
    let end = idle.ending(END).await;
    assert_ended(&end, &[Condition::ConnectionTimeout], "an idle session");
    within("the kept-alive session", keep)
        .await
        .expect("a session sending keepalives was ended");
    server.assert_still_serving("alice").await;
}

/// RFC 6120 §5.3.1, §6.4.1: with TLS required, no SASL mechanism is
/// offered before STARTTLS and an `<auth/>` in plaintext (even with the
/// right password) is refused with `encryption-required`.
#[tokio::test(flavor = "multi_thread")]
async fn plaintext_auth_is_refused() {
    let mut server = Server::start();
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let f = raw.open().await;
    assert!(
        f.starttls.as_ref().is_some_and(|t| t.required),
        "STARTTLS offered as required: {f:?}"
    );
    assert!(f.mechanisms.is_empty(), "SASL offered before TLS: {f:?}");
    match raw.auth_plain("alice", &pw("alice")).await {
        Got::Element(e) if e.is("failure", NS_SASL) => {
            assert!(e.has_child("encryption-required", NS_SASL), "{e}");
        }
        Got::StreamError(_) => {}
        other => panic!("plaintext PLAIN was not refused: {other:?}"),
    }
    server.assert_still_serving("alice").await;
}

/// RFC 6121 §4.3.2, §3.1.6 and XEP-0030 §4: a user who is not subscribed
/// learns nothing of another's presence — a probe is not answered with
/// presence, disco#items on the account lists no resources, and an
/// unsolicited `subscribed` changes nothing on the other side.
#[tokio::test(flavor = "multi_thread")]
async fn presence_privacy_against_non_subscribers() {
    let mut server = Server::start();
    server.add_users(&["mallory", "bob"]);
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    within("roster", b.roster()).await.expect("roster");
    let mut st = starling_stanza::Presence::new(starling_stanza::PresenceType::Available);
    st.statuses = vec![starling_stanza::LangText::new("secret status")];
    within("presence", b.send_presence(st))
        .await
        .expect("presence");
    let mut m = server
        .online(&acct("mallory"), &pw("mallory"), Some("m"), 0)
        .await;
    let bob_bare = jid("bob@localhost");
    let is_bob = |e: &Event| {
        matches!(e, Event::Presence(p) if p.header.from.as_ref().is_some_and(|f| f.bare() == bob_bare.bare())
            && p.presence_type == starling_stanza::PresenceType::Available)
    };
    // A probe.
    let mut probe = starling_stanza::Presence::new(starling_stanza::PresenceType::Probe);
    probe.header.to = Some(bob_bare.clone());
    within("probe", m.send_presence(probe)).await.expect("send");
    // disco#items on Bob's account.
    let items = within(
        "disco#items on bob",
        m.request(
            Iq::get(m.new_id(), starling_stanza::DiscoItems::default()).with_to(bob_bare.clone()),
        ),
    )
    .await;
    if let Ok(reply) = &items {
        if let Some(Ok(list)) = reply.payload_as::<starling_stanza::DiscoItems>() {
            assert!(
                !list
                    .items
                    .iter()
                    .any(|i| i.jid.as_str() == "bob@localhost/b"),
                "bob's resources listed to a non-subscriber: {list:?}"
            );
        }
    }
    // An unsolicited 'subscribed' (Bob never asked).
    within("unsolicited subscribed", m.approve(bob_bare.bare()))
        .await
        .expect("send");
    let marker = send_marker(&m, m.jid()).await;
    let before = until_marker(&mut m, &marker).await;
    assert!(
        !before.iter().any(is_bob),
        "a probe from a non-subscriber revealed presence: {before:?}"
    );
    let marker = send_marker(&m, b.jid()).await;
    let before = until_marker(&mut b, &marker).await;
    assert!(
        !before.iter().any(|e| matches!(e, Event::Presence(p) if p.presence_type == starling_stanza::PresenceType::Subscribed)),
        "an unsolicited 'subscribed' was delivered: {before:?}"
    );
    let r = within("roster", b.roster()).await.expect("roster");
    assert!(
        !r.items.iter().any(|i| i.jid.as_str() == "mallory@localhost"
            && matches!(
                i.subscription,
                starling_stanza::Subscription::To | starling_stanza::Subscription::Both
            )),
        "an unsolicited 'subscribed' gave bob a subscription: {r:?}"
    );
    // Bob's presence changes do not reach Mallory.
    let mut st = starling_stanza::Presence::new(starling_stanza::PresenceType::Available);
    st.statuses = vec![starling_stanza::LangText::new("another secret")];
    within("presence", b.send_presence(st))
        .await
        .expect("presence");
    let marker = send_marker(&b, m.jid()).await;
    let before = until_marker(&mut m, &marker).await;
    assert!(
        !before.iter().any(is_bob),
        "bob's presence leaked: {before:?}"
    );
    server.assert_still_serving("bob").await;
}

/// RFC 6120 §4.9.3.12: stanzas before authentication (before and after
/// TLS) and before resource binding end the stream with `not-authorized`
/// and are not delivered.
#[tokio::test(flavor = "multi_thread")]
async fn stanzas_before_auth_or_bind_are_not_authorized() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice", "bob"]);
    let ca = server.cert_file("localhost");
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let stanza = |n: &str| {
        format!(
            "<message to='bob@localhost/b' from='mallory@localhost' type='chat'><body>early {n}</body></message>"
        )
    };

    // Before TLS.
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    raw.open().await;
    let _ = raw.send_str(&stanza("plain")).await;
    let end = raw.ending(END).await;
    assert_ended(&end, &[Condition::NotAuthorized], "a stanza before TLS");

    // After TLS, before SASL.
    let (mut raw, _) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    let _ = raw.send_str(&stanza("tls")).await;
    let end = raw.ending(END).await;
    assert_ended(&end, &[Condition::NotAuthorized], "a stanza before SASL");

    // An iq (not a bind) before binding.
    let (mut raw, _) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    match raw.auth_plain("mallory", &pw("mallory")).await {
        Got::Element(e) if e.name() == "success" => {}
        other => panic!("PLAIN failed: {other:?}"),
    }
    raw.open().await;
    let _ = raw.send_str(&stanza("unbound")).await;
    let end = raw.ending(END).await;
    assert_ended(&end, &[Condition::NotAuthorized], "a stanza before binding");

    // Bob got none of them.
    assert_not_delivered(&a, &mut b, "early").await;
    server.assert_still_serving("alice").await;
}

/// `max_connections_per_ip = 5`: the sixth concurrent connection gets
/// `policy-violation` at once; when one closes there is room again.
#[tokio::test(flavor = "multi_thread")]
async fn connections_per_ip_are_limited() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_connections_per_ip = 5\nnegotiation_timeout = 300\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut r = Raw::tcp(server.c2s_port, "localhost", &ca).await;
        r.open().await;
        held.push(r);
    }
    let mut sixth = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let _ = sixth.send_str(&header("localhost")).await;
    let end = sixth.ending(END).await;
    assert_ended(&end, &[Condition::PolicyViolation], "the sixth connection");
    // The direct TLS port counts the same address: the connection is
    // closed before the handshake, or the stream ends with
    // policy-violation.
    if let Ok(mut r) = Raw::try_direct_tls(server.c2s_tls_port, "localhost", &ca).await {
        let _ = r.send_str(&header("localhost")).await;
        let end = r.ending(END).await;
        assert!(
            end.eof,
            "the sixth connection on the TLS port was not closed: {end:?}"
        );
        if let Some(e) = &end.error {
            assert_eq!(e.condition, Condition::PolicyViolation, "{end:?}");
        }
    }
    // Close one: a new connection is accepted (once the server has seen
    // the close).
    let mut first = held.remove(0);
    let _ = first.send_str("</stream:stream>").await;
    let _ = first.ending(END).await;
    drop(first);
    let deadline = tokio::time::Instant::now() + END;
    loop {
        let mut r = Raw::tcp(server.c2s_port, "localhost", &ca).await;
        let _ = r.send_str(&header("localhost")).await;
        match r.next(END).await {
            Got::Header => match r.next(END).await {
                Got::Features(_) => break,
                Got::StreamError(e) if e.condition == Condition::PolicyViolation => {}
                other => panic!("unexpected {other:?}"),
            },
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no room after a connection closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(held);
    // Once the held connections are gone, a login works.
    let deadline = tokio::time::Instant::now() + END;
    loop {
        let r = server
            .client(&acct("alice"), &pw("alice"))
            .resource("fresh")
            .connect()
            .await;
        if r.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no login after the connections closed: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.is_running());
}

/// `max_resources_per_account = 2`: the third session's bind fails with
/// `resource-constraint` (type wait); the first two are unaffected, and
/// replacing an existing resource still works.
#[tokio::test(flavor = "multi_thread")]
async fn resources_per_account_are_limited() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_resources_per_account = 2\n".into(),
        ..Options::default()
    });
    server.add_users(&["alice", "bob"]);
    let one = server
        .online(&acct("alice"), &pw("alice"), Some("one"), 0)
        .await;
    let mut two = server
        .online(&acct("alice"), &pw("alice"), Some("two"), 0)
        .await;
    let third = within(
        "a third resource",
        server
            .client(&acct("alice"), &pw("alice"))
            .resource("three")
            .connect(),
    )
    .await;
    match third {
        Err(Error::Negotiation(e)) => match *e {
            starling_auth::negotiate::NegotiationError::BindFailed(s) => {
                assert_eq!(s.condition, StanzaErrorCondition::ResourceConstraint, "{s}");
                assert_eq!(s.error_type, starling_stanza::ErrorType::Wait, "{s}");
            }
            other => panic!("expected a bind failure, got {other}"),
        },
        Err(e) => panic!("expected resource-constraint, got {e}"),
        Ok(c) => panic!("a third resource was bound: {}", c.jid()),
    }
    // A server-generated resource is no way around it.
    let r = within(
        "a generated third resource",
        server.client(&acct("alice"), &pw("alice")).connect(),
    )
    .await;
    assert!(r.is_err(), "a third (generated) resource was bound");
    within("ping", one.ping(None))
        .await
        .expect("the first session is fine");
    within("ping", two.ping(None))
        .await
        .expect("the second session is fine");
    // Another account is not affected by Alice's count.
    server
        .online(&acct("bob"), &pw("bob"), Some("three"), 0)
        .await;
    // Taking over an existing resource does not add one: allowed.
    let _new_two = server
        .online(&acct("alice"), &pw("alice"), Some("two"), 0)
        .await;
    let end = wait_for(&mut two, "the replaced session's end", |ev| match ev {
        Event::Disconnected(e) => Some(e.clone()),
        _ => None,
    })
    .await;
    assert_eq!(end.map(|e| e.condition), Some(Condition::Conflict));
    server.assert_still_serving("bob").await;
}

/// RFC 6120 §11.6: bytes that are not UTF-8 end the stream with a stream
/// error (`unsupported-encoding` or `not-well-formed`), before or after
/// authentication, and are not delivered.
#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_not_utf8_end_the_stream() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice", "bob"]);
    let ca = server.cert_file("localhost");
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let allowed = [Condition::UnsupportedEncoding, Condition::NotWellFormed];

    let mut m = login(&server, "mallory", "m").await;
    let mut bytes = b"<message to='bob@localhost/b' type='chat'><body>latin1 ".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xe9, 0xc3, 0x28]);
    bytes.extend_from_slice(b"</body></message>");
    let _ = m.send(&bytes).await;
    let end = m.ending(END).await;
    assert_ended(&end, &allowed, "invalid UTF-8 in a body");

    // An overlong encoding of '<' and a UTF-16 stream header.
    let mut m = login(&server, "mallory", "m2").await;
    let _ = m
        .send(b"<message to='bob@localhost/b'><body>overlong \xc0\xbc</body></message>")
        .await;
    let end = m.ending(END).await;
    assert_ended(&end, &allowed, "an overlong encoding");

    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let utf16: Vec<u8> = header("localhost")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut with_bom = vec![0xff, 0xfe];
    with_bom.extend(utf16);
    let _ = raw.send(&with_bom).await;
    let end = raw.ending(END).await;
    assert!(end.eof, "a UTF-16 stream was not closed: {end:?}");
    assert!(
        end.error.is_some(),
        "a UTF-16 stream got no stream error: {end:?}"
    );

    assert_not_delivered(&a, &mut b, "latin1").await;
    assert_not_delivered(&a, &mut b, "overlong").await;
    server.assert_still_serving("alice").await;
}

/// A malformed stanza inside a good stream is a stanza error, not the end
/// of the stream: a priority out of range (RFC 6121 §4.7.2.3) and a `to`
/// that is not a JID (RFC 6120 §8.3.3.8, `jid-malformed`); an iq without
/// an id (RFC 6120 §8.2.3) is at most a stream error, never a crash.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_stanzas_get_stanza_errors() {
    let mut server = Server::start();
    server.add_users(&["mallory", "alice"]);
    let mut m = login(&server, "mallory", "m").await;
    m.send_str("<iq type='get' id='bad-to' to='@@@'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await
        .expect("send");
    let e = m.element().await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    assert_eq!(e.attr("id"), Some("bad-to"), "{e}");
    let err = e
        .get_child("error", "jabber:client")
        .unwrap_or_else(|| panic!("no <error/> in {e}"));
    assert!(
        err.has_child("jid-malformed", "urn:ietf:params:xml:ns:xmpp-stanzas"),
        "expected jid-malformed: {e}"
    );
    m.send_str("<presence id='p1'><priority>300</priority></presence>")
        .await
        .expect("send");
    // An error presence comes back, or the presence is ignored; either
    // way the stream carries on and answers a ping.
    m.send_str("<iq type='get' id='ping1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await
        .expect("send");
    loop {
        let e = m.element().await;
        if e.attr("id") == Some("ping1") {
            assert_eq!(e.attr("type"), Some("result"), "{e}");
            break;
        }
        assert_eq!(
            e.attr("type"),
            Some("error"),
            "only an error may come back: {e}"
        );
    }
    // An iq without an id.
    let _ = m
        .send_str("<iq type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    let _ = m
        .send_str("<iq type='get' id='ping2'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await;
    match m.next(END).await {
        Got::Element(e) => {
            // Either a bad-request error for the first, or the ping's result.
            assert!(matches!(e.attr("type"), Some("error" | "result")), "{e}");
        }
        Got::StreamError(_) => {}
        other => panic!("after an iq without id: {other:?}"),
    }
    server.assert_still_serving("alice").await;
}

/// A stream header for a domain the server does not serve gets
/// `host-unknown` (RFC 6120 §4.9.3.6); garbage gets `not-well-formed`.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_host_and_garbage() {
    let mut server = Server::start();
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let _ = raw.send_str(&header("not-served.example")).await;
    let end = raw.ending(END).await;
    assert_ended(
        &end,
        &[Condition::HostUnknown],
        "a header for another domain",
    );
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let _ = raw.send_str("<<<>>> this is not XML").await;
    let end = raw.ending(END).await;
    assert_ended(&end, &[Condition::NotWellFormed], "garbage");
    // An HTTP request on the XMPP port.
    let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    let _ = raw
        .send_str("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await;
    let end = raw.ending(END).await;
    assert!(end.eof, "an HTTP request was not refused: {end:?}");
    // Plain bytes on the direct TLS port: the handshake fails, the
    // connection closes.
    let mut raw = Raw::tcp(server.c2s_tls_port, "localhost", &ca).await;
    let _ = raw.send_str(&header("localhost")).await;
    let end = raw.ending(END).await;
    assert!(
        end.eof,
        "plaintext on the TLS port was not refused: {end:?}"
    );
    server.assert_still_serving("alice").await;
}

/// All of the above against one server, one after the other, with two
/// users chatting throughout; then the process still runs and serves a
/// fresh login.
#[tokio::test(flavor = "multi_thread")]
async fn gauntlet_then_a_fresh_login() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_stanza_size = 10000\nnegotiation_timeout = 5\n".into(),
        ..Options::default()
    });
    server.add_users(&["mallory", "alice", "bob"]);
    let ca = server.cert_file("localhost");
    let a = server
        .online(&acct("alice"), &pw("alice"), Some("a"), 0)
        .await;
    let mut b = server.online(&acct("bob"), &pw("bob"), Some("b"), 0).await;
    let attacks: Vec<(&str, Vec<u8>)> = vec![
        (
            "oversized",
            format!(
                "<message to='bob@localhost/b'><body>{}</body></message>",
                "x".repeat(30_000)
            )
            .into_bytes(),
        ),
        ("nested", "<a>".repeat(10_000).into_bytes()),
        ("doctype", b"<!DOCTYPE x [<!ENTITY a 'b'>]>".to_vec()),
        (
            "not utf-8",
            b"<message><body>\xff\xff</body></message>".to_vec(),
        ),
        (
            "forged",
            b"<message from='alice@localhost/a' to='bob@localhost/b'><body>forged</body></message>"
                .to_vec(),
        ),
        (
            "unclosed",
            b"<message><body>never closed</message>".to_vec(),
        ),
        ("stream restart", header("localhost").into_bytes()),
        (
            "many attributes",
            format!(
                "<message {}/>",
                (0..2000)
                    .map(|i| format!("a{i}='x'"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
            .into_bytes(),
        ),
        (
            "long name",
            format!("<{} xmlns='urn:x'/>", "n".repeat(100_000)).into_bytes(),
        ),
    ];
    for (i, (what, bytes)) in attacks.iter().enumerate() {
        let mut m = login(&server, "mallory", &format!("g{i}")).await;
        let _ = m.send(bytes).await;
        let end = m.ending(END).await;
        assert!(
            end.error.is_some() && end.eof,
            "{what}: the stream did not end with an error: {end:?}"
        );
        within(
            "send",
            a.send_message(jid("bob@localhost/b"), &format!("still chatting {i}")),
        )
        .await
        .expect("send");
        wait_body(&mut b, &format!("still chatting {i}")).await;
    }
    // Pre-auth ones.
    for bytes in [
        &b"\x16\x03\x01\x02\x00"[..],
        b"\0\0\0\0",
        b"</stream:stream>",
    ] {
        let mut raw = Raw::tcp(server.c2s_port, "localhost", &ca).await;
        let _ = raw.send(bytes).await;
        let end = raw.ending(END).await;
        assert!(end.eof, "{bytes:?}: not closed: {end:?}");
    }
    assert_not_delivered(&a, &mut b, "forged").await;
    let r = within(
        "an iq after the gauntlet",
        a.request(Iq::get(a.new_id(), Ping).with_to(jid("localhost"))),
    )
    .await
    .expect("ping");
    assert!(matches!(r.kind, IqKind::Result(_)));
    blocking(|| assert!(server.is_running(), "the server died"));
    server.assert_still_serving("mallory").await;
}
