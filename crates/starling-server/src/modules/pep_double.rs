//! An in-memory [`PepAccess`] for the unit tests of the modules that
//! convert to and from PEP (`vcard`: XEP-0398; `private`: XEP-0402 §5).
//! Not a PEP service: items per (owner, node), newest first, and a log
//! of the calls.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{Item, NodeConfig, StanzaError, StanzaErrorCondition as Cond};

use std::sync::Arc;

use crate::config::Config;
use crate::hub::Hub;
use crate::module::{Module, ModuleSet};
use crate::modules::test_world::World;
use crate::pep::PepAccess;
use crate::storage::Stores;

/// A call the double was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Call {
    /// A publish to (node, item id), with or without options.
    Publish(String, String, bool),
    /// A retraction of (node, item id), notified or not.
    Retract(String, String, bool),
}

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct PepDouble {
    nodes: Mutex<HashMap<(BareJid, String), Vec<Item>>>,
    calls: Mutex<Vec<Call>>,
}

impl PepDouble {
    /// A world whose only module is the one `make` builds on the stores
    /// and a new double, with the double.
    pub(crate) async fn world(
        make: impl FnOnce(&Stores, Arc<dyn PepAccess>) -> Arc<dyn Module>,
    ) -> (World, Arc<PepDouble>) {
        let pep = Arc::new(PepDouble::default());
        let p: Arc<dyn PepAccess> = pep.clone();
        let w = World::with(Config::default(), move |_, s| {
            ModuleSet::new(vec![make(s, p)])
        })
        .await;
        (w, pep)
    }

    /// The calls so far, and forgets them.
    pub(crate) fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// The items of a node, newest first (empty when it does not exist).
    pub(crate) fn node(&self, owner: &str, node: &str) -> Vec<Item> {
        let key = (owner.parse().unwrap(), node.to_owned());
        self.nodes
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl PepAccess for PepDouble {
    async fn publish(
        &self,
        _hub: &Hub,
        owner: &BareJid,
        node: &str,
        mut item: Item,
        options: Option<NodeConfig>,
    ) -> Result<String, StanzaError> {
        let id = item.id.clone().unwrap_or_else(|| "generated".to_owned());
        item.id = Some(id.clone());
        let mut nodes = self.nodes.lock().unwrap();
        let list = nodes.entry((owner.clone(), node.to_owned())).or_default();
        list.retain(|i| i.id.as_deref() != Some(&id));
        list.insert(0, item);
        let call = Call::Publish(node.to_owned(), id.clone(), options.is_some());
        self.calls.lock().unwrap().push(call);
        Ok(id)
    }

    async fn items(
        &self,
        _hub: &Hub,
        owner: &BareJid,
        node: &str,
        max_items: Option<u32>,
    ) -> Result<Vec<Item>, StanzaError> {
        let nodes = self.nodes.lock().unwrap();
        let Some(list) = nodes.get(&(owner.clone(), node.to_owned())) else {
            return Err(StanzaError::new(Cond::ItemNotFound));
        };
        let n = max_items.map_or(list.len(), |m| list.len().min(m as usize));
        Ok(list[..n].to_vec())
    }

    async fn retract(
        &self,
        _hub: &Hub,
        owner: &BareJid,
        node: &str,
        id: &str,
        notify: bool,
    ) -> Result<bool, StanzaError> {
        let call = Call::Retract(node.to_owned(), id.to_owned(), notify);
        self.calls.lock().unwrap().push(call);
        let mut nodes = self.nodes.lock().unwrap();
        let Some(list) = nodes.get_mut(&(owner.clone(), node.to_owned())) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|i| i.id.as_deref() != Some(id));
        Ok(list.len() != before)
    }
}
