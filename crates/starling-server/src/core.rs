//! The server's shared state and its stanza rules: delivery by address form
//! (RFC 6120 §10, RFC 6121 §8), rosters (RFC 6121 §2), subscriptions
//! (RFC 6121 §3 and Appendix A), presence (RFC 6121 §4), and the iq the
//! server answers itself (XEP-0030, XEP-0092, XEP-0199).
//!
//! Everything here is synchronous and free of I/O except storage calls;
//! sessions call in with the stanzas their clients send.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use starling_jid::{BareJid, FullJid, Jid};
use starling_stanza::{
    Delay, DiscoInfo, DiscoItems, Identity, Payload, Roster, RosterItem, StanzaError,
    StanzaErrorCondition as Cond, Version, error_reply, ns,
};
use starling_xml::Element;

use crate::config::Config;
use crate::registry::{Registry, SessionHandle};
use crate::storage::{RosterEntry, Storage, StorageError, Subscription};

/// Server software name (XEP-0092).
pub const SOFTWARE_NAME: &str = "starling";
/// Server software version (XEP-0092).
pub const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// XEP-0160 feature: offline messages are stored.
const FEATURE_MSGOFFLINE: &str = "msgoffline";

/// What a session remembers between its stanzas.
#[derive(Debug, Default)]
pub struct SessionState {
    /// Initial presence has been sent (and not since unavailable).
    pub available: bool,
    /// Entities that got directed presence while available (RFC 6121 §4.6).
    pub directed: HashSet<Jid>,
    /// Offline messages to deliver now (initial presence was just sent).
    pub want_offline: bool,
}

/// The shared state of a running server.
pub struct Core {
    /// The configuration.
    pub config: Config,
    /// Durable state.
    pub storage: Arc<dyn Storage>,
    /// Bound sessions.
    pub registry: Registry,
    /// Federation, when enabled.
    pub s2s: std::sync::OnceLock<Arc<crate::s2s::S2s>>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("sessions", &self.registry.len())
            .finish_non_exhaustive()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn attr_jid(el: &Element, name: &str) -> Option<Jid> {
    el.attr(name).and_then(|s| Jid::new(s).ok())
}

fn to_item(e: &RosterEntry) -> RosterItem {
    RosterItem {
        jid: e.jid.clone(),
        name: e.name.clone(),
        subscription: match e.subscription {
            Subscription::None => starling_stanza::Subscription::None,
            Subscription::To => starling_stanza::Subscription::To,
            Subscription::From => starling_stanza::Subscription::From,
            Subscription::Both => starling_stanza::Subscription::Both,
        },
        ask: e.ask,
        approved: e.approved,
        groups: e.groups.clone(),
    }
}

fn presence(ptype: Option<&str>, from: &Jid, to: &Jid) -> Element {
    let mut p = Element::new("presence", ns::CLIENT);
    if let Some(t) = ptype {
        p.set_attr("type", Some(t));
    }
    p.set_attr("from", Some(from.as_str()));
    p.set_attr("to", Some(to.as_str()));
    p
}

fn with_addrs(mut el: Element, from: &Jid, to: &Jid) -> Element {
    el.set_attr("from", Some(from.as_str()));
    el.set_attr("to", Some(to.as_str()));
    el
}

fn storage_err(e: &StorageError) -> StanzaError {
    tracing::error!(error = %e, "storage failed");
    StanzaError::new(Cond::InternalServerError)
}

impl Core {
    /// The server state for a configuration and a storage backend.
    pub fn new(config: Config, storage: Arc<dyn Storage>) -> Core {
        Core {
            config,
            storage,
            registry: Registry::new(),
            s2s: std::sync::OnceLock::new(),
        }
    }

    /// Whether `domain` is served here.
    pub fn serves(&self, domain: &str) -> bool {
        self.config.serves(domain)
    }

    // ----- routing -------------------------------------------------------

    /// Routes a stanza whose `from` and `to` are set and checked.
    pub fn route(&self, el: Element) {
        if let Some(to) = attr_jid(&el, "to") {
            self.route_to(el, to);
        }
    }

    /// [`route`](Self::route) for a caller that has parsed `to` already.
    pub fn route_to(&self, el: Element, to: Jid) {
        if self.serves(to.domain()) {
            self.deliver_local(el, to);
        } else {
            self.to_remote(el);
        }
    }

