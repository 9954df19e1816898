//! The `serde` feature: every type is its string form.
#![cfg(feature = "serde")]

use starling_jid::{BareJid, DomainPart, FullJid, Jid, NodePart, ResourcePart};

#[test]
fn string_form_round_trip() {
    let jid: Jid = "Juliet@Example.com/Balcony".parse().unwrap();
    let json = serde_json::to_string(&jid).unwrap();
    assert_eq!(json, "\"juliet@example.com/Balcony\"");
    assert_eq!(serde_json::from_str::<Jid>(&json).unwrap(), jid);
    // Deserialisation prepares the input.
    let full: FullJid = serde_json::from_str("\"JULIET@example.com/r\"").unwrap();
    assert_eq!(full, "juliet@example.com/r");
    let bare: BareJid = serde_json::from_str("\"example.com\"").unwrap();
    assert_eq!(bare, "example.com");
    assert!(serde_json::from_str::<BareJid>("\"a@b/c\"").is_err());
    assert!(serde_json::from_str::<FullJid>("\"a@b\"").is_err());
    assert!(serde_json::from_str::<Jid>("\"@b\"").is_err());
    assert!(serde_json::from_str::<Jid>("42").is_err());
    let node: NodePart = serde_json::from_str("\"\\u03a3\"").unwrap();
    assert_eq!(node, "\u{3c3}");
    let domain: DomainPart = serde_json::from_str("\"xn--bcher-kva.example\"").unwrap();
    assert_eq!(
        serde_json::to_string(&domain).unwrap(),
        "\"bücher.example\""
    );
    let res: ResourcePart = serde_json::from_str("\"r\"").unwrap();
    assert_eq!(res, "r");
}
