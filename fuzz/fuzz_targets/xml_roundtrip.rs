//! If the input parses as an element, writing it and parsing the result
//! gives the same element, and writing that again gives the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_xml::{Element, Writer};

fuzz_target!(|data: &[u8]| {
    let Ok(e) = Element::parse(data) else { return };
    let written = Writer::new().element_to_vec(&e);
    let again = match Element::parse(&written) {
        Ok(again) => again,
        Err(err) => panic!("{err} in {:?}", String::from_utf8_lossy(&written)),
    };
    assert_eq!(
        again,
        e,
        "written as {:?}",
        String::from_utf8_lossy(&written)
    );
    assert_eq!(Writer::new().element_to_vec(&again), written);
});
