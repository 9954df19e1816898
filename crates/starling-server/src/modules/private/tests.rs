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
