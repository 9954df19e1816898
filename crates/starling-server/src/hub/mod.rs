//! The running server's shared state and the carrying out of routing
//! decisions.
//!
//! [`Hub`] holds the configuration, the bound sessions, the stores and the
//! modules. [`Hub::route`] asks the [`router`] what to do
//! with a stanza and does it: deliver to sessions (one shared copy for
//! all of them), ask a module (iq handlers, presence, offline storage,
//! federation), or bounce. Sessions call [`Hub::client_stanza`] with what
//! their clients send; federation calls [`Hub::route`] with what remote
//! servers send.

mod iq;
mod journal;

use std::sync::Arc;

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    ErrorType, PresenceType, StanzaError, StanzaErrorCondition as Cond, StanzaKind,
};
use tracing::{error, info};

use crate::config::Config;
use crate::module::{Flow, Hook, IqScope, ModuleSet, Session};
use crate::registry::Registry;
use crate::routed::Routed;
use crate::router::{self, Address, Decision, Facts, Known, SessionInfo};
use crate::storage::{Executor, StorageError, Stores};

/// The server's shared state: configuration, sessions, stores, modules.
pub struct Hub {
    config: Arc<Config>,
    sessions: Registry,
    stores: Stores,
    modules: ModuleSet,
    blocking: Executor,
    caps: crate::caps::CapsTable,
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
        // CPU-bound blocking work (password checks) gets one thread a core.
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Hub {
            config,
            sessions: Registry::new(),
            stores,
            modules,
            blocking: Executor::new(cores),
            caps: crate::caps::CapsTable::new(),
        }
    }

    /// The XEP-0115 capabilities known of entities with available
    /// presence (filled by the `caps` module).
    pub fn caps(&self) -> &crate::caps::CapsTable {
        &self.caps
    }

    /// Where blocking work other than the stores' runs (SASL steps with
    /// their credential lookups and key derivation), a bounded number of
    /// calls at a time, off the async workers.
    pub fn blocking(&self) -> &Executor {
        &self.blocking
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
    pub async fn route(&self, st: Routed) {
        let Some(to) = st.to() else {
            return;
        };
        let addr = Address::classify(to, |d| self.serves(d));
        let st = if self.modules.has(Hook::Routing) {
            let journal = st.journal();
            match self
                .modules
                .routing(self, st, addr.account().as_ref())
                .await
            {
                Flow::Handled => {
                    // Refused or dropped: nothing is in flight any more.
                    return self.journal_done(journal);
                }
                Flow::Continue(st) => st,
            }
        } else {
            st
        };
        self.deliver_to(st, addr).await;
    }

    /// Sends the error reply to `st` back to its sender (never for an
    /// error or an iq result).
    pub async fn bounce(&self, st: &Routed, err: StanzaError) {
        if let Some(reply) = st.error_reply(&err) {
            // Boxed: routing the reply may bounce again (recursion).
            Box::pin(self.route(reply)).await;
        }
    }

    async fn deliver_to(&self, mut st: Routed, addr: Address) {
        let federation = self.modules.has(Hook::Remote);
        let Some(bare) = addr.account() else {
            let facts = Facts::<SessionInfo<'_>> {
                sessions: &[],
                account: Known::Unknown,
                federation,
            };
            let decision = router::decide(st.kind(), &addr, &facts);
            return Box::pin(self.execute(st, &addr, decision)).await;
        };
        self.journal(&mut st, &bare).await;
        // Only when a module wants to hear of deliveries (XEP-0280).
        let tell = self.modules.has_for(Hook::Delivered, st.kind());
        let mut st = Some(st);
        let mut account = Known::Unknown;
        let mut delivered = None;
        loop {
            // Decided, and delivered, on the account's sessions in place.
            let decision = self.sessions.with_sessions(&bare, |handles| {
                let facts = Facts {
                    sessions: handles,
                    account,
                    federation,
                };
                let kind = st.as_ref().map(Routed::kind)?;
                match router::decide(kind, &addr, &facts) {
                    Decision::Deliver(targets)
                        if self.iq_module(IqScope::Resource, st.as_ref()?).is_none() =>
                    {
                        let shared = Arc::new(st.take()?);
                        let mut taken = false;
                        for i in targets.iter() {
                            if let Some(h) = handles.get(i) {
                                taken |= h.deliver(shared.clone());
                            }
                        }
                        if taken {
                            if tell {
                                let to = targets.iter().filter_map(|i| handles.get(i));
                                delivered = Some((shared, to.cloned().collect::<Vec<_>>()));
                            }
                            return None;
                        }
                        // Every target began closing since the decision:
                        // decide again without them.
                        st = Arc::try_unwrap(shared).ok();
                        Some(Decision::Deliver(targets))
                    }
                    d => Some(d),
                }
            });
            if let Some((st, to)) = delivered.take() {
                return self.modules.delivered(self, &st, &bare, &to).await;
            }
            let (Some(decision), Some(stanza)) = (decision, st.take()) else {
                return;
            };
            if let Decision::Deliver(_) = decision {
                st = Some(stanza);
                continue;
            }
            if decision != Decision::NeedAccount || account != Known::Unknown {
                let journal = stanza.journal();
                // Boxed: what is not a plain delivery may route again
                // (bounces, replies, presence), a recursion.
                Box::pin(self.execute(stanza, &addr, decision)).await;
                // Stored offline or answered: the journal has done its job.
                return self.journal_done(journal);
            }
            account = match self.stores.accounts.account_exists(&bare).await {
                Ok(true) => Known::Yes,
                Ok(false) => Known::No,
                Err(e) => return self.storage_failed(&stanza, &e).await,
            };
            st = Some(stanza);
        }
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

    async fn execute(&self, st: Routed, addr: &Address, decision: Decision) {
        match decision {
            Decision::Deliver(_) => self.intercept(st).await,
            Decision::Offline => {
                let Some(bare) = addr.account() else { return };
                if let Flow::Continue(st) = self.modules.offline(self, st, &bare).await {
                    let err = StanzaError::new(Cond::ServiceUnavailable);
                    self.bounce(&st, err).await;
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
                    let err = StanzaError::new(Cond::RemoteServerNotFound);
                    self.bounce(&st, err).await;
                }
            }
            Decision::NeedAccount | Decision::Drop => {}
        }
    }

    /// An iq request to a full JID that a module intercepts.
    async fn intercept(&self, st: Routed) {
        if let (Some(m), Some(to)) = (self.iq_module(IqScope::Resource, &st), st.to().cloned()) {
            self.run_iq(m, st, &to, false, None).await;
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
