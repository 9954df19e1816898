//! XEP-0163 PEP (on the XEP-0060 core) against the real `starling`
//! binary, with raw clients that advertise XEP-0115 caps and answer the
//! server's disco#info query: who gets a notification (contacts with
//! `+notify`, the owner's own resources — not strangers, not contacts
//! without `+notify`), the last item on available presence, a whitelist
//! node (XEP-0223) closed to contacts, publish-options preconditions,
//! the storage bounds, and items that survive a restart.
//!
//! Negative checks ("X was not notified") use a marker message sent
//! after the publish was answered, never a sleep.

use starling_testkit::raw::Raw;
use starling_testkit::raw_pep::event_of;
use starling_testkit::server::{Options, Server};
use starling_testkit::wait::blocking;
use starling_xml::Element;

const NODE: &str = "urn:xmpp:tune";
const PUBSUB: &str = "http://jabber.org/protocol/pubsub";

fn notify() -> String {
    format!("{NODE}+notify")
}

async fn login(server: &Server, user: &str, resource: &str) -> Raw {
    Raw::login(
        server.c2s_port,
        &server.cert_file("localhost"),
        &format!("{user}@localhost"),
        &format!("pw-{user}"),
        Some(resource),
    )
    .await
}

fn publish_xml(id: &str, text: &str, options: &str) -> String {
    format!(
        "<pubsub xmlns='{PUBSUB}'><publish node='{NODE}'><item id='{id}'>\
         <tune xmlns='{NODE}'><title>{text}</title></tune></item></publish>{options}</pubsub>"
    )
}

fn publish_options(fields: &[(&str, &str)]) -> String {
    let mut x = String::from(
        "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>\
         <value>http://jabber.org/protocol/pubsub#publish-options</value></field>",
    );
    for (var, value) in fields {
        x.push_str(&format!(
            "<field var='{var}'><value>{value}</value></field>"
        ));
    }
    x.push_str("</x></publish-options>");
    x
}

