//! The caps module's state, sans-IO (time is passed in): the bounded
//! cache of what each verification string stands for, and the disco#info
//! queries outstanding, at most one per verification string.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use starling_jid::{BareJid, FullJid};
use starling_stanza::{Caps, CapsHash, DiscoInfo, caps_verify};

use crate::caps::CapsInfo;
use crate::config::CapsConfig;

/// A verification string with its hash function (lower case).
type Key = (String, String);

/// The prefix of the ids of the module's queries.
pub(super) const ID_PREFIX: &str = "caps-";

/// Bytes counted for an entry besides its features: key, map slot, `Arc`.
const ENTRY_OVERHEAD: usize = 96;

/// Waiters kept per outstanding query.
const MAX_WAITERS: usize = 1024;

/// The longest `ver` taken (a sha-512 in Base64 is 88 bytes).
const MAX_VER: usize = 128;

/// The longest `node` taken.
const MAX_NODE: usize = 1024;

/// A disco#info query to send: `<iq type='get' id from to><query
/// node/></iq>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Query {
    pub id: String,
    pub from: BareJid,
    pub to: FullJid,
    pub node: String,
}

/// What to do with caps just seen in a presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Known: record them for the JID.
    Known(Arc<CapsInfo>),
    /// Unknown: send this query; the JID waits for its answer.
    Query(Query),
    /// A query for the same string is out: the JID waits for it.
    Waiting,
    /// Not handled (unsupported hash, too many queries out).
    Ignored,
}

/// What an answer to one of the module's queries gives.
#[derive(Debug, Default)]
pub(super) struct Answered {
    /// The verified features; `None` when the answer did not verify.
    pub info: Option<Arc<CapsInfo>>,
    /// The JIDs that waited and get `info` (none after a failure).
    pub waiters: Vec<FullJid>,
    /// After a failure, the next waiter to ask.
    pub next: Option<Query>,
    /// An answer that did not verify: what the asked entity says of
    /// itself, for that entity alone and never cached (§5.4 step 3.8;
    /// clients that add a `+notify` interest after computing their `ver`
    /// send such answers).
    pub unverified: Option<Arc<CapsInfo>>,
}

#[derive(Debug)]
struct Entry {
    info: Arc<CapsInfo>,
    bytes: usize,
    used: u64,
}

#[derive(Debug)]
struct Pending {
    key: Key,
    caps: Caps,
    id: String,
    asked: FullJid,
    started: Instant,
    /// Each waiting JID with the local account its query goes from.
    waiters: Vec<(FullJid, BareJid)>,
}

/// The cache and the outstanding queries (see the [module docs](self)).
#[derive(Debug)]
pub(super) struct CapsCache {
    config: CapsConfig,
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
    /// By query id.
    pending: HashMap<String, Pending>,
    by_key: HashMap<Key, String>,
    /// What each waiting JID waits for.
    waiting: HashMap<FullJid, Key>,
    next_id: u64,
}

impl CapsCache {
    pub(super) fn new(config: CapsConfig) -> CapsCache {
        CapsCache {
            config,
            entries: HashMap::new(),
            bytes: 0,
            clock: 0,
            pending: HashMap::new(),
            by_key: HashMap::new(),
            waiting: HashMap::new(),
            next_id: 0,
        }
    }

    /// Cached entries and their estimated bytes.
    pub(super) fn usage(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }

    /// Queries outstanding.
    #[cfg(test)]
    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// `jid` advertised `caps` in a presence that reached the local
    /// account `via` (its own for a local session).
    pub(super) fn lookup(
        &mut self,
        caps: &Caps,
        jid: &FullJid,
        via: &BareJid,
        now: Instant,
    ) -> Lookup {
        let Some(hash) = CapsHash::from_name(&caps.hash) else {
            return Lookup::Ignored;
        };
        if caps.ver.len() > MAX_VER || caps.node.len() > MAX_NODE {
            return Lookup::Ignored;
        }
        let key = (hash.name().to_owned(), caps.ver.clone());
        if self.waiting.get(jid).is_some_and(|k| *k != key) {
            // It advertises something else now: the old answer is not its.
            self.forget(jid);
        }
        self.clock += 1;
        if let Some(e) = self.entries.get_mut(&key) {
            e.used = self.clock;
            return Lookup::Known(e.info.clone());
        }
        if let Some(id) = self.by_key.get(&key).cloned() {
            let timeout = self.config.query_timeout;
            let Some(p) = self.pending.get_mut(&id) else {
                return Lookup::Ignored;
            };
            if !p.waiters.iter().any(|(w, _)| w == jid) {
                if p.waiters.len() >= MAX_WAITERS {
                    return Lookup::Ignored;
                }
                p.waiters.push((jid.clone(), via.clone()));
                self.waiting.insert(jid.clone(), key.clone());
            }
            if now.duration_since(p.started) < timeout {
                return Lookup::Waiting;
            }
            // Unanswered: ask this one instead, under a new id.
            let Some(mut p) = self.pending.remove(&id) else {
                return Lookup::Ignored;
            };
            p.caps = caps.clone();
            return Lookup::Query(self.ask(p, jid.clone(), via.clone(), now));
        }
        if self.pending.len() >= self.config.max_pending {
            self.expire(now);
            if self.pending.len() >= self.config.max_pending {
                return Lookup::Ignored;
            }
        }
        let p = Pending {
            key,
            caps: caps.clone(),
            id: String::new(),
            asked: jid.clone(),
            started: now,
            waiters: vec![(jid.clone(), via.clone())],
        };
        self.waiting.insert(jid.clone(), p.key.clone());
        Lookup::Query(self.ask(p, jid.clone(), via.clone(), now))
    }

