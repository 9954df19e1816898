//! Typed payloads of the mobile and IM extensions: XEP-0198 (stream
//! management, with the wrapping counter and the ack queue), XEP-0280 and
//! XEP-0297 (carbons, forwarding), XEP-0334 (hints), XEP-0352 (CSI),
//! XEP-0191 (blocking), XEP-0004 (data forms), XEP-0357 (push) and
//! XEP-0060 (pubsub requests, owner requests, events, node configuration)
//! and XEP-0115 (entity capabilities).
//!
//! Examples written in the shape of each XEP's own, the error condition of
//! each kind of invalid input, and property tests: value → element → value
//! and value → element → bytes → element → value are identities; the ack
//! queue never loses or duplicates a stanza, across the 2^32 wrap too.

use std::fmt::Debug;

use proptest::prelude::*;
use starling_jid::Jid;
use starling_stanza::{
    AccessModel, AckQueue, Affiliation, AffiliationInfo, AvatarData, AvatarInfo, AvatarMetadata,
    Block, BlockList, Blocked, CarbonsDisable, CarbonsEnable, CarbonsPrivate, CarbonsReceived,
    CarbonsSent, Conference, CsiActive, CsiFeature, CsiInactive, CsiState, DataForm, Delay, Field,
    FieldOption, FieldType, FormType, Forwarded, H, HandledCountTooHigh, Hint, Iq, Item, LangText,
    MaxItems, Message, MessageType, NodeConfig, ParseError, Payload, PubSub, PubSubEvent,
    PubSubOwner, PublishModel, PushDisable, PushEnable, PushNotification, PushSummary,
    SendLastPublished, SmAck, SmEnable, SmEnabled, SmFailed, SmNonza, SmRequest, SmResume,
    SmResumed, Stanza, StanzaErrorCondition as C, SubscriptionInfo, SubscriptionState, Thread,
    Unblock, ns,
};
use starling_stanza::{Caps, CapsHash, DiscoInfo, Identity, caps_ver, caps_verification_string};
use starling_stanza::{Nick, Photo, PhotoData, PrivateQuery, VCard, VCardUpdate};
use starling_xml::Element;

fn el(s: &str) -> Element {
    s.parse().unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn parse<P: Payload>(s: &str) -> Result<P, ParseError> {
    P::from_element(&el(s))
}

fn condition<P: Payload + Debug>(s: &str) -> C {
    match parse::<P>(s) {
        Ok(v) => panic!("{s} parsed as {v:?}"),
        Err(e) => e.condition,
    }
}

/// value → element → value, and value → element → bytes → element → value.
fn round_trip<P: Payload + PartialEq + Debug>(v: &P) -> Result<(), TestCaseError> {
    let e = v.to_element();
    prop_assert_eq!(&P::from_element(&e).expect("a written payload parses"), v);
    let bytes = e.to_xml();
    let reparsed = Element::parse(bytes.as_bytes()).expect("written XML parses");
    prop_assert_eq!(&reparsed, &e);
    prop_assert_eq!(&P::from_element(&reparsed).expect("parses"), v);
    Ok(())
}

// ---------------------------------------------------------------- XEP-0198

#[test]
fn xep0198_examples() {
    assert_eq!(
        parse::<SmEnable>("<enable xmlns='urn:xmpp:sm:3'/>").unwrap(),
        SmEnable::default()
    );
    assert_eq!(
        parse::<SmEnable>("<enable xmlns='urn:xmpp:sm:3' resume='true' max='600'/>").unwrap(),
        SmEnable {
            resume: true,
            max: Some(600)
        }
    );
    assert!(
        parse::<SmEnable>("<enable xmlns='urn:xmpp:sm:3' resume='1'/>")
            .unwrap()
            .resume
    );
    let enabled = parse::<SmEnabled>(
        "<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id' location='[2001:41D0:1:A49b::1]:9222' resume='true'/>",
    )
    .unwrap();
    assert_eq!(enabled.id.as_deref(), Some("some-long-sm-id"));
    assert_eq!(
        enabled.location.as_deref(),
        Some("[2001:41D0:1:A49b::1]:9222")
    );
    assert!(enabled.resume);
    assert_eq!(
        parse::<SmResume>("<resume xmlns='urn:xmpp:sm:3' h='2' previd='some-long-sm-id'/>")
            .unwrap(),
        SmResume {
            h: H(2),
            previd: "some-long-sm-id".into()
        }
    );
    assert_eq!(
        parse::<SmResumed>("<resumed xmlns='urn:xmpp:sm:3' h='3' previd='some-long-sm-id'/>")
            .unwrap()
            .h,
        H(3)
    );
    let failed = parse::<SmFailed>(
        "<failed xmlns='urn:xmpp:sm:3' h='5'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    )
    .unwrap();
    assert_eq!(failed.h, Some(H(5)));
    assert_eq!(failed.condition, Some(C::ItemNotFound));
    let failed = parse::<SmFailed>(
        "<failed xmlns='urn:xmpp:sm:3'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>",
    )
    .unwrap();
    assert_eq!(failed.condition, Some(C::UnexpectedRequest));
    assert_eq!(failed.h, None);
    let failed = parse::<SmFailed>(
        "<failed xmlns='urn:xmpp:sm:3' h='10'><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/></failed>",
    )
    .unwrap();
    assert_eq!(
        failed.handled_count_too_high,
        Some(HandledCountTooHigh {
            h: H(10),
            sent: H(8)
        })
    );
    assert_eq!(
        SmNonza::from_element(&el("<r xmlns='urn:xmpp:sm:3'/>")).unwrap(),
        SmNonza::Request
    );
    assert_eq!(
        SmNonza::from_element(&el("<a xmlns='urn:xmpp:sm:3' h='1'/>")).unwrap(),
        SmNonza::Ack(SmAck { h: H(1) })
    );
    assert_eq!(
        SmNonza::from_element(&el("<a xmlns='urn:xmpp:sm:3' h='4294967295'/>")).unwrap(),
        SmNonza::Ack(SmAck { h: H(u32::MAX) })
    );
    assert_eq!(
        SmRequest::from_element(&el("<r xmlns='urn:xmpp:sm:3'/>")).unwrap(),
        SmRequest
    );
}

#[test]
fn xep0198_invalid_input() {
    for bad in [
        "<a xmlns='urn:xmpp:sm:3'/>",
        "<a xmlns='urn:xmpp:sm:3' h=''/>",
        "<a xmlns='urn:xmpp:sm:3' h='-1'/>",
        "<a xmlns='urn:xmpp:sm:3' h='+1'/>",
        "<a xmlns='urn:xmpp:sm:3' h='4294967296'/>",
        "<a xmlns='urn:xmpp:sm:3' h='1e3'/>",
        "<enable xmlns='urn:xmpp:sm:3' resume='yes'/>",
        "<enable xmlns='urn:xmpp:sm:3' max='ten'/>",
        "<enabled xmlns='urn:xmpp:sm:3' max='-5'/>",
        "<resume xmlns='urn:xmpp:sm:3' previd='x'/>",
        "<resume xmlns='urn:xmpp:sm:3' h='1'/>",
        "<resume xmlns='urn:xmpp:sm:3' h='1' previd=''/>",
        "<resumed xmlns='urn:xmpp:sm:3' h='x' previd='y'/>",
        "<failed xmlns='urn:xmpp:sm:3' h='z'/>",
        "<failed xmlns='urn:xmpp:sm:3'><handled-count-too-high xmlns='urn:xmpp:sm:3' h='1'/></failed>",
    ] {
        assert_eq!(
            SmNonza::from_element(&el(bad)).unwrap_err().condition,
            C::BadRequest,
            "{bad}"
        );
    }
    // Not a nonza of this namespace.
    for other in [
        "<a xmlns='urn:xmpp:sm:2' h='1'/>",
        "<sm xmlns='urn:xmpp:sm:3'/>",
    ] {
        assert_eq!(
            SmNonza::from_element(&el(other)).unwrap_err().condition,
            C::FeatureNotImplemented
        );
    }
    // A typed parser refuses another element.
    assert_eq!(
        condition::<SmAck>("<r xmlns='urn:xmpp:sm:3'/>"),
        C::BadRequest
    );
    // Surrounding white space in an integer is collapsed (xs:unsignedInt).
    assert_eq!(
        parse::<SmAck>("<a xmlns='urn:xmpp:sm:3' h=' 7 '/>")
            .unwrap()
            .h,
        H(7)
    );
}

#[test]
fn h_wraps_at_2_pow_32() {
    assert_eq!(H(u32::MAX).next(), H(0));
    assert_eq!(H(u32::MAX - 1).wrapping_add(5), H(3));
    assert_eq!(H(u32::MAX - 1).distance_to(H(3)), 5);
    assert_eq!(H(3).distance_to(H(3)), 0);
    // Going "backwards" by one is 2^32 - 1 forwards.
    assert_eq!(H(3).distance_to(H(2)), u32::MAX);
}

#[test]
fn ack_queue_across_the_wrap() {
    let mut q = AckQueue::starting_at(H(u32::MAX - 1));
    assert_eq!(q.push(1), H(u32::MAX));
    assert_eq!(q.push(2), H(0));
    assert_eq!(q.push(3), H(1));
    assert_eq!(q.ack(H(0)).unwrap(), [1, 2]);
    assert_eq!(q.acked(), H(0));
    assert_eq!(
        q.ack(H(2)),
        Err(HandledCountTooHigh {
            h: H(2),
            sent: H(1)
        })
    );
    // An h that goes backwards is refused too, and changes nothing.
    assert!(q.ack(H(u32::MAX)).is_err());
    assert_eq!(q.len(), 1);
    assert_eq!(q.ack(H(1)).unwrap(), [3]);
    assert!(q.is_empty());
    q.push(4);
    q.push(5);
    assert_eq!(q.drain(), [4, 5]);
    assert_eq!(q.acked(), H(3));
    assert_eq!(q.sent(), H(3));
}

#[derive(Debug, Clone)]
enum Op {
    Push,
    /// Acknowledge `k` more than the last ack (may exceed what was sent).
    Ack(u32),
    /// An arbitrary h.
    AckRaw(u32),
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Push),
        3 => (0u32..6).prop_map(Op::Ack),
        1 => any::<u32>().prop_map(Op::AckRaw),
    ]
}

