//! The vcard module on an in-memory hub.

use starling_stanza::{Payload, VCard, ns};

use crate::config::Config;
use crate::modules::test_world::{World, condition};

const SET: &str = "<vCard xmlns='vcard-temp'><FN>User</FN><NICKNAME>u</NICKNAME></vCard>";

fn card_of(reply: &crate::routed::Routed) -> VCard {
    VCard::from_element(reply.payload().expect("a vCard")).unwrap()
}

/// Eve asks for the user's vCard.
async fn eve_reads(w: &mut World) -> VCard {
    let r = w
        .iq(
            "eve@localhost/pc",
            Some("user@localhost"),
            "get",
            "<vCard xmlns='vcard-temp'/>",
        )
        .await;
    assert_eq!(condition(&r), None);
    card_of(&r)
}

#[tokio::test]
async fn set_by_owner_get_by_anyone() {
    let mut w = World::new(Config::default()).await;
    assert!(
        w.hub
            .modules()
            .disco_features()
            .iter()
            .any(|f| f == ns::VCARD)
    );
    // No vCard yet: an empty one.
    assert!(eve_reads(&mut w).await.is_empty());
    // Only the owner sets it (with or without `to`).
    let r = w
        .iq("eve@localhost/pc", Some("user@localhost"), "set", SET)
        .await;
    assert_eq!(condition(&r).as_deref(), Some("forbidden"));
    let r = w.iq("user@localhost/phone", None, "set", SET).await;
    assert_eq!(condition(&r), None);
    assert_eq!(r.payload(), None);
    for (from, to) in [
        ("eve@localhost/pc", Some("user@localhost")),
        ("user@localhost/laptop", None),
        ("user@localhost/phone", Some("user@localhost")),
    ] {
        let r = w.iq(from, to, "get", "<vCard xmlns='vcard-temp'/>").await;
        assert_eq!(card_of(&r).to_element(), SET.parse().unwrap(), "{from}");
        assert_eq!(card_of(&r).nickname().as_deref(), Some("u"));
    }
    // The server's own vCard is empty.
    let r = w
        .iq(
            "eve@localhost/pc",
            Some("localhost"),
            "get",
            "<vCard xmlns='vcard-temp'/>",
        )
        .await;
    assert!(card_of(&r).is_empty());
}

#[tokio::test]
async fn a_vcard_over_the_limit_is_refused_and_the_old_one_kept() {
    let mut config = Config::default();
    config.modules.vcard.max_bytes = 2048;
    let mut w = World::new(config).await;
    w.iq("user@localhost/phone", None, "set", SET).await;
    let big = format!(
        "<vCard xmlns='vcard-temp'><DESC>{}</DESC></vCard>",
        "x".repeat(2048)
    );
    let r = w.iq("user@localhost/phone", None, "set", &big).await;
    assert_eq!(condition(&r).as_deref(), Some("not-acceptable"));
    assert!(r.element().to_xml().contains("2048 bytes"));
    assert_eq!(eve_reads(&mut w).await.full_name().as_deref(), Some("User"));
}

#[tokio::test]
async fn disabled_module_answers_nothing() {
    let mut config = Config::default();
    config.modules.vcard.enabled = false;
    let mut w = World::new(config).await;
    let r = w
        .iq(
            "user@localhost/phone",
            None,
            "get",
            "<vCard xmlns='vcard-temp'/>",
        )
        .await;
    assert_eq!(condition(&r).as_deref(), Some("service-unavailable"));
    assert!(
        !w.hub
            .modules()
            .disco_features()
            .iter()
            .any(|f| f == ns::VCARD)
    );
}
