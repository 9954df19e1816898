//! XEP-0115 Entity Capabilities against the real `starling` binary: the
//! server asks a client for the disco#info behind a verification string
//! once (others with the same string are not asked, while the query is
//! out or after it was answered), caches only what verifies (a wrong
//! answer is not cached: the next one to advertise the string is asked),
//! offers its own caps in the stream features (§6.3) and answers
//! disco#info at its `NODE#VER`; a contact on another domain is asked
//! over federation from the local account it wrote to.
//!
//! "Not asked" is checked with a message to oneself after the presence:
//! the server handles a session's stanzas in order and the query and the
//! message reach the session through the same queue, so a query would
//! come first.

use starling_stanza::{Caps, CapsHash, DiscoInfo, Identity, Payload, caps_ver, ns};
use starling_testkit::raw::{Got, Raw};
use starling_testkit::server::{FedServer, Server};
use starling_testkit::wait::blocking;
use starling_xml::Element;

const NODE: &str = "https://client.example/caps-test";

fn info(features: &[&str]) -> DiscoInfo {
    DiscoInfo {
        identities: vec![Identity {
            category: "client".into(),
            identity_type: "pc".into(),
            name: Some("Caps test".into()),
            lang: None,
        }],
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        ..DiscoInfo::default()
    }
}

fn caps_of(i: &DiscoInfo) -> Caps {
    Caps::for_info(i, NODE, CapsHash::Sha1).expect("valid disco#info")
}

fn is_caps_query(e: &Element) -> bool {
    e.name() == "iq"
        && e.attr("type") == Some("get")
        && e.get_child("query", ns::DISCO_INFO).is_some()
}

/// Logs `user` in with `resource` and sends available presence with
/// `caps`; returns the connection and the caps query the server sent
/// before answering a ping after the presence (if any).
async fn present(
    server: &Server,
    user: &str,
    resource: &str,
    caps: &Caps,
) -> (Raw, Option<Element>) {
    let ca = server.cert_file("localhost");
    let account = format!("{user}@localhost");
    let mut raw = Raw::login_test_user(server.c2s_port, &ca, &account, resource).await;
    raw.send_str(&format!(
        "<presence>{}</presence>",
        caps.to_element().to_xml()
    ))
    .await
    .expect("presence");
    let marker =
        format!("<message to='{user}@localhost/{resource}' id='marker'><body>m</body></message>");
    raw.send_str(&marker).await.expect("marker");
    let (before, _) = raw
        .until("the marker", |e| {
            e.name() == "message" && e.attr("id") == Some("marker")
        })
        .await;
    let query = before.into_iter().find(is_caps_query);
    (raw, query)
}