proptest! {
    #[test]
    fn h_arithmetic(a in any::<u32>(), n in any::<u32>(), m in any::<u32>()) {
        let h = H(a);
        prop_assert_eq!(h.distance_to(h.wrapping_add(n)), n);
        prop_assert_eq!(h.wrapping_add(n).wrapping_add(m), h.wrapping_add(n.wrapping_add(m)));
        prop_assert_eq!(h.wrapping_add(n).0 as u64, (a as u64 + n as u64) % (1u64 << 32));
        // distance(a, b) + distance(b, c) == distance(a, c) modulo 2^32
        let b = h.wrapping_add(n);
        let c = b.wrapping_add(m);
        prop_assert_eq!(h.distance_to(b).wrapping_add(b.distance_to(c)), h.distance_to(c));
    }

    #[test]
    fn ack_queue_never_loses_or_duplicates(
        start in prop_oneof![Just(0u32), Just(u32::MAX - 3), any::<u32>()],
        ops in proptest::collection::vec(arb_op(), 0..80),
    ) {
        let mut q = AckQueue::starting_at(H(start));
        let mut pushed: Vec<u64> = Vec::new();
        let mut acked: Vec<u64> = Vec::new();
        for op in ops {
            let before = (q.acked(), q.sent(), q.len());
            let h = match op {
                Op::Push => {
                    let id = pushed.len() as u64;
                    pushed.push(id);
                    let seq = q.push(id);
                    prop_assert_eq!(seq, H(start).wrapping_add(pushed.len() as u32));
                    prop_assert_eq!(seq, q.sent());
                    continue;
                }
                Op::Ack(k) => q.acked().wrapping_add(k),
                Op::AckRaw(h) => H(h),
            };
            let newly = q.acked().distance_to(h) as usize;
            match q.ack(h) {
                Ok(items) => {
                    prop_assert!(newly <= before.2);
                    prop_assert_eq!(items.len(), newly);
                    prop_assert_eq!(q.acked(), h);
                    acked.extend(items);
                }
                Err(e) => {
                    prop_assert!(newly > before.2);
                    prop_assert_eq!(e, HandledCountTooHigh { h, sent: before.1 });
                    prop_assert_eq!((q.acked(), q.sent(), q.len()), before);
                }
            }
            // Invariants: sent = acked + unacknowledged; acknowledged then
            // unacknowledged is exactly what was pushed, in order.
            prop_assert_eq!(q.sent(), q.acked().wrapping_add(q.len() as u32));
            prop_assert_eq!(H(start).distance_to(q.acked()) as usize, acked.len());
            let all: Vec<u64> = acked.iter().chain(q.iter()).copied().collect();
            prop_assert_eq!(&all, &pushed);
        }
    }
}

// ---------------------------------------------------------------- XEP-0280 / XEP-0297

#[test]
fn xep0280_examples() {
    let iq = Iq::from_element(&el(
        "<iq xmlns='jabber:client' from='romeo@montague.example/garden' id='enable1' type='set'>\
         <enable xmlns='urn:xmpp:carbons:2'/></iq>",
    ))
    .unwrap();
    assert_eq!(
        iq.payload_as::<CarbonsEnable>().unwrap().unwrap(),
        CarbonsEnable
    );
    assert!(parse::<CarbonsDisable>("<disable xmlns='urn:xmpp:carbons:2'/>").is_ok());
    assert!(parse::<CarbonsPrivate>("<private xmlns='urn:xmpp:carbons:2'/>").is_ok());
    assert_eq!(
        condition::<CarbonsEnable>("<enable xmlns='urn:xmpp:carbons:1'/>"),
        C::BadRequest
    );

    // A received carbon, in its message.
    let m = Message::from_element(&el(
        "<message xmlns='jabber:client' from='romeo@montague.example' to='romeo@montague.example/home' type='chat'>\
           <received xmlns='urn:xmpp:carbons:2'>\
             <forwarded xmlns='urn:xmpp:forward:0'>\
               <message xmlns='jabber:client' from='juliet@capulet.example/balcony' \
                        to='romeo@montague.example/garden' type='chat'>\
                 <body>What man art thou that, thus bescreen'd in night, so stumblest on my counsel?</body>\
                 <thread>0e3141cd80894871a68e6fe6b1ec56fa</thread>\
               </message>\
             </forwarded>\
           </received>\
         </message>",
    ))
    .unwrap();
    let received = m.payload::<CarbonsReceived>().unwrap().unwrap();
    let inner = &received.0.message;
    assert_eq!(inner.message_type, MessageType::Chat);
    assert_eq!(
        inner.header.from.as_ref().map(AsRef::as_ref),
        Some("juliet@capulet.example/balcony")
    );
    assert_eq!(
        inner.thread,
        Some(Thread {
            id: "0e3141cd80894871a68e6fe6b1ec56fa".into(),
            parent: None
        })
    );
    assert!(received.0.delay.is_none());

    // A sent carbon.
    let sent = parse::<CarbonsSent>(
        "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
           <message xmlns='jabber:client' to='juliet@capulet.example/balcony' \
                    from='romeo@montague.example/home' type='chat'>\
             <body>Neither, fair saint, if either thee dislike.</body></message>\
         </forwarded></sent>",
    )
    .unwrap();
    assert_eq!(
        sent.0.message.body(None),
        Some("Neither, fair saint, if either thee dislike.")
    );
    let written = sent.to_element();
    let f = written.get_child("forwarded", ns::FORWARD).unwrap();
    assert!(f.get_child("message", ns::CLIENT).is_some());

    for bad in [
        "<sent xmlns='urn:xmpp:carbons:2'/>",
        "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'/></sent>",
        "<sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded>\
         <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/></forwarded></sent>",
    ] {
        assert_eq!(condition::<CarbonsSent>(bad), C::BadRequest, "{bad}");
    }
}

#[test]
fn xep0297_examples() {
    let f = parse::<Forwarded>(
        "<forwarded xmlns='urn:xmpp:forward:0'>\
           <delay xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/>\
           <message xmlns='jabber:client' from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' type='chat'>\
             <body>Yet I should kill thee with much cherishing.</body>\
             <mood xmlns='http://jabber.org/protocol/mood'><amorous/></mood>\
           </message>\
         </forwarded>",
    )
    .unwrap();
    assert_eq!(f.delay.as_ref().unwrap().unix(), Some(1_278_803_305));
    assert_eq!(f.message.payloads.len(), 1);
    assert_eq!(Forwarded::from_element(&f.to_element()).unwrap(), f);

    let cases = [
        ("<forwarded xmlns='urn:xmpp:forward:0'/>", C::BadRequest),
        (
            "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'/><message xmlns='jabber:client'/></forwarded>",
            C::BadRequest,
        ),
        (
            "<forwarded xmlns='urn:xmpp:forward:0'><iq xmlns='jabber:client' id='1' type='get'><ping xmlns='urn:xmpp:ping'/></iq></forwarded>",
            C::BadRequest,
        ),
        (
            "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:server'/></forwarded>",
            C::BadRequest,
        ),
        (
            "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='yesterday'/><message xmlns='jabber:client'/></forwarded>",
            C::BadRequest,
        ),
        (
            "<forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' from='@bad'/></forwarded>",
            C::JidMalformed,
        ),
    ];
    for (bad, cond) in cases {
        assert_eq!(condition::<Forwarded>(bad), cond, "{bad}");
    }
}

