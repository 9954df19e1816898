//! What the server knows of entities' XEP-0115 capabilities: for each
//! full JID whose available presence advertised caps that the `caps`
//! module resolved, the features behind them ([`CapsInfo`], shared by
//! every JID with the same verification string).
//!
//! The `caps` module fills the table (from local sessions' presence and
//! from contacts' presence routed to local accounts) and empties it when
//! the presence ends; other modules read it (PEP sends a notification for
//! node N only to resources whose features include `N+notify`, XEP-0163
//! §4). Modules registered for [`crate::module::Hook::Caps`] hear of each
//! JID whose caps became known or changed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use starling_jid::{BareJid, FullJid};
use starling_stanza::DiscoInfo;

/// Resources of one bare JID whose caps are recorded at most.
pub const MAX_RESOURCES: usize = 64;

/// The disco#info behind one verification string: its features, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapsInfo {
    features: HashSet<String>,
    bytes: usize,
}

impl CapsInfo {
    /// The features of `info`.
    pub fn new(info: &DiscoInfo) -> CapsInfo {
        let features: HashSet<String> = info.features.iter().cloned().collect();
        let bytes = features.iter().map(|f| f.len() + 32).sum::<usize>() + 64;
        CapsInfo { features, bytes }
    }

    /// Whether `feature` is advertised.
    pub fn has(&self, feature: &str) -> bool {
        self.features.contains(feature)
    }

    /// Whether the entity wants notifications of PEP node `node`
    /// (`NODE+notify`, XEP-0163 §4).
    pub fn wants_notify(&self, node: &str) -> bool {
        // The feature is "NODE+notify": avoid an allocation per check.
        self.features
            .iter()
            .any(|f| f.len() == node.len() + 7 && f.starts_with(node) && f.ends_with("+notify"))
    }

    /// The nodes it wants notifications of.
    pub fn notify_nodes(&self) -> impl Iterator<Item = &str> {
        self.features
            .iter()
            .filter_map(|f| f.strip_suffix("+notify"))
    }

    /// The caps of an entity advertising `features` (tests).
    #[cfg(test)]
    pub(crate) fn of_features(features: &[&str]) -> Arc<CapsInfo> {
        Arc::new(CapsInfo::new(&DiscoInfo {
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            ..DiscoInfo::default()
        }))
    }

    /// An estimate of the memory it holds, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The caps of each entity with available presence the server has seen
/// (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct CapsTable {
    by_jid: Mutex<HashMap<BareJid, HashMap<String, Arc<CapsInfo>>>>,
    cache_entries: AtomicUsize,
    cache_bytes: AtomicUsize,
}

impl CapsTable {
    /// An empty table.
    pub fn new() -> CapsTable {
        CapsTable::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<BareJid, HashMap<String, Arc<CapsInfo>>>> {
        self.by_jid.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The caps of `jid`, if known.
    pub fn get(&self, jid: &FullJid) -> Option<Arc<CapsInfo>> {
        self.lock()
            .get(&jid.bare())
            .and_then(|r| r.get(jid.resource()).cloned())
    }

    /// The resources of `bare` with known caps, with them.
    pub fn resources(&self, bare: &BareJid) -> Vec<(FullJid, Arc<CapsInfo>)> {
        self.lock()
            .get(bare)
            .map(|r| {
                r.iter()
                    .filter_map(|(res, c)| Some((bare.with_resource_str(res).ok()?, c.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records `jid`'s caps; true when they are new or changed.
    ///
    /// An entity with [`MAX_RESOURCES`] resources recorded already gets no
    /// more (a remote server inventing resources cannot grow the table
    /// without bound); false then.
    pub fn set(&self, jid: &FullJid, info: Arc<CapsInfo>) -> bool {
        let mut t = self.lock();
        let r = t.entry(jid.bare()).or_default();
        if r.len() >= MAX_RESOURCES && !r.contains_key(jid.resource()) {
            return false;
        }
        let prev = r.insert(jid.resource().to_owned(), info.clone());
        prev.is_none_or(|p| !Arc::ptr_eq(&p, &info) && *p != *info)
    }

    /// Forgets `jid` (its presence ended).
    pub fn remove(&self, jid: &FullJid) {
        let mut t = self.lock();
        let bare = jid.bare();
        if let Some(r) = t.get_mut(&bare) {
            r.remove(jid.resource());
            if r.is_empty() {
                t.remove(&bare);
            }
        }
    }

    /// How many JIDs have caps recorded.
    pub fn len(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    /// Whether no JID has caps recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The `caps` module's cache of verification strings: entries and
    /// estimated bytes (bounded by `[modules.caps] max_entries` and
    /// `max_bytes`).
    pub fn cache_usage(&self) -> (usize, usize) {
        (
            self.cache_entries.load(Ordering::Relaxed),
            self.cache_bytes.load(Ordering::Relaxed),
        )
    }

    /// Sets what [`cache_usage`](CapsTable::cache_usage) reports (the
    /// `caps` module, after each change to its cache).
    pub fn set_cache_usage(&self, entries: usize, bytes: usize) {
        self.cache_entries.store(entries, Ordering::Relaxed);
        self.cache_bytes.store(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(features: &[&str]) -> Arc<CapsInfo> {
        CapsInfo::of_features(features)
    }

    #[test]
    fn interest_and_bounds() {
        let t = CapsTable::new();
        let c = caps(&["urn:xmpp:tune+notify", "urn:xmpp:ping"]);
        assert!(c.wants_notify("urn:xmpp:tune") && !c.wants_notify("urn:xmpp:ping"));
        assert!(!c.wants_notify("urn:xmpp:tun"));
        let jid = |r: usize| -> FullJid { format!("eve@evil.example/r{r}").parse().unwrap() };
        for r in 0..MAX_RESOURCES {
            assert!(t.set(&jid(r), c.clone()));
        }
        assert!(!t.set(&jid(MAX_RESOURCES), c.clone()), "past the bound");
        assert_eq!(t.get(&jid(MAX_RESOURCES)), None);
        assert!(!t.set(&jid(0), c.clone()), "unchanged caps are not news");
        assert!(t.set(&jid(0), caps(&["urn:other"])), "changed caps are");
        assert_eq!(t.len(), MAX_RESOURCES);
        t.remove(&jid(0));
        assert!(t.set(&jid(MAX_RESOURCES), c));
        for r in 1..=MAX_RESOURCES {
            t.remove(&jid(r));
        }
        assert!(t.is_empty());
    }
}
