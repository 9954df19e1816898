//! What the publisher's and the contacts' tasks share: counters, and per
//! published item its publish time, how many contacts were notified and
//! when the last notification arrived.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use starling_xml::Element;

use crate::load::stats::Histogram;

/// The namespace of PubSub notifications.
pub(crate) const EVENT_NS: &str = "http://jabber.org/protocol/pubsub#event";

/// The item id prefix of the measured items (`b0`, `b1`, …).
const BENCH_PREFIX: char = 'b';

/// The item id prefix of the probes that tell whether the server has
/// learned the contacts' caps (`p0`, `p1`, …).
const PROBE_PREFIX: char = 'p';

/// The item id of measured item `seq`.
pub(crate) fn bench_id(seq: usize) -> String {
    format!("{BENCH_PREFIX}{seq}")
}

/// The item id of probe `seq`.
pub(crate) fn probe_id(seq: usize) -> String {
    format!("{PROBE_PREFIX}{seq}")
}

/// One measured item.
#[derive(Debug, Default)]
pub(crate) struct ItemStat {
    /// When the publisher queued the publish, in µs since the origin (0:
    /// not published).
    published: AtomicU64,
    /// Notifications of it received.
    received: AtomicU32,
    /// When the last of them arrived, in µs since the origin.
    last: AtomicU64,
}

/// The shared state of one server's run.
#[derive(Debug)]
pub(crate) struct Bench {
    origin: Instant,
    items: Vec<ItemStat>,
    /// One bit per (item, contact): whether that contact has been notified
    /// of that item.
    notified: Vec<AtomicU64>,
    probe_seen: Vec<AtomicBool>,
    subscribed_seen: Vec<AtomicBool>,
    /// Contacts that have received a probe notification.
    pub(crate) probed: AtomicUsize,
    /// Contacts whose subscription with the publisher is mutual.
    pub(crate) subscribed: AtomicUsize,
    /// Clients logged in, and whose login failed.
    pub(crate) logged_in: AtomicUsize,
    pub(crate) login_failed: AtomicUsize,
    /// disco#info queries the contacts answered.
    pub(crate) disco_queries: AtomicU64,
    /// Notifications of measured items received, the first to each
    /// contact of each item.
    pub(crate) notifications: AtomicU64,
    /// Further notifications of an item to a contact that already had it
    /// (a server that notifies the bare JID and the full JID).
    pub(crate) duplicates: AtomicU64,
    /// Latency of each notification of a measured item.
    pub(crate) latency: Histogram,
    /// Notifications of an unknown or unpublished item.
    pub(crate) stray: AtomicU64,
    /// Publishes the server acknowledged, and refused.
    pub(crate) publish_acks: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    /// Other error stanzas the clients received.
    pub(crate) error_stanzas: AtomicU64,
    /// Sessions the server ended.
    pub(crate) disconnects: AtomicU64,
    problems: Mutex<BTreeMap<String, u64>>,
}