// ---------------------------------------------------------------- XEP-0334

#[test]
fn xep0334_examples() {
    let m = Message::from_element(&el(
        "<message xmlns='jabber:client' to='juliet@capulet.lit/laptop' from='romeo@montague.lit/laptop'>\
           <thread>123</thread>\
           <open xmlns='urn:xmpp:sxe:0' id='abc'/>\
           <no-copy xmlns='urn:xmpp:hints'/>\
           <no-permanent-store xmlns='urn:xmpp:hints'/>\
         </message>",
    ))
    .unwrap();
    assert_eq!(m.hints(), [Hint::NoCopy, Hint::NoPermanentStore]);
    assert!(m.has_hint(Hint::NoCopy));
    assert!(!m.has_hint(Hint::Store));
    assert!(!m.has_hint(Hint::NoStore));
    for h in Hint::ALL {
        assert_eq!(Hint::from_element(&h.to_element()).unwrap(), h);
    }
    assert_eq!(
        Hint::from_element(&el("<no-copy xmlns='urn:xmpp:hint'/>"))
            .unwrap_err()
            .condition,
        C::FeatureNotImplemented
    );
    let mut m = Message::default();
    m.add_hint(Hint::Store);
    m.add_hint(Hint::Store);
    assert_eq!(m.payloads.len(), 1);
    let back = Message::from_element(&m.to_element()).unwrap();
    assert!(back.has_hint(Hint::Store));
}

// ---------------------------------------------------------------- XEP-0352

#[test]
fn xep0352_examples() {
    assert_eq!(
        CsiState::from_element(&el("<active xmlns='urn:xmpp:csi:0'/>")).unwrap(),
        CsiState::Active
    );
    assert_eq!(
        CsiState::from_element(&el("<inactive xmlns='urn:xmpp:csi:0'/>")).unwrap(),
        CsiState::Inactive
    );
    assert_eq!(
        CsiState::from_element(&el("<passive xmlns='urn:xmpp:csi:0'/>"))
            .unwrap_err()
            .condition,
        C::FeatureNotImplemented
    );
    let features = el(
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
         <csi xmlns='urn:xmpp:csi:0'/></stream:features>",
    );
    let csi = features.get_child("csi", ns::CSI).unwrap();
    assert_eq!(CsiFeature::from_element(csi).unwrap(), CsiFeature);
    for s in [CsiState::Active, CsiState::Inactive] {
        assert_eq!(CsiState::from_element(&s.to_element()).unwrap(), s);
    }
    assert!(CsiActive::from_element(&CsiState::Active.to_element()).is_ok());
    assert!(CsiInactive::from_element(&CsiState::Active.to_element()).is_err());
}

// ---------------------------------------------------------------- XEP-0191

#[test]
fn xep0191_examples() {
    assert_eq!(
        parse::<BlockList>("<blocklist xmlns='urn:xmpp:blocking'/>").unwrap(),
        BlockList::default()
    );
    let list = parse::<BlockList>(
        "<blocklist xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='iago@shakespeare.lit'/></blocklist>",
    )
    .unwrap();
    assert_eq!(list.items.len(), 2);
    let block = parse::<Block>(
        "<block xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/><item jid='montague.net'/>\
         <item jid='tybalt@capulet.lit/sword'/></block>",
    )
    .unwrap();
    assert!(block.items[0].is_bare());
    assert!(block.items[1].node().is_none());
    assert!(block.items[2].is_full());
    let unblock = parse::<Unblock>(
        "<unblock xmlns='urn:xmpp:blocking'><item jid='romeo@montague.net'/></unblock>",
    )
    .unwrap();
    assert!(!unblock.is_all());
    let all = parse::<Unblock>("<unblock xmlns='urn:xmpp:blocking'/>").unwrap();
    assert!(all.is_all());
    assert_eq!(all, Unblock::all());

    assert_eq!(
        condition::<Block>("<block xmlns='urn:xmpp:blocking'/>"),
        C::BadRequest
    );
    assert_eq!(
        condition::<Block>("<block xmlns='urn:xmpp:blocking'><item/></block>"),
        C::BadRequest
    );
    assert_eq!(
        condition::<Block>("<block xmlns='urn:xmpp:blocking'><item jid='a@b@c'/></block>"),
        C::JidMalformed
    );
    assert_eq!(
        condition::<Unblock>("<unblock xmlns='urn:xmpp:blocking'><item jid=''/></unblock>"),
        C::JidMalformed
    );

    // The application error in a bounced message.
    let err = Blocked::stanza_error();
    let reply = starling_stanza::error_reply(
        &el("<message xmlns='jabber:client' to='romeo@montague.net' id='m1'><body>hi</body></message>"),
        &err,
        false,
    )
    .unwrap();
    let Stanza::Message(m) = Stanza::from_element(&reply).unwrap() else {
        panic!()
    };
    let e = m.error.unwrap();
    assert_eq!(e.condition, C::NotAcceptable);
    assert!(
        e.application
            .as_deref()
            .is_some_and(|a| a.is("blocked", ns::BLOCKING_ERRORS))
    );
}

// ---------------------------------------------------------------- XEP-0004

#[test]
fn xep0004_examples() {
    let form = parse::<DataForm>(
        "<x xmlns='jabber:x:data' type='form'>\
           <title>Bot Configuration</title>\
           <instructions>Fill out this form to configure your new bot!</instructions>\
           <field type='hidden' var='FORM_TYPE'><value>jabber:bot</value></field>\
           <field type='fixed'><value>Section 1: Bot Info</value></field>\
           <field type='text-single' label='The name of your bot' var='botname'/>\
           <field type='text-multi' label='Helpful description of your bot' var='description'/>\
           <field type='boolean' label='Public bot?' var='public'><required/></field>\
           <field type='text-private' label='Password for special access' var='password'/>\
           <field type='list-multi' label='What features will the bot support?' var='features'>\
             <option label='Contests'><value>contests</value></option>\
             <option label='News'><value>news</value></option>\
             <option label='Polls'><value>polls</value></option>\
             <value>news</value><value>search</value>\
           </field>\
           <field type='list-single' label='Maximum number of subscribers' var='maxsubs'>\
             <value>20</value><option label='10'><value>10</value></option>\
             <option label='20'><value>20</value></option>\
           </field>\
           <field type='jid-multi' label='People to invite' var='invitelist'>\
             <desc>Tell all your friends about your new bot!</desc>\
           </field>\
         </x>",
    )
    .unwrap();
    assert_eq!(form.form_type, FormType::Form);
    assert_eq!(form.title.as_deref(), Some("Bot Configuration"));
    assert_eq!(form.instructions.len(), 1);
    assert_eq!(form.form_type_value(), Some("jabber:bot"));
    assert_eq!(form.fields[1].var, None);
    assert_eq!(form.fields[1].kind(), FieldType::Fixed);
    assert!(form.field("public").unwrap().required);
    assert_eq!(form.values("features"), ["news", "search"]);
    assert_eq!(form.field("features").unwrap().options.len(), 3);
    assert_eq!(form.value("maxsubs"), Some("20"));
    assert_eq!(
        form.field("invitelist").unwrap().desc.as_deref(),
        Some("Tell all your friends about your new bot!")
    );
    assert!(form.values("missing").is_empty());
    assert_eq!(DataForm::from_element(&form.to_element()).unwrap(), form);

    // A submission: types left out, defaulting to text-single.
    let submit = parse::<DataForm>(
        "<x xmlns='jabber:x:data' type='submit'>\
           <field var='FORM_TYPE'><value>jabber:bot</value></field>\
           <field var='botname'><value>The Jabber Google Bot</value></field>\
           <field var='public' type='boolean'><value>0</value></field>\
           <field var='invitelist' type='jid-multi'><value>juliet@capulet.com</value><value>romeo@montague.net</value></field>\
         </x>",
    )
    .unwrap();
    assert_eq!(submit.form_type_value(), Some("jabber:bot"));
    assert_eq!(
        submit.field("botname").unwrap().kind(),
        FieldType::TextSingle
    );
    assert_eq!(submit.field("public").unwrap().bool_value(), Some(false));
    assert_eq!(
        submit
            .field("invitelist")
            .unwrap()
            .jid_values()
            .unwrap()
            .len(),
        2
    );

    // A multi-item result.
    let result = parse::<DataForm>(
        "<x xmlns='jabber:x:data' type='result'>\
           <title>Search Results</title>\
           <reported><field var='name' label='Name'/><field var='url' label='URL'/></reported>\
           <item><field var='name'><value>Comune di Verona</value></field><field var='url'><value>http://example.org/verona</value></field></item>\
           <item><field var='name'><value>Verona</value></field><field var='url'><value>http://example.org/v</value></field></item>\
         </x>",
    )
    .unwrap();
    assert_eq!(result.reported.as_ref().unwrap().len(), 2);
    assert_eq!(result.items.len(), 2);
    assert_eq!(
        DataForm::from_element(&result.to_element()).unwrap(),
        result
    );

    assert_eq!(
        parse::<DataForm>("<x xmlns='jabber:x:data' type='cancel'/>")
            .unwrap()
            .form_type,
        FormType::Cancel
    );

    let cases = [
        ("<x xmlns='jabber:x:data'/>", C::BadRequest),
        ("<x xmlns='jabber:x:data' type='draft'/>", C::BadRequest),
        (
            "<x xmlns='jabber:x:data' type='form'><field type='text-single'/></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='form'><field var='a' type='colour'/></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='a'/><field var='a'/></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='a' type='boolean'><value>yes</value></field></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='a'><value>1</value><value>2</value></field></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='a' type='jid-single'><value>@x</value></field></x>",
            C::JidMalformed,
        ),
        (
            "<x xmlns='jabber:x:data' type='submit'><field var='a' type='jid-multi'><value>a@b</value><value>a@b@c</value></field></x>",
            C::JidMalformed,
        ),
        (
            "<x xmlns='jabber:x:data' type='form'><field var='a' type='list-single'><option/></field></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='result'><item/></x>",
            C::BadRequest,
        ),
        (
            "<x xmlns='jabber:x:data' type='result'><reported/><reported/></x>",
            C::BadRequest,
        ),
    ];
    for (bad, cond) in cases {
        assert_eq!(condition::<DataForm>(bad), cond, "{bad}");
    }
}

