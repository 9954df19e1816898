//! The Starling client's publish-subscribe API (XEP-0060 on XEP-0163 PEP)
//! against a real PEP service: publish with publish-options, items, item,
//! a refused precondition, retract, node configuration, purge, delete;
//! XEP-0402 bookmarks; XEP-0084 avatars; and `+notify` interests that
//! bring a contact's notifications as `Event::PubSub`. Against Prosody with
//! `pep` ([`Peer::start_prosody_pep`]) and against the `starling` binary: the
//! scenarios take only logins.
//!
//! Prosody not installed makes the test print why and pass, unless
//! `CI=true`, where it is a failure.
//!
//! ```sh
//! cargo test -p starling-testkit --test client_pep -- --nocapture
//! ```

mod common;

use std::future::Future;
use std::pin::Pin;

use starling_client::{Error, Event};
use starling_jid::{BareJid, Jid};
use starling_stanza::{
    AccessModel, Conference, Item, MaxItems, NodeConfig, PubSubError, PubSubEvent,
    StanzaErrorCondition, ns,
};
use starling_testkit::peers::Peer;
use starling_testkit::server::{Login, Server};
use starling_testkit::stanzas::presence;
use starling_xml::Element;

use common::{befriend, client, online, wait_for};

/// A scenario's outcome: what went wrong, if anything.
type Outcome = Result<(), String>;

/// `Err` with `what` unless `ok`.
fn check(ok: bool, what: impl FnOnce() -> String) -> Outcome {
    if ok { Ok(()) } else { Err(what()) }
}

fn note(text: &str) -> Element {
    let mut e = Element::new("note", "urn:example:starling");
    e.append_text(text);
    e
}

/// Publish, read, refuse a precondition, retract, configure, purge and
/// delete a node of the account's own PEP service.
async fn publish_items_retract(alice: Login) -> Outcome {
    let c = online(client(alice), "alice", 0, String::new).await;
    let node = "urn:example:starling:notes";
    let e = |what: &'static str| move |err: Error| format!("{what}: {err}");
    let options = NodeConfig {
        access_model: Some(AccessModel::Presence),
        max_items: Some(MaxItems::Count(10)),
        ..NodeConfig::default()
    };
    let id = c
        .publish(
            node,
            Item::new(Some("one".into()), note("first")),
            Some(options),
        )
        .await
        .map_err(e("publish with options"))?;
    check(id == "one", || format!("published id {id:?}, not \"one\""))?;
    let id2 = c
        .publish(node, Item::new(None, note("second")), None)
        .await
        .map_err(e("publish without id"))?;
    check(!id2.is_empty() && id2 != "one", || {
        format!("service id {id2:?}")
    })?;
    let items = c.items(None, node, None).await.map_err(e("items"))?;
    let first = items.iter().find(|i| i.id.as_deref() == Some("one"));
    check(
        items.len() == 2 && first.and_then(|i| i.payload.clone()) == Some(note("first")),
        || format!("items: {items:?}"),
    )?;
    let last = c
        .items(None, node, Some(1))
        .await
        .map_err(e("max_items 1"))?;
    check(last.len() == 1, || format!("max_items=1 gave {last:?}"))?;
    let one = c.item(None, node, "one").await.map_err(e("item one"))?;
    check(one.and_then(|i| i.payload) == Some(note("first")), || {
        "item one".into()
    })?;

    let wrong = NodeConfig {
        access_model: Some(AccessModel::Whitelist),
        ..NodeConfig::default()
    };
    match c
        .publish(
            node,
            Item::new(Some("three".into()), note("x")),
            Some(wrong),
        )
        .await
    {
        Err(Error::PubSub {
            condition: PubSubError::PreconditionNotMet,
            error,
        }) => {
            check(error.condition == StanzaErrorCondition::Conflict, || {
                format!("{error}")
            })?;
        }
        other => return Err(format!("a publish with unmet options gave {other:?}")),
    }

    c.retract(None, node, "one").await.map_err(e("retract"))?;
    let gone = c.item(None, node, "one").await;
    check(matches!(gone, Ok(None)) || is_not_found(&gone), || {
        format!("after retract: {gone:?}")
    })?;

    let config = c.node_config(None, node).await.map_err(e("node_config"))?;
    check(config.access_model == Some(AccessModel::Presence), || {
        format!("{config:?}")
    })?;
    let change = NodeConfig {
        max_items: Some(MaxItems::Count(5)),
        ..NodeConfig::default()
    };
    c.configure_node(None, node, &change)
        .await
        .map_err(e("configure_node"))?;
    let config = c
        .node_config(None, node)
        .await
        .map_err(e("node_config again"))?;
    check(config.max_items == Some(MaxItems::Count(5)), || {
        format!("{config:?}")
    })?;

    c.purge(None, node).await.map_err(e("purge"))?;
    let left = c
        .items(None, node, None)
        .await
        .map_err(e("items after purge"))?;
    check(left.is_empty(), || format!("after purge: {left:?}"))?;
    c.delete_node(None, node).await.map_err(e("delete_node"))?;
    let after = c.items(None, node, None).await;
    check(is_not_found(&after), || {
        format!("items of a deleted node: {after:?}")
    })?;
    c.close().await.map_err(e("close"))
}

