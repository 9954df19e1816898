//! XEP-0280 message carbons against the real `starling` binary: sent and
//! received carbons reach the user's other carbons-enabled resources and
//! only them; `<private/>`, `<no-copy/>` and groupchat are not copied; a
//! disabled resource gets nothing; the feature is in disco.

use starling_testkit::raw::Raw;
use starling_testkit::raw_wait::{body_of, carbon_of};
use starling_testkit::server::Server;
use starling_xml::Element;

const CARBONS: &str = "urn:xmpp:carbons:2";

async fn enable(raw: &mut Raw, on: bool) {
    let what = if on { "enable" } else { "disable" };
    let (_, answer) = raw
        .iq("set", what, None, &format!("<{what} xmlns='{CARBONS}'/>"))
        .await;
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
}

async fn say(raw: &mut Raw, to: &str, kind: &str, body: &str, extra: &str) {
    raw.send_str(&format!(
        "<message to='{to}' type='{kind}'><body>{body}</body>{extra}</message>"
    ))
    .await
    .expect("sending a message");
}

/// Whether `el` is a carbon (`kind`) of the message with `body`.
fn is_carbon(el: &Element, kind: &str, body: &str) -> bool {
    carbon_of(el, kind).and_then(body_of).as_deref() == Some(body)
}

/// Every body in `els`, as messages or inside carbons.
fn bodies(els: &[Element]) -> Vec<String> {
    els.iter()
        .filter_map(|e| {
            body_of(e)
                .or_else(|| carbon_of(e, "sent").and_then(body_of))
                .or_else(|| carbon_of(e, "received").and_then(body_of))
        })
        .collect()
}

struct Three {
    _server: Server,
    a: Raw,
    b: Raw,
    c: Raw,
    juliet: Raw,
}