    /// A stanza for a domain this server does not serve: there is no
    /// server-to-server connection, so it bounces (RFC 6120 §10.4).
    fn to_remote(&self, el: Element) {
        if let Some(s2s) = self.s2s.get() {
            s2s.send(el);
            return;
        }
        // Presence broadcasts and probes are not answered with errors.
        if el.name() == "presence"
            && matches!(
                el.attr("type"),
                None | Some("unavailable" | "probe" | "error")
            )
        {
            return;
        }
        self.bounce(&el, Cond::RemoteServerNotFound);
    }

    /// Sends the error reply to a stanza back to its sender.
    pub fn bounce(&self, el: &Element, cond: Cond) {
        self.bounce_error(el, StanzaError::new(cond));
    }

    /// Sends the error reply to a stanza back to its sender, local or
    /// remote (never for an error stanza).
    pub fn bounce_error(&self, el: &Element, err: StanzaError) {
        // RFC 6120 §8.2.3: results and errors are never answered.
        if el.name() == "iq" && matches!(el.attr("type"), Some("result" | "error")) {
            return;
        }
        if let Some(reply) = error_reply(el, &err, el.name() == "message") {
            if reply.attr("to").is_some() {
                self.route(reply);
            }
        }
    }

    /// Delivers a stanza to an address of a served domain (RFC 6120 §10.5,
    /// RFC 6121 §8.5).
    pub fn deliver_local(&self, el: Element, to: Jid) {
        match (to.node_part(), to.resource_part()) {
            (None, None) => self.to_domain(el),
            (None, Some(_)) => {
                if el.name() == "iq" {
                    self.iq_unhandled(&el);
                }
            }
            (Some(_), None) => self.to_bare(el, to.into_bare()),
            (Some(_), Some(_)) => match to.try_into_full() {
                Ok(full) => self.to_full(el, full),
                Err(bare) => self.to_bare(el, bare),
            },
        }
    }

    fn account_exists(&self, jid: &BareJid) -> bool {
        self.storage.account_exists(jid).unwrap_or_else(|e| {
            tracing::error!(error = %e, "storage failed");
            false
        })
    }

    fn to_full(&self, el: Element, to: FullJid) {
        let bare = to.bare();
        if el.name() == "presence" && is_subscription_type(el.attr("type")) {
            // Subscription states belong to the bare JID (RFC 6121 §3).
            return self.to_bare(el, bare);
        }
        if let Some(s) = self.registry.get(&to) {
            if el.name() == "presence" && el.attr("type") == Some("probe") {
                return self.answer_probe(&el, &bare);
            }
            s.deliver(el);
            return;
        }
        // RFC 6121 §8.5.3.2: no such resource.
        match el.name() {
            "message" => match el.attr("type").unwrap_or("normal") {
                "normal" | "chat" => self.to_bare(el, bare),
                "groupchat" => self.bounce(&el, Cond::ServiceUnavailable),
                _ => {}
            },
            "presence" if el.attr("type") == Some("probe") => self.to_bare(el, bare),
            "iq" => self.iq_unhandled(&el),
            _ => {}
        }
    }

    fn to_bare(&self, el: Element, to: BareJid) {
        // A bound session proves the account exists: no storage query on
        // the message path to online users.
        let online = !self.registry.sessions(&to).is_empty();
        if !online && !self.account_exists(&to) {
            // RFC 6121 §8.5.1: no such account.
            match el.name() {
                "presence" if el.attr("type") == Some("subscribe") => {
                    // RFC 6121 §3.1.3: answer with unsubscribed.
                    if let Some(from) = attr_jid(&el, "from") {
                        let p = presence(
                            Some("unsubscribed"),
                            &Jid::from(to),
                            &Jid::from(from.bare()),
                        );
                        self.route(p);
                    }
                }
                "message" | "iq" => self.bounce(&el, Cond::ServiceUnavailable),
                _ => {}
            }
            return;
        }
        match el.name() {
            "message" => self.message_to_bare(el, &to),
            "presence" => self.presence_to_bare(el, &to),
            "iq" => self.iq_on_behalf(el, &to),
            _ => {}
        }
    }