/// The titles in the notifications among `els`.
fn titles(els: &[Element]) -> Vec<String> {
    els.iter()
        .filter_map(event_of)
        .flat_map(|ev| {
            ev.to_string()
                .split("<title>")
                .skip(1)
                .map(|t| t.split('<').next().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The defined condition and the pubsub condition of an error answer.
fn error_of(e: &Element) -> (String, String) {
    assert_eq!(e.attr("type"), Some("error"), "{e}");
    let err = e
        .children()
        .find(|c| c.name() == "error")
        .expect("<error/>");
    let pick = |ns: &str| {
        err.children()
            .find(|c| c.ns() == ns)
            .map_or(String::new(), |c| c.name().to_owned())
    };
    (
        pick("urn:ietf:params:xml:ns:xmpp-stanzas"),
        pick("http://jabber.org/protocol/pubsub#errors"),
    )
}

/// XEP-0163 §4.3: a publish reaches the contacts whose caps say
/// `NODE+notify` and the owner's own resources that do; not a stranger,
/// not a contact without `+notify`. §4.3.4: a contact coming online
/// later gets the last item.
#[tokio::test(flavor = "multi_thread")]
async fn notifications_follow_subscription_and_caps() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol", "dave", "erin"]);
    let n = notify();
    let mut alice = login(&server, "alice", "phone").await;
    alice.announce_caps(&[&n]).await;
    let mut alice2 = login(&server, "alice", "laptop").await;
    alice2.announce_caps(&[&n, "urn:example:other"]).await;
    let mut bob = login(&server, "bob", "pc").await;
    bob.announce_caps(&[&n]).await;
    let mut carol = login(&server, "carol", "pc").await;
    carol.announce_caps(&[&n]).await;
    let mut dave = login(&server, "dave", "pc").await;
    dave.announce_caps(&["urn:example:other"]).await;
    Raw::befriend(&mut alice, &mut bob).await;
    Raw::befriend(&mut alice, &mut dave).await;

    let (_, answer) = alice
        .iq("set", "p1", None, &publish_xml("t1", "Yesterday", ""))
        .await;
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
    let bob_got = alice.marker_to(&mut bob).await;
    assert_eq!(titles(&bob_got), ["Yesterday"], "{bob_got:?}");
    let own = alice.marker_to(&mut alice2).await;
    assert_eq!(titles(&own), ["Yesterday"], "{own:?}");
    let carol_got = alice.marker_to(&mut carol).await;
    assert!(
        titles(&carol_got).is_empty(),
        "a stranger was notified: {carol_got:?}"
    );
    let dave_got = alice.marker_to(&mut dave).await;
    assert!(
        titles(&dave_got).is_empty(),
        "no +notify, yet notified: {dave_got:?}"
    );

    // erin befriends alice while offline, then comes online: the last
    // item arrives with her presence (after her caps are known).
    let (_, second) = alice
        .iq("set", "p2", None, &publish_xml("t2", "Help", ""))
        .await;
    assert_eq!(second.attr("type"), Some("result"));
    let mut erin = login(&server, "erin", "pc").await;
    erin.announce_caps(&["urn:example:other"]).await;
    Raw::befriend(&mut alice, &mut erin).await;
    let none = alice.marker_to(&mut erin).await;
    assert!(titles(&none).is_empty(), "{none:?}");
    drop(erin);
    let mut erin = login(&server, "erin", "phone").await;
    let (_, early) = erin.announce_caps(&[&n]).await;
    let later = alice.marker_to(&mut erin).await;
    let got: Vec<String> = titles(&early).into_iter().chain(titles(&later)).collect();
    assert_eq!(got, ["Help"], "{early:?} {later:?}");
}

/// XEP-0223 / XEP-0060 §6.5.9: a whitelist node is closed to a contact;
/// §7.1.5: publish-options that do not match an existing node are
/// refused with `conflict` + `precondition-not-met`, and publish nothing.
#[tokio::test(flavor = "multi_thread")]
async fn whitelist_and_preconditions() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut alice = login(&server, "alice", "phone").await;
    alice.announce_caps(&[]).await;
    let mut bob = login(&server, "bob", "pc").await;
    bob.announce_caps(&[]).await;
    Raw::befriend(&mut alice, &mut bob).await;
    let private = publish_options(&[
        ("pubsub#access_model", "whitelist"),
        ("pubsub#persist_items", "true"),
    ]);
    let p = format!(
        "<pubsub xmlns='{PUBSUB}'><publish node='storage:bookmarks'><item id='current'>\
         <storage xmlns='storage:bookmarks'/></item></publish>{private}</pubsub>"
    );
    let (_, r) = alice.iq("set", "w1", None, &p).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let get = format!("<pubsub xmlns='{PUBSUB}'><items node='storage:bookmarks'/></pubsub>");
    let (_, r) = bob.iq("get", "w2", Some("alice@localhost"), &get).await;
    assert_eq!(
        error_of(&r),
        ("not-allowed".to_owned(), "closed-node".to_owned())
    );
    let (_, r) = alice.iq("get", "w3", None, &get).await;
    assert!(
        r.to_string().contains("storage:bookmarks") && r.attr("type") == Some("result"),
        "{r}"
    );

    let (_, r) = alice
        .iq("set", "c1", None, &publish_xml("t1", "first", ""))
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    let open = publish_options(&[("pubsub#access_model", "open")]);
    let (_, r) = alice
        .iq("set", "c2", None, &publish_xml("t2", "second", &open))
        .await;
    assert_eq!(
        error_of(&r),
        ("conflict".to_owned(), "precondition-not-met".to_owned())
    );
    let get = format!("<pubsub xmlns='{PUBSUB}'><items node='{NODE}'/></pubsub>");
    let (_, r) = bob.iq("get", "c3", Some("alice@localhost"), &get).await;
    let s = r.to_string();
    assert!(s.contains("first") && !s.contains("second"), "{s}");
}

/// `[modules.pep]` bounds: a publish past the account's bytes is refused
/// with `resource-constraint` and the items already there stay; an item
/// over `max_item_bytes` gets `payload-too-big`; a node past `max_nodes`
/// gets `max-nodes-exceeded`. Items survive a restart.
#[tokio::test(flavor = "multi_thread")]
async fn bounds_and_restart() {
    let mut server = Server::start_with(Options {
        extra_toml: "[modules.pep]\nmax_bytes = 4096\nmax_item_bytes = 3000\nmax_nodes = 2\n"
            .into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let mut alice = login(&server, "alice", "phone").await;
    let (_, r) = alice
        .iq("set", "q1", None, &publish_xml("t1", &"a".repeat(2000), ""))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let other = |n: &str, id: &str, size: usize| {
        format!(
            "<pubsub xmlns='{PUBSUB}'><publish node='{n}'><item id='{id}'><x xmlns='urn:x'>{}</x></item></publish></pubsub>",
            "b".repeat(size)
        )
    };
    let (_, r) = alice.iq("set", "q2", None, &other("n2", "i1", 2500)).await;
    assert_eq!(error_of(&r).0, "resource-constraint", "{r}");
    let (_, r) = alice.iq("set", "q3", None, &other("n2", "i1", 3500)).await;
    assert_eq!(
        error_of(&r),
        ("not-acceptable".to_owned(), "payload-too-big".to_owned())
    );
    let (_, r) = alice.iq("set", "q4", None, &other("n2", "i1", 10)).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let (_, r) = alice.iq("set", "q5", None, &other("n3", "i1", 10)).await;
    assert_eq!(
        error_of(&r),
        ("not-allowed".to_owned(), "max-nodes-exceeded".to_owned())
    );
    drop(alice);
    let (status, _) = blocking(|| server.signal("TERM"));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    blocking(|| server.restart());
    let mut alice = login(&server, "alice", "phone").await;
    let get = format!("<pubsub xmlns='{PUBSUB}'><items node='{NODE}'/></pubsub>");
    let (_, r) = alice.iq("get", "q6", None, &get).await;
    assert!(r.to_string().contains(&"a".repeat(2000)), "{r}");
}

/// XEP-0163 §6.1 and XEP-0060 §5.1: the account's disco#info shows the
/// PEP identity and the pubsub features clients look for.
#[tokio::test(flavor = "multi_thread")]
async fn account_disco_shows_pep() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut alice = login(&server, "alice", "phone").await;
    let (_, r) = alice
        .iq(
            "get",
            "d1",
            Some("alice@localhost"),
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    let s = r.to_string();
    for want in [
        "category=\"pubsub\"",
        "type=\"pep\"",
        "http://jabber.org/protocol/pubsub#publish-options",
        "http://jabber.org/protocol/pubsub#publish",
    ] {
        assert!(
            s.contains(want) || s.contains(&want.replace('"', "'")),
            "{want} missing: {s}"
        );
    }
}
