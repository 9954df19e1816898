//! The block list commands (XEP-0191 §3.2–§3.5): get, block, unblock,
//! with their pushes and the presence they send.

use std::collections::HashSet;
use std::sync::Arc;

use starling_jid::{BareJid, Jid};
use starling_stanza::{
    Block, BlockList, Iq, Payload, StanzaError, StanzaErrorCondition as Cond, Unblock,
};

use super::Blocking;
use super::cache::{Change, Changed};
use super::list::Blocklist;
use crate::hub::Hub;
use crate::module::{IqOutcome, IqRequest};
use crate::modules::presence::send_current_presence;
use crate::routed::Routed;
use crate::storage::{Admission, StorageError};

/// The error for a block that would take the list over its cap.
fn full_error(max: usize) -> StanzaError {
    StanzaError::new(Cond::ResourceConstraint)
        .with_text(format!("a block list holds at most {max} items"))
}

/// `items` without repeats, in their order.
fn dedup(items: Vec<Jid>) -> Vec<Jid> {
    let mut seen = HashSet::new();
    items
        .into_iter()
        .filter(|j| seen.insert(j.clone()))
        .collect()
}

impl Blocking {
    /// §3.2: the list; the requesting session gets pushes from now on.
    pub(super) async fn get(
        &self,
        hub: &Hub,
        req: &IqRequest<'_>,
        owner: &BareJid,
    ) -> Result<IqOutcome, StorageError> {
        if let Err(e) = BlockList::from_element(req.payload) {
            return Ok(IqOutcome::Error(e.to_stanza_error()));
        }
        let items = hub.stores().blocklists.blocklist(owner).await?;
        if let Ok(full) = req.from().clone().try_into_full() {
            if let Some(h) = hub.sessions().get(&full) {
                self.requesters().insert(full, h.id);
            }
        }
        Ok(IqOutcome::Result(Some(BlockList { items }.to_element())))
    }

    /// §3.3: block, after sending unavailable presence to the newly
    /// blocked contacts allowed to see the user's presence.
    pub(super) async fn block(
        &self,
        hub: &Hub,
        req: &IqRequest<'_>,
        owner: &BareJid,
    ) -> Result<IqOutcome, StorageError> {
        let items = match Block::from_element(req.payload) {
            Ok(b) => dedup(b.items),
            Err(e) => return Ok(IqOutcome::Error(e.to_stanza_error())),
        };
        if items.len() > self.max_items {
            return Ok(IqOutcome::Error(full_error(self.max_items)));
        }
        let before = self.cache.list(owner).await?.unwrap_or_default();
        let new: Vec<Jid> = items
            .iter()
            .filter(|j| !before.contains(j))
            .cloned()
            .collect();
        if before.len() + new.len() > self.max_items {
            return Ok(IqOutcome::Error(full_error(self.max_items)));
        }
        // Sent before the list changes: afterwards it would be dropped as
        // presence to a blocked JID.
        self.presence_to(hub, owner, &new, true).await;
        let (out, _) = self
            .cache
            .change(owner, Change::Block(&items, self.max_items))
            .await?;
        if let Changed::Blocked(Admission::Refused(full)) = out {
            return Ok(IqOutcome::Error(full_error(full.max_items)));
        }
        self.push(hub, owner, &Block { items });
        Ok(IqOutcome::Result(None))
    }

    /// §3.4, §3.5: unblock some JIDs or all, then send the current
    /// presence to the unblocked contacts allowed to see it.
    pub(super) async fn unblock(
        &self,
        hub: &Hub,
        req: &IqRequest<'_>,
        owner: &BareJid,
    ) -> Result<IqOutcome, StorageError> {
        let items = match Unblock::from_element(req.payload) {
            Ok(u) => dedup(u.items),
            Err(e) => return Ok(IqOutcome::Error(e.to_stanza_error())),
        };
        let (out, _) = self.cache.change(owner, Change::Unblock(&items)).await?;
        let removed = match out {
            Changed::Unblocked(removed) => removed,
            Changed::Blocked(_) => Vec::new(),
        };
        self.push(hub, owner, &Unblock { items });
        self.presence_to(hub, owner, &removed, false).await;
        Ok(IqOutcome::Result(None))
    }

    /// The block or unblock `payload` pushed to every session of `owner`
    /// that asked for the list.
    fn push(&self, hub: &Hub, owner: &BareJid, payload: &(impl Payload + Clone)) {
        let sessions = hub.sessions().sessions(owner);
        let requesters = self.requesters();
        for s in sessions {
            if requesters.get(&s.jid) != Some(&s.id) {
                continue;
            }
            let iq = Iq::set(format!("push{}", crate::random_id()), payload.clone())
                .with_to(Jid::from(s.jid.clone()));
            if let Ok(st) = Routed::parse(iq.to_element()) {
                s.deliver(Arc::new(st));
            }
        }
    }

    /// The user's current presence (or unavailable presence) to the
    /// contacts among `items` that may see it: a roster contact with a
    /// `from` subscription that an item names or covers (a full-JID item
    /// gets it at that resource only).
    async fn presence_to(&self, hub: &Hub, owner: &BareJid, items: &[Jid], unavailable: bool) {
        if items.is_empty() || hub.sessions().sessions(owner).is_empty() {
            return;
        }
        let roster = match self.rosters.roster(owner).await {
            Ok((_, roster)) => roster,
            Err(e) => {
                tracing::error!(error = %e, "storage failed");
                return;
            }
        };
        let mut targets: Vec<Jid> = Vec::new();
        for item in items {
            if item.resource().is_some() {
                let bare = item.bare();
                if roster
                    .iter()
                    .any(|e| e.jid == bare && e.subscription.has_from())
                {
                    targets.push(item.clone());
                }
                continue;
            }
            let list = Blocklist::new([item]);
            for e in roster.iter().filter(|e| e.subscription.has_from()) {
                let contact = Jid::from(e.jid.clone());
                if list.blocks(&contact) && !targets.contains(&contact) {
                    targets.push(contact);
                }
            }
        }
        for to in targets {
            send_current_presence(hub, owner, &to, unavailable).await;
        }
    }
}