    /// Records `p` as asked of `to` from `from`, under a new id.
    fn ask(&mut self, mut p: Pending, to: FullJid, from: BareJid, now: Instant) -> Query {
        self.next_id += 1;
        p.id = format!("{ID_PREFIX}{}", self.next_id);
        p.asked = to.clone();
        p.started = now;
        let q = Query {
            id: p.id.clone(),
            from,
            to,
            node: p.caps.disco_node(),
        };
        self.by_key.insert(p.key.clone(), p.id.clone());
        self.pending.insert(p.id.clone(), p);
        q
    }

    /// Drops the queries older than the timeout.
    fn expire(&mut self, now: Instant) {
        let timeout = self.config.query_timeout;
        let old: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.started) >= timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in old {
            if let Some(p) = self.pending.remove(&id) {
                self.by_key.remove(&p.key);
                for (w, _) in &p.waiters {
                    self.waiting.remove(w);
                }
            }
        }
    }

    /// `jid`'s presence ended: it waits for nothing any more.
    pub(super) fn forget(&mut self, jid: &FullJid) {
        let Some(key) = self.waiting.remove(jid) else {
            return;
        };
        let id = self.by_key.get(&key);
        if let Some(p) = id.and_then(|id| self.pending.get_mut(id)) {
            p.waiters.retain(|(w, _)| w != jid);
        }
    }

    /// The answer `id` from `from`: the disco#info result, or `None` for
    /// an error (or a result that did not parse). `None` when `id` is not
    /// a query of ours to `from`.
    pub(super) fn answered(
        &mut self,
        id: &str,
        from: &FullJid,
        result: Option<&DiscoInfo>,
        now: Instant,
    ) -> Option<Answered> {
        if self.pending.get(id).is_none_or(|p| &p.asked != from) {
            return None;
        }
        let mut p = self.pending.remove(id)?;
        self.by_key.remove(&p.key);
        let verified = result.filter(|info| caps_verify(&p.caps, info) == Ok(true));
        if let Some(info) = verified {
            let info = Arc::new(CapsInfo::new(info));
            for (w, _) in &p.waiters {
                self.waiting.remove(w);
            }
            self.insert(p.key, info.clone());
            return Some(Answered {
                info: Some(info),
                waiters: p.waiters.into_iter().map(|(w, _)| w).collect(),
                next: None,
                unverified: None,
            });
        }
        // Wrong or no answer: nothing is cached; what the one asked said
        // of itself is for it alone; ask the next.
        let unverified = result.map(|info| Arc::new(CapsInfo::new(info)));
        p.waiters.retain(|(w, _)| w != from);
        self.waiting.remove(from);
        if p.waiters.is_empty() {
            return Some(Answered {
                unverified,
                ..Answered::default()
            });
        }
        let next = p.waiters.first().cloned();
        let next = next.map(|(to, via)| self.ask(p, to, via, now));
        Some(Answered {
            info: None,
            waiters: Vec::new(),
            next,
            unverified,
        })
    }

    /// Caches `info` under `key`, dropping the least recently used
    /// entries past the bounds; an entry bigger than an eighth of the
    /// byte budget is not kept.
    fn insert(&mut self, key: Key, info: Arc<CapsInfo>) {
        let bytes = info.bytes() + key.0.len() + key.1.len() + ENTRY_OVERHEAD;
        if bytes > self.config.max_bytes / 8 {
            return;
        }
        self.clock += 1;
        let entry = Entry {
            info,
            bytes,
            used: self.clock,
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        while self.entries.len() > self.config.max_entries || self.bytes > self.config.max_bytes {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes -= e.bytes;
            }
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
