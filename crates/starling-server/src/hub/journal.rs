//! The in-flight journal (see [`Journal`]): a message from a sender that
//! gets XEP-0198 acknowledgements is written to disk before it is
//! delivered to a local account, so that the acknowledgement the sender
//! gets is true even if the server is killed before the recipient has the
//! message. The recipient's session releases the row once its client has
//! acknowledged the message (or, without stream management, once it is
//! written to the socket); a message that ends up elsewhere (offline
//! storage, a bounce) releases it once there. After a crash, the rows left
//! become offline messages (at least once: a recipient may get one twice).

use starling_jid::{BareJid, Jid};
use starling_stanza::{MessageType, StanzaKind, ns};
use tracing::warn;

use super::Hub;
use crate::modules::offline::offline_stamp;
use crate::routed::{Journal, Routed};

/// Whether offline storage would keep the message (what the journal
/// protects): `chat` or `normal` with a body or a subject.
fn worth_keeping(st: &Routed) -> bool {
    let el = st.element();
    matches!(
        st.kind(),
        StanzaKind::Message(MessageType::Chat | MessageType::Normal)
    ) && (el.has_child("body", ns::CLIENT) || el.has_child("subject", ns::CLIENT))
}

impl Hub {
    /// Journals `st` for the local account `owner` when it is marked for
    /// it and worth keeping; on a storage failure it goes on unjournaled
    /// (logged).
    pub(super) async fn journal(&self, st: &mut Routed, owner: &BareJid) {
        if st.journal() != Journal::Wanted {
            return;
        }
        st.set_journal(Journal::No);
        let config = &self.config.modules;
        if !config.offline.enabled || !config.stream_management.journal || !worth_keeping(st) {
            return;
        }
        let mut copy = st.element().clone();
        copy.append_child(offline_stamp(owner));
        let sender = st
            .from()
            .map_or_else(|| BareJid::from(owner.domain_part()), Jid::bare);
        match self
            .stores
            .offline
            .offline_journal(owner, &sender, &copy.to_xml())
            .await
        {
            Ok(id) => st.set_journal(Journal::Row(id)),
            Err(e) => warn!(error = %e, "journaling a message in flight failed"),
        }
    }

    /// A message is no longer in flight (stored, refused or answered):
    /// its row, if it has one, is forgotten.
    pub(super) fn journal_done(&self, journal: Journal) {
        if let Journal::Row(id) = journal {
            self.release_journal(vec![id]);
        }
    }

    /// Forgets journaled rows, in the background.
    pub fn release_journal(&self, rows: Vec<i64>) {
        if rows.is_empty() {
            return;
        }
        let store = self.stores.offline.clone();
        tokio::spawn(async move {
            if let Err(e) = store.offline_release(rows).await {
                warn!(error = %e, "releasing journaled messages failed");
            }
        });
    }
}
