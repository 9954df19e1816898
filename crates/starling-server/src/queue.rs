//! A session's queue of stanzas to write, bounded in bytes.
//!
//! Each queued stanza costs what it weighs as XML (see [`weight`]), but at
//! least the queue's capacity divided by its count limit: the one budget
//! bounds both the memory a queue pins and the number of stanzas in it.
//! A stanza shared by many recipients (a presence broadcast) is counted in
//! full by each queue: each recipient could be the last one holding it.
//!
//! ```
//! use std::sync::Arc;
//! use starling_server::queue::{Push, queue};
//! use starling_server::routed::Routed;
//!
//! let (q, mut inbox) = queue(4096, 4);
//! let st = Arc::new(Routed::parse("<message xmlns='jabber:client'/>".parse().unwrap()).unwrap());
//! for _ in 0..4 {
//!     assert!(matches!(q.try_push(st.clone()), Push::Queued));
//! }
//! // Four stanzas of at least 1024 bytes each fill 4096 bytes.
//! assert!(matches!(q.try_push(st.clone()), Push::Full(_)));
//! assert!(inbox.try_recv().is_some());
//! assert!(matches!(q.try_push(st), Push::Queued));
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use starling_xml::{Element, Node};
use tokio::sync::{Semaphore, mpsc};

use crate::routed::Routed;

/// What one queue slot costs besides the stanza (the slot, the shared
/// pointer, the parsed envelope).
const SLOT: usize = 128;

/// Bytes an element takes as XML, near enough: names, attributes, text
/// and the markup around them (namespace declarations not counted).
pub fn weight(el: &Element) -> usize {
    let mut n = 2 * el.name().len() + 5;
    for a in el.attrs() {
        n += a.name.len() + a.value.len() + 4;
    }
    for node in el.nodes() {
        n += match node {
            Node::Element(child) => weight(child),
            Node::Text(t) => t.len(),
        };
    }
    n
}

/// The sending side of a session's queue (cloned by everyone who delivers
/// to the session).
#[derive(Debug, Clone)]
pub struct Queue {
    tx: mpsc::UnboundedSender<Item>,
    room: Arc<Semaphore>,
    taken: Arc<AtomicU64>,
    capacity: usize,
    floor: usize,
}

/// The receiving side, owned by the session.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::UnboundedReceiver<Item>,
    room: Arc<Semaphore>,
    taken: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Item {
    st: Arc<Routed>,
    cost: u32,
}

/// How [`Queue::try_push`] went.
#[derive(Debug)]
pub enum Push {
    /// Queued.
    Queued,
    /// No room now: the stanza comes back.
    Full(Arc<Routed>),
    /// The session is gone.
    Closed,
}

/// A queue of `capacity` bytes holding at most `count` stanzas.
pub fn queue(capacity: usize, count: usize) -> (Queue, Inbox) {
    let capacity = capacity.clamp(1, u32::MAX as usize);
    let room = Arc::new(Semaphore::new(capacity));
    let (tx, rx) = mpsc::unbounded_channel();
    let taken = Arc::new(AtomicU64::new(0));
    let q = Queue {
        tx,
        room: room.clone(),
        taken: taken.clone(),
        capacity,
        floor: capacity / count.max(1),
    };
    (q, Inbox { rx, room, taken })
}

impl Queue {
    /// What `st` costs in this queue (never more than the whole queue, so
    /// that a big stanza still fits in an empty one).
    fn cost(&self, st: &Routed) -> u32 {
        let w = (weight(st.element()) + SLOT).max(self.floor);
        w.min(self.capacity) as u32
    }

    /// Queues `st` if there is room now.
    pub fn try_push(&self, st: Arc<Routed>) -> Push {
        if self.tx.is_closed() {
            return Push::Closed;
        }
        let cost = self.cost(&st);
        match self.room.try_acquire_many(cost) {
            Ok(permit) => {
                permit.forget();
                self.send(st, cost)
            }
            Err(_) if self.room.is_closed() => Push::Closed,
            Err(_) => Push::Full(st),
        }
    }

    /// Queues `st` once there is room (cancel-safe: nothing is taken if the
    /// future is dropped). False when the session is gone.
    pub async fn push(&self, st: Arc<Routed>) -> bool {
        let cost = self.cost(&st);
        match self.room.acquire_many(cost).await {
            Ok(permit) => {
                permit.forget();
                matches!(self.send(st, cost), Push::Queued)
            }
            Err(_) => false,
        }
    }

    /// Queues `st` beyond the budget (uncounted): for the last stanza of a
    /// session being closed as a slow reader, which takes nothing after it,
    /// so that the stanza is routed again with the rest of its queue
    /// instead of being lost.
    pub fn push_last(&self, st: Arc<Routed>) {
        let _ = self.send(st, 0);
    }

    fn send(&self, st: Arc<Routed>, cost: u32) -> Push {
        match self.tx.send(Item { st, cost }) {
            Ok(()) => Push::Queued,
            Err(_) => Push::Closed,
        }
    }

