//! What others can make the real `starling` binary store for an account:
//! floods of subscription requests (capped per account and per sending
//! domain, each stored small — from local accounts of two domains and from
//! a second Starling over federation), floods of offline messages (a
//! per-sender share, a byte quota), and the `[storage] synchronous`
//! setting. Every test uses raw connections; "processed" is checked with a
//! message to oneself after the stanza on the same stream, never with a
//! sleep.

use starling_testkit::raw::{Got, Raw};
use starling_testkit::server::{FedServer, Options, Server};
use starling_testkit::wait::{WAIT, blocking};
use starling_xml::Element;

/// Bytes of `<status/>` and of `<nick/>` a stored request keeps (the
/// server's `MAX_STATUS_BYTES` and `MAX_NICK_BYTES`).
const STATUS_KEPT: usize = 1024;
const NICK_KEPT: usize = 128;

const NS_NICK: &str = "http://jabber.org/protocol/nick";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

async fn login(server: &Server, account: &str, resource: &str) -> Raw {
    let (user, domain) = account.split_once('@').expect("an account");
    Raw::login(
        server.c2s_port,
        &server.cert_file(domain),
        account,
        &format!("pw-{user}"),
        Some(resource),
    )
    .await
}

/// Sends `stanza`, then a message to the session's own full JID; returns
/// what arrived before that message. The server handles a stream's
/// stanzas in order and queues what it routes to a session in order, so
/// whatever `stanza` caused for this session came first.
async fn send_synced(raw: &mut Raw, stanza: &str) -> Vec<Element> {
    let me = raw.full_jid();
    raw.send_str(stanza).await.expect("sending");
    raw.send_str(&format!(
        "<message to='{me}' id='sync' type='chat'><body>sync</body></message>"
    ))
    .await
    .expect("sending the marker");
    let mut before = Vec::new();
    loop {
        match raw.next(WAIT).await {
            Got::Element(e) if e.name() == "message" && e.attr("id") == Some("sync") => {
                return before;
            }
            Got::Element(e) => before.push(e),
            other => panic!("waiting for the marker: {other:?}"),
        }
    }
}

/// A `<presence type='subscribe'/>` with a status of `status_len` bytes
/// and a long XEP-0172 nickname.
fn subscribe(to: &str, status_len: usize) -> String {
    format!(
        "<presence to='{to}' type='subscribe'><status>{}</status>\
         <nick xmlns='{NS_NICK}'>{}</nick></presence>",
        "s".repeat(status_len),
        "n".repeat(500)
    )
}

/// The stanza error condition and type of an error stanza.
fn error_of(el: &Element) -> Option<(String, String)> {
    if el.attr("type") != Some("error") {
        return None;
    }
    let err = el.children().find(|c| c.name() == "error")?;
    let cond = err
        .children()
        .find(|c| c.ns() == NS_STANZAS && c.name() != "text")?;
    Some((
        cond.name().to_owned(),
        err.attr("type").unwrap_or("").to_owned(),
    ))
}

/// The subscription requests `account` gets at login (initial presence),
/// as (from, status length, nick length, serialized size).
async fn requests_at_login(server: &Server, account: &str) -> Vec<(String, usize, usize, usize)> {
    let mut raw = login(server, account, "login").await;
    let got = send_synced(&mut raw, "<presence/>").await;
    got.iter()
        .filter(|e| e.name() == "presence" && e.attr("type") == Some("subscribe"))
        .map(|e| {
            let text = |name, ns| e.get_child(name, ns).map_or(0, |c| c.text().len());
            (
                e.attr("from").unwrap_or("").to_owned(),
                text("status", e.ns()),
                text("nick", NS_NICK),
                e.to_xml().len(),
            )
        })
        .collect()
}