// ---------------------------------------------------------------- XEP-0357

#[test]
fn xep0357_examples() {
    let enable = parse::<PushEnable>(
        "<enable xmlns='urn:xmpp:push:0' jid='push-5.client.example' node='yxs32uqsflafdk3iuqo'>\
           <x xmlns='jabber:x:data' type='submit'>\
             <field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
             <field var='secret'><value>eruio234vzxc2kla-91</value></field>\
           </x>\
         </enable>",
    )
    .unwrap();
    assert_eq!(enable.jid.as_ref() as &str, "push-5.client.example");
    let opts = enable.publish_options.as_ref().unwrap();
    assert_eq!(opts.form_type_value(), Some(ns::PUBSUB_PUBLISH_OPTIONS));
    assert_eq!(opts.value("secret"), Some("eruio234vzxc2kla-91"));
    let plain = parse::<PushEnable>(
        "<enable xmlns='urn:xmpp:push:0' jid='push-5.client.example' node='n'/>",
    )
    .unwrap();
    assert!(plain.publish_options.is_none());

    let disable = parse::<PushDisable>(
        "<disable xmlns='urn:xmpp:push:0' jid='push-5.client.example' node='yxs32uqsflafdk3iuqo'/>",
    )
    .unwrap();
    assert_eq!(disable.node.as_deref(), Some("yxs32uqsflafdk3iuqo"));
    assert!(
        parse::<PushDisable>("<disable xmlns='urn:xmpp:push:0' jid='push-5.client.example'/>")
            .unwrap()
            .node
            .is_none()
    );

    let n = parse::<PushNotification>(
        "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data'>\
         <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
         <field var='message-count'><value>1</value></field>\
         <field var='last-message-sender'><value>juliet@capulet.example/balcony</value></field>\
         <field var='last-message-body'><value>Wherefore art thou, Romeo?</value></field>\
         </x></notification>",
    );
    // The form has no type: XEP-0004 requires one.
    assert_eq!(n.unwrap_err().condition, C::BadRequest);
    let n = parse::<PushNotification>(
        "<notification xmlns='urn:xmpp:push:0'><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>\
         <field var='message-count'><value>1</value></field>\
         <field var='last-message-sender'><value>juliet@capulet.example/balcony</value></field>\
         <field var='last-message-body'><value>Wherefore art thou, Romeo?</value></field>\
         </x></notification>",
    )
    .unwrap();
    let s = PushSummary::from_form(n.form.as_ref().unwrap()).unwrap();
    assert_eq!(s.message_count, Some(1));
    assert_eq!(
        s.last_message_body.as_deref(),
        Some("Wherefore art thou, Romeo?")
    );
    assert_eq!(PushSummary::from_form(&s.to_form()).unwrap(), s);
    assert!(
        parse::<PushNotification>("<notification xmlns='urn:xmpp:push:0'/>")
            .unwrap()
            .form
            .is_none()
    );

    let cases = [
        ("<enable xmlns='urn:xmpp:push:0' node='n'/>", C::BadRequest),
        (
            "<enable xmlns='urn:xmpp:push:0' jid='push.example'/>",
            C::BadRequest,
        ),
        (
            "<enable xmlns='urn:xmpp:push:0' jid='push.example' node=''/>",
            C::BadRequest,
        ),
        (
            "<enable xmlns='urn:xmpp:push:0' jid='a@@b' node='n'/>",
            C::JidMalformed,
        ),
        (
            "<enable xmlns='urn:xmpp:push:0' jid='push.example' node='n'><x xmlns='jabber:x:data' type='submit'/><x xmlns='jabber:x:data' type='submit'/></enable>",
            C::BadRequest,
        ),
        ("<disable xmlns='urn:xmpp:push:0'/>", C::BadRequest),
    ];
    for (bad, cond) in cases {
        let got = push_condition(bad);
        assert_eq!(got, cond, "{bad}");
    }
    // Summaries with bad values.
    let mut f = s.to_form();
    f.fields[1].values = vec!["many".into()];
    assert_eq!(
        PushSummary::from_form(&f).unwrap_err().condition,
        C::BadRequest
    );
    let mut f = s.to_form();
    f.fields[0].values = vec!["urn:example".into()];
    assert_eq!(
        PushSummary::from_form(&f).unwrap_err().condition,
        C::BadRequest
    );
    let mut f = s.to_form();
    f.fields[2].values = vec!["@nobody".into()];
    assert_eq!(
        PushSummary::from_form(&f).unwrap_err().condition,
        C::JidMalformed
    );
}

/// The condition a push payload is refused with, by element name.
fn push_condition(s: &str) -> C {
    let e = el(s);
    let r = match e.name() {
        "enable" => PushEnable::from_element(&e).map(drop),
        _ => PushDisable::from_element(&e).map(drop),
    };
    r.unwrap_err().condition
}

// ---------------------------------------------------------------- property tests

fn arb_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 &<>'\"\\]éü€😀\t\n\r]{0,24}").unwrap()
}

fn arb_nonempty() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 &<>'\"éü€😀\t\n]{1,24}").unwrap()
}

fn arb_jid() -> impl Strategy<Value = Jid> {
    (
        proptest::option::of("[a-z]{1,8}"),
        "[a-z]{1,8}\\.(com|org|example)",
        proptest::option::of("[A-Za-z0-9 ]{1,8}"),
    )
        .prop_map(|(n, d, r)| {
            let mut s = String::new();
            if let Some(n) = n {
                s.push_str(&n);
                s.push('@');
            }
            s.push_str(&d);
            if let Some(r) = r {
                s.push('/');
                s.push_str(&r);
            }
            s.parse().unwrap()
        })
}

fn arb_h() -> impl Strategy<Value = H> {
    prop_oneof![Just(H(0)), Just(H(u32::MAX)), any::<u32>().prop_map(H)]
}

fn arb_condition() -> impl Strategy<Value = C> {
    prop_oneof![
        proptest::sample::select(C::all()),
        "[a-z]{1,8}@[a-z]{1,8}\\.example".prop_map(|u| C::Gone(Some(format!("xmpp:{u}")))),
        "[a-z]{1,8}\\.example".prop_map(|u| C::Redirect(Some(format!("xmpp:{u}")))),
    ]
}

