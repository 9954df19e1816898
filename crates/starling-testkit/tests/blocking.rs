//! XEP-0191 Blocking Command against the real `starling` binary: the
//! block list commands and their pushes, what a block does to stanzas in
//! both directions (online, offline, across federation), presence on
//! block and unblock, and a list that survives a restart.
//!
//! Negative checks ("X was not delivered") use a marker message sent
//! after X was processed, never a sleep.

mod common;

use common::blocking::*;
use common::{FedServerExt, befriend, send_marker, until_marker, wait_body, wait_for};
use starling_client::{Error, Event};
use starling_jid::Jid;
use starling_stanza::{
    Block, BlockList, DiscoInfo, Iq, IqKind, Payload, Ping, PresenceType,
    StanzaErrorCondition as Cond, Unblock,
};
use starling_testkit::server::{FedServer, Server};
use starling_testkit::stanzas::{bare, jid};
use starling_testkit::wait::{blocking, within};

/// §3.1–§3.5: disco feature; get, block, unblock, unblock all; pushes to
/// each resource that asked for the list and none to one that did not;
/// `bad-request` for an empty block; the cap answers
/// `resource-constraint`.
#[tokio::test(flavor = "multi_thread")]
async fn commands_and_pushes_to_the_resources_that_asked() {
    let server = Server::start();
    server.add_users(&["alice"]);
    let mut a1 = online(&server, "alice", "one").await;
    let mut a2 = online(&server, "alice", "two").await;
    let mut a3 = online(&server, "alice", "three").await;
    let info = within(
        "disco",
        a1.request(Iq::get(a1.new_id(), DiscoInfo::default()).with_to(jid("localhost"))),
    )
    .await
    .expect("disco#info");
    let features = info.payload_as::<DiscoInfo>().unwrap().unwrap().features;
    assert!(
        features.iter().any(|f| f == "urn:xmpp:blocking"),
        "{features:?}"
    );

    assert!(blocklist(&a1).await.is_empty());
    assert!(blocklist(&a2).await.is_empty());
    block(&a1, &["bob@localhost", "evil.example/x", "BOB@localhost"])
        .await
        .expect("block answered with a result");
    for c in [&mut a1, &mut a2] {
        let pushed = wait_push(c, "the block push", true).await;
        assert_eq!(pushed, [jid("bob@localhost"), jid("evil.example/x")]);
    }
    // The third resource did not ask for the list: no push.
    let marker = send_marker(&a1, a3.jid()).await;
    let before = until_marker(&mut a3, &marker).await;
    assert!(
        !before.iter().any(|e| matches!(e, Event::Iq(_))),
        "a push to a resource that did not ask for the list: {before:?}"
    );
    let mut list = blocklist(&a3).await;
    list.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(list, [jid("bob@localhost"), jid("evil.example/x")]);

    // An empty block is a bad request.
    let r = within(
        "empty block",
        a1.request(Iq {
            kind: IqKind::Set(Block { items: vec![] }.to_element()),
            ..Iq::get(a1.new_id(), Ping)
        }),
    )
    .await;
    assert!(
        matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::BadRequest),
        "{r:?}"
    );

    unblock(&a2, &["bob@localhost"]).await;
    for c in [&mut a1, &mut a2, &mut a3] {
        let pushed = wait_push(c, "the unblock push", false).await;
        assert_eq!(pushed, [jid("bob@localhost")]);
    }
    unblock(&a1, &[]).await;
    for c in [&mut a1, &mut a2, &mut a3] {
        let pushed = wait_push(c, "the unblock-all push", false).await;
        assert!(pushed.is_empty(), "an empty unblock: all");
    }
    assert!(blocklist(&a1).await.is_empty());

    // Blocking the own domain blocks its accounts, never the server itself.
    block(&a1, &["localhost"]).await.expect("block the domain");
    within("ping the server", a1.ping(Some(jid("localhost"))))
        .await
        .expect("the own server still answers");
    let err = ping_error(&a1, jid("bob@localhost/x")).await;
    assert!(is_blocked_error(&err), "{err:?}");
}

