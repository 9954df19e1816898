//! The running server's shared state and the carrying out of routing
//! decisions.
//!
//! [`Hub`] holds the configuration, the bound sessions, the stores and the
//! modules. [`Hub::route`] asks the [router](crate::router) what to do
//! with a stanza and does it: deliver to sessions (one shared copy for
//! all of them), ask a module (iq handlers, presence, offline storage,
//! federation), or bounce. Sessions call [`Hub::client_stanza`] with what
//! their clients send; federation calls [`Hub::route`] with what remote
//! servers send.

mod iq;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    ErrorType, PresenceType, StanzaError, StanzaErrorCondition as Cond, StanzaKind,
};
use tracing::{error, info};

use crate::config::Config;
use crate::module::{Flow, Hook, IqScope, ModuleSet, Session};
use crate::registry::{Registry, SessionHandle};
use crate::routed::Routed;
use crate::router::{self, Address, Decision, Facts, Known, SessionInfo};
use crate::storage::{StorageError, Stores};

/// A boxed future of the hub (routing can recurse: a stanza's handling
/// routes others).
pub type HubFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The server's shared state: configuration, sessions, stores, modules.
pub struct Hub {
    config: Arc<Config>,
    sessions: Registry,
    stores: Stores,
    modules: ModuleSet,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("sessions", &self.sessions.len())
            .field("modules", &self.modules)
            .finish_non_exhaustive()
    }
}

/// The stanza error for a storage failure: logged, and answered as a
/// temporary `internal-server-error` (never as a different protocol
/// answer).
pub fn storage_error(e: &StorageError) -> StanzaError {
    error!(error = %e, "storage failed");
    StanzaError::new(Cond::InternalServerError).with_type(ErrorType::Wait)
}