fn arb_sm() -> impl Strategy<Value = SmNonza> {
    prop_oneof![
        (any::<bool>(), proptest::option::of(any::<u32>()))
            .prop_map(|(resume, max)| SmNonza::Enable(SmEnable { resume, max })),
        (
            proptest::option::of(arb_text()),
            any::<bool>(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(arb_text())
        )
            .prop_map(|(id, resume, max, location)| SmNonza::Enabled(SmEnabled {
                id,
                resume,
                max,
                location
            })),
        (arb_h(), arb_nonempty()).prop_map(|(h, previd)| SmNonza::Resume(SmResume { h, previd })),
        (arb_h(), arb_nonempty()).prop_map(|(h, previd)| SmNonza::Resumed(SmResumed { h, previd })),
        (
            proptest::option::of(arb_h()),
            proptest::option::of(arb_condition()),
            proptest::option::of((arb_h(), arb_h()))
        )
            .prop_map(|(h, condition, t)| SmNonza::Failed(SmFailed {
                h,
                condition,
                handled_count_too_high: t.map(|(h, sent)| HandledCountTooHigh { h, sent }),
            })),
        Just(SmNonza::Request),
        arb_h().prop_map(|h| SmNonza::Ack(SmAck { h })),
    ]
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        proptest::option::of(arb_jid()),
        proptest::option::of(arb_jid()),
        proptest::option::of("[a-z0-9]{1,8}"),
        proptest::sample::select(vec![
            MessageType::Chat,
            MessageType::Normal,
            MessageType::Headline,
            MessageType::Groupchat,
        ]),
        proptest::option::of(arb_text()),
        proptest::option::of(arb_text()),
        proptest::collection::vec(proptest::sample::select(Hint::ALL.to_vec()), 0..3),
    )
        .prop_map(|(to, from, id, message_type, body, de_body, hints)| {
            let mut m = Message {
                message_type,
                bodies: body.into_iter().map(LangText::new).collect(),
                ..Message::default()
            };
            m.header.to = to;
            m.header.from = from;
            m.header.id = id;
            if let Some(t) = de_body {
                m.bodies.push(LangText {
                    lang: Some("de".into()),
                    text: t,
                });
            }
            for h in hints {
                m.add_hint(h);
            }
            m
        })
}

fn arb_forwarded() -> impl Strategy<Value = Forwarded> {
    (
        proptest::option::of((
            0i64..4_102_444_800,
            proptest::option::of(arb_jid()),
            proptest::option::of(arb_nonempty()),
        )),
        arb_message(),
    )
        .prop_map(|(d, message)| Forwarded {
            delay: d.map(|(s, from, reason)| Delay::from_unix(s, from, reason)),
            message,
        })
}

fn arb_values(t: Option<FieldType>) -> BoxedStrategy<Vec<String>> {
    let single = |s: BoxedStrategy<String>| proptest::collection::vec(s, 0..=1).boxed();
    let jid = arb_jid().prop_map(|j| j.to_string()).boxed();
    match t {
        Some(FieldType::Boolean) => single(
            proptest::sample::select(vec!["0", "1", "true", "false"])
                .prop_map(str::to_owned)
                .boxed(),
        ),
        Some(FieldType::JidSingle) => single(jid),
        Some(FieldType::JidMulti) => proptest::collection::vec(jid, 0..3).boxed(),
        Some(t) if !t.is_single() => proptest::collection::vec(arb_text(), 0..3).boxed(),
        _ => single(arb_text().boxed()),
    }
}

fn arb_field(var: String) -> impl Strategy<Value = Field> {
    (
        proptest::option::of(proptest::sample::select(FieldType::ALL.to_vec())),
        any::<bool>(),
    )
        .prop_flat_map(move |(field_type, drop_var)| {
            let var = if drop_var && field_type == Some(FieldType::Fixed) {
                None
            } else {
                Some(var.clone())
            };
            (
                Just(var),
                Just(field_type),
                proptest::option::of(arb_text()),
                proptest::option::of(arb_text()),
                any::<bool>(),
                arb_values(field_type),
                proptest::collection::vec(
                    (proptest::option::of(arb_text()), arb_text())
                        .prop_map(|(label, value)| FieldOption { label, value }),
                    0..3,
                ),
            )
        })
        .prop_map(
            |(var, field_type, label, desc, required, values, options)| Field {
                var,
                field_type,
                label,
                desc,
                required,
                values,
                options,
            },
        )
}

fn arb_fields(max: usize) -> impl Strategy<Value = Vec<Field>> {
    (0..=max).prop_flat_map(|n| {
        (0..n)
            .map(|i| arb_field(format!("var{i}")))
            .collect::<Vec<_>>()
    })
}

fn arb_form() -> impl Strategy<Value = DataForm> {
    (
        proptest::sample::select(vec![
            FormType::Form,
            FormType::Submit,
            FormType::Cancel,
            FormType::Result,
        ]),
        proptest::option::of(arb_text()),
        proptest::collection::vec(arb_text(), 0..3),
        arb_fields(5),
        proptest::option::of(arb_fields(3)),
        proptest::collection::vec(arb_fields(3), 0..3),
    )
        .prop_map(
            |(form_type, title, instructions, fields, reported, items)| DataForm {
                form_type,
                title,
                instructions,
                fields,
                reported: if items.is_empty() {
                    reported
                } else {
                    Some(reported.unwrap_or_default())
                },
                items,
            },
        )
}

fn arb_summary() -> impl Strategy<Value = PushSummary> {
    (
        proptest::option::of(any::<u32>()),
        proptest::option::of(arb_jid()),
        proptest::option::of(arb_text()),
    )
        .prop_map(
            |(message_count, last_message_sender, last_message_body)| PushSummary {
                message_count,
                last_message_sender,
                last_message_body,
            },
        )
}

