//! The private module on an in-memory hub.

use starling_xml::Element;

use crate::config::Config;
use crate::modules::test_world::{World, condition};

fn q(inner: &str) -> String {
    format!("<query xmlns='jabber:iq:private'>{inner}</query>")
}

const EXODUS: &str = "<exodus xmlns='exodus:prefs'/>";

/// `from` asks for its own `<exodus/>` and gets `want` (in a query).
async fn get_exodus(w: &mut World, from: &'static str, want: &str) {
    let r = w.iq(from, None, "get", &q(EXODUS)).await;
    assert_eq!(r.payload().unwrap(), &q(want).parse::<Element>().unwrap());
}

#[tokio::test]
async fn get_set_and_isolation() {
    let mut w = World::new(Config::default()).await;
    let user = "user@localhost/phone";
    // Never stored: the element as asked for.
    get_exodus(&mut w, user, EXODUS).await;
    let prefs = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus>";
    let r = w.iq(user, None, "set", &q(prefs)).await;
    assert_eq!(condition(&r), None);
    // Another element of the same namespace is another key.
    w.iq(user, None, "set", &q("<other xmlns='exodus:prefs'/>"))
        .await;
    get_exodus(&mut w, "user@localhost/laptop", prefs).await;
    // Nobody else reads or writes it.
    for kind in ["get", "set"] {
        let r = w
            .iq("eve@localhost/pc", Some("user@localhost"), kind, &q(prefs))
            .await;
        assert_eq!(condition(&r).as_deref(), Some("forbidden"), "{kind}");
    }
    // Eve's own storage is hers.
    get_exodus(&mut w, "eve@localhost/pc", EXODUS).await;
}

#[tokio::test]
async fn errors_of_section_2_3_and_limits() {
    let mut config = Config::default();
    config.modules.private.max_bytes = 1024;
    config.modules.private.max_total_bytes = 2048;
    let mut w = World::new(config).await;
    let user = "user@localhost/phone";
    let table: &[(&str, &str, &str)] = &[
        ("get", "", "bad-request"),
        ("set", "<a xmlns='x'/><b xmlns='x'/>", "bad-request"),
        ("set", "<q xmlns='jabber:iq:private'/>", "not-acceptable"),
        ("get", "<message xmlns='jabber:client'/>", "not-acceptable"),
    ];
    for (kind, inner, want) in table {
        let r = w.iq(user, None, kind, &q(inner)).await;
        assert_eq!(condition(&r).as_deref(), Some(*want), "{kind} {inner}");
    }
    let big = |name: &str, n: usize| format!("<{name} xmlns='big'>{}</{name}>", "x".repeat(n));
    let r = w.iq(user, None, "set", &q(&big("a", 1100))).await;
    assert_eq!(condition(&r).as_deref(), Some("not-acceptable"));
    assert!(r.element().to_xml().contains("1024 bytes"));
    for name in ["a", "b"] {
        let r = w.iq(user, None, "set", &q(&big(name, 900))).await;
        assert_eq!(condition(&r), None);
    }
    let r = w.iq(user, None, "set", &q(&big("c", 900))).await;
    assert_eq!(condition(&r).as_deref(), Some("not-acceptable"));
    assert!(r.element().to_xml().contains("2048 bytes"));
    // Replacing one stays within the total.
    let r = w.iq(user, None, "set", &q(&big("a", 950))).await;
    assert_eq!(condition(&r), None);
}

// -------------------------------------------- XEP-0402 §5 with PEP

mod bookmarks_compat {
    use std::sync::Arc;

    use starling_jid::BareJid;
    use starling_stanza::{Item, ns};
    use starling_xml::Element;

    use super::super::Private;
    use super::q;
    use crate::config::PrivateConfig;
    use crate::modules::pep_double::{Call, PepDouble};
    use crate::modules::test_world::{World, condition};
    use crate::pep::PepAccess;

    const USER: &str = "user@localhost/phone";

    async fn world() -> (World, Arc<PepDouble>) {
        PepDouble::world(|s, pep| {
            Arc::new(Private::new(
                s.private.clone(),
                PrivateConfig::default(),
                Some(pep),
            ))
        })
        .await
    }

    /// The user's `storage:bookmarks` as private storage answers it.
    async fn get_storage(w: &mut World) -> Element {
        let r = w
            .iq(
                USER,
                None,
                "get",
                &q("<storage xmlns='storage:bookmarks'/>"),
            )
            .await;
        r.payload().unwrap().clone()
    }

