//! An in-memory hub with two local users' sessions, for the unit tests
//! of modules that answer iq requests (`vcard`, `private`).

use std::collections::HashMap;
use std::sync::Arc;

use starling_jid::BareJid;

use crate::config::Config;
use crate::hub::Hub;
use crate::module::ModuleSet;
use crate::queue::Inbox;
use crate::registry::{QueueLimits, SessionHandle};
use crate::routed::Routed;
use crate::storage::{SqliteStorage, Stores};

/// The bound sessions of the world: two of `user`, one of `eve`.
pub(crate) const SESSIONS: [&str; 3] = [
    "user@localhost/phone",
    "user@localhost/laptop",
    "eve@localhost/pc",
];

/// A hub on an in-memory database with the accounts of [`SESSIONS`].
pub(crate) struct World {
    pub(crate) hub: Hub,
    inboxes: HashMap<&'static str, Inbox>,
    _handles: Vec<Arc<SessionHandle>>,
}

/// Parses a stanza.
pub(crate) fn st(xml: &str) -> Routed {
    Routed::parse(xml.parse().unwrap()).unwrap()
}

impl World {
    /// The world with the modules `modules::build` makes of `config`.
    pub(crate) async fn new(config: Config) -> World {
        World::with(config, |c, s| super::build(c, s, None)).await
    }

    /// The world with the modules `make` builds.
    pub(crate) async fn with(
        config: Config,
        make: impl FnOnce(&Config, &Stores) -> ModuleSet,
    ) -> World {
        let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 2);
        for a in ["user@localhost", "eve@localhost"] {
            let jid: BareJid = a.parse().unwrap();
            stores.accounts.create_account(&jid, &[]).await.unwrap();
        }
        let modules = make(&config, &stores);
        let hub = Hub::new(Arc::new(config), stores, modules);
        let limits = QueueLimits {
            bytes: 1 << 22,
            count: 64,
        };
        let mut inboxes = HashMap::new();
        let mut handles = Vec::new();
        for (n, full) in SESSIONS.iter().enumerate() {
            let (h, inbox) = SessionHandle::new(full.parse().unwrap(), n as u64 + 1, limits);
            hub.sessions().insert(h.clone(), true, 10);
            inboxes.insert(*full, inbox);
            handles.push(h);
        }
        World {
            hub,
            inboxes,
            _handles: handles,
        }
    }

    /// Sends an iq of `kind` (`get`/`set`) from the session `from` to
    /// `to` (none: the sender's bare JID, as the session stamps an iq
    /// without `to`) and returns the answer.
    pub(crate) async fn iq(
        &mut self,
        from: &'static str,
        to: Option<&str>,
        kind: &str,
        payload: &str,
    ) -> Routed {
        let own = from.split('/').next().unwrap_or(from);
        let to = to.unwrap_or(own);
        let xml = format!(
            "<iq xmlns='jabber:client' type='{kind}' id='t1' from='{from}' to='{to}'>{payload}</iq>"
        );
        self.hub.route(st(&xml)).await;
        self.received(from).pop().expect("an answer")
    }

    /// What the session `full` was sent, in order.
    pub(crate) fn received(&mut self, full: &'static str) -> Vec<Routed> {
        let inbox = self.inboxes.get_mut(full).expect("a session of the world");
        std::iter::from_fn(|| inbox.try_recv())
            .map(|r| (*r).clone())
            .collect()
    }
}

/// The error condition of an iq `error`, or `None` for a result.
pub(crate) fn condition(reply: &Routed) -> Option<String> {
    let el = reply.element();
    if el.attr("type") != Some("error") {
        return None;
    }
    let e = starling_stanza::StanzaError::from_element(el.get_child("error", el.ns())?)?;
    Some(e.condition.name().to_owned())
}
