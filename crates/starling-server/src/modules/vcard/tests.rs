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
    // No account, no vCard.
    let r = w
        .iq(
            "eve@localhost/pc",
            Some("nobody@localhost"),
            "get",
            "<vCard xmlns='vcard-temp'/>",
        )
        .await;
    assert_eq!(condition(&r).as_deref(), Some("service-unavailable"));
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

// ------------------------------------------------------ XEP-0398 with PEP

mod conversion {
    use std::sync::Arc;

    use starling_jid::BareJid;
    use starling_stanza::{Payload, Photo, PhotoData, VCard, VCardUpdate, ns};

    use super::super::VCards;
    use super::super::avatar::{Avatar, sha1_hex};
    use crate::modules::pep_double::{Call, PepDouble};
    use crate::modules::test_world::{World, st};

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 9, 8, 7];

    async fn world() -> (World, Arc<PepDouble>) {
        PepDouble::world(|s, pep| Arc::new(VCards::new(s.vcards.clone(), 65536, Some(pep)))).await
    }

    fn with_photo(bytes: &[u8]) -> String {
        VCard::new()
            .with_full_name("User")
            .with_photo(&Photo::binary("image/png", bytes.to_vec()))
            .to_element()
            .to_xml()
    }

    fn publish(node: &str, id: &str) -> Call {
        Call::Publish(node.to_owned(), id.to_owned(), false)
    }

    /// With PEP, the module adds the hash to a client's presence before
    /// the presence module broadcasts it (that module takes every
    /// presence): it must come first in the hook chain.
    #[test]
    fn the_presence_hook_runs_before_the_presence_module() {
        let stores = crate::storage::Stores::sqlite(
            Arc::new(crate::storage::SqliteStorage::open_in_memory().unwrap()),
            1,
        );
        let built = crate::modules::build(&crate::config::Config::default(), &stores, None);
        let names: Vec<_> = built.names().collect();
        let at = |n| names.iter().position(|&m| m == n).unwrap();
        assert!(at("vcard") < at("presence"), "{names:?}");
    }

    #[tokio::test]
    async fn a_vcard_photo_is_published_once_and_removed() {
        let (mut w, pep) = world().await;
        assert!(w.has_account_feature(ns::PEP_VCARD_CONVERSION));
        let id = sha1_hex(PNG);
        w.iq("user@localhost/phone", None, "set", &with_photo(PNG))
            .await;
        assert_eq!(
            pep.take_calls(),
            [
                publish(ns::AVATAR_DATA, &id),
                publish(ns::AVATAR_METADATA, &id)
            ]
        );
        // The same photo again: nothing published.
        w.iq("user@localhost/phone", None, "set", &with_photo(PNG))
            .await;
        assert_eq!(pep.take_calls(), []);
        // No photo any more: an empty <metadata/>.
        let no_photo = VCard::new().with_full_name("User").to_element().to_xml();
        w.iq("user@localhost/phone", None, "set", &no_photo).await;
        assert_eq!(pep.take_calls(), [publish(ns::AVATAR_METADATA, "current")]);
        let meta = pep.node("user@localhost", ns::AVATAR_METADATA);
        assert!(
            meta[0]
                .payload
                .as_ref()
                .unwrap()
                .children()
                .next()
                .is_none()
        );
        // Without a photo before or now, nothing is published.
        w.iq("user@localhost/phone", None, "set", &no_photo).await;
        assert_eq!(pep.take_calls(), []);
    }

    #[tokio::test]
    async fn a_read_takes_the_current_pep_avatar_and_presence_its_hash() {
        let (mut w, pep) = world().await;
        w.iq("user@localhost/phone", None, "set", &with_photo(PNG))
            .await;
        // A client publishes another avatar to PEP directly.
        let newer =
            Avatar::from_photo(&Photo::binary("image/jpeg", b"\xff\xd8\xffnew".to_vec())).unwrap();
        let owner: BareJid = "user@localhost".parse().unwrap();
        let module = VCards::new(
            Arc::new(crate::storage::blocking::OnPool::new(
                Arc::new(crate::storage::SqliteStorage::open_in_memory().unwrap()),
                crate::storage::Executor::new(1),
            )),
            65536,
            Some(pep.clone()),
        );
        use crate::pep::PepAccess;
        pep.publish(&w.hub, &owner, ns::AVATAR_DATA, newer.data_item(), None)
            .await
            .unwrap();
        pep.publish(
            &w.hub,
            &owner,
            ns::AVATAR_METADATA,
            newer.metadata_item(),
            None,
        )
        .await
        .unwrap();
        let card = super::eve_reads(&mut w).await;
        assert_eq!(card.full_name().as_deref(), Some("User"));
        let photo = card.photo().unwrap().unwrap();
        assert_eq!(photo.data, PhotoData::Binval(newer.bytes.clone()));
        assert_eq!(photo.mime_type.as_deref(), Some("image/jpeg"));

        // Presence: added when absent or without <photo/>, kept otherwise.
        let table: &[(&str, Option<Option<String>>)] = &[
            ("", Some(Some(newer.id.clone()))),
            (
                "<x xmlns='vcard-temp:x:update'/>",
                Some(Some(newer.id.clone())),
            ),
            ("<x xmlns='vcard-temp:x:update'><photo/></x>", Some(None)),
        ];
        for (inner, want) in table {
            let p = st(&format!(
                "<presence xmlns='jabber:client' from='user@localhost/phone'>{inner}</presence>"
            ));
            let out = module.with_hash(&w.hub, pep.as_ref(), &owner, p).await;
            let xs: Vec<_> = out
                .element()
                .children()
                .filter(|c| c.is("x", ns::VCARD_UPDATE))
                .collect();
            assert_eq!(xs.len(), 1, "{inner}");
            let got = VCardUpdate::from_element(xs[0]).unwrap().photo;
            assert_eq!(&got, want, "{inner}");
        }
        // No metadata node at all: nothing added.
        let eve: BareJid = "eve@localhost".parse().unwrap();
        let p = st("<presence xmlns='jabber:client' from='eve@localhost/pc'/>");
        let out = module.with_hash(&w.hub, pep.as_ref(), &eve, p).await;
        assert!(out.element().children().next().is_none());
    }
}
