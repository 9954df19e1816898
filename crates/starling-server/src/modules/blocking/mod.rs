//! XEP-0191 Blocking Command.
//!
//! The user's own sessions get, set and clear their account's block list
//! (`<blocklist/>`, `<block/>`, `<unblock/>` in iq requests without `to`;
//! §3.2–§3.5); each change is pushed to the account's resources that
//! asked for the list, and stored durably
//! ([`BlocklistStore`]), bounded by `[modules.blocking] max_items`.
//!
//! The list is enforced where stanzas are routed ([`Hook::Routing`]), so
//! it holds for stanzas from local users and from other domains alike,
//! whether the user is online or not (a blocked sender's message is never
//! stored offline), §3.3:
//!
//! * from a blocked JID to the user: presence (broadcasts, subscriptions,
//!   probes) is dropped; a message or an iq `get`/`set` is answered with
//!   `service-unavailable` (the user appears offline); other iq and
//!   errors are dropped;
//! * from the user to a blocked JID: what the user's client sends is
//!   refused with `not-acceptable` and `<blocked
//!   xmlns='urn:xmpp:blocking:errors'/>` ([`Hook::ClientStanza`]); the
//!   presence the server sends on the user's behalf (broadcasts, probes)
//!   is dropped.
//!
//! The server's own domains are never blocked as senders or recipients
//! (an item naming one still blocks the JIDs at it): the user keeps
//! talking to their server.
//!
//! A delivery filter ([`Hook::Filter`]) is the last line: what was queued
//! or stored offline before a block is not written to the user either.
//!
//! Blocking a contact who may see the user's presence sends it
//! unavailable presence from each available resource; unblocking sends
//! the current presence again (§3.3, §3.4). The check on every routed
//! stanza costs one hash lookup for an account that blocks nobody (see
//! the module's `cache`).

mod cache;
mod command;
mod list;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use starling_jid::{BareJid, FullJid};
use starling_stanza::{Blocked, IqType, StanzaError, StanzaErrorCondition as Cond, StanzaKind, ns};

use crate::hub::{Hub, storage_error};
use crate::module::{
    Filter, Flow, Hook, IqOutcome, IqRequest, IqScope, Module, Registrar, Session, SessionEvent,
    SessionView,
};
use crate::routed::Routed;
use crate::storage::{BlocklistStore, RosterStore};
use cache::Cache;

/// How many block list items are kept in memory, in all, at least.
const CACHED_ITEMS: usize = 100_000;

/// The XEP-0191 module.
pub struct Blocking {
    cache: Cache,
    rosters: Arc<dyn RosterStore>,
    max_items: usize,
    /// The sessions that asked for their block list (they get pushes), by
    /// JID, with the session's id.
    requesters: Mutex<HashMap<FullJid, u64>>,
}

impl std::fmt::Debug for Blocking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking")
            .field("max_items", &self.max_items)
            .finish_non_exhaustive()
    }
}

impl Blocking {
    /// The module on `store`, with lists of up to `max_items` items;
    /// `rosters` says who may see the user's presence.
    pub fn new(
        store: Arc<dyn BlocklistStore>,
        rosters: Arc<dyn RosterStore>,
        max_items: usize,
    ) -> Blocking {
        Blocking {
            cache: Cache::new(store, CACHED_ITEMS.max(max_items)),
            rosters,
            max_items,
            requesters: Mutex::new(HashMap::new()),
        }
    }

    fn requesters(&self) -> std::sync::MutexGuard<'_, HashMap<FullJid, u64>> {
        self.requesters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A stanza from `st`'s sender to `account`, which blocks the sender.
    async fn inbound_blocked(&self, hub: &Hub, st: &Routed) {
        match st.kind() {
            StanzaKind::Presence(..) => {}
            // An error or an iq result gets no reply.
            _ => {
                hub.bounce(st, StanzaError::new(Cond::ServiceUnavailable))
                    .await
            }
        }
    }
}

/// Whether `jid` is one of this server's domains itself: the user's own
/// server is never blocked (a domain item naming it still blocks the
/// accounts and resources at it).
fn is_server(hub: &Hub, jid: &starling_jid::Jid) -> bool {
    jid.node().is_none() && jid.resource().is_none() && hub.serves(jid.domain())
}