/// Answers the server's `query` with `info` (at the node it asked).
async fn answer(raw: &mut Raw, query: &Element, info: &DiscoInfo) {
    let q = query
        .get_child("query", ns::DISCO_INFO)
        .expect("a disco#info query");
    let mut reply = info.clone();
    reply.node = q.attr("node").map(str::to_owned);
    let id = query.attr("id").expect("an id");
    let to = query.attr("from").expect("from");
    raw.send_str(&format!(
        "<iq type='result' id='{id}' to='{to}'>{}</iq>",
        reply.to_element().to_xml()
    ))
    .await
    .expect("the answer");
    // Processed once a later ping is answered.
    raw.iq("get", "after-answer", None, "<ping xmlns='urn:xmpp:ping'/>")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_query_per_verification_string_and_only_verified_answers_cached() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol", "dave", "erin"]);
    let good = info(&[ns::CAPS, ns::DISCO_INFO, "urn:xmpp:avatar:metadata+notify"]);
    let caps = caps_of(&good);

    // The first to advertise it is asked, at NODE#VER, from its own bare JID.
    let (mut alice, q) = present(&server, "alice", "one", &caps).await;
    let q = q.expect("the server asks alice for her disco#info");
    assert_eq!(q.attr("from"), Some("alice@localhost"));
    assert_eq!(q.attr("to"), Some("alice@localhost/one"));
    let node = q
        .get_child("query", ns::DISCO_INFO)
        .and_then(|c| c.attr("node"));
    assert_eq!(node, Some(caps.disco_node().as_str()));
    // While that query is out, bob with the same string is not asked.
    let (_bob, q_bob) = present(&server, "bob", "one", &caps).await;
    assert!(q_bob.is_none(), "a second query for one string: {q_bob:?}");
    answer(&mut alice, &q, &good).await;
    // Verified and cached: carol is not asked either.
    let (_carol, q_carol) = present(&server, "carol", "one", &caps).await;
    assert!(
        q_carol.is_none(),
        "asked again after a verified answer: {q_carol:?}"
    );

    // A string whose answer does not hash to it is not cached.
    let claimed = info(&[ns::DISCO_INFO, "urn:claimed"]);
    let lie = caps_of(&claimed);
    let (mut dave, q_dave) = present(&server, "dave", "one", &lie).await;
    let q_dave = q_dave.expect("dave is asked");
    answer(&mut dave, &q_dave, &info(&[ns::DISCO_INFO, "urn:other"])).await;
    let (_erin, q_erin) = present(&server, "erin", "one", &lie).await;
    assert!(
        q_erin.is_some(),
        "a string whose answer did not verify was cached"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_caps_in_stream_features_and_its_node_answers() {
    let server = Server::start();
    server.add_users(&["romeo"]);
    let ca = server.cert_file("localhost");
    let (mut raw, before) = Raw::secure(server.c2s_port, "localhost", &ca).await;
    assert!(!before.other.iter().any(|f| f.is("c", ns::CAPS)));
    match raw.auth_plain("romeo", "pw-romeo").await {
        Got::Element(e) if e.name() == "success" => {}
        other => panic!("PLAIN failed: {other:?}"),
    }
    let after = raw.open().await;
    let c = after
        .other
        .iter()
        .find_map(|f| Caps::from_element(f).ok())
        .unwrap_or_else(|| panic!("no <c/> in {:?}", after.other));
    assert_eq!(c.hash, "sha-1");

    let mut romeo = Raw::login(
        server.c2s_port,
        &ca,
        "romeo@localhost",
        "pw-romeo",
        Some("r"),
    )
    .await;
    let q = format!("<query xmlns='{}'/>", ns::DISCO_INFO);
    let (_, plain) = romeo.iq("get", "d1", Some("localhost"), &q).await;
    let q = format!(
        "<query xmlns='{}' node='{}'/>",
        ns::DISCO_INFO,
        c.disco_node()
    );
    let (_, at_node) = romeo.iq("get", "d2", Some("localhost"), &q).await;
    for (what, reply) in [("disco#info", &plain), ("disco#info at NODE#VER", &at_node)] {
        assert_eq!(reply.attr("type"), Some("result"), "{what}: {reply:?}");
        let got = reply
            .get_child("query", ns::DISCO_INFO)
            .map(|q| DiscoInfo::from_element(q).expect("disco#info parses"))
            .expect("a query");
        assert!(got.features.iter().any(|f| f == ns::CAPS), "{what}");
        assert_eq!(caps_ver(&got, CapsHash::Sha1).unwrap(), c.ver, "{what}");
    }
    let node = at_node
        .get_child("query", ns::DISCO_INFO)
        .and_then(|q| q.attr("node"));
    assert_eq!(node, Some(c.disco_node().as_str()));
    let q = format!(
        "<query xmlns='{}' node='{}#wrong'/>",
        ns::DISCO_INFO,
        c.node
    );
    let (_, wrong) = romeo.iq("get", "d3", Some("localhost"), &q).await;
    assert_eq!(wrong.attr("type"), Some("error"));
}

/// A contact on another server: its presence to a local account makes
/// the server ask it, over s2s, from that account's bare JID; once
/// verified, another resource with the same string is not asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_contact_on_another_domain_is_asked_over_federation() {
    let (a, b) =
        blocking(|| FedServer::started_pair(("a.fed.test", &["alice"]), ("b.fed.test", &["bob"])));
    let (la, lb) = (a.login("alice"), b.login("bob"));
    let mut alice = Raw::login_test_user(a.c2s_port, &la.ca_file, "alice@a.fed.test", "home").await;
    alice.send_str("<presence/>").await.expect("presence");
    alice
        .iq("get", "p0", None, "<ping xmlns='urn:xmpp:ping'/>")
        .await;

    let good = info(&[ns::DISCO_INFO, "urn:xmpp:avatar:metadata+notify"]);
    let caps = caps_of(&good);
    let directed = format!(
        "<presence to='alice@a.fed.test'>{}</presence>",
        caps.to_element().to_xml()
    );
    let mut bob = Raw::login_test_user(b.c2s_port, &lb.ca_file, "bob@b.fed.test", "work").await;
    bob.send_str(&directed).await.expect("presence");
    let (_, q) = bob.until("the caps query over s2s", is_caps_query).await;
    assert_eq!(q.attr("from"), Some("alice@a.fed.test"));
    answer(&mut bob, &q, &good).await;
    // Answered over s2s before alice's server answers this ping (same
    // streams, in order): then the string is known.
    bob.iq(
        "get",
        "p1",
        Some("alice@a.fed.test"),
        "<ping xmlns='urn:xmpp:ping'/>",
    )
    .await;

    let mut bob2 = Raw::login_test_user(b.c2s_port, &lb.ca_file, "bob@b.fed.test", "two").await;
    bob2.send_str(&directed).await.expect("presence");
    // A query would come back on the same streams before this answer.
    let (before, _) = bob2
        .iq(
            "get",
            "p2",
            Some("alice@a.fed.test"),
            "<ping xmlns='urn:xmpp:ping'/>",
        )
        .await;
    assert!(
        !before.iter().any(is_caps_query),
        "a verified string was asked again: {before:?}"
    );
}
