//! The routing view agrees with the full parser: `Envelope::from_element`
//! accepts exactly what `Stanza::from_element` accepts, fails with the same
//! condition, and reads the same kind, type, priority and header.

use proptest::prelude::*;
use starling_stanza::{Envelope, IqType, Stanza, StanzaKind};
use starling_xml::Element;

fn arb_jid_attr() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("juliet@example.com".to_owned()),
        Just("juliet@example.com/balcony".to_owned()),
        Just("example.com".to_owned()),
        Just("@bad".to_owned()),
        Just("a@b@c".to_owned()),
        Just(String::new()),
    ])
}

fn arb_type() -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::of(proptest::sample::select(vec![
        "chat",
        "normal",
        "groupchat",
        "headline",
        "error",
        "get",
        "set",
        "result",
        "subscribe",
        "subscribed",
        "unsubscribe",
        "unsubscribed",
        "probe",
        "unavailable",
        "bogus",
    ]))
}

/// A child: (name, namespace is the content namespace, xml:lang, text,
/// has an element child).
fn arb_child() -> impl Strategy<Value = (&'static str, bool, Option<&'static str>, String, bool)> {
    (
        proptest::sample::select(vec![
            "body", "subject", "thread", "show", "priority", "status", "error", "query", "x",
        ]),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(vec!["en", "fr"])),
        prop_oneof![
            Just(String::new()),
            Just("away".to_owned()),
            Just("dnd".to_owned()),
            Just("5".to_owned()),
            Just("300".to_owned()),
            Just(" -3 ".to_owned()),
            Just("hello".to_owned()),
        ],
        any::<bool>(),
    )
}

prop_compose! {
    fn arb_stanza()(
        name in proptest::sample::select(vec!["message", "presence", "iq", "other"]),
        server_ns in any::<bool>(),
        to in arb_jid_attr(),
        from in arb_jid_attr(),
        id in proptest::option::of(prop_oneof![Just(String::new()), Just("a1".to_owned())]),
        t in arb_type(),
        children in proptest::collection::vec(arb_child(), 0..4),
        text in prop_oneof![Just(""), Just("  "), Just("x")],
    ) -> Element {
        let content = if server_ns { "jabber:server" } else { "jabber:client" };
        let mut el = Element::new(name, content);
        el.set_attr("to", to.as_deref());
        el.set_attr("from", from.as_deref());
        el.set_attr("id", id.as_deref());
        el.set_attr("type", t);
        el.append_text(text);
        for (cname, in_content, lang, ctext, nested) in children {
            let ns = if in_content { content } else { "urn:example:other" };
            let ns = if cname == "error" && in_content { content } else { ns };
            let mut c = Element::new(cname, ns);
            c.set_attr_ns("http://www.w3.org/XML/1998/namespace", "lang", lang);
            if cname == "error" {
                c.set_attr("type", Some("cancel"));
                c.append_child(Element::new(
                    "service-unavailable",
                    "urn:ietf:params:xml:ns:xmpp-stanzas",
                ));
            }
            c.append_text(ctext.as_str());
            if nested {
                c.append_child(Element::new("inner", "urn:example:inner"));
            }
            el.append_child(c);
        }
        el
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn envelope_agrees_with_the_parser(el in arb_stanza()) {
        let full = Stanza::from_element(&el);
        let env = Envelope::from_element(&el);
        match (full, env) {
            (Ok(s), Ok(e)) => {
                prop_assert_eq!(&e.header, s.header());
                match (e.kind, &s) {
                    (StanzaKind::Message(t), Stanza::Message(m)) => prop_assert_eq!(t, m.message_type),
                    (StanzaKind::Presence(t, p), Stanza::Presence(pr)) => {
                        prop_assert_eq!((t, p), (pr.presence_type, pr.priority));
                    }
                    (StanzaKind::Iq(t), Stanza::Iq(iq)) => {
                        let expected = match iq.kind {
                            starling_stanza::IqKind::Get(_) => IqType::Get,
                            starling_stanza::IqKind::Set(_) => IqType::Set,
                            starling_stanza::IqKind::Result(_) => IqType::Result,
                            starling_stanza::IqKind::Error { .. } => IqType::Error,
                        };
                        prop_assert_eq!(t, expected);
                    }
                    (k, s) => prop_assert!(false, "kinds differ: {:?} vs {:?}", k, s),
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.condition, b.condition),
            (a, b) => prop_assert!(false, "disagree on {}: {:?} vs {:?}", el.to_xml(), a.is_ok(), b.is_ok()),
        }
    }
}

#[test]
fn envelope_reads_kinds() {
    let cases = [
        ("<message xmlns='jabber:client'/>", "message"),
        ("<presence xmlns='jabber:server' type='probe'/>", "presence"),
        (
            "<iq xmlns='jabber:client' type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
            "iq",
        ),
    ];
    for (xml, name) in cases {
        let el: Element = xml.parse().unwrap();
        assert_eq!(Envelope::from_element(&el).unwrap().name(), name, "{xml}");
    }
    let el: Element = "<iq xmlns='jabber:client' type='get' id='1'/>"
        .parse()
        .unwrap();
    assert!(Envelope::from_element(&el).is_err());
}