    /// Whether both are the same session's queue.
    pub fn same_queue(&self, other: &Queue) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Whether the session is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// How many stanzas the session has taken from the queue so far: a
    /// waiting sender sees from it whether the recipient makes progress.
    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    /// Takes no more stanzas within the budget: senders waiting for room
    /// stop waiting ([`push`](Self::push) gives false), new ones get
    /// [`Push::Closed`]. For a session being closed; what is queued stays
    /// for it to write or hand back.
    pub fn close_room(&self) {
        self.room.close();
    }
}

impl Inbox {
    /// The next stanza, waiting for one; `None` when every sender is gone.
    pub async fn recv(&mut self) -> Option<Arc<Routed>> {
        let item = self.rx.recv().await?;
        Some(self.taken(item))
    }

    /// The next stanza if one is queued.
    pub fn try_recv(&mut self) -> Option<Arc<Routed>> {
        let item = self.rx.try_recv().ok()?;
        Some(self.taken(item))
    }

    fn taken(&self, item: Item) -> Arc<Routed> {
        self.taken.fetch_add(1, Ordering::Release);
        self.room.add_permits(item.cost as usize);
        item.st
    }

    /// Closes the queue (senders get [`Push::Closed`], waiting ones wake)
    /// and returns what was left in it.
    pub fn close(&mut self) -> Vec<Arc<Routed>> {
        self.rx.close();
        self.room.close();
        let mut left = Vec::new();
        while let Ok(item) = self.rx.try_recv() {
            left.push(item.st);
        }
        left
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.room.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(body: usize) -> Arc<Routed> {
        let xml = format!(
            "<message xmlns='jabber:client' to='a@x'><body>{}</body></message>",
            "x".repeat(body)
        );
        Arc::new(Routed::parse(xml.parse().unwrap()).unwrap())
    }

    #[test]
    fn weight_is_near_the_serialised_size() {
        for body in [0, 10, 1000, 100_000] {
            let st = stanza(body);
            let xml = st.element().to_xml().len();
            let w = weight(st.element());
            assert!(w + 64 >= xml && w <= xml + 64, "{w} vs {xml}");
        }
    }

    #[test]
    fn bounded_in_bytes_and_in_count() {
        // Table: (capacity, count, body size, how many fit).
        let cases = [
            (1 << 20, 1000, 100, 1000),   // small stanzas: the count bounds
            (1 << 20, 1000, 100_000, 10), // big ones: the bytes bound
            (64 * 1024, 16, 200_000, 1),  // bigger than the queue: one fits
            (4 * 1024 * 1024, 1000, 3000, 1000),
        ];
        for (cap, count, body, fit) in cases {
            let (q, _inbox) = queue(cap, count);
            let st = stanza(body);
            let mut n = 0;
            while matches!(q.try_push(st.clone()), Push::Queued) {
                n += 1;
                assert!(n <= count, "unbounded");
            }
            assert_eq!(n, fit, "capacity {cap}, count {count}, body {body}");
        }
    }

    #[tokio::test]
    async fn taking_makes_room_and_a_waiting_push_goes_in_order() {
        let (q, mut inbox) = queue(4096, 2);
        let (a, b, c) = (stanza(1), stanza(2), stanza(3));
        assert!(matches!(q.try_push(a.clone()), Push::Queued));
        assert!(matches!(q.try_push(b.clone()), Push::Queued));
        let q2 = q.clone();
        let c2 = c.clone();
        let waiter = tokio::spawn(async move { q2.push(c2).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(Arc::ptr_eq(&inbox.recv().await.unwrap(), &a));
        assert!(waiter.await.unwrap());
        assert!(Arc::ptr_eq(&inbox.try_recv().unwrap(), &b));
        assert!(Arc::ptr_eq(&inbox.try_recv().unwrap(), &c));
    }

    #[tokio::test]
    async fn closing_the_room_wakes_waiters_and_keeps_the_queue() {
        let (q, mut inbox) = queue(2048, 1);
        assert!(matches!(q.try_push(stanza(1)), Push::Queued));
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.push(stanza(2)).await });
        tokio::task::yield_now().await;
        assert_eq!(q.taken(), 0);
        q.close_room();
        assert!(!waiter.await.unwrap());
        assert!(matches!(q.try_push(stanza(3)), Push::Closed));
        // What was queued is still there for the session.
        assert!(inbox.try_recv().is_some());
        assert_eq!(q.taken(), 1);
    }

    #[tokio::test]
    async fn closing_returns_what_is_left_and_wakes_waiters() {
        let (q, mut inbox) = queue(2048, 1);
        assert!(matches!(q.try_push(stanza(1)), Push::Queued));
        let q2 = q.clone();
        let waiter = tokio::spawn(async move { q2.push(stanza(2)).await });
        tokio::task::yield_now().await;
        let left = inbox.close();
        assert_eq!(left.len(), 1);
        assert!(!waiter.await.unwrap(), "a waiting sender learns it is gone");
        assert!(matches!(q.try_push(stanza(3)), Push::Closed));
        assert!(q.is_closed());
    }
}
