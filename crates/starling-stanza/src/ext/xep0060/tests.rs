//! XEP-0060 examples as test vectors: each parses to the expected value,
//! writes back to an element that parses to the same value, and invalid
//! requests give the stanza error XEP-0060 names.

use starling_xml::Element;

use super::*;
use crate::error::Condition;
use crate::payload::Payload;

pub(super) fn el(s: &str) -> Element {
    s.parse().unwrap_or_else(|e| panic!("{e}: {s}"))
}

const PS: &str = "xmlns='http://jabber.org/protocol/pubsub'";
pub(super) const EV: &str = "xmlns='http://jabber.org/protocol/pubsub#event'";
pub(super) const OW: &str = "xmlns='http://jabber.org/protocol/pubsub#owner'";

pub(super) fn round<P: Payload + PartialEq + std::fmt::Debug>(xml: &str) -> P {
    let v = P::from_element(&el(xml)).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let written = v.to_element();
    assert_eq!(
        P::from_element(&written).expect("written parses"),
        v,
        "{xml}"
    );
    let bytes = Element::parse(written.to_xml().as_bytes()).expect("bytes parse");
    assert_eq!(P::from_element(&bytes).expect("bytes parse"), v, "{xml}");
    v
}

pub(super) fn jid(s: &str) -> starling_jid::Jid {
    s.parse().expect("jid")
}

#[test]
fn requests_from_xep0060() {
    let entry = "<entry xmlns='http://www.w3.org/2005/Atom'><title>Soliloquy</title></entry>";
    let table: Vec<(String, PubSub)> = vec![
        // §7.1.1 Ex. 99: publish an item with an id.
        (
            format!(
                "<pubsub {PS}><publish node='princely_musings'><item id='bnd81g37d61f49fgn581'>{entry}</item></publish></pubsub>"
            ),
            PubSub::publish(
                "princely_musings",
                Item::new(Some("bnd81g37d61f49fgn581".into()), el(entry)),
            ),
        ),
        // §7.1.2 Ex. 100: the result names the item.
        (
            format!(
                "<pubsub {PS}><publish node='princely_musings'><item id='ae890ac52d0df67ed7cfdf51b644e901'/></publish></pubsub>"
            ),
            PubSub::Publish {
                node: "princely_musings".into(),
                items: vec![Item::with_id("ae890ac52d0df67ed7cfdf51b644e901")],
                options: None,
            },
        ),
        // §6.5.2 Ex. 78: all items; §6.5.7 Ex. 87: most recent two.
        (
            format!("<pubsub {PS}><items node='princely_musings'/></pubsub>"),
            PubSub::items("princely_musings"),
        ),
        (
            format!("<pubsub {PS}><items node='princely_musings' max_items='2'/></pubsub>"),
            PubSub::Items {
                node: "princely_musings".into(),
                max_items: Some(2),
                subid: None,
                items: vec![],
            },
        ),
        // §6.5.8 Ex. 89: one item by id.
        (
            format!(
                "<pubsub {PS}><items node='princely_musings'><item id='368866411b877c30064a5f62b917cffe'/></items></pubsub>"
            ),
            PubSub::item("princely_musings", "368866411b877c30064a5f62b917cffe"),
        ),
        // §7.2.1 Ex. 115: retract with notify.
        (
            format!(
                "<pubsub {PS}><retract node='princely_musings' notify='true'><item id='ae890ac52d0df67ed7cfdf51b644e901'/></retract></pubsub>"
            ),
            PubSub::retract("princely_musings", "ae890ac52d0df67ed7cfdf51b644e901"),
        ),
        (
            format!(
                "<pubsub {PS}><retract node='n' notify='1'><item id='a'/><item id='b'/></retract></pubsub>"
            ),
            PubSub::Retract {
                node: "n".into(),
                notify: true,
                ids: vec!["a".into(), "b".into()],
            },
        ),
        // §6.1.1 Ex. 32: subscribe.
        (
            format!(
                "<pubsub {PS}><subscribe node='princely_musings' jid='francisco@denmark.lit'/></pubsub>"
            ),
            PubSub::Subscribe {
                node: Some("princely_musings".into()),
                jid: jid("francisco@denmark.lit"),
                options: None,
            },
        ),
        // §6.1.2 Ex. 33: the subscription result.
        (
            format!(
                "<pubsub {PS}><subscription node='princely_musings' jid='francisco@denmark.lit' subid='ba49252aaa4f5d320c24d3766f0bdcade78c78d3' subscription='subscribed'/></pubsub>"
            ),
            PubSub::Subscription(SubscriptionInfo {
                node: Some("princely_musings".into()),
                jid: jid("francisco@denmark.lit"),
                subid: Some("ba49252aaa4f5d320c24d3766f0bdcade78c78d3".into()),
                state: Some(SubscriptionState::Subscribed),
            }),
        ),
        // §6.2.1 Ex. 48: unsubscribe.
        (
            format!(
                "<pubsub {PS}><unsubscribe node='princely_musings' jid='francisco@denmark.lit' subid='ba49'/></pubsub>"
            ),
            PubSub::Unsubscribe {
                node: Some("princely_musings".into()),
                jid: jid("francisco@denmark.lit"),
                subid: Some("ba49".into()),
            },
        ),
        // §5.6 Ex. 20/21: subscriptions; §5.7 Ex. 26: affiliations.
        (
            format!("<pubsub {PS}><subscriptions/></pubsub>"),
            PubSub::Subscriptions {
                node: None,
                list: vec![],
            },
        ),
        (
            format!(
                "<pubsub {PS}><affiliations><affiliation node='node1' affiliation='owner'/><affiliation node='node5' affiliation='outcast'/></affiliations></pubsub>"
            ),
            PubSub::Affiliations {
                node: None,
                list: vec![
                    AffiliationInfo {
                        node: Some("node1".into()),
                        jid: None,
                        affiliation: Affiliation::Owner,
                    },
                    AffiliationInfo {
                        node: Some("node5".into()),
                        jid: None,
                        affiliation: Affiliation::Outcast,
                    },
                ],
            },
        ),
        // §6.3.2 Ex. 57: subscription options request; §6.4 default.
        (
            format!(
                "<pubsub {PS}><options node='princely_musings' jid='francisco@denmark.lit'/></pubsub>"
            ),
            PubSub::Options {
                node: Some("princely_musings".into()),
                jid: jid("francisco@denmark.lit"),
                subid: None,
                form: None,
            },
        ),
        (
            format!("<pubsub {PS}><default/></pubsub>"),
            PubSub::Default {
                node: None,
                form: None,
            },
        ),
        // §8.1.1 Ex. 131: create; §8.1.2 instant node.
        (
            format!("<pubsub {PS}><create node='princely_musings'/></pubsub>"),
            PubSub::Create {
                node: Some("princely_musings".into()),
                config: None,
            },
        ),
        (
            format!("<pubsub {PS}><create/><configure/></pubsub>"),
            PubSub::Create {
                node: None,
                config: None,
            },
        ),
        (
            format!("<pubsub {PS}><configure node='x'/></pubsub>"),
            PubSub::Configure {
                node: Some("x".into()),
                form: None,
            },
        ),
    ];
    for (xml, want) in table {
        assert_eq!(round::<PubSub>(&xml), want, "{xml}");
    }
}

