//! XEP-0357 Push Notifications, the user's server side.
//!
//! A client enables notifications to an app server and node (`<enable/>`,
//! with optional publish options kept verbatim) and disables them
//! (`<disable/>`, one node or all) with iq sets to its own account
//! (§5, §6); registrations are durable ([`PushStore`]), at most
//! `max_registrations` per account, identified by (app server, node),
//! and remember the resource that made them.
//!
//! **What is notified** (§7): a `chat` or `normal` message with a `<body>`
//! for an account with no available resource (the [`Hook::Offline`] chain:
//! this module runs before `offline` and passes the message on, so it is
//! still stored), and a message with a body (`chat`, `normal` or
//! `groupchat`) queued for a session detached while XEP-0198 keeps it
//! ([`Hook::Detached`]: only the registrations that session's resource
//! made). Messages without a body (chat states, receipts), presence and iq
//! do not wake a device. The notification is a pubsub publish from the
//! account's bare JID with the `urn:xmpp:push:summary` form:
//! `message-count` (messages since the account was last online),
//! `last-message-sender`, and `last-message-body` only with
//! `include_body` (cut to 1 KiB).
//!
//! **Rate limit**: at most one notification per registration per
//! `min_interval`; messages in between are counted into the next one,
//! which is sent when a later message arrives (no timer: a device that
//! was woken by the first notification fetches them anyway).
//!
//! **Cost**: the registrations are read once per notifiable message; an
//! account found without any is remembered (up to 100,000 accounts), so
//! offline messages for accounts that never enabled push cost no read.
//!
//! **Errors** (§7.1): the reply to a notification is matched by its id
//! ([`Hook::IqResponse`]); an error disables the registration, except a
//! transient one (type `wait`, or our own server failing to reach the app
//! server's domain for now).

#[cfg(test)]
mod tests;
mod tracker;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use starling_jid::{BareJid, FullJid};
use starling_stanza::{
    IqType, MessageType, Payload, PushDisable, PushEnable, StanzaError,
    StanzaErrorCondition as Cond, StanzaKind, ns,
};
use starling_xml::Element;
use tracing::{debug, info, warn};

use crate::config::PushConfig;
use crate::hub::{Hub, storage_error};
use crate::module::{
    Flow, Hook, IqOutcome, IqRequest, IqScope, Kinds, Module, Registrar, Session, SessionEvent,
};
use crate::routed::Routed;
use crate::storage::{Admission, PushRegistration, PushStore};
use tracker::{RegKey, Summary, Tracker};

/// The push module (`[modules.push]`).
pub struct Push {
    store: Arc<dyn PushStore>,
    config: PushConfig,
    tracker: Mutex<Tracker>,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Push")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Whether a message wakes a device: it has a body and is not an error
/// (nor `headline`); `groupchat` only for a detached session (it never
/// reaches offline storage).
fn notifiable(st: &Routed, detached: bool) -> bool {
    let kind_ok = match st.kind() {
        StanzaKind::Message(MessageType::Chat | MessageType::Normal) => true,
        StanzaKind::Message(MessageType::Groupchat) => detached,
        _ => false,
    };
    kind_ok && st.element().has_child("body", ns::CLIENT)
}

impl Push {
    /// The module on its store, with `config`.
    pub fn new(store: Arc<dyn PushStore>, config: PushConfig) -> Push {
        Push {
            store,
            config,
            tracker: Mutex::new(Tracker::new(config.min_interval)),
        }
    }

    fn tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        // A panic while holding the lock leaves plain counters behind:
        // keep using them.
        self.tracker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn enable(&self, req: &IqRequest<'_>, owner: &BareJid) -> IqOutcome {
        let enable = match PushEnable::from_element(req.payload) {
            Ok(e) => e,
            Err(e) => return IqOutcome::Error(e.to_stanza_error()),
        };
        let reg = PushRegistration {
            app_server: enable.jid,
            node: enable.node,
            publish_options: enable.publish_options.map(|f| f.to_element().to_xml()),
            resource: req.from().resource().map(str::to_owned),
        };
        let max = self.config.max_registrations;
        // Before and after the write: a message routed meanwhile reads the
        // store, and a read that missed the write is not remembered.
        self.tracker().registering(owner);
        let stored = self.store.push_enable(owner, &reg, max).await;
        self.tracker().registering(owner);
        match stored {
            Ok(Admission::Stored) => {
                info!(account = %owner, app_server = %reg.app_server, "push enabled");
                IqOutcome::Result(None)
            }
            Ok(Admission::Refused(full)) => {
                IqOutcome::Error(StanzaError::new(Cond::PolicyViolation).with_text(format!(
                    "at most {} push registrations per account",
                    full.max
                )))
            }
            Err(e) => IqOutcome::Error(storage_error(&e)),
        }
    }

    async fn disable(&self, req: &IqRequest<'_>, owner: &BareJid) -> IqOutcome {
        let disable = match PushDisable::from_element(req.payload) {
            Ok(d) => d,
            Err(e) => return IqOutcome::Error(e.to_stanza_error()),
        };
        let node = disable.node.as_deref();
        match self.store.push_disable(owner, &disable.jid, node).await {
            Ok(n) => {
                self.tracker().forget(owner, &disable.jid, node);
                info!(account = %owner, app_server = %disable.jid, removed = n, "push disabled");
                IqOutcome::Result(None)
            }
            Err(e) => IqOutcome::Error(storage_error(&e)),
        }
    }

