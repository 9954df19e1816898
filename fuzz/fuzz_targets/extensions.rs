//! The typed extension payloads (XEP-0004, -0049, -0054, -0060, -0084,
//! -0115, -0153, -0172, -0191, -0198, -0280, -0297, -0334, -0352, -0357,
//! -0402) on every element of fuzzed XML: no panic, and a
//! payload that parses is written to an element, and to bytes, that parse
//! to the same value (`parse → build → parse` is the identity).
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use starling_stanza::{
    AvatarData, AvatarMetadata, Block, BlockList, Blocked, CarbonsDisable, CarbonsEnable,
    CarbonsPrivate, CarbonsReceived, CarbonsSent, Conference, CsiFeature, CsiState, DataForm,
    FormType, Forwarded, HandledCountTooHigh, Hint, Message, NodeConfig, Payload, PubSub,
    PubSubEvent, PubSubOwner, PushDisable, PushEnable, PushNotification, PushSummary, SmAck,
    SmEnable, SmEnabled, SmFailed, SmNonza, SmRequest, SmResume, SmResumed, Unblock,
};
use starling_stanza::{Caps, CapsHash, DiscoInfo, caps_ver, caps_verification_string};
use starling_stanza::{Nick, PrivateQuery, VCard, VCardUpdate};
use starling_xml::Element;

/// Elements visited per input, so that a deep or wide input stays fast.
const MAX_ELEMENTS: usize = 512;

fn reparse(el: &Element) -> Element {
    Element::parse(el.to_xml().as_bytes()).expect("written XML parses")
}

fn check<P: Payload + PartialEq + Debug>(el: &Element) {
    let Ok(v) = P::from_element(el) else {
        return;
    };
    let written = v.to_element();
    let again = P::from_element(&written).expect("a written payload parses");
    assert_eq!(again, v, "parse → build → parse differs for <{}/>", P::NAME);
    let from_bytes = P::from_element(&reparse(&written)).expect("written bytes parse");
    assert_eq!(
        from_bytes,
        v,
        "parse → bytes → parse differs for <{}/>",
        P::NAME
    );
}

fn visit(el: &Element) {
    check::<SmEnable>(el);
    check::<SmEnabled>(el);
    check::<SmResume>(el);
    check::<SmResumed>(el);
    check::<SmFailed>(el);
    check::<SmAck>(el);
    check::<SmRequest>(el);
    check::<HandledCountTooHigh>(el);
    if let Ok(n) = SmNonza::from_element(el) {
        assert_eq!(SmNonza::from_element(&n.to_element()).expect("parses"), n);
        assert_eq!(
            SmNonza::from_element(&reparse(&n.to_element())).expect("parses"),
            n
        );
    }
    check::<Forwarded>(el);
    check::<CarbonsReceived>(el);
    check::<CarbonsSent>(el);
    check::<CarbonsEnable>(el);
    check::<CarbonsDisable>(el);
    check::<CarbonsPrivate>(el);
    if let Ok(h) = Hint::from_element(el) {
        assert_eq!(Hint::from_element(&h.to_element()).expect("parses"), h);
    }
    if let Ok(s) = CsiState::from_element(el) {
        assert_eq!(CsiState::from_element(&s.to_element()).expect("parses"), s);
    }
    check::<CsiFeature>(el);
    check::<VCard>(el);
    if let Ok(Ok(Some(photo))) = VCard::from_element(el).map(|c| c.photo()) {
        let card = VCard::new().with_photo(&photo);
        assert_eq!(
            card.photo().expect("a written photo parses"),
            Some(photo.clone())
        );
        let again = VCard::from_element(&reparse(&card.to_element())).expect("parses");
        assert_eq!(again.photo().expect("parses"), Some(photo));
    }
    check::<PrivateQuery>(el);
    check::<Nick>(el);
    check::<VCardUpdate>(el);
    check::<BlockList>(el);
    check::<Block>(el);
    check::<Unblock>(el);
    check::<Blocked>(el);
    check::<DataForm>(el);
    if let Ok(form) = DataForm::from_element(el) {
        if let Ok(s) = PushSummary::from_form(&form) {
            assert_eq!(PushSummary::from_form(&s.to_form()).expect("parses"), s);
        }
    }
    check::<AvatarData>(el);
    check::<AvatarMetadata>(el);
    check::<Conference>(el);
    check::<PubSub>(el);
    check::<PubSubOwner>(el);
    check::<PubSubEvent>(el);
    if let Ok(form) = DataForm::from_element(el) {
        if let Ok(c) = NodeConfig::from_form(&form) {
            let again = c.to_form(
                FormType::Submit,
                starling_stanza::ns::PUBSUB_PUBLISH_OPTIONS,
            );
            assert_eq!(NodeConfig::from_form(&again).expect("parses"), c);
        }
    }
    check::<PushEnable>(el);
    check::<PushDisable>(el);
    check::<PushNotification>(el);
    check::<Caps>(el);
    if let Ok(info) = DiscoInfo::from_element(el) {
        // Never panics; an accepted string hashes.
        if caps_verification_string(&info).is_ok() {
            assert!(caps_ver(&info, CapsHash::Sha1).is_ok());
        }
    }
    if el.name() == "message" {
        if let Ok(m) = Message::from_element(el) {
            let hints = m.hints();
            for h in Hint::ALL {
                assert_eq!(m.has_hint(h), hints.contains(&h));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut doc = b"<wrap xmlns='jabber:client'>".to_vec();
    doc.extend_from_slice(data);
    doc.extend_from_slice(b"</wrap>");
    let Ok(wrap) = Element::parse(&doc) else {
        return;
    };
    let mut stack: Vec<&Element> = wrap.children().collect();
    let mut seen = 0;
    while let Some(el) = stack.pop() {
        seen += 1;
        if seen > MAX_ELEMENTS {
            break;
        }
        visit(el);
        stack.extend(el.children());
    }
});
