//! The interface every server feature plugs into.
//!
//! A feature is a [`Module`]: at start it [`register`](Module::register)s
//! what it contributes through a [`Registrar`]: iq handlers keyed by
//! [`IqKey`] (scope, get/set, payload namespace and name), the stanza
//! [`Hook`]s it wants called, disco#info features and identities, and
//! stream features. The server then calls the module only for what it
//! registered:
//!
//! * [`Module::iq`] for an iq request matching one of its keys — to the
//!   server's domain ([`IqScope::Server`]), to an account's bare JID on
//!   the account's behalf ([`IqScope::Account`]), or to a full JID it
//!   intercepts ([`IqScope::Resource`]);
//! * [`Module::client_stanza`] ([`Hook::ClientStanza`]) for each stanza a
//!   local client sends, before routing;
//! * [`Module::account_presence`] ([`Hook::AccountPresence`]) for a
//!   subscription stanza or a probe addressed to a local account;
//! * [`Module::offline`] ([`Hook::Offline`]) for a message to an account
//!   with no available resource;
//! * [`Module::remote`] ([`Hook::Remote`]) for a stanza to another domain;
//! * [`Module::routing`] ([`Hook::Routing`]) for every stanza the hub
//!   routes (from local clients after [`Hook::ClientStanza`], from the
//!   server on an account's behalf, from other domains), before routing
//!   decides anything;
//! * [`Module::session_event`] ([`Hook::SessionEvents`]) when a session is
//!   bound, becomes available or unavailable, or closes;
//! * [`Module::filter`] ([`Hook::Filter`]) for each stanza about to be
//!   written to a session (in that session's task);
//! * [`Module::nonza`] ([`Hook::Nonza`]) for a top-level element from a
//!   bound client that is not a stanza (XEP-0352 `<active/>`, …);
//! * [`Module::detached`] ([`Hook::Detached`]) for each stanza queued for
//!   a session whose connection broke while XEP-0198 keeps it for
//!   resumption;
//! * [`Module::delivered`] ([`Hook::Delivered`]) after a stanza was queued
//!   for one or more sessions of a local account (XEP-0280 received
//!   carbons start here);
//! * [`Module::hold`] and [`Module::release`] ([`Hook::Hold`]) for a
//!   module whose filter keeps stanzas back for a while
//!   ([`Filter::Hold`], XEP-0352 client state indication).
//! * [`Module::caps_changed`] ([`Hook::Caps`]) when the XEP-0115
//!   capabilities of an entity with available presence became known;
//! * [`Module::account_items`] ([`Hook::AccountItems`]) for the items
//!   of an account's disco#items (PEP nodes);
//! * [`Module::iq_response`] ([`Hook::IqResponse`]) for an iq `result` or
//!   `error` addressed to an account's bare JID (the answer to a request
//!   a module sent on the account's behalf).
//!
//! A stream feature that depends on the whole server's disco#info (the
//! XEP-0115 `<c/>`) is registered with
//! [`Registrar::stream_feature_from_disco`] and computed once every module
//! registered.
//!
//! Hooks run in registration order (the order of the module list in
//! [`crate::modules`]); the first module that handles a stanza
//! ([`Flow::Handled`]) ends the chain. Each module has a `[modules.NAME]`
//! section in the configuration with at least `enabled`; a disabled module
//! is not registered, so it neither handles anything nor shows in disco.
//!
//! `docs/architecture.md` ("How to add a XEP") walks through one module.

mod session;
mod table;

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::{BareJid, FullJid, Jid};
use starling_stanza::{IqType, StanzaError};
use starling_stream::Features;
use starling_xml::Element;

use crate::hub::Hub;
use crate::registry::SessionHandle;
use crate::routed::Routed;

pub use session::{AckAction, Extensions, FlushFuture, Session, SessionIo, SessionView};
pub use table::ModuleSet;

/// Where an iq request is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqScope {
    /// To one of the server's domains.
    Server,
    /// To an account's bare JID, answered on its behalf (RFC 6121
    /// §8.5.2.1.3). A request without `to` from the account's own session
    /// is in this scope too.
    Account,
    /// To a full JID with a session: intercepted before delivery.
    Resource,
}