    /// Notifies the registrations of `owner` (those made by `resource`
    /// when given) of the message `st`, as the rate limit allows.
    async fn notify(&self, hub: &Hub, owner: &BareJid, st: &Routed, resource: Option<&str>) {
        let Some(epoch) = self.tracker().lookup(owner) else {
            return;
        };
        let regs = match self.store.push_registrations(owner).await {
            Ok(r) if r.is_empty() => {
                self.tracker().mark_empty(owner, epoch);
                return;
            }
            Ok(r) => r,
            Err(e) => {
                warn!(account = %owner, error = %e, "reading push registrations failed");
                return;
            }
        };
        let body = self
            .config
            .include_body
            .then(|| st.element().get_child("body", ns::CLIENT))
            .flatten()
            .map(|b| tracker::clip_body(&b.text()));
        for reg in regs {
            if resource.is_some_and(|r| reg.resource.as_deref().is_some_and(|mine| mine != r)) {
                continue;
            }
            let key = RegKey {
                owner: owner.clone(),
                app_server: reg.app_server.clone(),
                node: reg.node.clone(),
            };
            let now = Instant::now();
            let (count, id) = {
                let mut t = self.tracker();
                let Some(count) = t.on_message(&key, now) else {
                    debug!(account = %owner, "push held by the rate limit");
                    continue;
                };
                (count, t.sent(key.clone(), now))
            };
            let summary = Summary {
                count,
                sender: st.from().cloned(),
                body: body.clone(),
            };
            let options = reg.publish_options.as_deref().and_then(|x| {
                Element::parse(x.as_bytes())
                    .inspect_err(|e| warn!(error = %e, "unreadable stored publish options"))
                    .ok()
            });
            let iq = tracker::notification_iq(&key, &id, &summary, options);
            match Routed::parse(iq) {
                Ok(iq) => hub.route(iq).await,
                Err(bad) => warn!(error = %bad.1, "push notification not sent"),
            }
        }
    }
}

#[async_trait]
impl Module for Push {
    fn name(&self) -> &'static str {
        "push"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Account, IqType::Set, ns::PUSH, PushEnable::NAME);
        r.iq(IqScope::Account, IqType::Set, ns::PUSH, PushDisable::NAME);
        r.account_feature(ns::PUSH);
        r.hook_for(Hook::Offline, Kinds::MESSAGE);
        r.hook_for(Hook::Detached, Kinds::MESSAGE);
        r.hook_for(Hook::IqResponse, Kinds::IQ);
        r.hook(Hook::SessionEvents);
    }

    async fn iq(&self, _hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        // Only the account's own clients manage its registrations.
        let Some(owner) = req.from_self.then(|| req.to.bare()) else {
            return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
        };
        if req.payload.name() == PushEnable::NAME {
            self.enable(&req, &owner).await
        } else {
            self.disable(&req, &owner).await
        }
    }

    async fn offline(&self, hub: &Hub, st: Routed, to: &BareJid) -> Flow {
        if notifiable(&st, false) {
            self.notify(hub, to, &st, None).await;
        }
        Flow::Continue(st)
    }

    async fn detached(&self, hub: &Hub, jid: &FullJid, st: &Routed) {
        if notifiable(st, true) {
            self.notify(hub, &jid.bare(), st, Some(jid.resource()))
                .await;
        }
    }

    async fn iq_response(&self, _hub: &Hub, st: Routed, to: &BareJid) -> Flow {
        let (Some(id), Some(from)) = (st.id(), st.from()) else {
            return Flow::Continue(st);
        };
        let Some(key) = self.tracker().answered(id, from, to, Instant::now()) else {
            return Flow::Continue(st);
        };
        if st.kind() != StanzaKind::Iq(IqType::Error) {
            return Flow::Handled;
        }
        let err = st
            .element()
            .get_child("error", ns::CLIENT)
            .and_then(StanzaError::from_element)
            .unwrap_or_else(|| StanzaError::new(Cond::UndefinedCondition));
        if !tracker::disables(&err) {
            debug!(account = %to, error = %err, "push error kept the registration");
            return Flow::Handled;
        }
        info!(account = %to, app_server = %key.app_server, error = %err, "push disabled by an error reply");
        let node = Some(key.node.as_str());
        if let Err(e) = self.store.push_disable(to, &key.app_server, node).await {
            warn!(account = %to, error = %e, "disabling push after an error failed");
        }
        self.tracker().forget(to, &key.app_server, node);
        Flow::Handled
    }

    async fn session_event(&self, _hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        if let SessionEvent::Available { initial: true, .. } = event {
            self.tracker().reset(&s.jid().bare());
        }
    }
}

/// The summary carried by a notification iq, if `iq` is one (for tests
/// and tools that play the app server).
pub fn notification_summary(iq: &Element) -> Option<starling_stanza::PushSummary> {
    tracker::summary_of(iq)
}
