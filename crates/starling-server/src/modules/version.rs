//! XEP-0092 Software Version of the server.

use async_trait::async_trait;
use starling_stanza::{IqType, Payload, ns};

use crate::hub::Hub;
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};

/// Server software name (XEP-0092).
pub const SOFTWARE_NAME: &str = "starling";
/// Server software version (XEP-0092).
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version module (`[modules.version]`).
#[derive(Debug, Default)]
pub struct Version;

#[async_trait]
impl Module for Version {
    fn name(&self) -> &'static str {
        "version"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Server, IqType::Get, ns::VERSION, "query");
        r.disco_feature(ns::VERSION);
    }

    async fn iq(&self, _hub: &Hub, _req: IqRequest<'_>) -> IqOutcome {
        let v = starling_stanza::Version {
            name: Some(SOFTWARE_NAME.to_owned()),
            version: Some(SOFTWARE_VERSION.to_owned()),
            os: None,
        };
        IqOutcome::Result(Some(v.to_element()))
    }
}