/// §3.3: the cap of `[modules.blocking] max_items`; §3.2: only the
/// account's own sessions see and change its list (others: `forbidden`).
#[tokio::test(flavor = "multi_thread")]
async fn a_full_list_refuses_with_resource_constraint() {
    let server = Server::start_with(starling_testkit::server::Options {
        extra_toml: "[modules.blocking]\nmax_items = 2\n".to_owned(),
        ..Default::default()
    });
    server.add_users(&["alice", "bob"]);
    let a = online(&server, "alice", "one").await;
    block(&a, &["a@x.example", "b@x.example"])
        .await
        .expect("two fit");
    let r = block(&a, &["c@x.example"]).await;
    assert!(
        matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::ResourceConstraint),
        "{r:?}"
    );
    // Blocking again what is there still fits.
    block(&a, &["a@x.example"]).await.expect("already there");
    assert_eq!(blocklist(&a).await.len(), 2);
    // Another account cannot read or change the list.
    let b = online(&server, "bob", "b").await;
    for iq in [
        Iq::get(b.new_id(), BlockList::default()),
        Iq::set(b.new_id(), Unblock::all()),
    ] {
        let r = within(
            "a foreign request",
            b.request(iq.with_to(jid("alice@localhost"))),
        )
        .await;
        assert!(
            matches!(&r, Err(Error::Stanza(e)) if e.condition == Cond::Forbidden),
            "{r:?}"
        );
    }
    assert_eq!(blocklist(&a).await.len(), 2);
}

/// §3.3: a blocked contact's message and iq get `service-unavailable` and
/// do not arrive; what the user sends to the contact is refused with
/// `not-acceptable` + `<blocked/>`; once unblocked, both ways work again.
#[tokio::test(flavor = "multi_thread")]
async fn stanzas_both_ways_are_refused() {
    let server = Server::start();
    server.add_users(&["alice", "bob"]);
    let mut alice = online(&server, "alice", "a").await;
    let mut bob = online(&server, "bob", "b").await;
    block(&alice, &["bob@localhost"]).await.expect("block");
    let (to_alice, to_bob) = (Jid::from(alice.jid().clone()), Jid::from(bob.jid().clone()));

    send(&bob, to_alice.clone(), "hi").await;
    let err = wait_error_from(&mut bob, "alice@localhost").await;
    assert_eq!(err.condition, Cond::ServiceUnavailable);
    let err = ping_error(&bob, to_alice.clone()).await;
    assert_eq!(err.condition, Cond::ServiceUnavailable);
    not_received(&mut alice, "hi", "a blocked message arrived").await;

    send(&alice, to_bob.clone(), "yo").await;
    let err = wait_error_from(&mut alice, "bob@localhost").await;
    assert!(is_blocked_error(&err), "{err:?}");
    let err = ping_error(&alice, to_bob.clone()).await;
    assert!(is_blocked_error(&err), "{err:?}");
    not_received(&mut bob, "yo", "a message to a blocked JID was delivered").await;

    unblock(&alice, &["bob@localhost"]).await;
    send(&bob, to_alice, "again").await;
    wait_body(&mut alice, "again").await;
    send(&alice, to_bob, "back").await;
    wait_body(&mut bob, "back").await;
}

/// §3.3, §3.4: a subscribed contact gets unavailable presence when
/// blocked, no presence while blocked, the current presence when
/// unblocked.
#[tokio::test(flavor = "multi_thread")]
async fn presence_on_block_and_unblock() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let mut alice = online(&server, "alice", "a").await;
    let mut bob = online(&server, "bob", "b").await;
    let carol = online(&server, "carol", "c").await;
    befriend(&mut alice, &mut bob).await;
    let from_alice = Jid::from(alice.jid().clone());
    let is_from = |t: PresenceType| {
        let from = from_alice.clone();
        move |ev: &Event| match ev {
            Event::Presence(p) if p.presence_type == t && p.header.from.as_ref() == Some(&from) => {
                Some(())
            }
            _ => None,
        }
    };
    block(&alice, &["localhost/nothing", "bob@localhost"])
        .await
        .expect("block");
    wait_for(
        &mut bob,
        "unavailable presence on block",
        is_from(PresenceType::Unavailable),
    )
    .await;
    // A new broadcast does not reach Bob.
    within(
        "presence",
        alice.send_presence(starling_testkit::stanzas::presence(3)),
    )
    .await
    .expect("presence");
    within("ping", alice.ping(None)).await.expect("ping");
    let marker = send_marker(&carol, bob.jid()).await;
    let before = until_marker(&mut bob, &marker).await;
    assert!(
        !before
            .iter()
            .any(|e| is_from(PresenceType::Available)(e).is_some()),
        "a blocked contact got presence: {before:?}"
    );
    unblock(&alice, &["bob@localhost"]).await;
    let p = wait_for(&mut bob, "available presence on unblock", |ev| match ev {
        Event::Presence(p)
            if p.presence_type == PresenceType::Available
                && p.header.from.as_ref() == Some(&from_alice) =>
        {
            Some(p.clone())
        }
        _ => None,
    })
    .await;
    // The first available presence after the unblock is the current one.
    assert_eq!(p.priority, 3);
}

