//! The block lists in memory, for the check on every routed stanza.
//!
//! The set of accounts that block anyone is loaded once (the first time
//! it is needed) and kept up to date by the module's own changes: for an
//! account that blocks nobody — the common case — a check is one hash
//! lookup and no storage call. The lists themselves are loaded on first
//! use and kept up to a number of items in all; past it, lists are
//! dropped and loaded again when needed.
//!
//! Loads and changes are serialized by one asynchronous lock, so a list
//! loaded while a change is being written cannot replace the changed one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use starling_jid::{BareJid, Jid};

use super::list::Blocklist;
use crate::storage::{Admission, BlocklistFull, BlocklistStore, StorageError};

/// The in-memory state.
#[derive(Debug, Default)]
struct State {
    /// The accounts (bare JIDs) with a non-empty list; `None` until
    /// loaded. Keyed by string: looked up with slices, no allocation.
    blockers: Option<HashSet<String>>,
    /// Loaded lists, by account.
    lists: HashMap<String, Arc<Blocklist>>,
    /// The items of `lists`, in all.
    items: usize,
}

/// The cache of block lists.
pub(super) struct Cache {
    store: Arc<dyn BlocklistStore>,
    /// Read on every routed stanza (concurrently); written on loads and
    /// changes.
    state: RwLock<State>,
    /// Held while loading from or writing to the store.
    io: tokio::sync::Mutex<()>,
    /// The most items kept in `lists` (at least one full list).
    max_items: usize,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("max_items", &self.max_items)
            .finish_non_exhaustive()
    }
}

/// What the fast path knows.
enum Quick {
    Nobody,
    List(Arc<Blocklist>),
    Load,
}

impl Cache {
    /// A cache over `store` keeping up to `max_items` items in memory.
    pub(super) fn new(store: Arc<dyn BlocklistStore>, max_items: usize) -> Cache {
        Cache {
            store,
            state: RwLock::new(State::default()),
            io: tokio::sync::Mutex::new(()),
            max_items,
        }
    }

    // A panic while holding the lock leaves a consistent state (every
    // update is a single insert or remove): keep using it.
    fn state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn quick(&self, account: &str) -> Quick {
        let st = self.state();
        match &st.blockers {
            None => Quick::Load,
            Some(b) if !b.contains(account) => Quick::Nobody,
            Some(_) => st
                .lists
                .get(account)
                .map_or(Quick::Load, |l| Quick::List(l.clone())),
        }
    }

    /// `account`'s list if it is in memory, `None` when the account
    /// blocks nobody or its list is not loaded (no I/O: for the delivery
    /// filter).
    pub(super) fn peek(&self, account: &str) -> Option<Arc<Blocklist>> {
        match self.quick(account) {
            Quick::List(l) => Some(l),
            Quick::Nobody | Quick::Load => None,
        }
    }

    /// `account`'s list, `None` when it blocks nobody.
    pub(super) async fn list(
        &self,
        account: &BareJid,
    ) -> Result<Option<Arc<Blocklist>>, StorageError> {
        match self.quick(account.as_str()) {
            Quick::Nobody => return Ok(None),
            Quick::List(l) => return Ok(Some(l)),
            Quick::Load => {}
        }
        let _io = self.io.lock().await;
        self.load_locked(account).await
    }

    /// Whether `account` blocks `jid`.
    pub(super) async fn blocks(&self, account: &BareJid, jid: &Jid) -> Result<bool, StorageError> {
        Ok(self.list(account).await?.is_some_and(|l| l.blocks(jid)))
    }

    /// As [`Cache::list`], with the I/O lock held.
    async fn load_locked(&self, account: &BareJid) -> Result<Option<Arc<Blocklist>>, StorageError> {
        if self.state().blockers.is_none() {
            let all: HashSet<String> = self
                .store
                .blockers()
                .await?
                .iter()
                .map(|j| j.as_str().to_owned())
                .collect();
            self.state_mut().blockers.get_or_insert(all);
        }
        match self.quick(account.as_str()) {
            Quick::Nobody => return Ok(None),
            Quick::List(l) => return Ok(Some(l)),
            Quick::Load => {}
        }
        let items = self.store.blocklist(account).await?;
        Ok(self.put(account, Blocklist::new(&items)))
    }