proptest! {
    #[test]
    fn sm_round_trip(n in arb_sm()) {
        let e = n.to_element();
        prop_assert_eq!(SmNonza::from_element(&e).unwrap(), n.clone());
        let again = Element::parse(e.to_xml().as_bytes()).unwrap();
        prop_assert_eq!(SmNonza::from_element(&again).unwrap(), n.clone());
        match n {
            SmNonza::Enable(v) => round_trip(&v)?,
            SmNonza::Enabled(v) => round_trip(&v)?,
            SmNonza::Resume(v) => round_trip(&v)?,
            SmNonza::Resumed(v) => round_trip(&v)?,
            SmNonza::Failed(v) => round_trip(&v)?,
            SmNonza::Request => round_trip(&SmRequest)?,
            SmNonza::Ack(v) => round_trip(&v)?,
        }
    }

    #[test]
    fn carbons_and_forwarded_round_trip(f in arb_forwarded()) {
        round_trip(&f)?;
        round_trip(&CarbonsReceived(f.clone()))?;
        round_trip(&CarbonsSent(f.clone()))?;
        // Also as the payload of a message.
        let mut m = Message::default();
        m.payloads.push(CarbonsSent(f.clone()).to_element());
        let back = Message::from_element(&Element::parse(m.to_element().to_xml().as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(back.payload::<CarbonsSent>().unwrap().unwrap(), CarbonsSent(f));
    }

    #[test]
    fn hints_round_trip(hints in proptest::collection::vec(proptest::sample::select(Hint::ALL.to_vec()), 0..6)) {
        let mut m = Message::default();
        for h in &hints {
            m.add_hint(*h);
        }
        let back = Message::from_element(&Element::parse(m.to_element().to_xml().as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(back.hints(), m.hints());
        for h in Hint::ALL {
            prop_assert_eq!(back.has_hint(h), hints.contains(&h));
        }
    }

    #[test]
    fn blocking_round_trip(items in proptest::collection::vec(arb_jid(), 0..5)) {
        round_trip(&BlockList { items: items.clone() })?;
        round_trip(&Unblock { items: items.clone() })?;
        if !items.is_empty() {
            round_trip(&Block { items })?;
        }
    }

    #[test]
    fn data_form_round_trip(form in arb_form()) {
        round_trip(&form)?;
    }

    #[test]
    fn push_round_trip(
        jid in arb_jid(),
        node in arb_nonempty(),
        opt_node in proptest::option::of(arb_text()),
        form in proptest::option::of(arb_form()),
        summary in arb_summary(),
    ) {
        round_trip(&PushEnable { jid: jid.clone(), node, publish_options: form.clone() })?;
        round_trip(&PushDisable { jid, node: opt_node })?;
        round_trip(&PushNotification { form })?;
        let n = PushNotification { form: Some(summary.to_form()) };
        round_trip(&n)?;
        prop_assert_eq!(PushSummary::from_form(n.form.as_ref().unwrap()).unwrap(), summary);
    }

    #[test]
    fn empty_payloads_round_trip(_x in Just(())) {
        round_trip(&CarbonsEnable)?;
        round_trip(&CarbonsDisable)?;
        round_trip(&CarbonsPrivate)?;
        round_trip(&CsiFeature)?;
        round_trip(&CsiActive)?;
        round_trip(&CsiInactive)?;
        round_trip(&Blocked)?;
        round_trip(&SmRequest)?;
    }
}

// ---------------------------------------------------------------- XEP-0060

fn arb_node() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9:/.#_-]{1,16}"
}

fn arb_item() -> impl Strategy<Value = Item> {
    (
        proptest::option::of(arb_text()),
        proptest::option::of(arb_jid()),
        proptest::option::of(
            (
                proptest::sample::select(vec![
                    ("entry", "http://www.w3.org/2005/Atom"),
                    ("tune", "http://jabber.org/protocol/tune"),
                ]),
                proptest::option::of(arb_text()),
                proptest::option::of(arb_text()),
            )
                .prop_map(|((name, ns), attr, text)| {
                    let mut e = Element::new(name, ns);
                    e.set_attr("a", attr.as_deref());
                    if let Some(t) = text {
                        e.append_child(Element::new("title", ns)).append_text(t);
                    }
                    e
                }),
        ),
    )
        .prop_map(|(id, publisher, payload)| Item {
            id,
            publisher,
            payload,
        })
}

fn arb_subscription() -> impl Strategy<Value = SubscriptionInfo> {
    (
        proptest::option::of(arb_text()),
        arb_jid(),
        proptest::option::of(arb_text()),
        proptest::option::of(proptest::sample::select(SubscriptionState::ALL.to_vec())),
    )
        .prop_map(|(node, jid, subid, state)| SubscriptionInfo {
            node,
            jid,
            subid,
            state,
        })
}

fn arb_affiliation() -> impl Strategy<Value = AffiliationInfo> {
    (
        proptest::option::of(arb_text()),
        proptest::option::of(arb_jid()),
        proptest::sample::select(Affiliation::ALL.to_vec()),
    )
        .prop_map(|(node, jid, affiliation)| AffiliationInfo {
            node,
            jid,
            affiliation,
        })
}

fn arb_pubsub() -> impl Strategy<Value = PubSub> {
    let opt_node = || proptest::option::of(arb_text());
    let form = || proptest::option::of(arb_form());
    let items = || proptest::collection::vec(arb_item(), 0..3);
    prop_oneof![
        (opt_node(), form()).prop_map(|(node, config)| PubSub::Create { node, config }),
        (arb_node(), items(), form()).prop_map(|(node, items, options)| PubSub::Publish {
            node,
            items,
            options
        }),
        (
            arb_node(),
            any::<bool>(),
            proptest::collection::vec(arb_nonempty(), 1..3)
        )
            .prop_map(|(node, notify, ids)| PubSub::Retract { node, notify, ids }),
        (
            arb_node(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(arb_text()),
            items()
        )
            .prop_map(|(node, max_items, subid, items)| PubSub::Items {
                node,
                max_items,
                subid,
                items
            }),
        (opt_node(), arb_jid(), form()).prop_map(|(node, jid, options)| PubSub::Subscribe {
            node,
            jid,
            options
        }),
        (opt_node(), arb_jid(), proptest::option::of(arb_text()))
            .prop_map(|(node, jid, subid)| PubSub::Unsubscribe { node, jid, subid }),
        arb_subscription().prop_map(PubSub::Subscription),
        (
            opt_node(),
            proptest::collection::vec(arb_subscription(), 0..3)
        )
            .prop_map(|(node, list)| PubSub::Subscriptions { node, list }),
        (
            opt_node(),
            proptest::collection::vec(arb_affiliation(), 0..3)
        )
            .prop_map(|(node, list)| PubSub::Affiliations { node, list }),
        (
            opt_node(),
            arb_jid(),
            proptest::option::of(arb_text()),
            form()
        )
            .prop_map(|(node, jid, subid, form)| PubSub::Options {
                node,
                jid,
                subid,
                form
            }),
        (opt_node(), form()).prop_map(|(node, form)| PubSub::Default { node, form }),
        (opt_node(), form()).prop_map(|(node, form)| PubSub::Configure { node, form }),
    ]
}

fn arb_owner() -> impl Strategy<Value = PubSubOwner> {
    prop_oneof![
        (
            proptest::option::of(arb_text()),
            proptest::option::of(arb_form())
        )
            .prop_map(|(node, form)| PubSubOwner::Configure { node, form }),
        proptest::option::of(arb_form()).prop_map(|form| PubSubOwner::Default { form }),
        (arb_node(), proptest::option::of(arb_text()))
            .prop_map(|(node, redirect)| PubSubOwner::Delete { node, redirect }),
        arb_node().prop_map(|node| PubSubOwner::Purge { node }),
        (
            arb_node(),
            proptest::collection::vec(arb_subscription(), 0..3)
        )
            .prop_map(|(node, list)| PubSubOwner::Subscriptions { node, list }),
        (
            arb_node(),
            proptest::collection::vec(arb_affiliation(), 0..3)
        )
            .prop_map(|(node, list)| PubSubOwner::Affiliations { node, list }),
    ]
}

fn arb_event() -> impl Strategy<Value = PubSubEvent> {
    prop_oneof![
        (
            arb_node(),
            proptest::collection::vec(arb_item(), 0..3),
            proptest::collection::vec(arb_text(), 0..3)
        )
            .prop_map(|(node, items, retracts)| PubSubEvent::Items {
                node,
                items,
                retracts
            }),
        arb_node().prop_map(|node| PubSubEvent::Purge { node }),
        (arb_node(), proptest::option::of(arb_text()))
            .prop_map(|(node, redirect)| PubSubEvent::Delete { node, redirect }),
        (arb_node(), proptest::option::of(arb_form()))
            .prop_map(|(node, form)| PubSubEvent::Configuration { node, form }),
        arb_subscription().prop_map(PubSubEvent::Subscription),
    ]
}

fn arb_node_config() -> impl Strategy<Value = NodeConfig> {
    let b = || proptest::option::of(any::<bool>());
    (
        (
            proptest::option::of(proptest::sample::select(AccessModel::ALL.to_vec())),
            proptest::option::of(proptest::sample::select(PublishModel::ALL.to_vec())),
            proptest::option::of(prop_oneof![
                Just(MaxItems::Max),
                any::<u32>().prop_map(MaxItems::Count)
            ]),
            b(),
            b(),
            b(),
            b(),
            b(),
            b(),
        ),
        (
            proptest::option::of(proptest::sample::select(SendLastPublished::ALL.to_vec())),
            proptest::option::of(proptest::collection::vec(arb_text(), 0..3)),
            proptest::option::of(arb_text()),
            proptest::option::of(arb_text()),
            proptest::option::of(any::<u32>()),
            arb_fields(3).prop_map(|fs| {
                fs.into_iter()
                    .filter(|f| f.var.is_some())
                    .map(|f| Field {
                        var: f.var.map(|v| format!("x#{v}")),
                        ..f
                    })
                    .collect::<Vec<_>>()
            }),
        ),
    )
        .prop_map(|(a, b)| NodeConfig {
            access_model: a.0,
            publish_model: a.1,
            max_items: a.2,
            persist_items: a.3,
            deliver_notifications: a.4,
            deliver_payloads: a.5,
            notify_retract: a.6,
            notify_delete: a.7,
            notify_config: a.8,
            send_last_published_item: b.0,
            roster_groups_allowed: b.1,
            title: b.2,
            payload_type: b.3,
            max_payload_size: b.4,
            other: b.5,
        })
}

proptest! {
    #[test]
    fn bookmark_and_avatar_round_trip(
        name in proptest::option::of(arb_text()),
        autojoin in any::<bool>(),
        nick in proptest::option::of(arb_text()),
        password in proptest::option::of(arb_text()),
        data in proptest::collection::vec(any::<u8>(), 0..64),
        infos in proptest::collection::vec(
            (any::<u32>(), arb_nonempty(), arb_nonempty(), proptest::option::of(any::<u16>()), proptest::option::of(any::<u16>()), proptest::option::of(arb_text())),
            0..3,
        ),
    ) {
        round_trip(&Conference { name, autojoin, nick, password, extensions: None })?;
        round_trip(&AvatarData(data))?;
        let infos = infos
            .into_iter()
            .map(|(bytes, id, mime, width, height, url)| AvatarInfo { bytes, id, mime, width, height, url })
            .collect();
        round_trip(&AvatarMetadata { infos })?;
    }

    #[test]
    fn pubsub_round_trip(p in arb_pubsub()) {
        round_trip(&p)?;
        let iq = Iq::set("ps1", p.clone());
        let back = Iq::from_element(&Element::parse(iq.to_element().to_xml().as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(back.payload_as::<PubSub>().unwrap().unwrap(), p);
    }

    #[test]
    fn pubsub_owner_round_trip(p in arb_owner()) {
        round_trip(&p)?;
    }

    #[test]
    fn pubsub_event_round_trip(e in arb_event()) {
        round_trip(&e)?;
        let mut m = Message::default();
        m.payloads.push(e.to_element());
        let back = Message::from_element(&Element::parse(m.to_element().to_xml().as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(back.payload::<PubSubEvent>().unwrap().unwrap(), e);
    }

    #[test]
    fn node_config_round_trips_through_a_form(
        c in arb_node_config(),
        t in proptest::sample::select(vec![FormType::Form, FormType::Submit, FormType::Result]),
        over in arb_node_config(),
    ) {
        for form_ns in [ns::PUBSUB_NODE_CONFIG, ns::PUBSUB_PUBLISH_OPTIONS] {
            let form = c.to_form(t, form_ns);
            let back = DataForm::from_element(&Element::parse(form.to_element().to_xml().as_bytes()).unwrap()).unwrap();
            prop_assert_eq!(NodeConfig::from_form(&back).unwrap(), c.clone());
        }
        // What is merged over a configuration is satisfied by the result.
        let m = c.merged(&over);
        prop_assert!(m.satisfies(&over));
        prop_assert!(m.satisfies(&NodeConfig::default()));
        prop_assert_eq!(m.merged(&over), m.clone());
    }
}

// ---------------------------------------------------------------- no panic on any element

/// Runs every parser of this file's payloads on `e`; whatever parses must
/// round-trip.
fn every_parser(e: &Element) -> Result<(), TestCaseError> {
    fn check<P: Payload + PartialEq + Debug>(e: &Element) -> Result<(), TestCaseError> {
        if let Ok(v) = P::from_element(e) {
            round_trip(&v)?;
        }
        Ok(())
    }
    check::<SmEnable>(e)?;
    check::<SmEnabled>(e)?;
    check::<SmResume>(e)?;
    check::<SmResumed>(e)?;
    check::<SmFailed>(e)?;
    check::<SmAck>(e)?;
    check::<Forwarded>(e)?;
    check::<CarbonsReceived>(e)?;
    check::<CarbonsSent>(e)?;
    check::<BlockList>(e)?;
    check::<Block>(e)?;
    check::<Unblock>(e)?;
    check::<DataForm>(e)?;
    check::<PushEnable>(e)?;
    check::<PushDisable>(e)?;
    check::<PushNotification>(e)?;
    check::<VCard>(e)?;
    check::<PrivateQuery>(e)?;
    check::<Nick>(e)?;
    check::<VCardUpdate>(e)?;
    if let Ok(card) = VCard::from_element(e) {
        if let Ok(Some(photo)) = card.photo() {
            let again = card.clone().with_photo(&photo);
            prop_assert_eq!(again.photo().unwrap(), Some(photo));
        }
    }
    check::<PubSub>(e)?;
    check::<PubSubOwner>(e)?;
    check::<Conference>(e)?;
    check::<AvatarData>(e)?;
    check::<AvatarMetadata>(e)?;
    check::<PubSubEvent>(e)?;
    if let Ok(form) = DataForm::from_element(e) {
        if let Ok(c) = NodeConfig::from_form(&form) {
            for t in [FormType::Form, FormType::Submit] {
                let again = c.to_form(t, ns::PUBSUB_NODE_CONFIG);
                prop_assert_eq!(NodeConfig::from_form(&again).unwrap(), c.clone());
            }
        }
    }
    check::<Caps>(e)?;
    if let Ok(info) = DiscoInfo::from_element(e) {
        let _ = caps_ver(&info, CapsHash::Sha1);
    }
    if let Ok(n) = SmNonza::from_element(e) {
        prop_assert_eq!(SmNonza::from_element(&n.to_element()).unwrap(), n);
    }
    let _ = Hint::from_element(e);
    let _ = CsiState::from_element(e);
    Ok(())
}

/// Short text made of characters XML allows (the elements are built in
/// memory, so they must be ones a parser could have produced).
const XML_TEXT_8: &str = "[a-zA-Z0-9 @./:'\"&<>éü€😀\t\n\r-]{0,8}";
const XML_TEXT_6: &str = "[a-zA-Z0-9 @./:'\"&<>éü€😀-]{0,6}";

fn arb_element() -> impl Strategy<Value = Element> {
    let leaf = (
        proptest::sample::select(vec![
            ("enable", ns::SM),
            ("enabled", ns::SM),
            ("resume", ns::SM),
            ("failed", ns::SM),
            ("a", ns::SM),
            ("handled-count-too-high", ns::SM),
            ("item-not-found", ns::STANZAS),
            ("gone", ns::STANZAS),
            ("item", ns::BLOCKING),
            ("value", ns::DATA_FORMS),
            ("field", ns::DATA_FORMS),
            ("option", ns::DATA_FORMS),
            ("message", ns::CLIENT),
            ("body", ns::CLIENT),
            ("delay", ns::DELAY),
            ("enable", ns::PUSH),
            ("disable", ns::PUSH),
            ("publish", ns::PUBSUB),
            ("items", ns::PUBSUB),
            ("subscribe", ns::PUBSUB),
            ("create", ns::PUBSUB),
            ("purge", ns::PUBSUB_OWNER),
            ("retract", ns::PUBSUB_EVENT),
            ("redirect", ns::PUBSUB_EVENT),
            ("subscription", ns::PUBSUB_EVENT),
        ]),
        proptest::collection::vec(
            (
                proptest::sample::select(vec![
                    "h",
                    "previd",
                    "resume",
                    "max",
                    "jid",
                    "node",
                    "var",
                    "type",
                    "stamp",
                    "send-count",
                    "from",
                    "label",
                    "id",
                    "max_items",
                    "notify",
                    "subscription",
                    "affiliation",
                    "uri",
                ]),
                prop_oneof![
                    Just("1".to_owned()),
                    Just("4294967295".to_owned()),
                    Just("4294967296".to_owned()),
                    Just("true".to_owned()),
                    Just("a@b.example/r".to_owned()),
                    Just("boolean".to_owned()),
                    Just("jid-single".to_owned()),
                    Just("fixed".to_owned()),
                    Just("submit".to_owned()),
                    Just("2010-07-10T23:08:25Z".to_owned()),
                    XML_TEXT_8,
                ],
            ),
            0..4,
        ),
        proptest::option::of(XML_TEXT_8),
    )
        .prop_map(|((name, ns), attrs, text)| {
            let mut e = Element::new(name, ns);
            for (k, v) in attrs {
                e.set_attr(k, Some(&v));
            }
            if let Some(t) = text {
                e.append_text(t);
            }
            e
        });
    leaf.prop_recursive(3, 24, 4, |inner| {
        (
            proptest::sample::select(vec![
                ("failed", ns::SM),
                ("x", ns::DATA_FORMS),
                ("query", ns::DISCO_INFO),
                ("field", ns::DATA_FORMS),
                ("reported", ns::DATA_FORMS),
                ("item", ns::DATA_FORMS),
                ("option", ns::DATA_FORMS),
                ("forwarded", ns::FORWARD),
                ("received", ns::CARBONS),
                ("sent", ns::CARBONS),
                ("message", ns::CLIENT),
                ("blocklist", ns::BLOCKING),
                ("block", ns::BLOCKING),
                ("unblock", ns::BLOCKING),
                ("enable", ns::PUSH),
                ("notification", ns::PUSH),
                ("pubsub", ns::PUBSUB),
                ("pubsub", ns::PUBSUB_OWNER),
                ("event", ns::PUBSUB_EVENT),
                ("items", ns::PUBSUB_EVENT),
                ("item", ns::PUBSUB),
                ("publish", ns::PUBSUB),
                ("retract", ns::PUBSUB),
                ("configure", ns::PUBSUB),
                ("delete", ns::PUBSUB_OWNER),
                ("vCard", ns::VCARD),
                ("PHOTO", ns::VCARD),
                ("query", ns::PRIVATE),
                ("x", ns::VCARD_UPDATE),
            ]),
            proptest::collection::vec(
                (
                    proptest::sample::select(vec!["type", "jid", "node", "var", "h"]),
                    prop_oneof![
                        Just("result".to_owned()),
                        Just("submit".to_owned()),
                        Just("list-multi".to_owned()),
                        Just("x.example".to_owned()),
                        XML_TEXT_6,
                    ],
                ),
                0..3,
            ),
            proptest::collection::vec(inner, 0..4),
        )
            .prop_map(|((name, ns), attrs, children)| {
                let mut e = Element::new(name, ns);
                for (k, v) in attrs {
                    e.set_attr(k, Some(&v));
                }
                for c in children {
                    e.append_child(c);
                }
                e
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn arbitrary_elements_never_panic_and_round_trip(e in arb_element()) {
        every_parser(&e)?;
        for c in e.children() {
            every_parser(c)?;
        }
    }
}

// ---------------------------------------------------------------- XEP-0115

fn arb_caps() -> impl Strategy<Value = Caps> {
    (
        prop_oneof![
            Just("sha-1".to_owned()),
            Just("sha-256".to_owned()),
            XML_TEXT_8
        ],
        XML_TEXT_8,
        XML_TEXT_8,
    )
        .prop_map(|(hash, node, ver)| Caps { hash, node, ver })
}

fn arb_disco_info() -> impl Strategy<Value = DiscoInfo> {
    let identity = (
        prop_oneof![Just("client"), Just("server"), Just("pubsub")],
        prop_oneof![Just("pc"), Just("phone"), Just("im")],
        proptest::option::of(prop_oneof![Just("en"), Just("el")]),
        proptest::option::of("[a-zA-Z0-9 é<&]{1,8}"),
    )
        .prop_map(|(c, t, lang, name)| Identity {
            category: c.to_owned(),
            identity_type: t.to_owned(),
            name,
            lang: lang.map(str::to_owned),
        });
    (
        proptest::collection::btree_set(
            identity.prop_map(|i| {
                (
                    i.category.clone(),
                    i.identity_type.clone(),
                    i.lang.clone(),
                    i.name.clone(),
                )
            }),
            0..4,
        ),
        proptest::collection::btree_set("[a-z:#+]{1,12}", 0..8),
    )
        .prop_map(|(ids, features)| DiscoInfo {
            identities: ids
                .into_iter()
                .map(|(category, identity_type, lang, name)| Identity {
                    category,
                    identity_type,
                    name,
                    lang,
                })
                .collect(),
            features: features.into_iter().collect(),
            ..DiscoInfo::default()
        })
}

proptest! {
    #[test]
    fn caps_round_trip(c in arb_caps()) {
        round_trip(&c)?;
    }

    /// The verification string does not depend on the order identities
    /// and features come in, and survives a trip through XML.
    #[test]
    fn caps_ver_is_order_independent(info in arb_disco_info(), seed in any::<u64>()) {
        let ver = caps_ver(&info, CapsHash::Sha1).expect("no duplicates");
        let mut shuffled = info.clone();
        let n = shuffled.features.len().max(1);
        shuffled.features.rotate_left((seed as usize) % n);
        shuffled.identities.reverse();
        prop_assert_eq!(caps_ver(&shuffled, CapsHash::Sha1).unwrap(), ver.clone());
        let reparsed = DiscoInfo::from_element(&info.to_element()).unwrap();
        prop_assert_eq!(caps_ver(&reparsed, CapsHash::Sha1).unwrap(), ver);
        let s = caps_verification_string(&info).unwrap();
        prop_assert_eq!(s.matches('<').count() >= info.features.len() + info.identities.len(), true);
    }
}

#[test]
fn xep0115_examples() {
    let c = parse::<Caps>(
        "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='http://code.google.com/p/exodus' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>",
    )
    .unwrap();
    assert_eq!(c.ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
    assert_eq!(
        condition::<Caps>("<c xmlns='http://jabber.org/protocol/caps' node='n' ver='v'/>"),
        C::BadRequest
    );
}

// ------------------------------------------- XEP-0054, -0049, -0172, -0153

#[test]
fn xep0054_examples() {
    // §3.2 Example 5 (abridged), kept verbatim.
    let xml = "<vCard xmlns='vcard-temp'><FN>Peter Saint-Andre</FN><N><FAMILY>Saint-Andre</FAMILY>\
        <GIVEN>Peter</GIVEN></N><NICKNAME>stpeter</NICKNAME><PHOTO><TYPE>image/jpeg</TYPE>\
        <BINVAL>Base64-encoded-avatar-file-here!</BINVAL></PHOTO></vCard>";
    let card = parse::<VCard>(xml).unwrap();
    assert_eq!(card.to_element(), el(xml));
    assert_eq!(card.full_name().as_deref(), Some("Peter Saint-Andre"));
    assert_eq!(card.nickname().as_deref(), Some("stpeter"));
    // The XEP's placeholder is not base64.
    assert_eq!(card.photo().unwrap_err().condition, C::BadRequest);
    let ok = "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo=</BINVAL></PHOTO></vCard>";
    let photo = parse::<VCard>(ok).unwrap().photo().unwrap().unwrap();
    assert_eq!(photo.mime_type.as_deref(), Some("image/png"));
    assert_eq!(photo.data, PhotoData::Binval(b"\x89PNG\r\n\x1a\n".to_vec()));
    assert_eq!(
        condition::<VCard>("<VCARD xmlns='vcard-temp'/>"),
        C::BadRequest
    );
    assert_eq!(
        condition::<VCard>("<vCard xmlns='vcard-temp:x:update'/>"),
        C::BadRequest
    );
}

#[test]
fn xep0049_examples_and_errors() {
    let q = parse::<PrivateQuery>(
        "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query>",
    )
    .unwrap();
    assert_eq!(q.key(), ("exodus:prefs", "exodus"));
    assert_eq!(PrivateQuery::get("exodus", "exodus:prefs").key(), q.key());
    let table: &[(&str, C)] = &[
        ("<query xmlns='jabber:iq:private'/>", C::BadRequest),
        ("<query xmlns='jabber:iq:private'> </query>", C::BadRequest),
        (
            "<query xmlns='jabber:iq:private'><a xmlns='x'/><b xmlns='x'/></query>",
            C::BadRequest,
        ),
        (
            "<query xmlns='jabber:iq:private'><query xmlns='jabber:iq:private'/></query>",
            C::NotAcceptable,
        ),
        (
            "<query xmlns='jabber:iq:private'><a/></query>",
            C::NotAcceptable,
        ),
        (
            "<query xmlns='jabber:iq:private'><a xmlns='jabber:server'/></query>",
            C::NotAcceptable,
        ),
        (
            "<query xmlns='jabber:iq:roster'><a xmlns='x'/></query>",
            C::BadRequest,
        ),
    ];
    for (xml, want) in table {
        assert_eq!(&condition::<PrivateQuery>(xml), want, "{xml}");
    }
}

#[test]
fn xep0172_and_xep0153_examples() {
    assert_eq!(
        parse::<Nick>("<nick xmlns='http://jabber.org/protocol/nick'>Ishmael</nick>").unwrap(),
        Nick("Ishmael".into())
    );
    let table: &[(&str, Option<VCardUpdate>)] = &[
        (
            "<x xmlns='vcard-temp:x:update'/>",
            Some(VCardUpdate { photo: None }),
        ),
        (
            "<x xmlns='vcard-temp:x:update'><photo/></x>",
            Some(VCardUpdate::with_hash(None)),
        ),
        (
            "<x xmlns='vcard-temp:x:update'><photo> </photo></x>",
            Some(VCardUpdate::with_hash(None)),
        ),
        (
            "<x xmlns='vcard-temp:x:update'><photo>sha1-hash-of-image</photo></x>",
            None,
        ),
        (
            "<x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x>",
            Some(VCardUpdate::with_hash(Some(
                "01b87fcd030b72895ff8e88db57ec525450f000d",
            ))),
        ),
    ];
    for (xml, want) in table {
        assert_eq!(&parse::<VCardUpdate>(xml).ok(), want, "{xml}");
    }
}

fn arb_photo() -> impl Strategy<Value = Photo> {
    (
        proptest::option::of("[a-z]{1,8}/[a-z0-9.+-]{1,10}"),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 1..64).prop_map(PhotoData::Binval),
            "https://[a-z]{1,10}\\.example/[a-z0-9]{0,10}".prop_map(PhotoData::Extval),
        ],
    )
        .prop_map(|(mime_type, data)| Photo { mime_type, data })
}

proptest! {
    #[test]
    fn profile_payloads_round_trip(
        fn_ in proptest::option::of(arb_nonempty()),
        photo in proptest::option::of(arb_photo()),
        nick in arb_text(),
        hash in proptest::option::of(proptest::option::of("[0-9a-f]{40}")),
        ns_ in "urn:[a-z]{1,10}",
    ) {
        let mut card = VCard::new();
        if let Some(f) = &fn_ {
            card = card.with_full_name(f);
        }
        card.set_photo(photo.as_ref());
        round_trip(&card)?;
        let reparsed = VCard::from_element(&Element::parse(card.to_element().to_xml().as_bytes()).unwrap()).unwrap();
        prop_assert_eq!(reparsed.photo().unwrap(), photo);
        round_trip(&Nick(nick))?;
        round_trip(&VCardUpdate { photo: hash })?;
        let mut stored = Element::new("prefs", &ns_);
        stored.append_child(card.to_element());
        round_trip(&PrivateQuery::new(stored))?;
    }
}