/// §3.3: a blocked sender's message to an offline user is refused, not
/// stored; the list survives a restart; an empty unblock clears it.
#[tokio::test(flavor = "multi_thread")]
async fn offline_path_restart_and_unblock_all() {
    let mut server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let alice = online(&server, "alice", "a").await;
    block(&alice, &["bob@localhost"]).await.expect("block");
    within("close", alice.close()).await.expect("close");
    drop(alice);

    let mut bob = online(&server, "bob", "b").await;
    let carol = online(&server, "carol", "c").await;
    send(&bob, jid("alice@localhost"), "from bob").await;
    let err = wait_error_from(&mut bob, "alice@localhost").await;
    assert_eq!(err.condition, Cond::ServiceUnavailable);
    send(&carol, jid("alice@localhost"), "from carol").await;
    within("ping", carol.ping(None)).await.expect("ping");
    drop((bob, carol));

    let (status, log) = blocking(|| server.signal("TERM"));
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    blocking(|| server.restart());

    // Alice binds without presence: nothing stored is delivered yet. The
    // list survived; unblocking everyone first shows that bob's message
    // was never stored (the delivery filter would hide it otherwise).
    let mut alice = bound(&server, "alice", "a").await;
    assert_eq!(blocklist(&alice).await, [jid("bob@localhost")]);
    unblock(&alice, &[]).await;
    assert!(blocklist(&alice).await.is_empty());
    offline_delivery(
        &mut alice,
        "from carol",
        "from bob",
        "a blocked sender's message was stored offline",
    )
    .await;
    let bob = online(&server, "bob", "b2").await;
    send(&bob, Jid::from(alice.jid().clone()), "ok now").await;
    wait_body(&mut alice, "ok now").await;
}

/// §3.3 across federation: a domain item blocks every JID at the other
/// server; its stanzas come over s2s and are refused like local ones,
/// and what the user sends there is refused with `<blocked/>`.
#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_domain_across_federation() {
    let (a, b) =
        blocking(|| FedServer::started_pair(("a.fed.test", &["alice"]), ("b.fed.test", &["bob"])));
    let mut alice = a.online("alice", "home").await;
    let mut bob = b.online("bob", "work").await;
    let (to_alice, to_bob) = (Jid::from(alice.jid().clone()), Jid::from(bob.jid().clone()));
    // The streams both ways work before the block.
    send(&bob, to_alice.clone(), "before").await;
    wait_body(&mut alice, "before").await;

    block(&alice, &["b.fed.test"]).await.expect("block");
    send(&bob, to_alice.clone(), "hi").await;
    let err = wait_error_from(&mut bob, &a.jid("alice")).await;
    assert_eq!(err.condition, Cond::ServiceUnavailable);
    let err = ping_error(&bob, to_alice).await;
    assert_eq!(err.condition, Cond::ServiceUnavailable);
    not_received(&mut alice, "hi", "a message from a blocked domain arrived").await;

    send(&alice, to_bob.clone(), "yo").await;
    let err = wait_error_from(&mut alice, &b.jid("bob")).await;
    assert!(is_blocked_error(&err), "{err:?}");
    let err = ping_error(&alice, Jid::from(bare(&b.jid("bob")))).await;
    assert!(is_blocked_error(&err), "{err:?}");
    not_received(
        &mut bob,
        "yo",
        "a message to a blocked domain was delivered",
    )
    .await;
}

/// §3.3 "MUST NOT deliver any XML stanzas from the contact": a message
/// stored offline before the block is not delivered after it (the
/// delivery filter), while others' stored messages are.
#[tokio::test(flavor = "multi_thread")]
async fn messages_stored_before_a_block_are_not_delivered() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let bob = online(&server, "bob", "b").await;
    let carol = online(&server, "carol", "c").await;
    send(&bob, jid("alice@localhost"), "stored from bob").await;
    send(&carol, jid("alice@localhost"), "stored from carol").await;
    within("ping", bob.ping(None)).await.expect("ping");
    within("ping", carol.ping(None)).await.expect("ping");

    // Alice binds without presence (nothing delivered yet) and blocks bob.
    let mut alice = bound(&server, "alice", "a").await;
    block(&alice, &["bob@localhost"]).await.expect("block");
    offline_delivery(
        &mut alice,
        "stored from carol",
        "stored from bob",
        "a message stored before the block was delivered after it",
    )
    .await;
}