    /// RFC 6121 §8.5.2.1: a message to a bare JID.
    fn message_to_bare(&self, el: Element, to: &BareJid) {
        let mtype = el.attr("type").unwrap_or("normal");
        let sessions: Vec<Arc<SessionHandle>> = self
            .registry
            .sessions(to)
            .into_iter()
            .filter(|s| s.is_available() && s.priority() >= 0)
            .collect();
        match mtype {
            "normal" | "chat" => {
                if sessions.is_empty() {
                    return self.store_offline(el, to);
                }
                let top = sessions.iter().map(|s| s.priority()).max().unwrap_or(0);
                let targets: Vec<_> = sessions.iter().filter(|s| s.priority() == top).collect();
                deliver_many(el, &targets);
            }
            "headline" => {
                let targets: Vec<_> = sessions.iter().collect();
                deliver_many(el, &targets);
            }
            "groupchat" => self.bounce(&el, Cond::ServiceUnavailable),
            _ => {}
        }
    }

    fn store_offline(&self, mut el: Element, to: &BareJid) {
        // Messages without content worth keeping (chat states alone) are
        // dropped rather than stored.
        if !el.has_child("body", ns::CLIENT) && !el.has_child("subject", ns::CLIENT) {
            return;
        }
        let stamp = Delay::from_unix(
            now_secs(),
            Some(Jid::from(to.domain_part())),
            Some("Offline Storage".to_owned()),
        );
        el.append_child(stamp.to_element());
        match self
            .storage
            .offline_push(to, &el.to_xml(), self.config.limits.max_offline_messages)
        {
            Ok(true) => {}
            Ok(false) => {
                el.remove_child(Delay::NAME, Delay::NS);
                self.bounce_error(
                    &el,
                    StanzaError::new(Cond::ServiceUnavailable).with_text("offline storage is full"),
                );
            }
            Err(e) => {
                el.remove_child(Delay::NAME, Delay::NS);
                self.bounce_error(&el, storage_err(&e));
            }
        }
    }