/// Finding 2 (issue 14): a flood of subscription requests to an offline
/// account from many senders of two domains. With
/// `max_pending_subscriptions = 6` and `…_per_domain = 4`, the fifth
/// sender of one domain and the seventh sender overall get
/// `resource-constraint` (type `wait`) back; a repeated request replaces
/// its own; at login the user gets exactly the six stored requests, each
/// cut to a small size although each was sent with a 200 KiB status.
#[tokio::test(flavor = "multi_thread")]
async fn subscription_request_flood_is_capped_and_stored_small() {
    let server = Server::start_with(Options {
        domains: vec!["localhost".into(), "other.localhost".into()],
        extra_toml: "[limits]\nmax_pending_subscriptions = 6\n\
                     max_pending_subscriptions_per_domain = 4\n"
            .into(),
        ..Options::default()
    });
    let local = ["l1", "l2", "l3", "l4", "l5"];
    let other = ["o1", "o2", "o3"];
    blocking(|| {
        server.add_user("juliet@localhost", "pw-juliet");
        for u in local {
            server.add_user(&format!("{u}@localhost"), &format!("pw-{u}"));
        }
        for u in other {
            server.add_user(&format!("{u}@other.localhost"), &format!("pw-{u}"));
        }
    });
    // (sender, refused?) in the order sent.
    let plan = [
        ("l1@localhost", false),
        ("l2@localhost", false),
        ("l3@localhost", false),
        ("l4@localhost", false),
        ("l5@localhost", true), // a fifth from localhost
        ("o1@other.localhost", false),
        ("o2@other.localhost", false),
        ("o3@other.localhost", true), // a seventh in all
        ("l1@localhost", false),      // a repeat: replaces its own
    ];
    for (i, (sender, refused)) in plan.into_iter().enumerate() {
        let mut raw = login(&server, sender, &format!("r{i}")).await;
        // Available: an error to the bare JID reaches available resources.
        send_synced(&mut raw, "<presence/>").await;
        let got = send_synced(&mut raw, &subscribe("juliet@localhost", 200 * 1024)).await;
        let errors: Vec<_> = got.iter().filter_map(error_of).collect();
        if refused {
            assert_eq!(
                errors,
                [("resource-constraint".to_owned(), "wait".to_owned())],
                "{sender} must be refused: {got:?}"
            );
            let err = got
                .iter()
                .find(|e| error_of(e).is_some())
                .expect("the error");
            assert_eq!(err.name(), "presence");
            assert_eq!(err.attr("from"), Some("juliet@localhost"));
        } else {
            assert!(errors.is_empty(), "{sender} must be accepted: {got:?}");
        }
    }
    let got = requests_at_login(&server, "juliet@localhost").await;
    let from: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        from,
        [
            "l2@localhost",
            "l3@localhost",
            "l4@localhost",
            "o1@other.localhost",
            "o2@other.localhost",
            "l1@localhost"
        ],
        "the stored requests, oldest first (the repeat is the newest)"
    );
    for (from, status, nick, size) in &got {
        assert_eq!(*status, STATUS_KEPT, "{from}: status cut to 1 KiB");
        assert_eq!(*nick, NICK_KEPT, "{from}: nick cut");
        assert!(*size < 2048, "{from}: a {size}-byte request at login");
    }
}

/// Finding 2 across federation: requests from a remote Starling's users
/// go through the same caps; the sender over the per-domain cap gets
/// `resource-constraint` back over the s2s streams.
#[tokio::test(flavor = "multi_thread")]
async fn remote_subscription_requests_are_capped_per_domain() {
    let mut a = FedServer::new("a.fed.test");
    let mut b = FedServer::new("b.fed.test");
    a.extra_toml = "[limits]\nmax_pending_subscriptions_per_domain = 2\n".into();
    a.route_to(&b);
    b.route_to(&a);
    let senders = ["r1", "r2", "r3"];
    blocking(|| {
        a.start();
        b.start();
        a.add_user("juliet");
        for s in senders {
            b.add_user(s);
        }
    });
    let to = a.jid("juliet");
    let mut conns = Vec::new();
    for s in senders {
        let login = b.login(s);
        let mut raw = Raw::login(
            b.c2s_port,
            &login.ca_file,
            &b.jid(s),
            &login.password,
            Some("flood"),
        )
        .await;
        send_synced(&mut raw, "<presence/>").await;
        // Handed to the s2s stream in this order before the next one.
        let got = send_synced(&mut raw, &subscribe(&to, 200 * 1024)).await;
        assert!(got.iter().all(|e| error_of(e).is_none()), "{got:?}");
        conns.push(raw);
    }
    // The third from b.fed.test comes back refused.
    let refused = loop {
        match conns[2].next(WAIT).await {
            Got::Element(e) if e.name() == "presence" => break e,
            Got::Element(_) => {}
            other => panic!("r3 waited for its refusal: {other:?}\n{}", a.log()),
        }
    };
    assert_eq!(
        error_of(&refused),
        Some(("resource-constraint".to_owned(), "wait".to_owned())),
        "{}",
        refused.to_xml()
    );
    assert_eq!(refused.attr("from"), Some(to.as_str()));
    // juliet gets the two stored ones, small.
    let login = a.login("juliet");
    let mut raw = Raw::login(a.c2s_port, &login.ca_file, &to, &login.password, Some("j")).await;
    let got = send_synced(&mut raw, "<presence/>").await;
    let reqs: Vec<&Element> = got
        .iter()
        .filter(|e| e.name() == "presence" && e.attr("type") == Some("subscribe"))
        .collect();
    let from: Vec<&str> = reqs.iter().filter_map(|e| e.attr("from")).collect();
    assert_eq!(from, [b.jid("r1"), b.jid("r2")]);
    for r in reqs {
        assert!(r.to_xml().len() < 2048, "{}", r.to_xml().len());
    }
}

