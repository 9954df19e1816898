//! Stanza parsing from elements: whatever element the bytes parse to, a
//! stanza that parses re-serialises to an element that parses to the same
//! stanza; an invalid one yields an error reply that is itself a valid stanza;
//! the routing view (`Envelope`) accepts and refuses exactly the same
//! elements, with the same condition, kind and header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_stanza::{Envelope, Stanza, StanzaKind, error_reply};
use starling_xml::Element;

fuzz_target!(|data: &[u8]| {
    // Put the fuzz input inside a client stanza context so the common
    // namespaces apply.
    let mut doc = b"<wrap xmlns='jabber:client'>".to_vec();
    doc.extend_from_slice(data);
    doc.extend_from_slice(b"</wrap>");
    let Ok(wrap) = Element::parse(&doc) else {
        return;
    };
    for el in wrap.children() {
        let envelope = Envelope::from_element(el);
        match Stanza::from_element(el) {
            Ok(stanza) => {
                let env = envelope.expect("the envelope accepts what the stanza parser accepts");
                assert_eq!(&env.header, stanza.header());
                assert_eq!(env.kind.name(), el.name());
                match (&env.kind, &stanza) {
                    (StanzaKind::Message(t), Stanza::Message(m)) => assert_eq!(*t, m.message_type),
                    (StanzaKind::Presence(t, p), Stanza::Presence(s)) => {
                        assert_eq!((*t, *p), (s.presence_type, s.priority));
                    }
                    (StanzaKind::Iq(_), Stanza::Iq(_)) => {}
                    other => panic!("kinds differ: {other:?}"),
                }
                let again =
                    Stanza::from_element(&stanza.to_element()).expect("a written stanza parses");
                assert_eq!(again, stanza);
                let bytes = stanza.to_element().to_xml();
                let reparsed = Element::parse(bytes.as_bytes()).expect("written XML parses");
                assert_eq!(Stanza::from_element(&reparsed).expect("parses"), stanza);
            }
            Err(e) => {
                let env_err = envelope.expect_err("the envelope refuses what the parser refuses");
                assert_eq!(env_err.condition, e.condition);
                if let Some(reply) = error_reply(el, &e.to_stanza_error(), false) {
                    let bytes = reply.to_xml();
                    Element::parse(bytes.as_bytes()).expect("an error reply is well-formed");
                }
            }
        }
    }
});