    /// Records `account`'s list as it is now in the store.
    fn put(&self, account: &BareJid, list: Blocklist) -> Option<Arc<Blocklist>> {
        let mut st = self.state_mut();
        let account = account.as_str();
        if let Some(old) = st.lists.remove(account) {
            st.items -= old.len();
        }
        if list.len() == 0 {
            if let Some(b) = st.blockers.as_mut() {
                b.remove(account);
            }
            return None;
        }
        if let Some(b) = st.blockers.as_mut() {
            b.insert(account.to_owned());
        }
        while st.items + list.len() > self.max_items {
            let Some(victim) = st.lists.keys().next().cloned() else {
                break;
            };
            if let Some(old) = st.lists.remove(&victim) {
                st.items -= old.len();
            }
        }
        let list = Arc::new(list);
        st.items += list.len();
        st.lists.insert(account.to_owned(), list.clone());
        Some(list)
    }

    /// Makes a change to `account`'s list in the store, with loads held
    /// off, and records the list as the store then has it. Returns what
    /// the store answered and the list before the change.
    pub(super) async fn change(
        &self,
        account: &BareJid,
        change: Change<'_>,
    ) -> Result<(Changed, Arc<Blocklist>), StorageError> {
        let _io = self.io.lock().await;
        let before = self.load_locked(account).await?.unwrap_or_default();
        let out = match change {
            Change::Block(items, max) => {
                Changed::Blocked(self.store.block(account, items, max).await?)
            }
            Change::Unblock(items) => Changed::Unblocked(self.store.unblock(account, items).await?),
        };
        let items = self.store.blocklist(account).await?;
        self.put(account, Blocklist::new(&items));
        Ok((out, before))
    }
}

/// A change of a block list.
#[derive(Debug, Clone, Copy)]
pub(super) enum Change<'a> {
    /// Block these JIDs, up to this many items in the list.
    Block(&'a [Jid], usize),
    /// Unblock these JIDs (all when empty).
    Unblock(&'a [Jid]),
}

/// What the store answered to a [`Change`].
#[derive(Debug)]
pub(super) enum Changed {
    /// To a block.
    Blocked(Admission<BlocklistFull>),
    /// To an unblock: the items removed.
    Unblocked(Vec<Jid>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{SqliteStorage, Stores};

    fn bare(s: &str) -> BareJid {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn lists_follow_changes_and_stay_bounded() {
        let stores = Stores::sqlite(Arc::new(SqliteStorage::open_in_memory().unwrap()), 1);
        let (a, b) = (bare("a@x.lit"), bare("b@x.lit"));
        for j in [&a, &b] {
            stores.accounts.create_account(j, &[]).await.unwrap();
        }
        let cache = Cache::new(stores.blocklists.clone(), 2);
        assert!(cache.list(&a).await.unwrap().is_none());
        let romeo: Jid = "romeo@montague.lit".parse().unwrap();
        let evil: Jid = "evil.lit".parse().unwrap();
        let items = [romeo.clone(), evil.clone()];
        cache.change(&a, Change::Block(&items, 10)).await.unwrap();
        assert!(
            cache
                .blocks(&a, &"x@evil.lit".parse().unwrap())
                .await
                .unwrap()
        );
        assert!(!cache.blocks(&b, &romeo).await.unwrap());
        // B's list pushes A's out of memory; A's is loaded again.
        let one = std::slice::from_ref(&romeo);
        cache.change(&b, Change::Block(one, 10)).await.unwrap();
        assert!(cache.state().items <= 2);
        assert!(cache.blocks(&a, &romeo).await.unwrap());
        assert!(cache.blocks(&b, &romeo).await.unwrap());
        let (out, before) = cache.change(&a, Change::Unblock(&[])).await.unwrap();
        assert!(matches!(out, Changed::Unblocked(v) if v.len() == 2));
        assert_eq!(before.len(), 2);
        assert!(cache.list(&a).await.unwrap().is_none());
        assert!(
            !cache
                .state()
                .blockers
                .as_ref()
                .unwrap()
                .contains(a.as_str())
        );
    }
}
