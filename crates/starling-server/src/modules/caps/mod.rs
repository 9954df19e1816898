//! XEP-0115 Entity Capabilities: what the server learns of entities'
//! features from the `<c/>` in their presence, and its own caps.
//!
//! * **Watching presence.** Available broadcast presence from a local
//!   session ([`Hook::ClientStanza`]) and presence routed to a local
//!   account from another domain ([`Hook::Routing`]) with a `<c/>` record
//!   the sender's caps in [`Hub::caps`]; unavailable presence, presence
//!   without `<c/>` and a session's end remove them. The hooks never take
//!   a stanza. A contact's available presence counts only when the local
//!   account it is addressed to has a session.
//! * **Resolving a verification string.** A bounded cache maps (hash,
//!   ver) to the [`CapsInfo`] behind it. An unknown string is asked of
//!   the entity that advertised it with one disco#info query to
//!   `NODE#VER`, sent from the local account's bare JID (the sender's own
//!   for a local session, the recipient's for a contact), so that the
//!   answer comes back through [`Hook::IqResponse`]. Others advertising
//!   the same string meanwhile wait for that one query. The answer is
//!   hashed with the advertised function and cached only when it gives
//!   the same string (§5.4); a wrong answer is used for the entity that
//!   gave it alone (what it says of itself; §5.4 forbids only caching it,
//!   and clients that add a `+notify` interest after computing their
//!   `ver` send such answers), an error leaves it without caps, and in
//!   both cases the next one waiting is asked. Queries are bounded
//!   in number (`max_pending`) and time (`query_timeout`, after which the
//!   next entity to advertise the string is asked). Legacy caps (no
//!   `hash`, before version 1.5) and unknown hash functions are ignored.
//! * **Telling the others.** When a JID's caps become known or change,
//!   [`ModuleSet::caps_changed`](crate::module::ModuleSet::caps_changed)
//!   runs ([`Hook::Caps`]: PEP sends the last items of the nodes the
//!   entity wants notifications of).
//! * **The server's own caps** (§6.3) are offered in the stream features
//!   after authentication, computed from the server's disco#info; the
//!   disco module answers disco#info at `NODE#VER` ([`is_server_node`]).
//!
//! Memory: the cache's entry count and estimated bytes are
//! [`CapsTable::cache_usage`](crate::caps::CapsTable::cache_usage),
//! bounded by `max_entries` and `max_bytes`.

mod cache;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use starling_jid::{BareJid, FullJid, Jid};
use starling_stanza::{Caps, CapsHash, DiscoInfo, IqType, Payload, PresenceType, StanzaKind, ns};
use starling_xml::Element;
use tracing::debug;

use crate::caps::CapsInfo;
use crate::config::CapsConfig;
use crate::hub::Hub;
use crate::module::{Flow, Hook, Kinds, Module, Registrar, Session, SessionEvent};
use crate::routed::Routed;

use cache::{CapsCache, ID_PREFIX, Lookup, Query};

/// The node of the server's own caps (§4: a URI naming the software).
pub const SERVER_NODE: &str = "https://starling.example/server";

/// The caps module (`[modules.caps]`).
#[derive(Debug)]
pub struct CapsModule {
    cache: Mutex<CapsCache>,
}

impl CapsModule {
    /// The module with `config`'s bounds.
    pub fn new(config: CapsConfig) -> CapsModule {
        CapsModule {
            cache: Mutex::new(CapsCache::new(config)),
        }
    }

    fn cache(&self) -> MutexGuard<'_, CapsCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Presence from `jid` that reached the local account `via`.
    async fn presence(&self, hub: &Hub, jid: &FullJid, via: &BareJid, st: &Routed) {
        match st.kind() {
            StanzaKind::Presence(PresenceType::Available, _) => {}
            StanzaKind::Presence(PresenceType::Unavailable, _) => return self.gone(hub, jid),
            _ => return,
        }
        let caps = st
            .element()
            .get_child(Caps::NAME, Caps::NS)
            .and_then(|c| Caps::from_element(c).ok());
        let Some(caps) = caps else {
            return self.gone(hub, jid);
        };
        let lookup = self.cache().lookup(&caps, jid, via, Instant::now());
        match lookup {
            Lookup::Known(info) => record(hub, jid, &info).await,
            Lookup::Query(q) => {
                hub.caps().remove(jid);
                send_query(hub, &q).await;
            }
            Lookup::Waiting => hub.caps().remove(jid),
            Lookup::Ignored => {
                debug!(%jid, hash = %caps.hash, "caps not resolved");
                hub.caps().remove(jid);
            }
        }
    }

    /// `jid`'s presence ended.
    fn gone(&self, hub: &Hub, jid: &FullJid) {
        hub.caps().remove(jid);
        self.cache().forget(jid);
    }
}

/// Records `jid`'s caps and tells the [`Hook::Caps`] modules when they
/// are new or changed.
async fn record(hub: &Hub, jid: &FullJid, info: &Arc<CapsInfo>) {
    if hub.caps().set(jid, info.clone()) {
        hub.modules().caps_changed(hub, jid, info).await;
    }
}

