//! XEP-0060 notifications (`pubsub#event`) and owner requests
//! (`pubsub#owner`) as test vectors.

use super::tests::{EV, OW, el, jid, round};
use super::*;
use crate::payload::Payload;

#[test]
fn events_from_xep0060() {
    let entry = "<entry xmlns='http://www.w3.org/2005/Atom'><title>Soliloquy</title></entry>";
    let mut with_payload = Item::new(Some("ae890ac52d0df67ed7cfdf51b644e901".into()), el(entry));
    with_payload.publisher = Some(jid("hamlet@denmark.lit"));
    let table: Vec<(String, PubSubEvent)> = vec![
        // §7.1.2.1 Ex. 101: with payload (and publisher, Ex. 102).
        (
            format!(
                "<event {EV}><items node='princely_musings'><item id='ae890ac52d0df67ed7cfdf51b644e901' publisher='hamlet@denmark.lit'>{entry}</item></items></event>"
            ),
            PubSubEvent::items("princely_musings", vec![with_payload]),
        ),
        // §7.1.2.2 Ex. 103: without payload.
        (
            format!(
                "<event {EV}><items node='princely_musings'><item id='ae890ac52d0df67ed7cfdf51b644e901'/></items></event>"
            ),
            PubSubEvent::items(
                "princely_musings",
                vec![Item::with_id("ae890ac52d0df67ed7cfdf51b644e901")],
            ),
        ),
        // §7.2.2.1 Ex. 117: retract.
        (
            format!(
                "<event {EV}><items node='princely_musings'><retract id='ae890ac52d0df67ed7cfdf51b644e901'/></items></event>"
            ),
            PubSubEvent::retracts(
                "princely_musings",
                vec!["ae890ac52d0df67ed7cfdf51b644e901".into()],
            ),
        ),
        // §8.5.2 Ex. 179: purge; §8.4.2 Ex. 171: delete with redirect.
        (
            format!("<event {EV}><purge node='princely_musings'/></event>"),
            PubSubEvent::Purge {
                node: "princely_musings".into(),
            },
        ),
        (
            format!(
                "<event {EV}><delete node='princely_musings'><redirect uri='xmpp:hamlet@denmark.lit?;node=blog'/></delete></event>"
            ),
            PubSubEvent::Delete {
                node: "princely_musings".into(),
                redirect: Some("xmpp:hamlet@denmark.lit?;node=blog".into()),
            },
        ),
        // §8.2.5.1 Ex. 153: configuration without payload.
        (
            format!("<event {EV}><configuration node='princely_musings'/></event>"),
            PubSubEvent::Configuration {
                node: "princely_musings".into(),
                form: None,
            },
        ),
        // §8.8.4 Ex. 206: subscription state change.
        (
            format!(
                "<event {EV}><subscription node='princely_musings' jid='horatio@denmark.lit' subscription='none'/></event>"
            ),
            PubSubEvent::Subscription(SubscriptionInfo {
                node: Some("princely_musings".into()),
                jid: jid("horatio@denmark.lit"),
                subid: None,
                state: Some(SubscriptionState::None),
            }),
        ),
    ];
    for (xml, want) in table {
        assert_eq!(round::<PubSubEvent>(&xml), want, "{xml}");
    }
    for bad in [
        "<items/>",
        "<items node='n'><retract/></items>",
        "<delete node='n'><redirect/></delete>",
        "<gone/>",
    ] {
        let xml = format!("<event {EV}>{bad}</event>");
        assert!(PubSubEvent::from_element(&el(&xml)).is_err(), "{xml}");
    }
}

#[test]
fn owner_requests_from_xep0060() {
    let table: Vec<(String, PubSubOwner)> = vec![
        (
            format!("<pubsub {OW}><configure node='princely_musings'/></pubsub>"),
            PubSubOwner::configure("princely_musings"),
        ),
        (
            format!("<pubsub {OW}><default/></pubsub>"),
            PubSubOwner::Default { form: None },
        ),
        (
            format!("<pubsub {OW}><delete node='princely_musings'/></pubsub>"),
            PubSubOwner::delete("princely_musings"),
        ),
        (
            format!(
                "<pubsub {OW}><delete node='princely_musings'><redirect uri='xmpp:hamlet@denmark.lit?;node=blog'/></delete></pubsub>"
            ),
            PubSubOwner::Delete {
                node: "princely_musings".into(),
                redirect: Some("xmpp:hamlet@denmark.lit?;node=blog".into()),
            },
        ),
        (
            format!("<pubsub {OW}><purge node='princely_musings'/></pubsub>"),
            PubSubOwner::purge("princely_musings"),
        ),
        (
            format!(
                "<pubsub {OW}><subscriptions node='princely_musings'><subscription jid='hamlet@denmark.lit' subscription='subscribed'/></subscriptions></pubsub>"
            ),
            PubSubOwner::Subscriptions {
                node: "princely_musings".into(),
                list: vec![SubscriptionInfo {
                    node: None,
                    jid: jid("hamlet@denmark.lit"),
                    subid: None,
                    state: Some(SubscriptionState::Subscribed),
                }],
            },
        ),
        (
            format!(
                "<pubsub {OW}><affiliations node='princely_musings'><affiliation jid='bard@shakespeare.lit' affiliation='publisher'/></affiliations></pubsub>"
            ),
            PubSubOwner::Affiliations {
                node: "princely_musings".into(),
                list: vec![AffiliationInfo {
                    node: None,
                    jid: Some(jid("bard@shakespeare.lit")),
                    affiliation: Affiliation::Publisher,
                }],
            },
        ),
    ];
    for (xml, want) in table {
        assert_eq!(round::<PubSubOwner>(&xml), want, "{xml}");
    }
    for bad in [
        "<delete/>",
        "<purge/>",
        "<subscriptions/>",
        "<publish node='n'/>",
    ] {
        let xml = format!("<pubsub {OW}>{bad}</pubsub>");
        assert!(PubSubOwner::from_element(&el(&xml)).is_err(), "{xml}");
    }
}
