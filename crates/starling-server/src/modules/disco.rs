//! XEP-0030 Service Discovery: the server's identity and the features of
//! every enabled module, and accounts' identities and resources.

use async_trait::async_trait;
use starling_jid::Jid;
use starling_stanza::{
    DiscoInfo, DiscoItem, DiscoItems, Identity, IqType, Payload, StanzaError,
    StanzaErrorCondition as Cond, ns,
};

use crate::hub::Hub;
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};

/// The disco module (`[modules.disco]`).
#[derive(Debug, Default)]
pub struct Disco;

#[async_trait]
impl Module for Disco {
    fn name(&self) -> &'static str {
        "disco"
    }

    fn register(&self, r: &mut Registrar) {
        for scope in [IqScope::Server, IqScope::Account] {
            r.iq(scope, IqType::Get, ns::DISCO_INFO, "query");
            r.iq(scope, IqType::Get, ns::DISCO_ITEMS, "query");
        }
        r.disco_identity("server", "im", Some("Starling"));
        r.disco_feature(ns::DISCO_INFO);
        r.disco_feature(ns::DISCO_ITEMS);
        r.account_feature(ns::DISCO_INFO);
        r.account_feature(ns::DISCO_ITEMS);
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        let server = req.to.node().is_none();
        if let Some(node) = req.payload.attr("node") {
            // The one node: the server's XEP-0115 `NODE#VER`.
            if server
                && req.payload.ns() == ns::DISCO_INFO
                && super::caps::is_server_node(hub, node)
            {
                let mut info = server_info(hub);
                info.node = Some(node.to_owned());
                return IqOutcome::Result(Some(info.to_element()));
            }
            return IqOutcome::Error(StanzaError::new(Cond::ServiceUnavailable));
        }
        let payload = match (req.payload.ns(), server) {
            (ns::DISCO_INFO, true) => server_info(hub).to_element(),
            (ns::DISCO_INFO, false) => account_info(hub).to_element(),
            (_, true) => DiscoItems::default().to_element(),
            (_, false) => {
                let mut items = account_items(hub, &req);
                let owner = req.to.bare();
                items
                    .items
                    .extend(hub.modules().account_items(hub, &owner, req.from()).await);
                items.to_element()
            }
        };
        IqOutcome::Result(Some(payload))
    }
}

fn server_info(hub: &Hub) -> DiscoInfo {
    hub.modules().server_info()
}

fn account_info(hub: &Hub) -> DiscoInfo {
    DiscoInfo {
        node: None,
        identities: std::iter::once(Identity {
            category: "account".to_owned(),
            identity_type: "registered".to_owned(),
            name: None,
            lang: None,
        })
        .chain(hub.modules().account_identities().iter().cloned())
        .collect(),
        features: hub.modules().account_features().to_vec(),
        extensions: Vec::new(),
    }
}

/// The account's resources, for the account itself only (modules add
/// their items: PEP nodes).
fn account_items(hub: &Hub, req: &IqRequest<'_>) -> DiscoItems {
    let mut items = DiscoItems::default();
    if req.from_self {
        items.items = hub
            .sessions()
            .sessions(&req.to.bare())
            .into_iter()
            .map(|s| DiscoItem {
                jid: Jid::from(s.jid.clone()),
                node: None,
                name: None,
            })
            .collect();
    }
    items
}