impl Bench {
    /// State for `contacts` contacts and `items` measured items.
    pub(crate) fn new(contacts: usize, items: usize) -> Bench {
        Bench {
            origin: Instant::now(),
            items: (0..items).map(|_| ItemStat::default()).collect(),
            notified: (0..(items * contacts).div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
            probe_seen: (0..contacts).map(|_| AtomicBool::new(false)).collect(),
            subscribed_seen: (0..contacts).map(|_| AtomicBool::new(false)).collect(),
            probed: AtomicUsize::new(0),
            subscribed: AtomicUsize::new(0),
            logged_in: AtomicUsize::new(0),
            login_failed: AtomicUsize::new(0),
            disco_queries: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            latency: Histogram::default(),
            stray: AtomicU64::new(0),
            publish_acks: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            error_stanzas: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            problems: Mutex::new(BTreeMap::new()),
        }
    }

    /// The number of contacts.
    pub(crate) fn contacts(&self) -> usize {
        self.probe_seen.len()
    }

    /// Microseconds since the origin.
    pub(crate) fn now_micros(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Counts one occurrence of a problem.
    pub(crate) fn problem(&self, what: String) {
        if let Ok(mut problems) = self.problems.lock() {
            *problems.entry(what).or_default() += 1;
        }
    }

    /// The problems seen, with their counts.
    pub(crate) fn problems(&self) -> Vec<(String, u64)> {
        self.problems
            .lock()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Notes that measured item `seq` is being published now.
    pub(crate) fn mark_published(&self, seq: usize) {
        if let Some(item) = self.items.get(seq) {
            item.published
                .store(self.now_micros().max(1), Ordering::SeqCst);
        }
    }

    /// Notifications of item `seq` received so far.
    pub(crate) fn received(&self, seq: usize) -> u32 {
        self.items
            .get(seq)
            .map_or(0, |item| item.received.load(Ordering::SeqCst))
    }

    /// Contact `contact`'s subscription is mutual (counted once).
    pub(crate) fn mark_subscribed(&self, contact: usize) {
        if let Some(seen) = self.subscribed_seen.get(contact)
            && !seen.swap(true, Ordering::Relaxed)
        {
            self.subscribed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Handles a `<message/>` to contact `contact`: every item of a PubSub
    /// event in it is counted.
    pub(crate) fn on_message(&self, contact: usize, message: &Element) {
        if message.attr("type") == Some("error") {
            self.error_stanzas.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(event) = message.get_child("event", EVENT_NS) else {
            return;
        };
        let now = self.now_micros();
        for item in event
            .children()
            .filter(|c| c.name() == "items")
            .flat_map(Element::children)
            .filter(|c| c.name() == "item")
        {
            self.on_item(contact, item.attr("id").unwrap_or(""), now);
        }
    }

    /// Counts a notification of the item `id` to `contact`, arrived at
    /// `now` (µs).
    fn on_item(&self, contact: usize, id: &str, now: u64) {
        let seq = id.get(1..).and_then(|n| n.parse::<usize>().ok());
        match (id.chars().next(), seq) {
            (Some(PROBE_PREFIX), Some(_)) => {
                if let Some(seen) = self.probe_seen.get(contact)
                    && !seen.swap(true, Ordering::Relaxed)
                {
                    self.probed.fetch_add(1, Ordering::Relaxed);
                }
            }
            (Some(BENCH_PREFIX), Some(seq)) => {
                let Some(item) = self.items.get(seq) else {
                    self.stray.fetch_add(1, Ordering::Relaxed);
                    return;
                };
                let published = item.published.load(Ordering::SeqCst);
                if published == 0 || contact >= self.contacts() {
                    self.stray.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let bit = seq * self.contacts() + contact;
                let mask = 1u64 << (bit % 64);
                let before = self.notified[bit / 64].fetch_or(mask, Ordering::Relaxed);
                if before & mask != 0 {
                    self.duplicates.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                item.last.fetch_max(now, Ordering::SeqCst);
                item.received.fetch_add(1, Ordering::SeqCst);
                self.notifications.fetch_add(1, Ordering::Relaxed);
                self.latency.record_micros(now.saturating_sub(published));
            }
            _ => {
                self.stray.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// For each published item that reached all the contacts, the time
    /// from its publish to its last notification, sorted; and the number
    /// of published items that did not reach them all.
    pub(crate) fn fan_out_times(&self) -> (Vec<Duration>, usize) {
        let want = u32::try_from(self.contacts()).unwrap_or(u32::MAX);
        let mut times = Vec::new();
        let mut incomplete = 0;
        for item in &self.items {
            let published = item.published.load(Ordering::SeqCst);
            if published == 0 {
                continue;
            }
            if item.received.load(Ordering::SeqCst) >= want {
                let last = item.last.load(Ordering::SeqCst);
                times.push(Duration::from_micros(last.saturating_sub(published)));
            } else {
                incomplete += 1;
            }
        }
        times.sort_unstable();
        (times, incomplete)
    }
}

/// The `q` quantile (0–1) of sorted values, nearest rank.
pub(crate) fn quantile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ids: &[&str]) -> Element {
        let items: String = ids.iter().map(|id| format!("<item id='{id}'/>")).collect();
        let xml = format!(
            "<message xmlns='jabber:client' type='headline'>\
             <event xmlns='{EVENT_NS}'><items node='n'>{items}</items></event></message>"
        );
        Element::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn counts_items_probes_and_strays() {
        let bench = Bench::new(2, 3);
        bench.mark_published(0);
        bench.on_message(0, &event(&["b0", "p0"]));
        bench.on_message(1, &event(&["b0"]));
        // The same item again to the same contact: a duplicate.
        bench.on_message(1, &event(&["b0"]));
        bench.on_message(1, &event(&["p3", "p4"]));
        // Unpublished, out of range, foreign.
        bench.on_message(0, &event(&["b1", "b9", "x", "b"]));
        bench.mark_published(1);
        bench.on_message(0, &event(&["b1"]));
        assert_eq!(bench.received(0), 2);
        assert_eq!(bench.received(1), 1);
        assert_eq!(bench.notifications.load(Ordering::Relaxed), 3);
        assert_eq!(bench.probed.load(Ordering::Relaxed), 2);
        assert_eq!(bench.stray.load(Ordering::Relaxed), 4);
        assert_eq!(bench.duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(bench.latency.count(), 3);
        let (times, incomplete) = bench.fan_out_times();
        assert_eq!((times.len(), incomplete), (1, 1));

        let mut error = event(&["b0"]);
        error.set_attr("type", Some("error"));
        bench.on_message(0, &error);
        assert_eq!(bench.error_stanzas.load(Ordering::Relaxed), 1);
        assert_eq!(bench.received(0), 2);

        bench.mark_subscribed(1);
        bench.mark_subscribed(1);
        bench.mark_subscribed(7);
        assert_eq!(bench.subscribed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let cases = [(0.5, 50), (0.99, 99), (1.0, 100), (0.0, 1)];
        for (q, ms) in cases {
            assert_eq!(quantile(&values, q), Some(Duration::from_millis(ms)), "{q}");
        }
        assert_eq!(quantile(&[], 0.5), None);
    }
}