fn is_not_found<T>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(e) if e.stanza_error().is_some_and(|s| s.condition == StanzaErrorCondition::ItemNotFound))
}

/// XEP-0402: add two bookmarks, read them back, remove one.
async fn bookmarks(alice: Login) -> Outcome {
    let c = online(client(alice), "alice", 0, String::new).await;
    let e = |what: &'static str| move |err: Error| format!("{what}: {err}");
    let play: BareJid = "theplay@conference.localhost"
        .parse()
        .map_err(|e| format!("{e}"))?;
    let orchard: BareJid = "orchard@conference.localhost"
        .parse()
        .map_err(|e| format!("{e}"))?;
    let conf = Conference {
        name: Some("The Play's the Thing".into()),
        autojoin: true,
        nick: Some("JC".into()),
        ..Conference::default()
    };
    c.add_bookmark(play.clone(), &conf)
        .await
        .map_err(e("add_bookmark"))?;
    c.add_bookmark(orchard.clone(), &Conference::default())
        .await
        .map_err(e("add a second bookmark"))?;
    let list = c.bookmarks().await.map_err(e("bookmarks"))?;
    check(
        list.len() == 2 && list.contains(&(play.clone(), conf.clone())),
        || format!("{list:?}"),
    )?;
    c.remove_bookmark(orchard)
        .await
        .map_err(e("remove_bookmark"))?;
    let list = c.bookmarks().await.map_err(e("bookmarks after remove"))?;
    check(list == [(play, conf)], || format!("after remove: {list:?}"))?;
    c.close().await.map_err(e("close"))
}

/// XEP-0084: publish an avatar, read its metadata and data back.
async fn avatar(alice: Login) -> Outcome {
    let c = online(client(alice), "alice", 0, String::new).await;
    let e = |what: &'static str| move |err: Error| format!("{what}: {err}");
    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n not really an image".to_vec();
    let id = c
        .set_avatar(&png, "image/png", 1, 1)
        .await
        .map_err(e("set_avatar"))?;
    check(id == starling_client::avatar_id(&png), || {
        format!("id {id}")
    })?;
    let meta = c
        .avatar_metadata(None)
        .await
        .map_err(e("avatar_metadata"))?;
    let info = meta.as_ref().and_then(|m| m.infos.first());
    check(
        info.is_some_and(|i| i.id == id && i.bytes as usize == png.len()),
        || format!("metadata {meta:?}"),
    )?;
    let data = c.avatar_data(None, &id).await.map_err(e("avatar_data"))?;
    check(data.as_deref() == Some(png.as_slice()), || {
        "avatar data differs".into()
    })?;
    c.close().await.map_err(e("close"))
}

