//! The registered modules and their dispatch tables.

use std::collections::HashMap;
use std::sync::Arc;

use starling_jid::BareJid;
use starling_stanza::{Identity, IqType};
use starling_stream::Features;
use starling_xml::Element;

use super::{
    Filter, Flow, Hook, IqKey, IqScope, Module, Registrar, Session, SessionEvent, SessionView,
};
use crate::hub::Hub;
use crate::routed::Routed;

/// The enabled modules, with what each registered.
pub struct ModuleSet {
    modules: Vec<Arc<dyn Module>>,
    iq: HashMap<(IqScope, IqType), Vec<(IqKey, usize)>>,
    hooks: HashMap<Hook, Vec<usize>>,
    features: Vec<String>,
    identities: Vec<Identity>,
    account_features: Vec<String>,
    stream_features: Features,
}

impl std::fmt::Debug for ModuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleSet")
            .field("modules", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ModuleSet {
    /// Registers `modules`, in this order (the order hooks run in).
    ///
    /// # Panics
    /// If two modules register the same iq key: that is a programming
    /// error in the module list.
    pub fn new(modules: Vec<Arc<dyn Module>>) -> ModuleSet {
        let mut set = ModuleSet {
            modules: Vec::new(),
            iq: HashMap::new(),
            hooks: HashMap::new(),
            features: Vec::new(),
            identities: Vec::new(),
            account_features: Vec::new(),
            stream_features: Features::default(),
        };
        for (i, m) in modules.into_iter().enumerate() {
            let mut r = Registrar::default();
            m.register(&mut r);
            set.add(i, m, r);
        }
        set.features.sort();
        set.features.dedup();
        set.account_features.sort();
        set.account_features.dedup();
        set
    }

    fn add(&mut self, i: usize, m: Arc<dyn Module>, r: Registrar) {
        for key in r.iq {
            let slot = self.iq.entry((key.scope, key.iq_type)).or_default();
            assert!(
                !slot
                    .iter()
                    .any(|(k, _)| k.ns == key.ns && k.name == key.name),
                "module {} registers {key:?}, which another module has",
                m.name()
            );
            slot.push((key, i));
        }
        for h in r.hooks {
            self.hooks.entry(h).or_default().push(i);
        }
        self.features.extend(r.features);
        self.identities.extend(r.identities);
        self.account_features.extend(r.account_features);
        let f = r.stream_features;
        self.stream_features.roster_ver |= f.roster_ver;
        self.stream_features.pre_approval |= f.pre_approval;
        self.stream_features.other.extend(f.other);
        self.modules.push(m);
    }

    /// The names of the enabled modules, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.modules.iter().map(|m| m.name())
    }

    /// The module handling requests of `iq_type` with `payload` in
    /// `scope`.
    pub fn iq_handler(
        &self,
        scope: IqScope,
        iq_type: IqType,
        payload: &Element,
    ) -> Option<&Arc<dyn Module>> {
        self.iq
            .get(&(scope, iq_type))?
            .iter()
            .find(|(k, _)| k.name == payload.name() && k.ns == payload.ns())
            .map(|(_, i)| &self.modules[*i])
    }

    /// Whether some module registered `hook`.
    pub fn has(&self, hook: Hook) -> bool {
        self.hooks.contains_key(&hook)
    }

    fn hooked(&self, hook: Hook) -> impl Iterator<Item = &Arc<dyn Module>> {
        self.hooks
            .get(&hook)
            .into_iter()
            .flatten()
            .map(|&i| &self.modules[i])
    }

    /// Features for the server's disco#info, sorted.
    pub fn disco_features(&self) -> &[String] {
        &self.features
    }

    /// Identities for the server's disco#info.
    pub fn disco_identities(&self) -> &[Identity] {
        &self.identities
    }

    /// Features for an account's disco#info, sorted.
    pub fn account_features(&self) -> &[String] {
        &self.account_features
    }

    /// Stream features offered after authentication.
    pub fn stream_features(&self) -> &Features {
        &self.stream_features
    }

    /// Runs the [`Hook::ClientStanza`] chain.
    pub async fn client_stanza(&self, hub: &Hub, s: &mut Session<'_>, mut st: Routed) -> Flow {
        for m in self.hooked(Hook::ClientStanza) {
            match m.client_stanza(hub, s, st).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::AccountPresence`] chain.
    pub async fn account_presence(&self, hub: &Hub, mut st: Routed, to: &BareJid) -> Flow {
        for m in self.hooked(Hook::AccountPresence) {
            match m.account_presence(hub, st, to).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::Offline`] chain.
    pub async fn offline(&self, hub: &Hub, mut st: Routed, to: &BareJid) -> Flow {
        for m in self.hooked(Hook::Offline) {
            match m.offline(hub, st, to).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::Remote`] chain.
    pub async fn remote(&self, hub: &Hub, mut st: Routed) -> Flow {
        for m in self.hooked(Hook::Remote) {
            match m.remote(hub, st).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Tells every [`Hook::SessionEvents`] module.
    pub async fn session_event(&self, hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        for m in self.hooked(Hook::SessionEvents) {
            m.session_event(hub, s, event).await;
        }
    }

    /// Runs the [`Hook::Filter`] chain: the first module that drops the
    /// stanza decides.
    pub fn filter(&self, view: &SessionView<'_>, st: &Routed) -> Filter {
        for m in self.hooked(Hook::Filter) {
            if let Filter::Drop = m.filter(view, st) {
                return Filter::Drop;
            }
        }
        Filter::Deliver
    }
}