/// romeo/a and romeo/b with carbons, romeo/c without, juliet/x.
async fn three() -> Three {
    let server = Server::start();
    server.add_users(&["romeo", "juliet"]);
    let ca = server.cert_file("localhost");
    let p = server.c2s_port;
    let mut a = Raw::available(p, &ca, "romeo@localhost", "a").await;
    let mut b = Raw::available(p, &ca, "romeo@localhost", "b").await;
    let c = Raw::available(p, &ca, "romeo@localhost", "c").await;
    let juliet = Raw::available(p, &ca, "juliet@localhost", "x").await;
    enable(&mut a, true).await;
    enable(&mut b, true).await;
    Three {
        _server: server,
        a,
        b,
        c,
        juliet,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sent_and_received_carbons_reach_the_other_enabled_resources() {
    let Three {
        _server,
        mut a,
        mut b,
        mut c,
        mut juliet,
    } = three().await;

    // §8: romeo/a sends; romeo/b gets a sent carbon from the bare JID.
    say(&mut a, "juliet@localhost/x", "chat", "s1", "").await;
    let (_, m) = juliet
        .until("s1", |e| body_of(e).as_deref() == Some("s1"))
        .await;
    assert_eq!(m.attr("from"), Some("romeo@localhost/a"));
    let (_, sent) = b
        .until("sent carbon of s1", |e| is_carbon(e, "sent", "s1"))
        .await;
    assert_eq!(sent.attr("from"), Some("romeo@localhost"));
    assert_eq!(sent.attr("to"), Some("romeo@localhost/b"));
    assert_eq!(sent.attr("type"), Some("chat"));
    let inner = carbon_of(&sent, "sent").unwrap();
    assert_eq!(inner.attr("from"), Some("romeo@localhost/a"));
    assert_eq!(inner.attr("to"), Some("juliet@localhost/x"));

    // §7: juliet writes to romeo/a; romeo/b gets a received carbon.
    say(&mut juliet, "romeo@localhost/a", "chat", "r1", "").await;
    let (_, r1) = a.until("r1", |e| body_of(e).as_deref() == Some("r1")).await;
    assert_eq!(r1.attr("from"), Some("juliet@localhost/x"));
    let (_, rc) = b
        .until("received carbon of r1", |e| is_carbon(e, "received", "r1"))
        .await;
    assert_eq!(rc.attr("from"), Some("romeo@localhost"));
    assert_eq!(rc.attr("to"), Some("romeo@localhost/b"));

    // A normal message with a body is copied too (§6).
    say(&mut juliet, "romeo@localhost/b", "normal", "n1", "").await;
    b.until("n1", |e| body_of(e).as_deref() == Some("n1")).await;

    // romeo/c (not enabled) got nothing; romeo/a got no copy of its own
    // message, and the received carbon of n1.
    say(&mut juliet, "romeo@localhost/c", "chat", "mark-c", "").await;
    let (before, _) = c
        .until("mark-c", |e| body_of(e).as_deref() == Some("mark-c"))
        .await;
    assert!(bodies(&before).is_empty(), "romeo/c got {before:?}");
    let (before, _) = a
        .until("received carbon of mark-c", |e| {
            is_carbon(e, "received", "mark-c")
        })
        .await;
    assert_eq!(bodies(&before), ["n1"], "romeo/a got {before:?}");
    assert!(before.iter().any(|e| is_carbon(e, "received", "n1")));

    // A message to the bare JID reaches every resource once: no resource
    // gets it both directly and as a carbon.
    say(&mut juliet, "romeo@localhost", "chat", "bare1", "").await;
    say(&mut juliet, "romeo@localhost/c", "chat", "mark-2", "").await;
    for raw in [&mut a, &mut b] {
        let (before, _) = raw
            .until("received carbon of mark-2", |e| {
                is_carbon(e, "received", "mark-2")
            })
            .await;
        let all = bodies(&before);
        let n = all.iter().filter(|b| *b == "bare1").count();
        assert_eq!(n, 1, "{:?} got {before:?}", raw.jid);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn private_no_copy_groupchat_and_disabled_resources_get_no_carbons() {
    let Three {
        _server,
        mut a,
        mut b,
        c: _c,
        mut juliet,
    } = three().await;

    // §9: <private/> is not copied, and removed on delivery.
    let private = format!("<private xmlns='{CARBONS}'/>");
    say(&mut a, "juliet@localhost/x", "chat", "p1", &private).await;
    let (_, p1) = juliet
        .until("p1", |e| body_of(e).as_deref() == Some("p1"))
        .await;
    assert!(
        p1.children().all(|ch| !ch.is("private", CARBONS)),
        "<private/> was delivered: {p1}"
    );
    // XEP-0334 <no-copy/>, and groupchat (§6), are not copied either.
    say(
        &mut a,
        "juliet@localhost/x",
        "chat",
        "nc1",
        "<no-copy xmlns='urn:xmpp:hints'/>",
    )
    .await;
    say(&mut a, "juliet@localhost/x", "groupchat", "g1", "").await;
    // Received: a private message, and one from a MUC (private message
    // with muc#user <x/>), are not copied to romeo/b.
    say(&mut juliet, "romeo@localhost/a", "chat", "p2", &private).await;
    say(
        &mut juliet,
        "romeo@localhost/a",
        "chat",
        "muc1",
        "<x xmlns='http://jabber.org/protocol/muc#user'/>",
    )
    .await;
    say(&mut juliet, "romeo@localhost/a", "chat", "mark", "").await;
    let (before, _) = b
        .until("received carbon of mark", |e| {
            is_carbon(e, "received", "mark")
        })
        .await;
    assert!(bodies(&before).is_empty(), "romeo/b got {before:?}");
    let (before, _) = a
        .until("mark", |e| body_of(e).as_deref() == Some("mark"))
        .await;
    assert_eq!(bodies(&before), ["p2", "muc1"]);

    // §5: after <disable/>, romeo/b gets no carbons; enabling twice is
    // fine (§10.1).
    enable(&mut a, true).await;
    enable(&mut b, false).await;
    say(&mut a, "juliet@localhost/x", "chat", "after", "").await;
    juliet
        .until("after", |e| body_of(e).as_deref() == Some("after"))
        .await;
    say(&mut juliet, "romeo@localhost/b", "chat", "mark-b", "").await;
    let (before, _) = b
        .until("mark-b", |e| body_of(e).as_deref() == Some("mark-b"))
        .await;
    assert!(bodies(&before).is_empty(), "romeo/b got {before:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn carbons_are_in_disco_and_only_the_user_may_enable_them() {
    let server = Server::start();
    server.add_users(&["romeo", "juliet"]);
    let ca = server.cert_file("localhost");
    let mut a = Raw::available(server.c2s_port, &ca, "romeo@localhost", "a").await;
    let disco = "<query xmlns='http://jabber.org/protocol/disco#info'/>";
    for (id, to) in [("d1", "localhost"), ("d2", "romeo@localhost")] {
        let (_, info) = a.iq("get", id, Some(to), disco).await;
        let has = info
            .children()
            .flat_map(Element::children)
            .any(|f| f.name() == "feature" && f.attr("var") == Some(CARBONS));
        assert!(has, "{to} does not list carbons: {info}");
    }
    // §4.1: enabling carbons for another account is not allowed.
    let (_, e) = a
        .iq(
            "set",
            "other",
            Some("juliet@localhost"),
            &format!("<enable xmlns='{CARBONS}'/>"),
        )
        .await;
    assert_eq!(e.attr("type"), Some("error"), "{e}");
}