impl Hub {
    /// A hub for `config`, `stores` and the enabled `modules`.
    pub fn new(config: Arc<Config>, stores: Stores, modules: ModuleSet) -> Hub {
        Hub {
            config,
            sessions: Registry::new(),
            stores,
            modules,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The bound sessions.
    pub fn sessions(&self) -> &Registry {
        &self.sessions
    }

    /// The stores.
    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    /// The enabled modules.
    pub fn modules(&self) -> &ModuleSet {
        &self.modules
    }

    /// Whether `domain` is served here.
    pub fn serves(&self, domain: &str) -> bool {
        self.config.serves(domain)
    }

    /// Routes a stanza whose `from` and `to` are set and checked.
    pub fn route(&self, st: Routed) -> HubFuture<'_> {
        Box::pin(async move {
            let Some(to) = st.to() else {
                return;
            };
            let addr = Address::classify(to, |d| self.serves(d));
            self.deliver_to(st, addr).await;
        })
    }

    /// Sends the error reply to `st` back to its sender (never for an
    /// error or an iq result).
    pub async fn bounce(&self, st: &Routed, err: StanzaError) {
        if let Some(reply) = st.error_reply(&err) {
            self.route(reply).await;
        }
    }

    async fn deliver_to(&self, st: Routed, addr: Address) {
        let account = addr.account();
        let handles = match &account {
            Some(bare) => self.sessions.sessions(bare),
            None => Vec::new(),
        };
        let infos: Vec<SessionInfo<'_>> = handles.iter().map(|h| h.info()).collect();
        let mut facts = Facts {
            sessions: &infos,
            account: Known::Unknown,
            federation: self.modules.has(Hook::Remote),
        };
        let mut decision = router::decide(st.kind(), &addr, &facts);
        if decision == Decision::NeedAccount {
            let Some(bare) = &account else {
                return;
            };
            facts.account = match self.stores.accounts.account_exists(bare).await {
                Ok(true) => Known::Yes,
                Ok(false) => Known::No,
                Err(e) => return self.storage_failed(&st, &e).await,
            };
            decision = router::decide(st.kind(), &addr, &facts);
        }
        self.execute(st, &addr, &handles, decision).await;
    }

    /// Answers a stanza whose handling failed in storage: a temporary
    /// error, except to presence broadcasts and errors.
    pub async fn storage_failed(&self, st: &Routed, e: &StorageError) {
        let err = storage_error(e);
        match st.kind() {
            StanzaKind::Presence(
                PresenceType::Available | PresenceType::Unavailable | PresenceType::Error,
                _,
            ) => {}
            _ => self.bounce(st, err).await,
        }
    }

    async fn execute(
        &self,
        st: Routed,
        addr: &Address,
        handles: &[Arc<SessionHandle>],
        decision: Decision,
    ) {
        match decision {
            Decision::Deliver(targets) => self.deliver(st, handles, &targets).await,
            Decision::Offline => {
                let Some(bare) = addr.account() else { return };
                if let Flow::Continue(st) = self.modules.offline(self, st, &bare).await {
                    self.bounce(&st, StanzaError::new(Cond::ServiceUnavailable))
                        .await;
                }
            }
            Decision::Bounce(cond) => self.bounce(&st, StanzaError::new(cond)).await,
            Decision::RefuseSubscription => {
                let (Some(bare), Some(from)) = (addr.account(), st.from()) else {
                    return;
                };
                let p = Routed::presence(
                    PresenceType::Unsubscribed,
                    &Jid::from(bare),
                    &Jid::from(from.bare()),
                );
                self.route(p).await;
            }
            Decision::ServerIq => self.server_iq(st).await,
            Decision::AccountIq => {
                let Some(bare) = addr.account() else { return };
                let to = Jid::from(bare.clone());
                let from_self = st.from().is_some_and(|f| f.bare() == bare);
                self.account_iq(st, &to, from_self, None).await;
            }
            Decision::AccountPresence => {
                let Some(bare) = addr.account() else { return };
                let _ = self.modules.account_presence(self, st, &bare).await;
            }
            Decision::Remote => {
                if let Flow::Continue(st) = self.modules.remote(self, st).await {
                    self.bounce(&st, StanzaError::new(Cond::RemoteServerNotFound))
                        .await;
                }
            }
            Decision::NeedAccount | Decision::Drop => {}
        }
    }

    /// Delivers to some of an account's sessions: one shared copy. An iq
    /// request to a full JID goes to a module that intercepts it instead.
    async fn deliver(&self, st: Routed, handles: &[Arc<SessionHandle>], targets: &[usize]) {
        if let StanzaKind::Iq(t) = st.kind() {
            if t.is_request() {
                let handler = st
                    .payload()
                    .and_then(|p| self.modules.iq_handler(IqScope::Resource, t, p));
                if let (Some(m), Some(to)) = (handler.cloned(), st.to().cloned()) {
                    return self.run_iq(m, st, &to, false, None).await;
                }
            }
        }
        let st = Arc::new(st);
        for &i in targets {
            if let Some(h) = handles.get(i) {
                h.deliver(st.clone());
            }
        }
    }

    /// A stanza from a local client: `from` is stamped and the stanza
    /// checked. Modules see it first; then a message or iq without `to`
    /// is for the account itself (RFC 6120 §10.3), and an iq to the
    /// account from its own session is answered on this session's stream.
    pub async fn client_stanza(&self, s: &mut Session<'_>, st: Routed) {
        let st = match self.modules.client_stanza(self, s, st).await {
            Flow::Handled => return,
            Flow::Continue(st) => st,
        };
        let own = s.jid().bare();
        match st.kind() {
            StanzaKind::Presence(..) => {
                if st.to().is_some() {
                    self.route(st).await;
                }
            }
            StanzaKind::Iq(_) if st.to().is_none_or(|t| t.as_str() == own.as_str()) => {
                let to = Jid::from(own);
                self.account_iq(st, &to, true, Some(s)).await;
            }
            _ => {
                let mut st = st;
                if st.to().is_none() {
                    st.set_to(Jid::from(own));
                }
                self.route(st).await;
            }
        }
    }

    /// Closes the sessions of accounts that no longer exist (removed by
    /// `starling user remove` while they were online).
    pub async fn revoke_removed_accounts(&self) {
        let mut seen = std::collections::HashSet::new();
        for s in self.sessions.all() {
            let bare: BareJid = s.jid.bare();
            if !seen.insert(bare.clone()) {
                continue;
            }
            if matches!(self.stores.accounts.account_exists(&bare).await, Ok(false)) {
                info!(account = %bare, "account removed: closing its sessions");
                for s in self.sessions.sessions(&bare) {
                    s.request_close(
                        starling_stream::StreamError::new(
                            starling_stream::Condition::NotAuthorized,
                        )
                        .with_text("the account was removed"),
                    );
                }
            }
        }
    }
}