/// The key an iq handler is registered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IqKey {
    /// Where the request is addressed.
    pub scope: IqScope,
    /// `get` or `set`.
    pub iq_type: IqType,
    /// The payload's namespace.
    pub ns: &'static str,
    /// The payload's element name.
    pub name: &'static str,
}

/// The stanza hooks a module can register for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// [`Module::client_stanza`].
    ClientStanza,
    /// [`Module::account_presence`].
    AccountPresence,
    /// [`Module::offline`].
    Offline,
    /// [`Module::remote`].
    Remote,
    /// [`Module::session_event`].
    SessionEvents,
    /// [`Module::filter`].
    Filter,
    /// [`Module::nonza`].
    Nonza,
    /// [`Module::detached`].
    Detached,
    /// [`Module::delivered`].
    Delivered,
    /// [`Module::hold`] and [`Module::release`].
    Hold,
    /// [`Module::iq_response`].
    IqResponse,
    /// [`Module::routing`].
    Routing,
    /// [`Module::caps_changed`].
    Caps,
    /// [`Module::account_items`].
    AccountItems,
}

/// The kinds of stanza a hook wants to see (the others skip the module
/// without calling it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kinds(u8);

impl Kinds {
    /// Messages.
    pub const MESSAGE: Kinds = Kinds(1);
    /// Presence.
    pub const PRESENCE: Kinds = Kinds(2);
    /// Iq.
    pub const IQ: Kinds = Kinds(4);
    /// Every stanza.
    pub const ALL: Kinds = Kinds(7);

    /// Both sets.
    pub const fn or(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    /// Whether a stanza of `kind` is in the set.
    pub fn contains(self, kind: starling_stanza::StanzaKind) -> bool {
        let bit = match kind {
            starling_stanza::StanzaKind::Message(_) => 1,
            starling_stanza::StanzaKind::Presence(..) => 2,
            starling_stanza::StanzaKind::Iq(_) => 4,
        };
        self.0 & bit != 0
    }
}

/// Whether a hook took a stanza or passes it on.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "the stanza is moved through the hook chain, never stored; boxing would allocate per hook"
)]
pub enum Flow {
    /// Done with: later modules and the default handling do not see it.
    Handled,
    /// Not handled here: the next module (or the default) gets it back.
    Continue(Routed),
}

/// What a module answers to an iq request.
#[derive(Debug)]
pub enum IqOutcome {
    /// A `result`, with an optional payload.
    Result(Option<Element>),
    /// An `error`.
    Error(StanzaError),
    /// Answered already (or no answer is due).
    Done,
}

/// An iq request for a module.
#[derive(Debug)]
pub struct IqRequest<'a> {
    /// The request (its `from` is always set).
    pub stanza: &'a Routed,
    /// The single payload element.
    pub payload: &'a Element,
    /// The entity it was addressed to (the account for an iq without
    /// `to`).
    pub to: &'a Jid,
    /// The request came from a session of the addressed account itself
    /// (the user's own request, for [`IqScope::Account`]).
    pub from_self: bool,
}

impl IqRequest<'_> {
    /// The sender.
    pub fn from(&self) -> &Jid {
        // Routed stanzas from clients and servers always carry `from`.
        self.stanza.from().unwrap_or(self.to)
    }
}

/// What happened to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// A resource was bound.
    Bound,
    /// The session sent available presence; `initial` for the first one.
    Available {
        /// The first available presence since binding or unavailable.
        initial: bool,
        /// Its priority.
        priority: i8,
    },
    /// The session sent unavailable presence.
    Unavailable,
    /// The connection is over (the session is still registered while
    /// this runs).
    Closed,
}

/// What a delivery filter decides.
#[derive(Debug)]
pub enum Filter {
    /// Write it.
    Deliver,
    /// Do not write it.
    Drop,
    /// Keep it back for now: the session hands it to the module's
    /// [`Module::hold`] (the module must register [`Hook::Hold`]), and
    /// takes it back with [`Module::release`].
    Hold,
    /// Write this changed copy instead (later filters see the copy).
    Replace(Box<Routed>),
}