/// Bob declares `+notify` for a node and tells the server through caps
/// in his presence (the server asks his disco#info, which the client
/// answers); Alice, a contact, publishes; Bob gets `Event::PubSub`.
async fn notifications(alice: Login, bob: Login) -> Outcome {
    let node = "urn:example:starling:tune";
    let mut a = online(client(alice), "alice", 0, String::new).await;
    let mut b = online(client(bob).notify(node), "bob", 0, String::new).await;
    befriend(&mut a, &mut b).await;
    let e = |what: &'static str| move |err: Error| format!("{what}: {err}");
    a.publish(
        node,
        Item::new(Some("t1".into()), note("Gerald Finzi")),
        None,
    )
    .await
    .map_err(e("publish"))?;
    let mut p = presence(0);
    let mut caps = Element::new("c", ns::CAPS);
    caps.set_attr("hash", Some("sha-1"));
    caps.set_attr("node", Some("https://starling.example/client"));
    caps.set_attr("ver", Some("client-pep-test"));
    p.payloads.push(caps);
    b.send_presence(p).await.map_err(e("presence with caps"))?;
    let alice_bare = Jid::from(a.jid().bare());
    let (from, event) = wait_for(&mut b, "a PEP notification", |ev| match ev {
        Event::PubSub { from, event } if event.node() == Some(node) => {
            Some((from.clone(), event.clone()))
        }
        _ => None,
    })
    .await;
    check(from == alice_bare, || format!("notification from {from}"))?;
    let PubSubEvent::Items { items, .. } = &event else {
        return Err(format!("not an items event: {event:?}"));
    };
    check(
        items.first().and_then(|i| i.payload.clone()) == Some(note("Gerald Finzi")),
        || format!("{event:?}"),
    )?;
    a.close().await.map_err(e("close"))?;
    b.close().await.map_err(e("close"))
}

type Scenario<'a> = Box<dyn FnMut() -> Pin<Box<dyn Future<Output = Outcome> + 'a>> + 'a>;

#[test]
fn prosody() {
    let Some(peer) = Peer::start_prosody_pep().unwrap_or_else(|e| panic!("{e}")) else {
        return; // not installed and not in CI: the reason was printed
    };
    peer.register_test_users().unwrap_or_else(|e| panic!("{e}"));
    run_all(peer.name, &|user, res| peer.login(user, res), &|| {
        peer.log_tail()
    });
}

#[test]
fn starling() {
    let server = Server::start();
    server.add_users(&["alice", "bob", "carol"]);
    let login = |user: &str, res: &str| {
        server.login(&format!("{user}@localhost/{res}"), &format!("pw-{user}"))
    };
    run_all("starling", &login, &|| server.log_so_far());
}

/// Runs every scenario with logins from `login` (user, resource).
fn run_all(name: &str, login: &dyn Fn(&str, &str) -> Login, logs: &dyn Fn() -> String) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let scenarios: Vec<(&str, Scenario<'_>)> = vec![
        (
            "publish, items, retract, configure, purge, delete",
            Box::new(|| Box::pin(publish_items_retract(login("alice", "notes")))),
        ),
        (
            "XEP-0402 bookmarks",
            Box::new(|| Box::pin(bookmarks(login("carol", "bookmarks")))),
        ),
        (
            "XEP-0084 avatar",
            Box::new(|| Box::pin(avatar(login("carol", "avatar")))),
        ),
        (
            "+notify and Event::PubSub",
            Box::new(|| {
                Box::pin(notifications(
                    login("alice", "tunes"),
                    login("bob", "listener"),
                ))
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (scenario, mut run) in scenarios {
        match runtime.block_on(run()) {
            Ok(()) => eprintln!("{name}: {scenario}: ok"),
            Err(e) => {
                eprintln!("{name}: {scenario}: FAILED: {e}");
                failures.push(format!("{scenario}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} scenario(s) failed:\n{}\n--- logs ---\n{}",
        failures.len(),
        failures.join("\n"),
        logs()
    );
}
