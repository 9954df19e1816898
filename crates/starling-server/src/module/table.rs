//! The registered modules and their dispatch tables.

use std::collections::HashMap;
use std::sync::Arc;

use starling_jid::BareJid;
use starling_stanza::{Identity, IqType, StanzaKind};
use starling_stream::Features;
use starling_xml::Element;

use super::{
    Extensions, Filter, Flow, Hook, IqKey, IqScope, Kinds, Module, Registrar, Session,
    SessionEvent, SessionView,
};
use crate::hub::Hub;
use crate::routed::Routed;

/// The enabled modules, with what each registered.
pub struct ModuleSet {
    modules: Vec<Arc<dyn Module>>,
    iq: HashMap<(IqScope, IqType), Vec<(IqKey, usize)>>,
    hooks: HashMap<Hook, Vec<(usize, Kinds)>>,
    features: Vec<String>,
    identities: Vec<Identity>,
    account_features: Vec<String>,
    account_identities: Vec<Identity>,
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
            account_identities: Vec::new(),
            stream_features: Features::default(),
        };
        let mut from_disco = Vec::new();
        for (i, m) in modules.into_iter().enumerate() {
            let mut r = Registrar::default();
            m.register(&mut r);
            from_disco.append(&mut r.disco_stream_features);
            set.add(i, m, r);
        }
        set.features.sort();
        set.features.dedup();
        set.account_features.sort();
        set.account_features.dedup();
        let info = set.server_info();
        let extra = from_disco.into_iter().filter_map(|f| f(&info));
        set.stream_features.other.extend(extra);
        set
    }

    /// The server's disco#info: every module's identities and features.
    pub fn server_info(&self) -> starling_stanza::DiscoInfo {
        starling_stanza::DiscoInfo {
            node: None,
            identities: self.identities.clone(),
            features: self.features.clone(),
            extensions: Vec::new(),
        }
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
        for (h, kinds) in r.hooks {
            self.hooks.entry(h).or_default().push((i, kinds));
        }
        self.features.extend(r.features);
        self.identities.extend(r.identities);
        self.account_features.extend(r.account_features);
        self.account_identities.extend(r.account_identities);
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

    /// Whether some module registered `hook` for stanzas of `kind`.
    pub fn has_for(&self, hook: Hook, kind: StanzaKind) -> bool {
        self.hooked(hook, Some(kind)).next().is_some()
    }

    /// The modules registered for `hook` and stanzas of `kind` (every
    /// module registered for `hook` when `kind` is `None`).
    fn hooked(
        &self,
        hook: Hook,
        kind: Option<StanzaKind>,
    ) -> impl Iterator<Item = &Arc<dyn Module>> {
        self.hooks
            .get(&hook)
            .into_iter()
            .flatten()
            .filter(move |(_, kinds)| kind.is_none_or(|k| kinds.contains(k)))
            .map(|&(i, _)| &self.modules[i])
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

    /// The identities every account shows besides `account/registered`.
    pub fn account_identities(&self) -> &[Identity] {
        &self.account_identities
    }

    /// Stream features offered after authentication.
    pub fn stream_features(&self) -> &Features {
        &self.stream_features
    }

    /// Runs the [`Hook::ClientStanza`] chain.
    pub async fn client_stanza(&self, hub: &Hub, s: &mut Session<'_>, mut st: Routed) -> Flow {
        for m in self.hooked(Hook::ClientStanza, Some(st.kind())) {
            match m.client_stanza(hub, s, st).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::AccountPresence`] chain.
    pub async fn account_presence(&self, hub: &Hub, mut st: Routed, to: &BareJid) -> Flow {
        for m in self.hooked(Hook::AccountPresence, Some(st.kind())) {
            match m.account_presence(hub, st, to).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::Offline`] chain.
    pub async fn offline(&self, hub: &Hub, mut st: Routed, to: &BareJid) -> Flow {
        for m in self.hooked(Hook::Offline, Some(st.kind())) {
            match m.offline(hub, st, to).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::Remote`] chain.
    pub async fn remote(&self, hub: &Hub, mut st: Routed) -> Flow {
        for m in self.hooked(Hook::Remote, Some(st.kind())) {
            match m.remote(hub, st).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::Routing`] chain.
    pub async fn routing(&self, hub: &Hub, mut st: Routed, to: Option<&BareJid>) -> Flow {
        for m in self.hooked(Hook::Routing, Some(st.kind())) {
            match m.routing(hub, st, to).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Tells every [`Hook::SessionEvents`] module.
    pub async fn session_event(&self, hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        for m in self.hooked(Hook::SessionEvents, None) {
            m.session_event(hub, s, event).await;
        }
    }

    /// Offers a nonza to the [`Hook::Nonza`] modules; true when one took
    /// it.
    pub async fn nonza(&self, hub: &Hub, s: &mut Session<'_>, el: &Element) -> bool {
        for m in self.hooked(Hook::Nonza, None) {
            if m.nonza(hub, s, el).await {
                return true;
            }
        }
        false
    }

    /// The disco#items of `owner` the [`Hook::AccountItems`] modules add
    /// for `requester`.
    pub async fn account_items(
        &self,
        hub: &Hub,
        owner: &BareJid,
        requester: &starling_jid::Jid,
    ) -> Vec<starling_stanza::DiscoItem> {
        let mut items = Vec::new();
        for m in self.hooked(Hook::AccountItems, None) {
            items.extend(m.account_items(hub, owner, requester).await);
        }
        items
    }

    /// Tells every [`Hook::Caps`] module that `jid`'s capabilities became
    /// known or changed.
    pub async fn caps_changed(
        &self,
        hub: &Hub,
        jid: &starling_jid::FullJid,
        caps: &Arc<crate::caps::CapsInfo>,
    ) {
        for m in self.hooked(Hook::Caps, None) {
            m.caps_changed(hub, jid, caps).await;
        }
    }

    /// Tells every [`Hook::Detached`] module of a stanza queued for the
    /// detached session `jid`.
    pub async fn detached(&self, hub: &Hub, jid: &starling_jid::FullJid, st: &Routed) {
        for m in self.hooked(Hook::Detached, Some(st.kind())) {
            m.detached(hub, jid, st).await;
        }
    }

    /// Runs the [`Hook::IqResponse`] chain.
    pub async fn iq_response(&self, hub: &Hub, mut st: Routed, to: &BareJid) -> Flow {
        for m in self.hooked(Hook::IqResponse, Some(st.kind())) {
            match m.iq_response(hub, st, to).await {
                Flow::Handled => return Flow::Handled,
                Flow::Continue(back) => st = back,
            }
        }
        Flow::Continue(st)
    }

    /// Runs the [`Hook::Filter`] chain: the first module that drops the
    /// stanza decides (holding and replacing count as delivering here;
    /// [`admit`](ModuleSet::admit) carries them out).
    pub fn filter(&self, view: &SessionView<'_>, st: &Routed) -> Filter {
        for m in self.hooked(Hook::Filter, Some(st.kind())) {
            if let Filter::Drop = m.filter(view, st) {
                return Filter::Drop;
            }
        }
        Filter::Deliver
    }

    /// Tells every [`Hook::Delivered`] module that `st` was queued for
    /// `delivered_to`, sessions of `account`.
    pub async fn delivered(
        &self,
        hub: &Hub,
        st: &Routed,
        account: &BareJid,
        delivered_to: &[Arc<crate::registry::SessionHandle>],
    ) {
        for m in self.hooked(Hook::Delivered, Some(st.kind())) {
            m.delivered(hub, st, account, delivered_to).await;
        }
    }

    /// Runs the [`Hook::Filter`] chain for a stanza queued for the session
    /// `handle` and calls `write` with what is to be written now, in
    /// order: nothing when a filter drops it or a module holds it (or
    /// what a full buffer gives back), else what the [`Hook::Hold`]
    /// modules held, then the stanza (or the copy a filter replaced it
    /// with).
    pub fn admit(
        &self,
        handle: &crate::registry::SessionHandle,
        ext: &mut Extensions,
        mut st: Arc<Routed>,
        mut write: impl FnMut(Arc<Routed>),
    ) {
        let mut holder = None;
        if let Some(list) = self.hooks.get(&Hook::Filter) {
            for &(i, kinds) in list {
                if !kinds.contains(st.kind()) {
                    continue;
                }
                let view = SessionView { handle, ext };
                match self.modules[i].filter(&view, &st) {
                    Filter::Deliver => {}
                    Filter::Drop => return,
                    Filter::Hold => {
                        holder.get_or_insert(i);
                    }
                    Filter::Replace(copy) => st = Arc::new(*copy),
                }
            }
        }
        if let Some(i) = holder {
            self.modules[i].hold(ext, st).into_iter().for_each(write);
            return;
        }
        self.release(ext, &mut write);
        write(st);
    }

    /// Calls `write` with everything the [`Hook::Hold`] modules hold for
    /// a session, in module order.
    pub fn release(&self, ext: &mut Extensions, mut write: impl FnMut(Arc<Routed>)) {
        for m in self.hooked(Hook::Hold, None) {
            m.release(ext).into_iter().for_each(&mut write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::storage::{SqliteStorage, Stores};
    use async_trait::async_trait;
    use starling_stanza::{MessageType, PresenceType};

    struct Probe {
        name: &'static str,
        kinds: Kinds,
        iq: bool,
    }

    #[async_trait]
    impl Module for Probe {
        fn name(&self) -> &'static str {
            self.name
        }
        fn register(&self, r: &mut Registrar) {
            if self.iq {
                r.iq(IqScope::Server, IqType::Get, "urn:example", "q");
            }
            r.hook_for(Hook::ClientStanza, self.kinds);
            r.disco_feature("urn:example");
        }
    }

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn iq_handlers_are_found_by_scope_type_and_payload() {
        let set = ModuleSet::new(vec![Arc::new(Probe {
            name: "probe",
            kinds: Kinds::ALL,
            iq: true,
        })]);
        let q = el("<q xmlns='urn:example'/>");
        assert!(set.iq_handler(IqScope::Server, IqType::Get, &q).is_some());
        assert!(set.iq_handler(IqScope::Server, IqType::Set, &q).is_none());
        assert!(set.iq_handler(IqScope::Account, IqType::Get, &q).is_none());
        let other = el("<q xmlns='urn:other'/>");
        assert!(
            set.iq_handler(IqScope::Server, IqType::Get, &other)
                .is_none()
        );
        assert_eq!(set.disco_features(), ["urn:example"]);
        assert!(set.has(Hook::ClientStanza));
        assert!(!set.has(Hook::Offline));
    }

    #[test]
    #[should_panic(expected = "registers")]
    fn two_modules_cannot_take_the_same_iq() {
        let a = Arc::new(Probe {
            name: "a",
            kinds: Kinds::ALL,
            iq: true,
        });
        let b = Arc::new(Probe {
            name: "b",
            kinds: Kinds::ALL,
            iq: true,
        });
        let _ = ModuleSet::new(vec![a, b]);
    }

    #[test]
    fn hooks_are_called_only_for_their_kinds_in_list_order() {
        let set = ModuleSet::new(vec![
            Arc::new(Probe {
                name: "presence-only",
                kinds: Kinds::PRESENCE,
                iq: false,
            }),
            Arc::new(Probe {
                name: "all",
                kinds: Kinds::ALL,
                iq: false,
            }),
        ]);
        let names = |k| {
            set.hooked(Hook::ClientStanza, Some(k))
                .map(|m| m.name())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(StanzaKind::Presence(PresenceType::Available, 0)),
            ["presence-only", "all"]
        );
        assert_eq!(names(StanzaKind::Message(MessageType::Chat)), ["all"]);
        assert!(
            Kinds::MESSAGE
                .or(Kinds::IQ)
                .contains(StanzaKind::Iq(IqType::Get))
        );
        assert!(!Kinds::MESSAGE.contains(StanzaKind::Iq(IqType::Get)));
    }

    #[test]
    fn disabled_modules_answer_nothing_and_are_not_in_disco() {
        let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 1);
        let mut config = Config::default();
        let all = crate::modules::build(&config, &stores, None);
        assert!(all.disco_features().iter().any(|f| f == "urn:xmpp:ping"));
        config.modules.ping.enabled = false;
        config.modules.offline.enabled = false;
        config.modules.push.enabled = false;
        let some = crate::modules::build(&config, &stores, None);
        assert!(!some.names().any(|n| n == "ping" || n == "offline"));
        assert!(
            !some
                .disco_features()
                .iter()
                .any(|f| f == "urn:xmpp:ping" || f == "msgoffline")
        );
        let ping = el("<ping xmlns='urn:xmpp:ping'/>");
        assert!(
            some.iq_handler(IqScope::Server, IqType::Get, &ping)
                .is_none()
        );
        assert!(
            all.iq_handler(IqScope::Server, IqType::Get, &ping)
                .is_some()
        );
        assert!(!some.has(Hook::Offline));
        // The stream features come from the modules.
        assert!(all.stream_features().roster_ver && all.stream_features().pre_approval);
        config.modules.roster.enabled = false;
        let no_roster = crate::modules::build(&config, &stores, None);
        assert!(!no_roster.stream_features().roster_ver);
    }
}
