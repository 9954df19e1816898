//! XEP-0199 XMPP Ping: the server answers pings to its domains and, on
//! their behalf, to accounts.

use async_trait::async_trait;
use starling_stanza::{IqType, ns};

use crate::hub::Hub;
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};

/// The ping module (`[modules.ping]`).
#[derive(Debug, Default)]
pub struct Ping;

#[async_trait]
impl Module for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Server, IqType::Get, ns::PING, "ping");
        r.iq(IqScope::Account, IqType::Get, ns::PING, "ping");
        r.disco_feature(ns::PING);
    }

    async fn iq(&self, _hub: &Hub, _req: IqRequest<'_>) -> IqOutcome {
        IqOutcome::Result(None)
    }
}
