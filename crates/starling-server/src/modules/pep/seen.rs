//! Who each account's PEP service may notify: the full JIDs whose
//! available presence the account received (its contacts' resources,
//! and its own resources), with the capabilities each was last served
//! for (so that a last published item is sent once per change of
//! interest, XEP-0163 §4.3.4, whichever of the presence and the caps
//! arrives first).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use starling_jid::{BareJid, FullJid};

use crate::caps::CapsInfo;

/// Resources one account tracks at most (a contact with more is not
/// tracked past it: it gets no notifications until one leaves).
const MAX_PER_ACCOUNT: usize = 20_000;

#[derive(Debug, Default)]
struct Tables {
    /// account → resource → the caps last served to it.
    by_account: HashMap<BareJid, HashMap<FullJid, Option<Arc<CapsInfo>>>>,
    /// resource → the accounts that track it.
    by_resource: HashMap<FullJid, Vec<BareJid>>,
}

/// The table (see the [module docs](self)).
#[derive(Debug, Default)]
pub(super) struct Seen {
    t: Mutex<Tables>,
}

impl Seen {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.t.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `resource` is available to `account`.
    pub(super) fn available(&self, account: &BareJid, resource: &FullJid) {
        let mut t = self.lock();
        let entries = t.by_account.entry(account.clone()).or_default();
        if entries.contains_key(resource) || entries.len() >= MAX_PER_ACCOUNT {
            return;
        }
        entries.insert(resource.clone(), None);
        t.by_resource
            .entry(resource.clone())
            .or_default()
            .push(account.clone());
    }

    /// `resource` is no longer available to `account`.
    pub(super) fn unavailable(&self, account: &BareJid, resource: &FullJid) {
        let mut t = self.lock();
        if let Some(entries) = t.by_account.get_mut(account) {
            entries.remove(resource);
            if entries.is_empty() {
                t.by_account.remove(account);
            }
        }
        if let Some(accounts) = t.by_resource.get_mut(resource) {
            accounts.retain(|a| a != account);
            if accounts.is_empty() {
                t.by_resource.remove(resource);
            }
        }
    }

    /// `resource` is gone everywhere (its session closed).
    pub(super) fn gone(&self, resource: &FullJid) {
        let accounts = self.lock().by_resource.get(resource).cloned();
        for a in accounts.unwrap_or_default() {
            self.unavailable(&a, resource);
        }
    }

    /// The resources `account` tracks.
    pub(super) fn resources(&self, account: &BareJid) -> Vec<FullJid> {
        self.lock()
            .by_account
            .get(account)
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The accounts that track `resource`.
    pub(super) fn accounts(&self, resource: &FullJid) -> Vec<BareJid> {
        self.lock()
            .by_resource
            .get(resource)
            .cloned()
            .unwrap_or_default()
    }

    /// Records that `resource` was served for `caps` by `account`;
    /// returns the caps it was served for before, or `None` when the
    /// entry is unknown or was served for these very caps already (so
    /// nothing is to be sent): `Some(previous)` means "send what `caps`
    /// wants that `previous` did not".
    pub(super) fn serve(
        &self,
        account: &BareJid,
        resource: &FullJid,
        caps: &Arc<CapsInfo>,
    ) -> Option<Option<Arc<CapsInfo>>> {
        let mut t = self.lock();
        let slot = t.by_account.get_mut(account)?.get_mut(resource)?;
        if slot
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, caps) || **p == **caps)
        {
            return None;
        }
        Some(slot.replace(caps.clone()))
    }

    /// How many (account, resource) pairs are tracked.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().by_account.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(features: &[&str]) -> Arc<CapsInfo> {
        CapsInfo::of_features(features)
    }

    #[test]
    fn served_once_per_caps() {
        let s = Seen::default();
        let a: BareJid = "a@x".parse().unwrap();
        let b: FullJid = "b@y/r".parse().unwrap();
        let c1 = caps(&["n+notify"]);
        assert_eq!(s.serve(&a, &b, &c1), None, "not tracked yet");
        s.available(&a, &b);
        assert_eq!(s.serve(&a, &b, &c1), Some(None));
        assert_eq!(s.serve(&a, &b, &c1), None);
        assert_eq!(s.serve(&a, &b, &caps(&["n+notify"])), None, "equal caps");
        let c2 = caps(&["n+notify", "m+notify"]);
        assert_eq!(s.serve(&a, &b, &c2), Some(Some(c1)));
        assert_eq!(s.accounts(&b), vec![a.clone()]);
        s.gone(&b);
        assert_eq!(s.len(), 0);
        assert!(s.accounts(&b).is_empty());
    }
}