/// A message from `raw` to `to` with a body of `len` bytes; returns the
/// error condition it bounced with, if any.
async fn offline_message(raw: &mut Raw, to: &str, tag: &str, len: usize) -> Option<String> {
    let body = format!("{tag} {}", "b".repeat(len));
    let stanza = format!("<message to='{to}' type='chat'><body>{body}</body></message>");
    let got = send_synced(raw, &stanza).await;
    let errors: Vec<_> = got.iter().filter_map(error_of).collect();
    assert!(errors.len() <= 1, "{got:?}");
    errors.into_iter().next().map(|(cond, _)| cond)
}

/// The bodies' tags (first word) of the offline messages `account` gets
/// at login.
async fn offline_at_login(server: &Server, account: &str) -> Vec<String> {
    let mut raw = login(server, account, "login").await;
    let got = send_synced(&mut raw, "<presence/>").await;
    got.iter()
        .filter(|e| e.name() == "message")
        .filter_map(|e| e.get_child("body", e.ns()))
        .map(|b| b.text().split(' ').next().unwrap_or("").to_owned())
        .collect()
}

/// Finding 6: one sender flooding an offline account is stopped at its
/// share (30 % of 10 messages: 3) with `service-unavailable`; another
/// sender can still store a message, and the account gets both at login.
#[tokio::test(flavor = "multi_thread")]
async fn offline_flood_from_one_sender_is_capped_by_its_share() {
    let server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_offline_messages = 10\nmax_offline_share = 30\n".into(),
        ..Options::default()
    });
    server.add_users(&["bob", "mallory", "alice"]);
    let mut mallory = login(&server, "mallory@localhost", "m").await;
    for i in 0..6 {
        let err = offline_message(&mut mallory, "bob@localhost", &format!("m{i}"), 10).await;
        let want = (i >= 3).then(|| "service-unavailable".to_owned());
        assert_eq!(err, want, "mallory's message {i}");
    }
    let mut alice = login(&server, "alice@localhost", "a").await;
    assert_eq!(
        offline_message(&mut alice, "bob@localhost", "a0", 10).await,
        None,
        "another sender still has room"
    );
    assert_eq!(
        offline_at_login(&server, "bob@localhost").await,
        ["m0", "m1", "m2", "a0"]
    );
}

/// Finding 6: the byte quota (64 KiB) stops 20 KiB messages at the fourth,
/// far below the message count (1000); a small one still fits after.
#[tokio::test(flavor = "multi_thread")]
async fn offline_byte_quota_is_reached_before_the_count() {
    let server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_offline_bytes = 65536\nmax_offline_share = 100\n".into(),
        ..Options::default()
    });
    server.add_users(&["bob", "alice"]);
    let mut alice = login(&server, "alice@localhost", "a").await;
    for i in 0..4 {
        let err = offline_message(&mut alice, "bob@localhost", &format!("big{i}"), 20 * 1024).await;
        let want = (i == 3).then(|| "service-unavailable".to_owned());
        assert_eq!(err, want, "20 KiB message {i}");
    }
    assert_eq!(
        offline_message(&mut alice, "bob@localhost", "small", 100).await,
        None
    );
    assert_eq!(
        offline_at_login(&server, "bob@localhost").await,
        ["big0", "big1", "big2", "small"]
    );
}

/// Finding 11: `[storage] synchronous = "full"` is accepted, the server
/// says it opened the database with it, and a stored message survives
/// `kill -9`.
#[tokio::test(flavor = "multi_thread")]
async fn synchronous_full_is_used() {
    let mut server = Server::start_with(Options {
        extra_toml: "[storage]\nsynchronous = \"full\"\n".into(),
        ..Options::default()
    });
    server.add_users(&["bob", "alice"]);
    let mut alice = login(&server, "alice@localhost", "a").await;
    assert_eq!(
        offline_message(&mut alice, "bob@localhost", "kept", 10).await,
        None
    );
    drop(alice);
    let (_, log) = blocking(|| server.signal("KILL"));
    let opened = log
        .lines()
        .find(|l| l.contains("database opened"))
        .unwrap_or_else(|| panic!("no 'database opened' line:\n{log}"));
    assert!(
        opened.contains("synchronous") && opened.contains("full"),
        "{opened}"
    );
    blocking(|| server.restart());
    assert_eq!(offline_at_login(&server, "bob@localhost").await, ["kept"]);
}
