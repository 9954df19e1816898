//! Federation routing: stanzas for domains this server does not serve go
//! to the [s2s](crate::s2s) manager, which queues them per domain pair
//! and bounces them if no stream can be set up (RFC 6120 §10.4). Its
//! switch and settings are the `[s2s]` section (it also runs listeners).

use std::sync::Arc;

use async_trait::async_trait;

use crate::hub::Hub;
use crate::module::{Flow, Hook, Module, Registrar};
use crate::routed::Routed;
use crate::s2s::S2s;

/// The federation module (on when `[s2s] enabled = true`).
#[derive(Debug)]
pub struct Federation {
    s2s: Arc<S2s>,
}

impl Federation {
    /// Routes remote stanzas through `s2s`.
    pub fn new(s2s: Arc<S2s>) -> Federation {
        Federation { s2s }
    }
}

#[async_trait]
impl Module for Federation {
    fn name(&self) -> &'static str {
        "federation"
    }

    fn register(&self, r: &mut Registrar) {
        r.hook(Hook::Remote);
    }

    async fn remote(&self, _hub: &Hub, st: Routed) -> Flow {
        self.s2s.send(st);
        Flow::Handled
    }
}
