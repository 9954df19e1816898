//! A bounded table of decaying failure counts, sans-IO: time is an
//! argument.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The failures of one key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    /// Failures counted at `last`.
    count: u32,
    /// When the count last grew.
    last: Instant,
    /// The source of the last counted failure (account entries).
    from: Option<IpAddr>,
}

/// Failure counts per key that forget one failure per `decay` since the
/// last one, holding at most `cap` keys: when full, forgotten keys are
/// dropped first, then the eighth of the keys that failed longest ago.
#[derive(Debug)]
pub(super) struct Table<K> {
    map: HashMap<K, Entry>,
    decay: Duration,
    cap: usize,
}

impl<K: Hash + Eq + Copy> Table<K> {
    pub(super) fn new(decay: Duration, cap: usize) -> Table<K> {
        Table {
            map: HashMap::new(),
            decay: decay.max(Duration::from_millis(1)),
            cap: cap.max(1),
        }
    }

    /// The count of `e` at `now`, after decay.
    fn decayed(&self, e: &Entry, now: Instant) -> u32 {
        let forgotten = now.saturating_duration_since(e.last).as_nanos() / self.decay.as_nanos();
        e.count
            .saturating_sub(u32::try_from(forgotten).unwrap_or(u32::MAX))
    }

    /// The failures of `key` at `now`.
    pub(super) fn count(&self, key: &K, now: Instant) -> u32 {
        self.map.get(key).map_or(0, |e| self.decayed(e, now))
    }

    /// Counts a failure of `key` from `from` and returns the new count.
    /// With `distinct`, a failure from the same source as the last
    /// counted one is not counted again (the count is returned as is).
    pub(super) fn fail(&mut self, key: K, from: IpAddr, distinct: bool, now: Instant) -> u32 {
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.make_room(now);
        }
        let current = self.count(&key, now);
        let e = self.map.entry(key).or_insert(Entry {
            count: 0,
            last: now,
            from: None,
        });
        if distinct && current > 0 && e.from == Some(from) {
            return current;
        }
        *e = Entry {
            count: current.saturating_add(1),
            last: now,
            from: Some(from),
        };
        e.count
    }

    /// Forgets `key`.
    pub(super) fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Keys held.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops the keys whose failures are forgotten, then, if the table is
    /// still full, the eighth of them that failed longest ago.
    fn make_room(&mut self, now: Instant) {
        let decay = self.decay;
        self.map.retain(|_, e| {
            let age = now.saturating_duration_since(e.last).as_nanos() / decay.as_nanos();
            age < u128::from(e.count)
        });
        if self.map.len() < self.cap {
            return;
        }
        let mut ages: Vec<(Instant, K)> = self.map.iter().map(|(k, e)| (e.last, *k)).collect();
        let n = (ages.len() / 8).max(1);
        ages.select_nth_unstable_by_key(n - 1, |(t, _)| *t);
        for (_, k) in &ages[..n] {
            self.map.remove(k);
        }
    }
}
