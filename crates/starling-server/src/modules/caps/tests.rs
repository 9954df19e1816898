//! The caps module on an in-memory hub: the server's own caps, its
//! disco#info node, and a contact's caps whose query fails (the success
//! path, with real clients answering, is in the testkit's `caps.rs`; the
//! cache's rules alone are in `cache_tests.rs`).

use std::sync::Arc;

use starling_stanza::{Caps, DiscoInfo, Payload, caps_ver, ns};

use super::*;
use crate::config::Config;
use crate::module::IqScope;
use crate::storage::{SqliteStorage, Stores};

fn st(xml: &str) -> Routed {
    Routed::parse(xml.parse().unwrap()).unwrap()
}

async fn hub(config: Config) -> Hub {
    let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 2);
    let user: BareJid = "user@localhost".parse().unwrap();
    stores.accounts.create_account(&user, &[]).await.unwrap();
    let modules = crate::modules::build(&config, &stores, None);
    Hub::new(Arc::new(config), stores, modules)
}

#[tokio::test]
async fn server_caps_in_stream_features_and_disco_node() {
    let hub = hub(Config::default()).await;
    let m = hub.modules();
    let names: Vec<_> = m.names().collect();
    let at = |n| names.iter().position(|&x| x == n).unwrap();
    assert!(at("caps") < at("presence"), "{names:?}");
    assert!(m.disco_features().iter().any(|f| f == ns::CAPS));
    let info = m.server_info();
    let c = m
        .stream_features()
        .other
        .iter()
        .find_map(|e| Caps::from_element(e).ok())
        .expect("a <c/> stream feature");
    assert_eq!(c.hash, "sha-1");
    assert_eq!(c.node, SERVER_NODE);
    assert_eq!(c.ver, caps_ver(&info, CapsHash::Sha1).unwrap());
    assert!(is_server_node(&hub, &c.disco_node()));
    assert!(!is_server_node(&hub, &format!("{SERVER_NODE}#other")));
    // The disco module answers at NODE#VER with the same info.
    let req = st(&format!(
        "<iq xmlns='jabber:client' type='get' id='d1' from='user@localhost/a' to='localhost'>\
         <query xmlns='{}' node='{}'/></iq>",
        ns::DISCO_INFO,
        c.disco_node()
    ));
    let disco = m
        .iq_handler(IqScope::Server, IqType::Get, req.payload().unwrap())
        .unwrap()
        .clone();
    let to: Jid = "localhost".parse().unwrap();
    fn ask<'a>(req: &'a Routed, to: &'a Jid) -> crate::module::IqRequest<'a> {
        crate::module::IqRequest {
            stanza: req,
            payload: req.payload().unwrap(),
            to,
            from_self: false,
        }
    }
    match disco.iq(&hub, ask(&req, &to)).await {
        crate::module::IqOutcome::Result(Some(el)) => {
            let got = DiscoInfo::from_element(&el).unwrap();
            assert_eq!(got.node.as_deref(), Some(c.disco_node().as_str()));
            assert_eq!(caps_ver(&got, CapsHash::Sha1).unwrap(), c.ver);
        }
        other => panic!("{other:?}"),
    }
    let other = st(&format!(
        "<iq xmlns='jabber:client' type='get' id='d2' from='user@localhost/a' to='localhost'>\
         <query xmlns='{}' node='{SERVER_NODE}#nope'/></iq>",
        ns::DISCO_INFO
    ));
    assert!(matches!(
        disco.iq(&hub, ask(&other, &to)).await,
        crate::module::IqOutcome::Error(_)
    ));
}

#[tokio::test]
async fn disabled_caps_module_offers_nothing() {
    let mut config = Config::default();
    config.modules.caps.enabled = false;
    let hub = hub(config).await;
    let m = hub.modules();
    assert!(!m.names().any(|n| n == "caps"));
    assert!(!m.disco_features().iter().any(|f| f == ns::CAPS));
    assert!(
        !m.stream_features()
            .other
            .iter()
            .any(|e| e.is("c", ns::CAPS))
    );
    let c = server_caps(&m.server_info()).unwrap();
    assert!(!is_server_node(&hub, &c.disco_node()));
}

#[tokio::test]
async fn contact_caps_whose_query_fails_are_not_kept() {
    let hub = hub(Config::default()).await;
    let info = DiscoInfo {
        features: vec!["urn:a".into()],
        ..DiscoInfo::default()
    };
    let c = Caps::for_info(&info, "https://c.example", CapsHash::Sha1).unwrap();
    let presence = format!(
        "<presence xmlns='jabber:client' from='romeo@remote.example/r' to='user@localhost'>{}</presence>",
        c.to_element().to_xml()
    );
    // Without federation the query bounces at once: an error answer.
    hub.route(st(&presence)).await;
    let romeo: FullJid = "romeo@remote.example/r".parse().unwrap();
    assert!(hub.caps().get(&romeo).is_none());
    assert_eq!(hub.caps().cache_usage(), (0, 0));
    // Legacy caps (no hash) and unavailable presence: nothing either, and
    // no panic.
    hub.route(st(
        "<presence xmlns='jabber:client' from='romeo@remote.example/r' to='user@localhost'>\
         <c xmlns='http://jabber.org/protocol/caps' node='n' ver='v'/></presence>",
    ))
    .await;
    hub.route(st(
        "<presence xmlns='jabber:client' type='unavailable' from='romeo@remote.example/r' to='user@localhost'/>",
    ))
    .await;
    assert!(hub.caps().is_empty());
}