/// The disco#info query `q`.
fn query_iq(q: &Query) -> Element {
    let mut query = Element::new("query", ns::DISCO_INFO);
    query.set_attr("node", Some(q.node.as_str()));
    let mut iq = Element::new("iq", ns::CLIENT);
    iq.set_attr("type", Some("get"));
    iq.set_attr("id", Some(q.id.as_str()));
    iq.set_attr("from", Some(q.from.as_str()));
    iq.set_attr("to", Some(q.to.as_str()));
    iq.append_child(query);
    iq
}

async fn send_query(hub: &Hub, q: &Query) {
    match Routed::parse(query_iq(q)) {
        Ok(iq) => hub.route(iq).await,
        Err(bad) => debug!(error = %bad.1, "caps query not sent"),
    }
}

/// The server's caps for its disco#info `info`.
pub fn server_caps(info: &DiscoInfo) -> Option<Caps> {
    Caps::for_info(info, SERVER_NODE, CapsHash::Sha1).ok()
}

/// The `<c/>` stream feature (§6.3), when the server answers disco#info.
fn stream_feature(info: &DiscoInfo) -> Option<Element> {
    if !info.features.iter().any(|f| f == ns::DISCO_INFO) {
        return None;
    }
    server_caps(info).map(|c| c.to_element())
}

/// Whether `node` is the server's `NODE#VER` (the caps module is enabled
/// and the string is the current one).
pub fn is_server_node(hub: &Hub, node: &str) -> bool {
    let m = hub.modules();
    m.disco_features().iter().any(|f| f == ns::CAPS)
        && server_caps(&m.server_info()).is_some_and(|c| c.disco_node() == node)
}

#[async_trait]
impl Module for CapsModule {
    fn name(&self) -> &'static str {
        "caps"
    }

    fn register(&self, r: &mut Registrar) {
        r.hook_for(Hook::ClientStanza, Kinds::PRESENCE);
        r.hook_for(Hook::Routing, Kinds::PRESENCE);
        r.hook_for(Hook::IqResponse, Kinds::IQ);
        r.hook(Hook::SessionEvents);
        r.disco_feature(ns::CAPS);
        r.stream_feature_from_disco(stream_feature);
    }

    async fn client_stanza(&self, hub: &Hub, s: &mut Session<'_>, st: Routed) -> Flow {
        // Broadcast presence only: directed presence says nothing of the
        // session's presence to everyone else.
        if st.to().is_none() {
            let jid = s.jid().clone();
            self.presence(hub, &jid, &jid.bare(), &st).await;
        }
        Flow::Continue(st)
    }

    async fn routing(&self, hub: &Hub, st: Routed, to: Option<&BareJid>) -> Flow {
        // Local senders are seen in `client_stanza`; a contact's caps are
        // worth asking only when the account it writes to is online.
        let (Some(to), Some(from)) = (to, st.from()) else {
            return Flow::Continue(st);
        };
        if hub.serves(from.domain()) {
            return Flow::Continue(st);
        }
        let (available, unavailable) = match st.kind() {
            StanzaKind::Presence(PresenceType::Available, _) => (true, false),
            StanzaKind::Presence(PresenceType::Unavailable, _) => (false, true),
            _ => (false, false),
        };
        let online = || hub.sessions().with_sessions(to, |h| !h.is_empty());
        if unavailable || (available && online()) {
            if let Ok(from) = from.clone().try_into_full() {
                self.presence(hub, &from, to, &st).await;
            }
        }
        Flow::Continue(st)
    }

    async fn session_event(&self, hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        if matches!(event, SessionEvent::Closed | SessionEvent::Unavailable) {
            self.gone(hub, s.jid());
        }
    }

    async fn iq_response(&self, hub: &Hub, st: Routed, _to: &BareJid) -> Flow {
        let Some(id) = st.id().filter(|id| id.starts_with(ID_PREFIX)) else {
            return Flow::Continue(st);
        };
        let Some(Ok(from)) = st.from().cloned().map(Jid::try_into_full) else {
            return Flow::Continue(st);
        };
        let result = match st.kind() {
            StanzaKind::Iq(IqType::Result) => {
                st.payload().and_then(|p| DiscoInfo::from_element(p).ok())
            }
            _ => None,
        };
        let answered = self
            .cache()
            .answered(id, &from, result.as_ref(), Instant::now());
        let Some(answered) = answered else {
            return Flow::Continue(st);
        };
        let (entries, bytes) = self.cache().usage();
        hub.caps().set_cache_usage(entries, bytes);
        match &answered.info {
            Some(info) => {
                for w in &answered.waiters {
                    record(hub, w, info).await;
                }
            }
            None => {
                debug!(%from, "caps answer did not verify; used for its sender only");
                if let Some(own) = &answered.unverified {
                    record(hub, &from, own).await;
                }
            }
        }
        if let Some(next) = &answered.next {
            send_query(hub, next).await;
        }
        Flow::Handled
    }
}

#[cfg(test)]
mod tests;