    /// Presence addressed to a local account (RFC 6121 §3, §4).
    fn presence_to_bare(&self, el: Element, to: &BareJid) {
        let Some(from) = attr_jid(&el, "from") else {
            return;
        };
        match el.attr("type") {
            Some("subscribe") => self.inbound_subscribe(el, to, &from.bare()),
            Some("subscribed") => self.inbound_subscribed(el, to, &from.bare()),
            Some("unsubscribe") => self.inbound_unsubscribe(el, to, &from.bare()),
            Some("unsubscribed") => self.inbound_unsubscribed(el, to, &from.bare()),
            Some("probe") => self.answer_probe(&el, to),
            Some("error") | None | Some("unavailable") => {
                // Broadcast or directed presence: every available resource.
                for s in self.registry.sessions(to) {
                    if s.is_available() {
                        s.deliver(el.clone());
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// Answers a probe from `el`'s sender about the local account `of`
    /// (RFC 6121 §4.3.2) with the last presence of each available
    /// resource, if the prober is subscribed.
    fn answer_probe(&self, el: &Element, of: &BareJid) {
        let Some(from) = attr_jid(el, "from") else {
            return;
        };
        let subscribed = from.bare() == *of
            || matches!(self.storage.roster_item(of, &from.bare()), Ok(Some(e)) if e.subscription.has_from());
        if !subscribed {
            return;
        }
        let mut any = false;
        for s in self.registry.sessions(of) {
            if let Some(p) = s.presence() {
                any = true;
                self.route(with_addrs(p, &Jid::from(s.jid.clone()), &from));
            }
        }
        if !any {
            // RFC 6121 §4.3.2: no available resource: unavailable.
            self.route(presence(Some("unavailable"), &Jid::from(of.clone()), &from));
        }
    }

    // ----- subscriptions, inbound at the contact's server -------------------

    fn entry(
        &self,
        owner: &BareJid,
        contact: &BareJid,
    ) -> Result<Option<RosterEntry>, StorageError> {
        self.storage.roster_item(owner, contact)
    }

    /// Saves an item and pushes it to the owner's interested resources.
    fn save_and_push(&self, owner: &BareJid, entry: &RosterEntry) -> Result<(), StorageError> {
        let ver = self.storage.roster_put(owner, entry)?;
        self.push(owner, to_item(entry), ver);
        Ok(())
    }

    fn push(&self, owner: &BareJid, item: RosterItem, ver: u64) {
        let roster = Roster {
            ver: Some(ver.to_string()),
            items: vec![item],
        };
        for s in self.registry.sessions(owner) {
            if s.is_interested() {
                let iq =
                    starling_stanza::Iq::set(format!("push{}", crate::random_id()), roster.clone())
                        .with_to(Jid::from(s.jid.clone()));
                s.deliver(iq.to_element());
            }
        }
    }

    fn to_resources(&self, owner: &BareJid, el: &Element) {
        for s in self.registry.sessions(owner) {
            if s.is_available() {
                s.deliver(el.clone());
            }
        }
    }

    /// Presence of each available resource of `owner` (or unavailable),
    /// sent to `to`.
    fn send_current_presence(&self, owner: &BareJid, to: &Jid, unavailable: bool) {
        for s in self.registry.sessions(owner) {
            if !s.is_available() {
                continue;
            }
            let from = Jid::from(s.jid.clone());
            let el = if unavailable {
                Some(presence(Some("unavailable"), &from, to))
            } else {
                s.presence().map(|p| with_addrs(p, &from, to))
            };
            if let Some(el) = el {
                self.route(el);
            }
        }
    }

    fn inbound_subscribe(&self, mut el: Element, contact: &BareJid, user: &BareJid) {
        let r = (|| -> Result<(), StorageError> {
            let item = self.entry(contact, user)?;
            if let Some(mut item) = item {
                if item.subscription.has_from() {
                    // Already subscribed: answer on the contact's behalf.
                    let p = presence(
                        Some("subscribed"),
                        &Jid::from(contact.clone()),
                        &Jid::from(user.clone()),
                    );
                    self.route(p);
                    return Ok(());
                }
                if item.approved {
                    // Pre-approved (RFC 6121 §3.4).
                    item.approved = false;
                    item.subscription = item.subscription.with_from(true);
                    self.save_and_push(contact, &item)?;
                    let p = presence(
                        Some("subscribed"),
                        &Jid::from(contact.clone()),
                        &Jid::from(user.clone()),
                    );
                    self.route(p);
                    self.send_current_presence(contact, &Jid::from(user.clone()), false);
                    return Ok(());
                }
            }
            el.set_attr("from", Some(user.as_str()));
            el.set_attr("to", Some(contact.as_str()));
            self.storage
                .add_subscription_request(contact, user, &el.to_xml())?;
            self.to_resources(contact, &el);
            Ok(())
        })();
        if let Err(e) = r {
            tracing::error!(error = %e, "storage failed while processing subscribe");
        }
    }

    fn inbound_subscribed(&self, el: Element, user: &BareJid, contact: &BareJid) {
        let r = (|| -> Result<(), StorageError> {
            let Some(mut item) = self.entry(user, contact)? else {
                return Ok(());
            };
            if !item.ask {
                if item.subscription.has_to() {
                    // Already subscribed (the contact's server answered a
                    // repeated request): confirm it, nothing changes.
                    self.to_resources(user, &el);
                }
                return Ok(());
            }
            item.ask = false;
            item.subscription = item.subscription.with_to(true);
            self.save_and_push(user, &item)?;
            self.to_resources(user, &el);
            Ok(())
        })();
        if let Err(e) = r {
            tracing::error!(error = %e, "storage failed while processing subscribed");
        }
    }

    fn inbound_unsubscribe(&self, el: Element, contact: &BareJid, user: &BareJid) {
        let r = (|| -> Result<(), StorageError> {
            let pending = self.storage.remove_subscription_request(contact, user)?;
            let item = self.entry(contact, user)?;
            let mut changed = false;
            if let Some(mut item) = item {
                if item.subscription.has_from() {
                    item.subscription = item.subscription.with_from(false);
                    self.save_and_push(contact, &item)?;
                    changed = true;
                }
            }
            if changed || pending {
                self.to_resources(contact, &el);
            }
            if changed {
                // RFC 6121 §3.3.3: the user no longer sees the contact.
                self.send_current_presence(contact, &Jid::from(user.clone()), true);
            }
            Ok(())
        })();
        if let Err(e) = r {
            tracing::error!(error = %e, "storage failed while processing unsubscribe");
        }
    }

    fn inbound_unsubscribed(&self, el: Element, user: &BareJid, contact: &BareJid) {
        let r = (|| -> Result<(), StorageError> {
            let Some(mut item) = self.entry(user, contact)? else {
                return Ok(());
            };
            if !item.subscription.has_to() && !item.ask {
                return Ok(());
            }
            item.ask = false;
            item.subscription = item.subscription.with_to(false);
            self.save_and_push(user, &item)?;
            self.to_resources(user, &el);
            Ok(())
        })();
        if let Err(e) = r {
            tracing::error!(error = %e, "storage failed while processing unsubscribed");
        }
    }

    // ----- from a local client ---------------------------------------------

    /// A presence without `to` from a bound session: broadcast (RFC 6121
    /// §4.2, §4.4, §4.5). Returns whether this was initial presence.
    pub fn client_broadcast(
        &self,
        me: &Arc<SessionHandle>,
        st: &mut SessionState,
        mut el: Element,
    ) {
        let bare = me.jid.bare();
        let from = Jid::from(me.jid.clone());
        el.set_attr("from", Some(from.as_str()));
        match el.attr("type") {
            None => {
                let prio = el
                    .get_child("priority", ns::CLIENT)
                    .and_then(|p| p.text().trim().parse::<i8>().ok())
                    .unwrap_or(0);
                let initial = !st.available;
                let mut stored = el.clone();
                stored.set_attr("to", None);
                me.set_presence(Some((stored, i32::from(prio))));
                st.available = true;
                let roster = self.storage.roster(&bare).map(|r| r.1).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "storage failed");
                    Vec::new()
                });
                for item in &roster {
                    if item.subscription.has_from() {
                        self.route(with_addrs(el.clone(), &from, &Jid::from(item.jid.clone())));
                    }
                }
                // The user's own resources, including this one.
                for s in self.registry.sessions(&bare) {
                    if s.is_available() {
                        s.deliver(with_addrs(el.clone(), &from, &Jid::from(s.jid.clone())));
                    }
                }
                if initial {
                    // Probes for the contacts' presence.
                    for item in &roster {
                        if item.subscription.has_to() {
                            let probe =
                                presence(Some("probe"), &from, &Jid::from(item.jid.clone()));
                            self.route(probe);
                        }
                    }
                    // Our other available resources' presence to this one.
                    for s in self.registry.sessions(&bare) {
                        if s.id != me.id {
                            if let Some(p) = s.presence() {
                                me.deliver(with_addrs(p, &Jid::from(s.jid.clone()), &from));
                            }
                        }
                    }
                    // Pending subscription requests (RFC 6121 §3.1.3).
                    if let Ok(reqs) = self.storage.subscription_requests(&bare) {
                        for (_, xml) in reqs {
                            if let Ok(p) = Element::parse(xml.as_bytes()) {
                                me.deliver(p);
                            }
                        }
                    }
                    st.want_offline = prio >= 0;
                }
            }
            Some("unavailable") => self.go_unavailable(me, st, Some(el)),
            _ => {}
        }
    }

    /// The session becomes unavailable (presence or disconnect): tell the
    /// subscribers, our other resources and directed-presence recipients.
    pub fn go_unavailable(
        &self,
        me: &Arc<SessionHandle>,
        st: &mut SessionState,
        el: Option<Element>,
    ) {
        if !st.available {
            return;
        }
        st.available = false;
        me.set_presence(None);
        let bare = me.jid.bare();
        let from = Jid::from(me.jid.clone());
        let el = el.unwrap_or_else(|| {
            let mut p = Element::new("presence", ns::CLIENT);
            p.set_attr("type", Some("unavailable"));
            p
        });
        let mut sent: HashSet<Jid> = HashSet::new();
        if let Ok((_, roster)) = self.storage.roster(&bare) {
            for item in roster {
                if item.subscription.has_from() {
                    let to = Jid::from(item.jid);
                    self.route(with_addrs(el.clone(), &from, &to));
                    sent.insert(to);
                }
            }
        }
        for s in self.registry.sessions(&bare) {
            if s.is_available() || s.id == me.id {
                s.deliver(with_addrs(el.clone(), &from, &Jid::from(s.jid.clone())));
            }
        }
        for to in std::mem::take(&mut st.directed) {
            if !sent.contains(&to) {
                self.route(with_addrs(el.clone(), &from, &to));
            }
        }
    }

    /// Directed presence or a subscription stanza from a client (RFC 6121
    /// §3, §4.6). `el` has `from` stamped and a valid `to`.
    pub fn client_directed_presence(
        &self,
        me: &Arc<SessionHandle>,
        st: &mut SessionState,
        el: Element,
        to: Jid,
    ) {
        let user = me.jid.bare();
        match el.attr("type") {
            Some("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed") => {
                let contact = to.bare();
                if let Err(e) = self.outbound_subscription(&user, &contact, el) {
                    tracing::error!(error = %e, "storage failed while processing a subscription");
                }
            }
            Some("probe") => {
                // Clients do not probe (RFC 6121 §4.3); answer from state
                // anyway for local contacts.
                self.route(el);
            }
            None => {
                let tracked = !matches!(self.storage.roster_item(&user, &to.bare()), Ok(Some(e)) if e.subscription.has_from());
                if st.available && tracked {
                    st.directed.insert(to.clone());
                }
                self.route(el);
            }
            Some("unavailable") => {
                st.directed.remove(&to);
                self.route(el);
            }
            Some(_) => self.route(el),
        }
    }

    fn outbound_subscription(
        &self,
        user: &BareJid,
        contact: &BareJid,
        mut el: Element,
    ) -> Result<(), StorageError> {
        // Subscription stanzas carry bare JIDs (RFC 6121 §3.1.1).
        el.set_attr("from", Some(user.as_str()));
        el.set_attr("to", Some(contact.as_str()));
        let item = self.entry(user, contact)?;
        match el.attr("type") {
            Some("subscribe") => {
                let mut item = item.unwrap_or_else(|| RosterEntry::new(contact.clone()));
                if !item.subscription.has_to() && !item.ask {
                    item.ask = true;
                    self.save_and_push(user, &item)?;
                }
                self.route(el);
            }
            Some("subscribed") => {
                let pending = self.storage.remove_subscription_request(user, contact)?;
                if pending {
                    let mut item = item.unwrap_or_else(|| RosterEntry::new(contact.clone()));
                    item.subscription = item.subscription.with_from(true);
                    item.approved = false;
                    self.save_and_push(user, &item)?;
                    self.route(el);
                    self.send_current_presence(user, &Jid::from(contact.clone()), false);
                } else {
                    let mut item = item.unwrap_or_else(|| RosterEntry::new(contact.clone()));
                    if !item.subscription.has_from() && !item.approved {
                        // Pre-approval (RFC 6121 §3.4).
                        item.approved = true;
                        self.save_and_push(user, &item)?;
                    }
                }
            }
            Some("unsubscribe") => {
                if let Some(mut item) = item {
                    if item.subscription.has_to() || item.ask {
                        item.subscription = item.subscription.with_to(false);
                        item.ask = false;
                        self.save_and_push(user, &item)?;
                    }
                }
                self.route(el);
            }
            Some("unsubscribed") => {
                let pending = self.storage.remove_subscription_request(user, contact)?;
                let mut had_from = false;
                if let Some(mut item) = item {
                    if item.subscription.has_from() || item.approved {
                        had_from = item.subscription.has_from();
                        item.subscription = item.subscription.with_from(false);
                        item.approved = false;
                        self.save_and_push(user, &item)?;
                    }
                }
                if had_from || pending {
                    if had_from {
                        self.send_current_presence(user, &Jid::from(contact.clone()), true);
                    }
                    self.route(el);
                }
            }
            _ => {}
        }
        Ok(())
    }

    // ----- iq -------------------------------------------------------------

    fn iq_unhandled(&self, el: &Element) {
        if matches!(el.attr("type"), Some("get" | "set")) {
            self.bounce(el, Cond::ServiceUnavailable);
        }
    }

    fn reply(&self, el: &Element, payload: Option<Element>) {
        let mut r = result_for(el, payload);
        if let Some(t) = el.attr("to") {
            r.set_attr("from", Some(t));
        }
        self.route(r);
    }

    fn server_disco_info(&self) -> DiscoInfo {
        DiscoInfo {
            node: None,
            identities: vec![Identity {
                category: "server".to_owned(),
                identity_type: "im".to_owned(),
                name: Some("Starling".to_owned()),
                lang: None,
            }],
            features: [
                ns::DISCO_INFO,
                ns::DISCO_ITEMS,
                ns::PING,
                ns::VERSION,
                ns::ROSTER,
                ns::DELAY,
                "urn:xmpp:features:rosterver",
                "urn:xmpp:features:pre-approval",
                FEATURE_MSGOFFLINE,
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
            extensions: Vec::new(),
        }
    }

    /// An iq, message or presence addressed to the server's domain.
    fn to_domain(&self, el: Element) {
        match el.name() {
            "iq" => {
                let Some(payload) = el.children().next() else {
                    return self.iq_unhandled(&el);
                };
                match (el.attr("type"), payload.name(), payload.ns()) {
                    (Some("get"), "query", ns::DISCO_INFO) if payload.attr("node").is_none() => {
                        self.reply(&el, Some(self.server_disco_info().to_element()));
                    }
                    (Some("get"), "query", ns::DISCO_ITEMS) if payload.attr("node").is_none() => {
                        self.reply(&el, Some(DiscoItems::default().to_element()));
                    }
                    (Some("get"), "ping", ns::PING) => self.reply(&el, None),
                    (Some("get"), "query", ns::VERSION) => {
                        let v = Version {
                            name: Some(SOFTWARE_NAME.to_owned()),
                            version: Some(SOFTWARE_VERSION.to_owned()),
                            os: None,
                        };
                        self.reply(&el, Some(v.to_element()));
                    }
                    (Some("get" | "set"), "query", ns::ROSTER) => {
                        // A roster request sent to the server's domain is
                        // not the user's own (RFC 6121 §2.1.3).
                        self.bounce(&el, Cond::Forbidden);
                    }
                    _ => self.iq_unhandled(&el),
                }
            }
            "message" if !matches!(el.attr("type"), Some("error" | "headline" | "groupchat")) => {
                self.bounce(&el, Cond::ServiceUnavailable);
            }
            _ => {}
        }
    }

    /// An iq to a local account's bare JID, answered by the server on its
    /// behalf (RFC 6121 §8.5.2.1.3).
    fn iq_on_behalf(&self, el: Element, to: &BareJid) {
        let from_self = attr_jid(&el, "from").is_some_and(|f| f.bare() == *to);
        let Some(payload) = el.children().next() else {
            return self.iq_unhandled(&el);
        };
        match (el.attr("type"), payload.name(), payload.ns()) {
            (Some("get" | "set"), "query", ns::ROSTER) if !from_self => {
                self.bounce(&el, Cond::Forbidden);
            }
            (Some("get"), "query", ns::DISCO_INFO) if payload.attr("node").is_none() => {
                let info = DiscoInfo {
                    node: None,
                    identities: vec![Identity {
                        category: "account".to_owned(),
                        identity_type: "registered".to_owned(),
                        name: None,
                        lang: None,
                    }],
                    features: vec![ns::DISCO_INFO.to_owned(), ns::DISCO_ITEMS.to_owned()],
                    extensions: Vec::new(),
                };
                self.reply(&el, Some(info.to_element()));
            }
            (Some("get"), "query", ns::DISCO_ITEMS) if payload.attr("node").is_none() => {
                let mut items = DiscoItems::default();
                if from_self {
                    items.items = self
                        .registry
                        .sessions(to)
                        .into_iter()
                        .map(|s| starling_stanza::DiscoItem {
                            jid: Jid::from(s.jid.clone()),
                            node: None,
                            name: None,
                        })
                        .collect();
                }
                self.reply(&el, Some(items.to_element()));
            }
            (Some("get"), "ping", ns::PING) => self.reply(&el, None),
            _ => self.iq_unhandled(&el),
        }
    }

    /// A roster get or set from the account's own session (RFC 6121 §2).
    pub fn roster_iq(&self, me: &Arc<SessionHandle>, el: &Element) -> Result<Element, StanzaError> {
        let bare = me.jid.bare();
        let query = el
            .get_child("query", ns::ROSTER)
            .ok_or_else(|| StanzaError::new(Cond::BadRequest))?;
        let roster = Roster::from_element(query).map_err(|e| e.to_stanza_error())?;
        match el.attr("type") {
            Some("get") => {
                if !roster.items.is_empty() {
                    return Err(
                        StanzaError::new(Cond::BadRequest).with_text("a roster get has no items")
                    );
                }
                me.set_interested();
                let (ver, items) = self.storage.roster(&bare).map_err(|e| storage_err(&e))?;
                let ver_s = ver.to_string();
                if roster.ver.as_deref() == Some(ver_s.as_str()) {
                    // RFC 6121 §2.6.3: up to date, pushes follow.
                    return Ok(result_for(el, None));
                }
                let out = Roster {
                    ver: Some(ver_s),
                    items: items.iter().map(to_item).collect(),
                };
                Ok(result_for(el, Some(out.to_element())))
            }
            Some("set") => {
                if roster.items.len() != 1 {
                    return Err(StanzaError::new(Cond::BadRequest)
                        .with_text("a roster set has exactly one item"));
                }
                let item = &roster.items[0];
                if item.jid.as_str().is_empty() {
                    return Err(StanzaError::new(Cond::BadRequest));
                }
                let mut seen = HashSet::new();
                for g in &item.groups {
                    if g.is_empty() || g.len() > 1024 || !seen.insert(g) {
                        return Err(StanzaError::new(Cond::BadRequest)
                            .with_text("groups must be non-empty and distinct"));
                    }
                }
                if item.name.as_ref().is_some_and(|n| n.len() > 1024) {
                    return Err(StanzaError::new(Cond::NotAcceptable).with_text("name too long"));
                }
                let existing = self
                    .storage
                    .roster_item(&bare, &item.jid)
                    .map_err(|e| storage_err(&e))?;
                if item.subscription == starling_stanza::Subscription::Remove {
                    let Some(existing) = existing else {
                        return Err(StanzaError::new(Cond::ItemNotFound));
                    };
                    self.remove_contact(&bare, existing)
                        .map_err(|e| storage_err(&e))?;
                    return Ok(result_for(el, None));
                }
                let mut entry = existing.unwrap_or_else(|| RosterEntry::new(item.jid.clone()));
                entry.name = item.name.clone().filter(|n| !n.is_empty());
                entry.groups = item.groups.clone();
                self.save_and_push(&bare, &entry)
                    .map_err(|e| storage_err(&e))?;
                Ok(result_for(el, None))
            }
            _ => Err(StanzaError::new(Cond::BadRequest)),
        }
    }

    /// RFC 6121 §2.5.2: removing an item cancels both subscriptions.
    fn remove_contact(&self, user: &BareJid, entry: RosterEntry) -> Result<(), StorageError> {
        let contact = entry.jid.clone();
        let ver = self.storage.roster_remove(user, &contact)?;
        let pending = self.storage.remove_subscription_request(user, &contact)?;
        if let Some(ver) = ver {
            let mut item = to_item(&entry);
            item.subscription = starling_stanza::Subscription::Remove;
            item.ask = false;
            item.approved = false;
            self.push(user, item, ver);
        }
        let (u, c) = (Jid::from(user.clone()), Jid::from(contact.clone()));
        if entry.subscription.has_to() || entry.ask {
            self.route(presence(Some("unsubscribe"), &u, &c));
        }
        if entry.subscription.has_from() || pending {
            if entry.subscription.has_from() {
                self.send_current_presence(user, &c, true);
            }
            self.route(presence(Some("unsubscribed"), &u, &c));
        }
        Ok(())
    }

    /// Closes the sessions of accounts that no longer exist (removed by
    /// `starling user remove` while they were online).
    pub fn revoke_removed_accounts(&self) {
        let mut seen = HashSet::new();
        for s in self.registry.all() {
            let bare = s.jid.bare();
            if !seen.insert(bare.clone()) {
                continue;
            }
            if matches!(self.storage.account_exists(&bare), Ok(false)) {
                tracing::info!(account = %bare, "account removed: closing its sessions");
                for s in self.registry.sessions(&bare) {
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

fn result_for(el: &Element, payload: Option<Element>) -> Element {
    let mut r = Element::new("iq", ns::CLIENT);
    r.set_attr("type", Some("result"));
    if let Some(id) = el.attr("id") {
        r.set_attr("id", Some(id));
    }
    if let Some(f) = el.attr("from") {
        r.set_attr("to", Some(f));
    }
    if let Some(p) = payload {
        r.append_child(p);
    }
    r
}

fn is_subscription_type(t: Option<&str>) -> bool {
    matches!(
        t,
        Some("subscribe" | "subscribed" | "unsubscribe" | "unsubscribed")
    )
}

fn deliver_many(el: Element, targets: &[&Arc<SessionHandle>]) {
    if let Some((last, rest)) = targets.split_last() {
        for s in rest {
            s.deliver(el.clone());
        }
        last.deliver(el);
    }
}
