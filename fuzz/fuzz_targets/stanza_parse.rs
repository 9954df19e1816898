//! Stanza parsing from elements: whatever element the bytes parse to, a
//! stanza that parses re-serialises to an element that parses to the same
//! stanza; an invalid one yields an error reply that is itself a valid stanza.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_stanza::{Stanza, error_reply};
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
        match Stanza::from_element(el) {
            Ok(stanza) => {
                let again =
                    Stanza::from_element(&stanza.to_element()).expect("a written stanza parses");
                assert_eq!(again, stanza);
                let bytes = stanza.to_element().to_xml();
                let reparsed = Element::parse(bytes.as_bytes()).expect("written XML parses");
                assert_eq!(Stanza::from_element(&reparsed).expect("parses"), stanza);
            }
            Err(e) => {
                if let Some(reply) = error_reply(el, &e.to_stanza_error(), false) {
                    let bytes = reply.to_xml();
                    Element::parse(bytes.as_bytes()).expect("an error reply is well-formed");
                }
            }
        }
    }
});
