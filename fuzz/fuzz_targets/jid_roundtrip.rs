//! Any UTF-8 input that parses as a JID must print as a string that parses
//! back to the same JID, and printing must be stable.

#![no_main]

use libfuzzer_sys::fuzz_target;
use starling_jid::{DomainPart, Jid, NodePart, ResourcePart};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(jid) = Jid::new(input) else {
        return;
    };
    let shown = jid.to_string();
    let again = match Jid::new(&shown) {
        Ok(j) => j,
        Err(e) => panic!("{input:?} parsed to {shown:?}, which does not parse: {e}"),
    };
    assert_eq!(again, jid, "{input:?}");
    assert_eq!(
        again.to_string(),
        shown,
        "display is not stable for {input:?}"
    );

    // Each part is valid and prepared on its own.
    if let Some(node) = jid.node() {
        assert_eq!(
            NodePart::new(node).map(|n| n.to_string()).as_deref(),
            Ok(node)
        );
    }
    let domain = jid.domain();
    assert_eq!(
        DomainPart::new(domain).map(|d| d.to_string()).as_deref(),
        Ok(domain)
    );
    if let Some(resource) = jid.resource() {
        assert_eq!(
            ResourcePart::new(resource)
                .map(|r| r.to_string())
                .as_deref(),
            Ok(resource)
        );
    }
    for part in [jid.node(), Some(domain), jid.resource()]
        .into_iter()
        .flatten()
    {
        assert!((1..=1023).contains(&part.len()));
    }
});
