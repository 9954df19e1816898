//! Stanza examples from RFC 6120 §8 and RFC 6121, stanza errors, and the
//! stanza → element → bytes → framer → stanza identity.

use proptest::prelude::*;
use starling_stanza::{
    Bind, Delay, DiscoInfo, DiscoItems, ErrorType, Iq, IqKind, LangText, Message, MessageType,
    Payload, Ping, Presence, PresenceType, Roster, RosterItem, Show, Stanza, StanzaError,
    StanzaErrorCondition as C, Subscription, Thread, Version, error_reply, ns,
};
use starling_stream::{ContentNamespace, Event, Framer, FramerConfig, StreamHeader, StreamWriter};
use starling_xml::Element;

fn el(s: &str) -> Element {
    s.parse().unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn stanza(s: &str) -> Result<Stanza, starling_stanza::ParseError> {
    Stanza::from_element(&el(s))
}

#[test]
fn rfc6121_5_message_examples() {
    // §5.2.3: bodies in several languages.
    let m = stanza(
        "<message xmlns='jabber:client' from='juliet@example.com/balcony' id='z94nb37h' \
         to='romeo@example.net' type='chat' xml:lang='en'>\
         <body>Wherefore art thou, Romeo?</body>\
         <body xml:lang='de'>Wo bist du, Romeo?</body></message>",
    )
    .unwrap();
    let Stanza::Message(m) = m else { panic!() };
    assert_eq!(m.message_type, MessageType::Chat);
    assert_eq!(m.header.lang.as_deref(), Some("en"));
    assert_eq!(m.body(Some("de")), Some("Wo bist du, Romeo?"));
    assert_eq!(m.body(Some("fr")), Some("Wherefore art thou, Romeo?"));
    assert_eq!(m.body(None), Some("Wherefore art thou, Romeo?"));
    // Two bodies with the same language are not allowed.
    let e = stanza("<message xmlns='jabber:client'><body>a</body><body>b</body></message>")
        .unwrap_err();
    assert_eq!(e.condition, C::BadRequest);
    // §5.2.5: thread with parent.
    let Stanza::Message(m) = stanza(
        "<message xmlns='jabber:client' to='romeo@example.net/orchard' type='chat'>\
         <body>Art thou not Romeo, and a Montague?</body>\
         <thread parent='7edac73ab41e45c4aafa7b2d7b749080'>e0ffe42b28561960c6b12b944a092794b9683a38</thread></message>",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        m.thread,
        Some(Thread {
            id: "e0ffe42b28561960c6b12b944a092794b9683a38".into(),
            parent: Some("7edac73ab41e45c4aafa7b2d7b749080".into())
        })
    );
    // A missing type is 'normal'; an unknown type is bad-request.
    let Stanza::Message(m) = stanza("<message xmlns='jabber:client'/>").unwrap() else {
        panic!()
    };
    assert_eq!(m.message_type, MessageType::Normal);
    assert_eq!(
        stanza("<message xmlns='jabber:client' type='shout'/>")
            .unwrap_err()
            .condition,
        C::BadRequest
    );
}

#[test]
fn unknown_children_are_preserved() {
    let src = "<message xmlns='jabber:client' to='a@b'><body>x</body>\
               <active xmlns='http://jabber.org/protocol/chatstates'/>\
               <request xmlns='urn:xmpp:receipts'/><x xmlns='jabber:x:oob'><url>http://x</url></x></message>";
    let Stanza::Message(m) = stanza(src).unwrap() else {
        panic!()
    };
    assert_eq!(m.payloads.len(), 3);
    let back = Message::from_element(&m.to_element()).unwrap();
    assert_eq!(back, m);
    assert!(
        m.to_element()
            .get_child("x", "jabber:x:oob")
            .unwrap()
            .get_child("url", "jabber:x:oob")
            .is_some()
    );
}

#[test]
fn rfc6121_4_presence_examples() {
    // §4.7.2: show, status in two languages, priority.
    let Stanza::Presence(p) = stanza(
        "<presence xmlns='jabber:client' xml:lang='en'><show>dnd</show>\
         <status>Wooing Juliet</status><status xml:lang='cs'>Dvořím se Julii</status>\
         <priority>1</priority></presence>",
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(p.presence_type, PresenceType::Available);
    assert_eq!(p.show, Some(Show::Dnd));
    assert_eq!(p.status(Some("cs")), Some("Dvořím se Julii"));
    assert_eq!(p.priority, 1);
    assert_eq!(Presence::from_element(&p.to_element()).unwrap(), p);
    // Every type.
    for t in [
        "subscribe",
        "subscribed",
        "unsubscribe",
        "unsubscribed",
        "probe",
        "unavailable",
        "error",
    ] {
        let Stanza::Presence(p) =
            stanza(&format!("<presence xmlns='jabber:client' type='{t}'/>")).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.presence_type.as_str(), Some(t));
    }
    // Range and format checks (RFC 6121 §4.7.2.3, §4.7.2.1).
    for bad in [
        "<presence xmlns='jabber:client'><priority>128</priority></presence>",
        "<presence xmlns='jabber:client'><priority>-129</priority></presence>",
        "<presence xmlns='jabber:client'><priority>high</priority></presence>",
        "<presence xmlns='jabber:client'><show>busy</show></presence>",
        "<presence xmlns='jabber:client' type='online'/>",
        "<presence xmlns='jabber:client'><status>a</status><status>b</status></presence>",
    ] {
        assert_eq!(stanza(bad).unwrap_err().condition, C::BadRequest, "{bad}");
    }
    let Stanza::Presence(p) =
        stanza("<presence xmlns='jabber:client'><priority>-128</priority></presence>").unwrap()
    else {
        panic!()
    };
    assert_eq!(p.priority, -128);
}

#[test]
fn rfc6120_8_2_3_iq_rules() {
    let Stanza::Iq(iq) =
        stanza("<iq xmlns='jabber:client' from='juliet@example.com/balcony' id='rg1' type='get'><query xmlns='jabber:iq:roster'/></iq>")
            .unwrap()
    else {
        panic!()
    };
    assert!(iq.is_request());
    assert!(iq.payload_as::<Roster>().unwrap().unwrap().items.is_empty());
    for bad in [
        "<iq xmlns='jabber:client' type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq xmlns='jabber:client' id='' type='get'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq xmlns='jabber:client' id='1' type='get'/>",
        "<iq xmlns='jabber:client' id='1' type='set'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
        "<iq xmlns='jabber:client' id='1' type='result'><a xmlns='urn:a'/><b xmlns='urn:b'/></iq>",
        "<iq xmlns='jabber:client' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq xmlns='jabber:client' id='1' type='fetch'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq xmlns='jabber:client' id='1' type='error'/>",
        "<iq xmlns='jabber:client' id='1' type='get'>text<ping xmlns='urn:xmpp:ping'/></iq>",
    ] {
        assert_eq!(stanza(bad).unwrap_err().condition, C::BadRequest, "{bad}");
    }
    // Addresses must be JIDs.
    let e = stanza(
        "<iq xmlns='jabber:client' id='1' type='get' to='a@b@c'><ping xmlns='urn:xmpp:ping'/></iq>",
    )
    .unwrap_err();
    assert_eq!(e.condition, C::JidMalformed);
    // The error reply of §8.3.1, with the original payload.
    let Stanza::Iq(err) = stanza(
        "<iq xmlns='jabber:client' from='im.example.com' id='e1' to='juliet@im.example.com/balcony' type='error'>\
         <query xmlns='jabber:iq:roster'/><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    )
    .unwrap() else {
        panic!()
    };
    let IqKind::Error { error, payload } = &err.kind else {
        panic!()
    };
    assert_eq!(error.condition, C::ServiceUnavailable);
    assert!(payload.as_ref().unwrap().is("query", ns::ROSTER));
}

#[test]
fn every_stanza_error_condition() {
    // RFC 6120 §8.3.3: default types.
    let table = [
        (C::BadRequest, ErrorType::Modify),
        (C::Conflict, ErrorType::Cancel),
        (C::FeatureNotImplemented, ErrorType::Cancel),
        (C::Forbidden, ErrorType::Auth),
        (
            C::Gone(Some("xmpp:romeo@afterlife.example.net".into())),
            ErrorType::Cancel,
        ),
        (C::InternalServerError, ErrorType::Cancel),
        (C::ItemNotFound, ErrorType::Cancel),
        (C::JidMalformed, ErrorType::Modify),
        (C::NotAcceptable, ErrorType::Modify),
        (C::NotAllowed, ErrorType::Cancel),
        (C::NotAuthorized, ErrorType::Auth),
        (C::PolicyViolation, ErrorType::Modify),
        (C::RecipientUnavailable, ErrorType::Wait),
        (
            C::Redirect(Some("xmpp:rosencrantz@example.com".into())),
            ErrorType::Modify,
        ),
        (C::RegistrationRequired, ErrorType::Auth),
        (C::RemoteServerNotFound, ErrorType::Cancel),
        (C::RemoteServerTimeout, ErrorType::Wait),
        (C::ResourceConstraint, ErrorType::Wait),
        (C::ServiceUnavailable, ErrorType::Cancel),
        (C::SubscriptionRequired, ErrorType::Auth),
        (C::UndefinedCondition, ErrorType::Cancel),
        (C::UnexpectedRequest, ErrorType::Wait),
    ];
    assert_eq!(table.len(), C::all().len());
    for (cond, t) in table {
        let mut e = StanzaError::new(cond.clone()).with_text("details");
        e.by = Some("example.com".parse().unwrap());
        e.application = Some(Box::new(Element::new(
            "too-many-parameters",
            "urn:example:app",
        )));
        assert_eq!(e.error_type, t, "{cond}");
        let back = StanzaError::from_element(&e.to_element()).unwrap();
        assert_eq!(back, e);
        // And inside a stanza, through the wire form.
        let req = el(
            "<message xmlns='jabber:client' from='a@b/c' to='d@e' id='m1'><body>x</body></message>",
        );
        let reply = error_reply(&req, &e, true).unwrap();
        let wire = reply.to_xml();
        let Stanza::Message(m) = stanza(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(m.message_type, MessageType::Error);
        assert_eq!(m.error.as_ref().unwrap(), &e);
        assert_eq!(m.body(None), Some("x"));
        // An error is never answered with an error.
        assert!(error_reply(&reply, &e, false).is_none());
    }
}

#[test]
fn rfc6121_2_roster_examples() {
    // §2.1.4 roster result.
    let Stanza::Iq(iq) = stanza(
        "<iq xmlns='jabber:client' id='bv1bs71f' to='juliet@example.com/chamber' type='result'>\
         <query xmlns='jabber:iq:roster' ver='ver11'>\
         <item jid='romeo@example.net' name='Romeo' subscription='both'><group>Friends</group></item>\
         <item jid='mercutio@example.com' name='Mercutio' subscription='from'/>\
         <item jid='benvolio@example.net' name='Benvolio' subscription='both'/>\
         </query></iq>",
    )
    .unwrap() else {
        panic!()
    };
    let roster = iq.payload_as::<Roster>().unwrap().unwrap();
    assert_eq!(roster.ver.as_deref(), Some("ver11"));
    assert_eq!(roster.items.len(), 3);
    assert_eq!(roster.items[0].subscription, Subscription::Both);
    assert_eq!(roster.items[1].subscription, Subscription::From);
    assert_eq!(Roster::from_element(&roster.to_element()).unwrap(), roster);
    // §2.5 remove; §3.1.2 ask; pre-approval.
    let r = Roster::from_element(&el(
        "<query xmlns='jabber:iq:roster'><item jid='nurse@example.com' subscription='remove'/></query>",
    ))
    .unwrap();
    assert_eq!(r.items[0].subscription, Subscription::Remove);
    let r = Roster::from_element(&el(
        "<query xmlns='jabber:iq:roster'><item jid='juliet@example.com' subscription='none' ask='subscribe' approved='true'/></query>",
    ))
    .unwrap();
    assert!(r.items[0].ask && r.items[0].approved);
    // Bad items.
    for (bad, cond) in [
        (
            "<query xmlns='jabber:iq:roster'><item/></query>",
            C::BadRequest,
        ),
        (
            "<query xmlns='jabber:iq:roster'><item jid='a@b@c'/></query>",
            C::JidMalformed,
        ),
        (
            "<query xmlns='jabber:iq:roster'><item jid='a@b' subscription='maybe'/></query>",
            C::BadRequest,
        ),
        (
            "<query xmlns='jabber:iq:roster'><item jid='a@b'><group/></item></query>",
            C::NotAcceptable,
        ),
        (
            "<query xmlns='jabber:iq:roster'><item jid='a@b'><group>x</group><group>x</group></item></query>",
            C::BadRequest,
        ),
    ] {
        assert_eq!(
            Roster::from_element(&el(bad)).unwrap_err().condition,
            cond,
            "{bad}"
        );
    }
}

#[test]
fn core_payloads_round_trip() {
    let bind = Bind::result("juliet@im.example.com/balcony".parse().unwrap());
    assert_eq!(Bind::from_element(&bind.to_element()).unwrap(), bind);
    let ping = Iq::get("c2s1", Ping).with_to("capulet.lit".parse().unwrap());
    assert_eq!(Iq::from_element(&ping.to_element()).unwrap(), ping);
    let v = Version {
        name: Some("Starling".into()),
        version: Some("0.1".into()),
        os: None,
    };
    assert_eq!(Version::from_element(&v.to_element()).unwrap(), v);
    let info = DiscoInfo::from_element(&el(
        "<query xmlns='http://jabber.org/protocol/disco#info'>\
         <identity category='conference' type='text' name='Play-Specific Chatrooms'/>\
         <identity category='directory' type='chatroom' name='Play-Specific Chatrooms'/>\
         <feature var='http://jabber.org/protocol/disco#info'/><feature var='http://jabber.org/protocol/muc'/>\
         <x xmlns='jabber:x:data' type='result'/></query>",
    ))
    .unwrap();
    assert_eq!(info.identities.len(), 2);
    assert_eq!(info.features.len(), 2);
    assert_eq!(info.extensions.len(), 1);
    assert_eq!(DiscoInfo::from_element(&info.to_element()).unwrap(), info);
    let items = DiscoItems::from_element(&el(
        "<query xmlns='http://jabber.org/protocol/disco#items'>\
         <item jid='people.shakespeare.lit' name='Directory of Characters'/>\
         <item jid='plays.shakespeare.lit' node='x' name='Play-Specific Chatrooms'/></query>",
    ))
    .unwrap();
    assert_eq!(items.items.len(), 2);
    assert_eq!(
        DiscoItems::from_element(&items.to_element()).unwrap(),
        items
    );
    // XEP-0203 example.
    let d = Delay::from_element(&el(
        "<delay xmlns='urn:xmpp:delay' from='capulet.com' stamp='2002-09-10T23:08:25Z'>Offline Storage</delay>",
    ))
    .unwrap();
    assert_eq!(d.unix(), Some(1_031_699_305));
    assert_eq!(d.reason.as_deref(), Some("Offline Storage"));
    assert!(Delay::from_element(&el("<delay xmlns='urn:xmpp:delay' stamp='yesterday'/>")).is_err());
    let _ = RosterItem::new("a@b".parse().unwrap());
    let _ = LangText::new("x");
}

/// Writes stanzas in a client stream and reads them back through the framer.
fn through_the_wire(stanzas: &[Stanza], chunk: usize) -> Vec<Stanza> {
    let mut wire = Vec::new();
    let mut w = StreamWriter::new();
    w.open(
        &StreamHeader::initial(ContentNamespace::Client, "example.com".parse().unwrap()),
        &mut wire,
    );
    for s in stanzas {
        w.element(&s.to_element(), &mut wire);
    }
    w.close(&mut wire);
    let mut f = Framer::new(FramerConfig {
        expected: Some(ContentNamespace::Client),
        ..FramerConfig::default()
    });
    let mut out = Vec::new();
    for c in wire.chunks(chunk) {
        f.feed(c);
        while let Some(ev) = f.next_event().unwrap() {
            if let Event::Element(e) = ev {
                out.push(Stanza::from_element(&e).unwrap());
            }
        }
    }
    out
}

fn arb_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 &<>'\"\\]éü€😀\t\n]{0,40}").unwrap()
}

fn arb_jid() -> impl Strategy<Value = starling_jid::Jid> {
    (
        "[a-z]{1,8}",
        "[a-z]{1,8}\\.(com|org)",
        proptest::option::of("[A-Za-z0-9]{1,8}"),
    )
        .prop_map(|(n, d, r)| {
            let s = match r {
                Some(r) => format!("{n}@{d}/{r}"),
                None => format!("{n}@{d}"),
            };
            s.parse().unwrap()
        })
}

fn arb_header() -> impl Strategy<Value = starling_stanza::Header> {
    (
        proptest::option::of(arb_jid()),
        proptest::option::of(arb_jid()),
        proptest::option::of("[a-z0-9]{1,8}"),
    )
        .prop_map(|(to, from, id)| starling_stanza::Header {
            to,
            from,
            id,
            lang: None,
        })
}

fn arb_stanza() -> impl Strategy<Value = Stanza> {
    let message = (
        arb_header(),
        prop_oneof![
            Just(MessageType::Chat),
            Just(MessageType::Normal),
            Just(MessageType::Headline),
            Just(MessageType::Groupchat)
        ],
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
    )
        .prop_map(|(header, message_type, body, subject)| {
            Stanza::Message(Message {
                header,
                message_type,
                bodies: body.into_iter().map(LangText::new).collect(),
                subjects: subject
                    .into_iter()
                    .map(|t| LangText {
                        lang: Some("en".into()),
                        text: t,
                    })
                    .collect(),
                ..Message::default()
            })
        });
    let presence = (
        arb_header(),
        prop_oneof![
            Just(PresenceType::Available),
            Just(PresenceType::Unavailable),
            Just(PresenceType::Subscribe)
        ],
        proptest::option::of(prop_oneof![
            Just(Show::Away),
            Just(Show::Chat),
            Just(Show::Dnd),
            Just(Show::Xa)
        ]),
        any::<i8>(),
        proptest::option::of(arb_text()),
    )
        .prop_map(|(header, presence_type, show, priority, status)| {
            Stanza::Presence(Presence {
                header,
                presence_type,
                show,
                priority,
                statuses: status.into_iter().map(LangText::new).collect(),
                ..Presence::default()
            })
        });
    let iq = (arb_header(), "[a-z0-9]{1,8}", any::<bool>()).prop_map(|(mut header, id, get)| {
        header.id = Some(id);
        let kind = if get {
            IqKind::Get(Ping.to_element())
        } else {
            IqKind::Result(None)
        };
        Stanza::Iq(Iq { header, kind })
    });
    prop_oneof![message, presence, iq]
}

proptest! {
    #[test]
    fn stanza_element_bytes_framer_stanza_is_identity(
        stanzas in proptest::collection::vec(arb_stanza(), 1..8),
        chunk in 1usize..200,
    ) {
        prop_assert_eq!(through_the_wire(&stanzas, chunk), stanzas);
    }

    #[test]
    fn arbitrary_elements_never_panic(name in "(message|presence|iq)", attrs in proptest::collection::vec(("(to|from|id|type)", "[^<&]{0,12}"), 0..4), body in "[^<&]{0,16}") {
        let mut e = Element::new(&name, "jabber:client");
        for (k, v) in attrs {
            e.set_attr(&k, Some(&v));
        }
        e.append_child(Element::builder("body", "jabber:client").text(&body).build());
        let _ = Stanza::from_element(&e);
    }
}