#[async_trait]
impl Module for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Account, IqType::Get, ns::BLOCKING, "blocklist");
        r.iq(IqScope::Account, IqType::Set, ns::BLOCKING, "block");
        r.iq(IqScope::Account, IqType::Set, ns::BLOCKING, "unblock");
        r.disco_feature(ns::BLOCKING);
        r.hook(Hook::ClientStanza);
        r.hook(Hook::Routing);
        r.hook(Hook::SessionEvents);
        r.hook(Hook::Filter);
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        // Only the user's own sessions see and change the list.
        if !req.from_self {
            return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
        }
        let owner = req.to.bare();
        let r = match req.payload.name() {
            "blocklist" => self.get(hub, &req, &owner).await,
            "block" => self.block(hub, &req, &owner).await,
            _ => self.unblock(hub, &req, &owner).await,
        };
        r.unwrap_or_else(|e| IqOutcome::Error(storage_error(&e)))
    }

    async fn client_stanza(&self, hub: &Hub, s: &mut Session<'_>, st: Routed) -> Flow {
        let Some(to) = st.to() else {
            return Flow::Continue(st);
        };
        let own = s.jid().bare();
        if list::bare_str(to) == own.as_str() || is_server(hub, to) {
            return Flow::Continue(st);
        }
        let err = match self.cache.blocks(&own, to).await {
            Ok(false) => return Flow::Continue(st),
            Ok(true) => Blocked::stanza_error(),
            Err(e) => storage_error(&e),
        };
        // On the session's own stream: routed, the error would come from
        // a JID the user blocks.
        if let Some(reply) = st.error_reply(&err) {
            s.send(reply.element());
        }
        Flow::Handled
    }

    async fn routing(&self, hub: &Hub, st: Routed, to: Option<&BareJid>) -> Flow {
        let Some(from) = st.from() else {
            return Flow::Continue(st);
        };
        if is_server(hub, from) {
            return Flow::Continue(st);
        }
        if let Some(account) = to.filter(|a| list::bare_str(from) != a.as_str()) {
            match self.cache.blocks(account, from).await {
                Ok(false) => {}
                Ok(true) => {
                    self.inbound_blocked(hub, &st).await;
                    return Flow::Handled;
                }
                // An error is let through: it is most likely the bounce of
                // a stanza that failed here (its own check fails too), and
                // it cannot be answered.
                Err(e) if st.kind().is_error() => {
                    tracing::error!(error = %e, "storage failed; an error stanza let through");
                }
                Err(e) => {
                    hub.storage_failed(&st, &e).await;
                    return Flow::Handled;
                }
            }
        }
        // Presence the server sends on a local user's behalf.
        let (StanzaKind::Presence(..), Some(dest)) = (st.kind(), st.to()) else {
            return Flow::Continue(st);
        };
        if from.node().is_none() || !hub.serves(from.domain()) {
            return Flow::Continue(st);
        }
        let user = from.bare();
        if dest.bare() == user {
            return Flow::Continue(st);
        }
        match self.cache.blocks(&user, dest).await {
            Ok(false) => Flow::Continue(st),
            Ok(true) => Flow::Handled,
            Err(e) => {
                tracing::error!(error = %e, "storage failed");
                Flow::Handled
            }
        }
    }

    /// The last line: a stanza from a JID the account blocks is not
    /// written (one queued before the block, an offline message stored
    /// before it). Only lists in memory are consulted (no I/O here); the
    /// server's domains pass.
    fn filter(&self, session: &SessionView<'_>, st: &Routed) -> Filter {
        let Some(from) = st.from() else {
            return Filter::Deliver;
        };
        let own = list::full_bare_str(&session.handle.jid);
        if list::bare_str(from) == own || (from.node().is_none() && from.resource().is_none()) {
            return Filter::Deliver;
        }
        match self.cache.peek(own) {
            Some(l) if l.blocks(from) => Filter::Drop,
            _ => Filter::Deliver,
        }
    }

    async fn session_event(&self, _hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        if event == SessionEvent::Bound {
            // Loaded now, the list is in memory for the delivery filter
            // (offline messages follow initial presence).
            if let Err(e) = self.cache.list(&s.jid().bare()).await {
                tracing::error!(error = %e, "storage failed");
            }
        }
        if event == SessionEvent::Closed {
            let (jid, id) = (s.jid().clone(), s.handle().id);
            let mut r = self.requesters();
            if r.get(&jid) == Some(&id) {
                r.remove(&jid);
            }
        }
    }
}
