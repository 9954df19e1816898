//! XEP-0060 requests as a server receives them: fuzzed bytes inside a
//! `<pubsub/>` (both the `pubsub` and `pubsub#owner` namespaces) are read
//! by starling-xml and parsed as [`PubSub`] / [`PubSubOwner`]. No panic;
//! a request that parses is written to an element and to bytes that parse
//! to the same value; a request that does not parse gives a stanza error
//! that writes and reads back; any form it carries reads as a
//! [`NodeConfig`] that survives `to_form → from_form`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_stanza::{
    DataForm, FormType, NodeConfig, Payload, PubSub, PubSubError, PubSubOwner, StanzaError, ns,
};
use starling_xml::Element;

fn check_config(form: Option<&DataForm>) {
    let Some(form) = form else {
        return;
    };
    if let Ok(c) = NodeConfig::from_form(form) {
        for t in [FormType::Form, FormType::Submit] {
            let again = c.to_form(t, ns::PUBSUB_NODE_CONFIG);
            assert_eq!(NodeConfig::from_form(&again).expect("parses"), c);
        }
        assert!(c.satisfies(&c));
    }
}

fn check<P: Payload + PartialEq + std::fmt::Debug>(el: &Element) -> Option<P> {
    match P::from_element(el) {
        Ok(v) => {
            let written = v.to_element();
            assert_eq!(
                P::from_element(&written).expect("a written request parses"),
                v
            );
            let bytes = Element::parse(written.to_xml().as_bytes()).expect("written XML parses");
            assert_eq!(P::from_element(&bytes).expect("written bytes parse"), v);
            Some(v)
        }
        Err(e) => {
            let se = e.to_stanza_error();
            let back = StanzaError::from_element(&se.to_element()).expect("an error element");
            assert_eq!(back.condition, se.condition);
            let _ = PubSubError::from_stanza_error(&back);
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for namespace in [ns::PUBSUB, ns::PUBSUB_OWNER] {
        let mut doc = format!("<pubsub xmlns='{namespace}'>").into_bytes();
        doc.extend_from_slice(data);
        doc.extend_from_slice(b"</pubsub>");
        let Ok(el) = Element::parse(&doc) else {
            return;
        };
        if namespace == ns::PUBSUB {
            match check::<PubSub>(&el) {
                Some(PubSub::Publish { options, .. }) => check_config(options.as_ref()),
                Some(PubSub::Create { config, .. }) => check_config(config.as_ref()),
                Some(PubSub::Configure { form, .. }) => check_config(form.as_ref()),
                _ => {}
            }
        } else if let Some(PubSubOwner::Configure { form, .. }) = check::<PubSubOwner>(&el) {
            check_config(form.as_ref());
        }
    }
});
