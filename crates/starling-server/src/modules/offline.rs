//! XEP-0160 offline messages: a message for an account with no available
//! resource is stored (with a XEP-0203 delay stamp) and delivered when a
//! resource sends initial presence with a non-negative priority. Each
//! batch is deleted once the client has acknowledged it (XEP-0198), or,
//! for a session without stream management, once written to its socket.
//!
//! Storage is bounded by an [`OfflineQuota`]: messages and bytes per
//! account, and a share of both per sender. A message over it bounces
//! with `service-unavailable`, as XEP-0160 §2 says for a full store
//! (RFC 6121 §8.5.2.1.1), whichever bound it crossed.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use starling_jid::{BareJid, Jid};
use starling_stanza::{Delay, Payload, StanzaError, StanzaErrorCondition as Cond, ns};
use starling_xml::Element;
use tracing::warn;

use crate::hub::{Hub, storage_error};
use crate::module::{Filter, Flow, Hook, Module, Registrar, Session, SessionEvent, SessionView};
use crate::routed::Routed;
use crate::storage::{Admission, OfflineFull, OfflineQuota, OfflineStore};

/// Offline messages sent per batch.
const BATCH: usize = 100;

/// XEP-0160's disco feature.
const FEATURE_MSGOFFLINE: &str = "msgoffline";

/// The offline module (`[modules.offline]`).
pub struct Offline {
    store: Arc<dyn OfflineStore>,
    quota: OfflineQuota,
}

impl std::fmt::Debug for Offline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Offline")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl Offline {
    /// The module on its store, keeping what `quota` allows per account.
    pub fn new(store: Arc<dyn OfflineStore>, quota: OfflineQuota) -> Offline {
        Offline { store, quota }
    }
}

/// The error a message over the quota bounces with: `service-unavailable`
/// (XEP-0160 §2), with a text saying which bound it crossed.
fn full_error(full: OfflineFull) -> StanzaError {
    let text = match full {
        OfflineFull::Messages => "offline storage is full",
        OfflineFull::Bytes => "offline storage is full (size)",
        OfflineFull::SenderShare => "offline storage is full for messages from you",
    };
    StanzaError::new(Cond::ServiceUnavailable).with_text(text)
}

/// The XEP-0203 delay stamp of a message stored for `owner` now.
pub(crate) fn offline_stamp(owner: &BareJid) -> Element {
    Delay::from_unix(
        now_secs(),
        Some(Jid::from(owner.domain_part())),
        Some("Offline Storage".to_owned()),
    )
    .to_element()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[async_trait]
impl Module for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn register(&self, r: &mut Registrar) {
        r.hook(Hook::Offline);
        r.hook(Hook::SessionEvents);
        r.disco_feature(ns::DELAY);
        r.disco_feature(FEATURE_MSGOFFLINE);
    }

    async fn offline(&self, hub: &Hub, mut st: Routed, to: &BareJid) -> Flow {
        // Messages without content worth keeping (chat states alone) are
        // dropped rather than stored.
        let el = st.element();
        if !el.has_child("body", ns::CLIENT) && !el.has_child("subject", ns::CLIENT) {
            return Flow::Handled;
        }
        // XEP-0334 §4.2: `<no-store/>` is not stored, offline included.
        if el.has_child("no-store", ns::HINTS) {
            return Flow::Handled;
        }
        st.append_child(offline_stamp(to));
        let sender = st
            .from()
            .map_or_else(|| BareJid::from(to.domain_part()), Jid::bare);
        let stored = self
            .store
            .offline_push(to, &sender, &st.element().to_xml(), self.quota)
            .await;
        let err = match stored {
            Ok(Admission::Stored) => return Flow::Handled,
            Ok(Admission::Refused(full)) => full_error(full),
            Err(e) => storage_error(&e),
        };
        st.remove_child(Delay::NAME, Delay::NS);
        hub.bounce(&st, err).await;
        Flow::Handled
    }

    async fn session_event(&self, hub: &Hub, s: &mut Session<'_>, event: SessionEvent) {
        if let SessionEvent::Available {
            initial: true,
            priority,
        } = event
        {
            if priority >= 0 {
                self.deliver_stored(hub, s).await;
            }
        }
    }
}

/// Whether the modules' delivery filters let a stored message through,
/// as for any stanza written to a session (XEP-0191: not from a JID the
/// user has blocked since).
fn admitted(hub: &Hub, s: &mut Session<'_>, st: &Routed) -> bool {
    let handle = s.handle().clone();
    let view = SessionView {
        handle: &handle,
        ext: s.ext(),
    };
    matches!(hub.modules().filter(&view, st), Filter::Deliver)
}

impl Offline {
    /// Writes the stored messages to the session, batch by batch. Each
    /// batch is deleted once the client has acknowledged it (XEP-0198), or
    /// once written when the session does not acknowledge: a session that
    /// ends before acknowledging leaves them stored for the next one.
    async fn deliver_stored(&self, hub: &Hub, s: &mut Session<'_>) {
        let jid = s.jid().clone();
        let bare = jid.bare();
        // What is queued on the stream goes first.
        if s.flush().await.is_err() {
            return;
        }
        let mut after = i64::MIN;
        loop {
            let batch = match self.store.offline_load_after(&bare, after, BATCH).await {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "loading offline messages failed");
                    return;
                }
            };
            let Some(last) = batch.last().map(|m| m.id) else {
                return;
            };
            after = last;
            for m in &batch {
                match Element::parse(m.stanza.as_bytes()) {
                    Ok(mut el) => {
                        el.set_attr("to", Some(jid.as_str()));
                        match Routed::parse(el) {
                            Ok(st) if !admitted(hub, s, &st) => {}
                            Ok(st) => s.send_stored(st.element()),
                            // Not a stanza the filters can read: as stored.
                            Err(bad) => s.send_stored(&bad.0),
                        }
                    }
                    Err(e) => warn!(error = %e, id = m.id, "unreadable offline message skipped"),
                }
            }
            if s.flush().await.is_err() {
                return;
            }
            let store = self.store.clone();
            let owner = bare.clone();
            s.after_ack(Box::new(move || {
                tokio::spawn(async move {
                    if let Err(e) = store.offline_delete(&owner, last).await {
                        warn!(error = %e, "deleting delivered offline messages failed");
                    }
                });
            }));
            if batch.len() < BATCH {
                return;
            }
        }
    }
}