#[test]
fn companions_carry_forms() {
    // §7.1.5 Ex. 126: publish with options.
    let v = round::<PubSub>(&format!(
        "<pubsub {PS}><publish node='princely_musings'><item id='ae890ac52d0df67ed7cfdf51b644e901'>\
         <entry xmlns='http://www.w3.org/2005/Atom'/></item></publish>\
         <publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='pubsub#access_model'><value>presence</value></field></x></publish-options></pubsub>"
    ));
    let PubSub::Publish {
        options: Some(form),
        ..
    } = v
    else {
        panic!("{v:?}")
    };
    let c = NodeConfig::from_form(&form).expect("options");
    assert_eq!(c.access_model, Some(AccessModel::Presence));
    // §8.1.3 Ex. 142: create and configure.
    let v = round::<PubSub>(&format!(
        "<pubsub {PS}><create node='princely_musings'/><configure><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>\
         <field var='pubsub#max_items'><value>10</value></field></x></configure></pubsub>"
    ));
    let PubSub::Create {
        config: Some(form), ..
    } = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(
        NodeConfig::from_form(&form).expect("config").max_items,
        Some(MaxItems::Count(10))
    );
    // §6.3.7 Ex. 72: subscribe and configure.
    let v = round::<PubSub>(&format!(
        "<pubsub {PS}><subscribe node='princely_musings' jid='francisco@denmark.lit'/><options>\
         <x xmlns='jabber:x:data' type='submit'><field var='pubsub#deliver'><value>1</value></field></x>\
         </options></pubsub>"
    ));
    assert!(
        matches!(
            v,
            PubSub::Subscribe {
                options: Some(_),
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn invalid_requests() {
    let table: &[(&str, Condition, Option<PubSubError>)] = &[
        (
            "<publish><item/></publish>",
            Condition::BadRequest,
            Some(PubSubError::NodeIdRequired),
        ),
        (
            "<publish node=''/>",
            Condition::BadRequest,
            Some(PubSubError::NodeIdRequired),
        ),
        (
            "<items/>",
            Condition::BadRequest,
            Some(PubSubError::NodeIdRequired),
        ),
        (
            "<items node='n' max_items='many'/>",
            Condition::BadRequest,
            None,
        ),
        (
            "<items node='n' max_items='4294967296'/>",
            Condition::BadRequest,
            None,
        ),
        (
            "<retract node='n'/>",
            Condition::BadRequest,
            Some(PubSubError::ItemRequired),
        ),
        (
            "<retract node='n'><item/></retract>",
            Condition::BadRequest,
            Some(PubSubError::ItemRequired),
        ),
        (
            "<retract node='n' notify='yes'><item id='a'/></retract>",
            Condition::BadRequest,
            None,
        ),
        (
            "<subscribe node='n'/>",
            Condition::BadRequest,
            Some(PubSubError::JidRequired),
        ),
        (
            "<subscribe node='n' jid='@bad'/>",
            Condition::JidMalformed,
            None,
        ),
        (
            "<publish node='n'><item id='a'><a xmlns='urn:a'/><b xmlns='urn:b'/></item></publish>",
            Condition::BadRequest,
            Some(PubSubError::InvalidPayload),
        ),
        (
            "<subscription node='n' jid='a@b' subscription='maybe'/>",
            Condition::BadRequest,
            None,
        ),
        (
            "<affiliations><affiliation node='n'/></affiliations>",
            Condition::BadRequest,
            None,
        ),
        ("<publish-options/>", Condition::BadRequest, None),
        ("", Condition::BadRequest, None),
        ("<frobnicate/>", Condition::BadRequest, None),
    ];
    for (inner, cond, app) in table {
        let xml = format!("<pubsub {PS}>{inner}</pubsub>");
        let err = PubSub::from_element(&el(&xml)).expect_err(&xml);
        assert_eq!(&err.condition, cond, "{xml}: {err}");
        let se = err.to_stanza_error();
        assert_eq!(
            PubSubError::from_stanza_error(&se).as_ref(),
            app.as_ref(),
            "{xml}"
        );
    }
    assert!(PubSub::from_element(&el(&format!("<pubsub {EV}/>"))).is_err());
}