/// One server feature. See the [module docs](self).
///
/// Every method but [`name`](Module::name) and
/// [`register`](Module::register) has a default that does nothing; a
/// module overrides the ones it registered for.
#[async_trait]
pub trait Module: Send + Sync + 'static {
    /// The module's name: its `[modules.NAME]` configuration section.
    fn name(&self) -> &'static str;

    /// Declares the module's iq handlers, hooks, disco items and stream
    /// features.
    fn register(&self, r: &mut Registrar);

    /// An iq request matching one of the module's [`IqKey`]s.
    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        let _ = (hub, req);
        IqOutcome::Error(StanzaError::new(
            starling_stanza::StanzaErrorCondition::ServiceUnavailable,
        ))
    }

    /// A stanza from a local client, `from` stamped, before routing.
    async fn client_stanza(&self, hub: &Hub, session: &mut Session<'_>, st: Routed) -> Flow {
        let _ = (hub, session);
        Flow::Continue(st)
    }

    /// A subscription stanza or a probe addressed to the local account
    /// `to`.
    async fn account_presence(&self, hub: &Hub, st: Routed, to: &BareJid) -> Flow {
        let _ = (hub, to);
        Flow::Continue(st)
    }

    /// A message for the local account `to`, which has no available
    /// resource.
    async fn offline(&self, hub: &Hub, st: Routed, to: &BareJid) -> Flow {
        let _ = (hub, to);
        Flow::Continue(st)
    }

    /// A stanza for a domain this server does not serve.
    async fn remote(&self, hub: &Hub, st: Routed) -> Flow {
        let _ = hub;
        Flow::Continue(st)
    }

    /// A stanza the hub is about to route (its `from` and `to` are set),
    /// before routing decides anything: `to` is the local account it is
    /// addressed to, if any. Called for every routed stanza: keep the
    /// common case cheap.
    async fn routing(&self, hub: &Hub, st: Routed, to: Option<&BareJid>) -> Flow {
        let _ = (hub, to);
        Flow::Continue(st)
    }

    /// Something happened to a local session.
    async fn session_event(&self, hub: &Hub, session: &mut Session<'_>, event: SessionEvent) {
        let _ = (hub, session, event);
    }

    /// A top-level element from a bound client that is not a stanza (a
    /// "nonza": XEP-0352's `<active/>`, …); true when the module took it.
    /// An element no module takes closes the stream with
    /// `unsupported-stanza-type`.
    async fn nonza(&self, hub: &Hub, session: &mut Session<'_>, el: &Element) -> bool {
        let _ = (hub, session, el);
        false
    }

    /// A stanza was queued for the session `jid`, whose connection is
    /// broken and which waits for a XEP-0198 resumption (XEP-0357 push
    /// notifications start here). Called in that session's task.
    async fn detached(&self, hub: &Hub, jid: &FullJid, st: &Routed) {
        let _ = (hub, jid, st);
    }

    /// An iq `result` or `error` addressed to the local account `to`'s
    /// bare JID: the answer to a request a module sent from that address
    /// (XEP-0357 notifications). A response no module takes is dropped.
    async fn iq_response(&self, hub: &Hub, st: Routed, to: &BareJid) -> Flow {
        let _ = (hub, to);
        Flow::Continue(st)
    }

    /// The XEP-0115 capabilities of `jid` (a local session or a contact
    /// with available presence) became known or changed: they are in
    /// [`Hub::caps`] (PEP sends the last items of the nodes `jid` wants
    /// notifications of).
    async fn caps_changed(&self, hub: &Hub, jid: &FullJid, caps: &Arc<crate::caps::CapsInfo>) {
        let _ = (hub, jid, caps);
    }

    /// Items of the account `owner`'s disco#items that `requester` may
    /// see, besides its resources (XEP-0060 §5.2: PEP nodes).
    async fn account_items(
        &self,
        hub: &Hub,
        owner: &BareJid,
        requester: &Jid,
    ) -> Vec<starling_stanza::DiscoItem> {
        let _ = (hub, owner, requester);
        Vec::new()
    }

    /// A stanza about to be written to a session (runs in that session's
    /// task; keep it cheap).
    fn filter(&self, session: &SessionView<'_>, st: &Routed) -> Filter {
        let _ = (session, st);
        Filter::Deliver
    }

    /// A stanza was queued for the sessions `delivered_to` of the local
    /// account `account` (runs in the sender's task, after the queueing;
    /// only for modules registered for [`Hook::Delivered`]).
    async fn delivered(
        &self,
        hub: &Hub,
        st: &Routed,
        account: &BareJid,
        delivered_to: &[Arc<SessionHandle>],
    ) {
        let _ = (hub, st, account, delivered_to);
    }

    /// A stanza this module's filter answered [`Filter::Hold`] for, in
    /// the receiving session's task: keep it in the session's state
    /// `ext`. Returns what must be written now, in order (all that is
    /// held and `st` when the module's buffer is full; nothing when it
    /// kept `st`). The default keeps nothing.
    fn hold(&self, ext: &mut Extensions, st: Arc<Routed>) -> Vec<Arc<Routed>> {
        let _ = ext;
        vec![st]
    }

    /// Gives back everything the module holds for the session, in order:
    /// it is written before the next stanza the filters deliver, and when
    /// a nonza was taken (XEP-0352 `<active/>`).
    fn release(&self, ext: &mut Extensions) -> Vec<Arc<Routed>> {
        let _ = ext;
        Vec::new()
    }
}