    fn storage(confs: &str) -> String {
        q(&format!(
            "<storage xmlns='storage:bookmarks'>{confs}</storage>"
        ))
    }

    const PLAY: &str = "<conference jid='play@muc.localhost' name='Play' autojoin='true'><nick>JC</nick></conference>";
    const ORCHARD: &str = "<conference jid='orchard@muc.localhost' name='Orchard'/>";

    fn published(id: &str) -> Call {
        Call::Publish(ns::BOOKMARKS2.to_owned(), id.to_owned(), true)
    }

    #[tokio::test]
    async fn a_legacy_set_publishes_the_changes_only() {
        let (mut w, pep) = world().await;
        assert!(w.has_account_feature(ns::BOOKMARKS2_COMPAT));
        let r = w
            .iq(USER, None, "set", &storage(&format!("{PLAY}{ORCHARD}")))
            .await;
        assert_eq!(condition(&r), None);
        assert_eq!(
            pep.take_calls(),
            [
                published("play@muc.localhost"),
                published("orchard@muc.localhost")
            ]
        );
        // The same list: no notification.
        w.iq(USER, None, "set", &storage(&format!("{ORCHARD}{PLAY}")))
            .await;
        assert_eq!(pep.take_calls(), []);
        // Play renamed, Orchard gone.
        let renamed = PLAY.replace("name='Play'", "name='The Play'");
        w.iq(USER, None, "set", &storage(&renamed)).await;
        assert_eq!(
            pep.take_calls(),
            [
                published("play@muc.localhost"),
                Call::Retract(
                    ns::BOOKMARKS2.to_owned(),
                    "orchard@muc.localhost".into(),
                    true
                )
            ]
        );
        let items = pep.node("user@localhost", ns::BOOKMARKS2);
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0].payload.as_ref().unwrap().attr("name"),
            Some("The Play")
        );
    }

    #[tokio::test]
    async fn a_legacy_get_reads_pep_with_the_stored_urls() {
        let (mut w, pep) = world().await;
        let url = "<url name='Site' url='https://x.example/'/>";
        w.iq(USER, None, "set", &storage(&format!("{ORCHARD}{url}")))
            .await;
        // A modern client adds a bookmark with extensions, straight to PEP.
        let owner: BareJid = "user@localhost".parse().unwrap();
        let conf: Element = "<conference xmlns='urn:xmpp:bookmarks:1' name='New' autojoin='1'>\
            <extensions><x xmlns='urn:example'/></extensions></conference>"
            .parse()
            .unwrap();
        let item = Item {
            id: Some("new@muc.localhost".into()),
            publisher: None,
            payload: Some(conf),
        };
        pep.publish(&w.hub, &owner, ns::BOOKMARKS2, item, None)
            .await
            .unwrap();
        let got = get_storage(&mut w).await;
        let want = storage(&format!(
            "<conference jid='new@muc.localhost' name='New' autojoin='true'/>\
             <conference jid='orchard@muc.localhost' name='Orchard' autojoin='false'/>{url}"
        ));
        assert_eq!(got, want.parse::<Element>().unwrap());
        // A legacy set of that list (as the get wrote it) changes nothing:
        // no publish, and the item keeps its extensions.
        pep.take_calls();
        let list = "<conference jid='new@muc.localhost' name='New' autojoin='true'/>\
            <conference jid='orchard@muc.localhost' name='Orchard' autojoin='false'/>";
        w.iq(USER, None, "set", &storage(list)).await;
        let calls = pep.take_calls();
        assert_eq!(calls, [], "{calls:?}");
        let new = pep.node("user@localhost", ns::BOOKMARKS2);
        let kept = new
            .iter()
            .find(|i| i.id.as_deref() == Some("new@muc.localhost"))
            .unwrap();
        assert!(
            kept.payload
                .as_ref()
                .unwrap()
                .has_child("extensions", ns::BOOKMARKS2)
        );
    }

    #[tokio::test]
    async fn with_no_pep_item_the_stored_value_is_answered() {
        let (mut w, pep) = world().await;
        let got = get_storage(&mut w).await;
        let empty = q("<storage xmlns='storage:bookmarks'/>");
        assert_eq!(got, empty.parse::<Element>().unwrap());
        // Other namespaces are never converted.
        w.iq(USER, None, "set", &q("<prefs xmlns='urn:example'/>"))
            .await;
        assert_eq!(pep.take_calls(), []);
    }
}