/// What a module declares at registration.
#[derive(Debug, Default)]
pub struct Registrar {
    pub(crate) iq: Vec<IqKey>,
    pub(crate) hooks: Vec<(Hook, Kinds)>,
    pub(crate) features: Vec<String>,
    pub(crate) identities: Vec<starling_stanza::Identity>,
    pub(crate) account_features: Vec<String>,
    pub(crate) account_identities: Vec<starling_stanza::Identity>,
    pub(crate) stream_features: Features,
    pub(crate) disco_stream_features: Vec<fn(&starling_stanza::DiscoInfo) -> Option<Element>>,
}

impl Registrar {
    /// Handles iq requests with this key.
    pub fn iq(&mut self, scope: IqScope, iq_type: IqType, ns: &'static str, name: &'static str) {
        self.iq.push(IqKey {
            scope,
            iq_type,
            ns,
            name,
        });
    }

    /// Calls the module for this hook, for every stanza.
    pub fn hook(&mut self, hook: Hook) {
        self.hooks.push((hook, Kinds::ALL));
    }

    /// Calls the module for this hook, only for stanzas of these kinds
    /// (the others pass the module by without a call).
    pub fn hook_for(&mut self, hook: Hook, kinds: Kinds) {
        self.hooks.push((hook, kinds));
    }

    /// Lists a feature in the server's disco#info.
    pub fn disco_feature(&mut self, var: &str) {
        self.features.push(var.to_owned());
    }

    /// Lists a feature in an account's disco#info.
    pub fn account_feature(&mut self, var: &str) {
        self.account_features.push(var.to_owned());
    }

    /// Adds an identity to accounts' disco#info (next to
    /// `account/registered`).
    pub fn account_identity(&mut self, category: &str, identity_type: &str, name: Option<&str>) {
        self.account_identities.push(starling_stanza::Identity {
            category: category.to_owned(),
            identity_type: identity_type.to_owned(),
            name: name.map(str::to_owned),
            lang: None,
        });
    }

    /// Adds an identity to the server's disco#info.
    pub fn disco_identity(&mut self, category: &str, identity_type: &str, name: Option<&str>) {
        self.identities.push(starling_stanza::Identity {
            category: category.to_owned(),
            identity_type: identity_type.to_owned(),
            name: name.map(str::to_owned),
            lang: None,
        });
    }

    /// Adds to the stream features offered after authentication.
    pub fn stream_features(&mut self, f: impl FnOnce(&mut Features)) {
        f(&mut self.stream_features);
    }

    /// Adds a stream feature computed from the server's complete
    /// disco#info (every module's identities and features), once all
    /// modules registered: XEP-0115's `<c/>` (§6.3). `None` adds nothing.
    pub fn stream_feature_from_disco(
        &mut self,
        f: fn(&starling_stanza::DiscoInfo) -> Option<Element>,
    ) {
        self.disco_stream_features.push(f);
    }
}
