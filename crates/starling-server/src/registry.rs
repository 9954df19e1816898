//! The sessions of the server, found by bare JID through a sharded
//! concurrent map: delivering a stanza locks one shard briefly to clone the
//! handles of one account, never the whole registry.
//!
//! Each session has a [queue](crate::queue) of shared stanzas (one copy for
//! every recipient of a fan-out), bounded in bytes. When a session's queue
//! is full, a sending client session or incoming s2s stream waits for room
//! before it reads more (backpressure, see [`SessionHandle::deliver`]); the
//! server's own stanzas close the session instead (a reader too slow to
//! keep up). A session asked to close is [closing](SessionHandle::is_closing):
//! the router no longer counts it, so stanzas for the account go to its
//! other resources or to offline storage while it finishes.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use starling_jid::{BareJid, FullJid};
use starling_stream::StreamError;
use tokio::sync::Notify;

use crate::queue::{Inbox, Push, Queue, queue};
use crate::routed::Routed;
use crate::router::Recipient;

/// A stanza that did not fit in its recipient's queue, held by the
/// sender until there is room (see [`SessionHandle::deliver`]).
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) queue: Queue,
    pub(crate) jid: FullJid,
    pub(crate) id: u64,
    pub(crate) st: Arc<Routed>,
}

tokio::task_local! {
    /// The stanzas the current task (a client session, an incoming s2s
    /// stream) must get into full queues before it reads more from its
    /// connection (backpressure).
    pub(crate) static BACKLOG: std::cell::RefCell<Vec<Held>>;
}

/// How big a session's queue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Bytes of stanzas.
    pub bytes: usize,
    /// Stanzas.
    pub count: usize,
}

/// A protocol mode a session's client switched on, readable from other
/// sessions' tasks (the hub delivers in the sender's task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFlag(u32);

impl SessionFlag {
    /// XEP-0280 message carbons are enabled.
    pub const CARBONS: SessionFlag = SessionFlag(1);
}

impl SessionHandle {
    /// Switches `flag` on or off.
    pub fn set_flag(&self, flag: SessionFlag, on: bool) {
        if on {
            self.flags.fetch_or(flag.0, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!flag.0, Ordering::AcqRel);
        }
    }

    /// Whether `flag` is on.
    pub fn has_flag(&self, flag: SessionFlag) -> bool {
        self.flags.load(Ordering::Acquire) & flag.0 != 0
    }
}

/// One bound session as others see it.
#[derive(Debug)]
pub struct SessionHandle {
    /// The bound full JID.
    pub jid: FullJid,
    /// Unique per connection.
    pub id: u64,
    queue: Queue,
    /// Sent initial presence and not since unavailable.
    available: AtomicBool,
    /// Presence priority (valid while available).
    priority: AtomicI32,
    /// Requested the roster (receives roster pushes).
    interested: AtomicBool,
    /// Asked to close: no longer a recipient.
    closing: AtomicBool,
    /// The last available presence broadcast, without `to` (answers
    /// probes).
    last_presence: Mutex<Option<Routed>>,
    /// Asked to close: the stream error to send.
    close: Mutex<Option<StreamError>>,
    /// Wakes the session when `close` is set.
    pub(crate) close_notify: Notify,
    /// What the session's client switched on ([`SessionFlag`]s).
    flags: AtomicU32,
}

impl SessionHandle {
    /// A handle and the receiving end of its queue.
    pub fn new(jid: FullJid, id: u64, limits: QueueLimits) -> (Arc<SessionHandle>, Inbox) {
        let (queue, inbox) = queue(limits.bytes, limits.count);
        let h = SessionHandle {
            jid,
            id,
            queue,
            available: AtomicBool::new(false),
            priority: AtomicI32::new(0),
            interested: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            last_presence: Mutex::new(None),
            close: Mutex::new(None),
            close_notify: Notify::new(),
            flags: AtomicU32::new(0),
        };
        (Arc::new(h), inbox)
    }

    /// Queues a stanza.
    ///
    /// When the queue is full and the sender is a client session or an
    /// incoming s2s stream, the stanza is handed to it, and it stops
    /// reading from its connection until the stanza fits (backpressure: a
    /// fast sender is slowed down to the pace of its recipient). Other
    /// senders (the server itself) close a recipient whose queue is full.
    /// A closing session takes nothing more: false then (the stanza is
    /// dropped; the router, deciding again, skips the session).
    pub fn deliver(&self, st: Arc<Routed>) -> bool {
        if self.is_closing() {
            return false;
        }
        // Keep the order: once one stanza for this session waits, the
        // following ones wait behind it.
        let waiting = BACKLOG
            .try_with(|b| b.borrow().iter().any(|h| h.queue.same_queue(&self.queue)))
            .unwrap_or(false);
        if waiting {
            self.hold(st);
            return true;
        }
        match self.queue.try_push(st) {
            Push::Queued => true,
            // Closed: the session is closing or gone.
            Push::Closed => false,
            Push::Full(st) => {
                self.hold(st);
                true
            }
        }
    }

    /// Hands a stanza for this (full) queue to the sender, or, when the
    /// sender cannot wait, closes this session as a slow reader.
    fn hold(&self, st: Arc<Routed>) {
        let held = Held {
            queue: self.queue.clone(),
            jid: self.jid.clone(),
            id: self.id,
            st,
        };
        let mut held = Some(held);
        let _ = BACKLOG.try_with(|b| {
            if let Some(h) = held.take() {
                b.borrow_mut().push(h);
            }
        });
        if let Some(h) = held {
            self.request_close(slow_reader());
            self.queue.push_last(h.st);
        }
    }

    /// Asks the session to send `error` and close.
    pub fn request_close(&self, error: StreamError) {
        self.closing.store(true, Ordering::Release);
        // Nobody waits for room in its queue any more.
        self.queue.close_room();
        if let Ok(mut c) = self.close.lock() {
            if c.is_none() {
                tracing::info!(jid = %self.jid, condition = error.condition.name(), "closing the session");
                *c = Some(error);
            }
        }
        self.close_notify.notify_one();
    }

    /// The session ends: it is no longer a recipient (nothing is sent to
    /// it any more; no stream error is asked for).
    pub(crate) fn stop_receiving(&self) {
        self.closing.store(true, Ordering::Release);
        self.queue.close_room();
    }

    /// Whether the session was asked to close: it is no longer a
    /// recipient (the router skips it).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// The close request, if any.
    pub(crate) fn take_close(&self) -> Option<StreamError> {
        self.close.lock().ok().and_then(|mut c| c.take())
    }

    /// Whether the session is available (sent presence).
    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Acquire)
    }

    /// The presence priority.
    pub fn priority(&self) -> i32 {
        self.priority.load(Ordering::Acquire)
    }

    /// Records the session's broadcast presence (`None`: unavailable).
    pub fn set_presence(&self, presence: Option<(Routed, i32)>) {
        match presence {
            Some((el, prio)) => {
                self.priority.store(prio, Ordering::Release);
                if let Ok(mut p) = self.last_presence.lock() {
                    *p = Some(el);
                }
                self.available.store(true, Ordering::Release);
            }
            None => {
                self.available.store(false, Ordering::Release);
                if let Ok(mut p) = self.last_presence.lock() {
                    *p = None;
                }
            }
        }
    }

    /// The last broadcast presence.
    pub fn presence(&self) -> Option<Routed> {
        self.last_presence.lock().ok().and_then(|p| p.clone())
    }

    /// Whether it receives roster pushes.
    pub fn is_interested(&self) -> bool {
        self.interested.load(Ordering::Acquire)
    }

    /// Marks that it requested the roster.
    pub fn set_interested(&self) {
        self.interested.store(true, Ordering::Release);
    }
}

impl Recipient for Arc<SessionHandle> {
    fn jid(&self) -> &FullJid {
        &self.jid
    }
    fn available(&self) -> bool {
        self.is_available()
    }
    fn priority(&self) -> i32 {
        SessionHandle::priority(self)
    }
    fn closing(&self) -> bool {
        self.is_closing()
    }
}

/// The stream error of a session closed for not reading fast enough.
pub(crate) fn slow_reader() -> StreamError {
    StreamError::new(starling_stream::Condition::PolicyViolation)
        .with_text("too many stanzas waiting: the client reads too slowly")
}

/// Sessions by account.
#[derive(Debug, Default)]
pub struct Registry {
    accounts: DashMap<BareJid, Vec<Arc<SessionHandle>>>,
    next_id: AtomicU64,
    /// Sessions that may be resumed (XEP-0198), by resumption id.
    pub(crate) resumptions: crate::c2s::Resumptions,
}

/// How binding a new resource went.
#[derive(Debug)]
pub enum Insert {
    /// Bound; the replaced session (same resource) if any.
    Bound(Option<Arc<SessionHandle>>),
    /// The account has too many sessions.
    TooMany,
    /// The resource is in use and replacing is refused.
    Conflict,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// A fresh connection id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a session, applying the conflict policy and the resource limit.
    pub fn insert(&self, handle: Arc<SessionHandle>, replace: bool, max: usize) -> Insert {
        let mut entry = self.accounts.entry(handle.jid.bare()).or_default();
        let list = entry.value_mut();
        if let Some(pos) = list.iter().position(|h| h.jid == handle.jid) {
            if !replace {
                return Insert::Conflict;
            }
            let old = list.remove(pos);
            list.push(handle);
            return Insert::Bound(Some(old));
        }
        if list.len() >= max {
            return Insert::TooMany;
        }
        list.push(handle);
        Insert::Bound(None)
    }

    /// Whether `jid` is bound now.
    pub fn is_bound(&self, jid: &FullJid) -> bool {
        self.get(jid).is_some()
    }

    /// Removes a session (only this connection's, not a replacement's).
    pub fn remove(&self, jid: &FullJid, id: u64) {
        let bare = jid.bare();
        let empty = match self.accounts.get_mut(&bare) {
            Some(mut list) => {
                list.retain(|h| h.id != id);
                list.is_empty()
            }
            None => false,
        };
        if empty {
            self.accounts.remove_if(&bare, |_, l| l.is_empty());
        }
    }

    /// The sessions of an account.
    pub fn sessions(&self, bare: &BareJid) -> Vec<Arc<SessionHandle>> {
        self.accounts
            .get(bare)
            .map(|l| l.value().clone())
            .unwrap_or_default()
    }

    /// Runs `f` on the sessions of an account without copying the list
    /// (the account's shard stays read-locked meanwhile: `f` must not wait
    /// or touch the registry).
    pub fn with_sessions<R>(
        &self,
        bare: &BareJid,
        f: impl FnOnce(&[Arc<SessionHandle>]) -> R,
    ) -> R {
        match self.accounts.get(bare) {
            Some(list) => f(list.value()),
            None => f(&[]),
        }
    }

    /// One session.
    pub fn get(&self, jid: &FullJid) -> Option<Arc<SessionHandle>> {
        self.accounts
            .get(&jid.bare())
            .and_then(|l| l.iter().find(|h| &h.jid == jid).cloned())
    }

    /// Every session (for shutdown).
    pub fn all(&self) -> Vec<Arc<SessionHandle>> {
        self.accounts
            .iter()
            .flat_map(|e| e.value().clone())
            .collect()
    }

    /// Number of bound sessions.
    pub fn len(&self) -> usize {
        self.accounts.iter().map(|e| e.value().len()).sum()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> FullJid {
        s.parse().unwrap()
    }

    /// Room for `n` small stanzas.
    fn room(n: usize) -> QueueLimits {
        QueueLimits {
            bytes: n * 1024,
            count: n,
        }
    }

    #[test]
    fn insert_replace_refuse_limit() {
        let r = Registry::new();
        let (a, _ra) = SessionHandle::new(jid("a@x/1"), 1, room(4));
        let (b, _rb) = SessionHandle::new(jid("a@x/1"), 2, room(4));
        let (c, _rc) = SessionHandle::new(jid("a@x/2"), 3, room(4));
        assert!(matches!(r.insert(a, true, 2), Insert::Bound(None)));
        assert!(matches!(r.insert(b.clone(), false, 2), Insert::Conflict));
        assert!(matches!(r.insert(b, true, 2), Insert::Bound(Some(old)) if old.id == 1));
        assert!(matches!(r.insert(c, true, 2), Insert::Bound(None)));
        let (d, _rd) = SessionHandle::new(jid("a@x/3"), 4, room(4));
        assert!(matches!(r.insert(d, true, 2), Insert::TooMany));
        assert_eq!(r.len(), 2);
        // Removing the replaced connection's id leaves the new one.
        r.remove(&jid("a@x/1"), 1);
        assert!(r.is_bound(&jid("a@x/1")));
        r.remove(&jid("a@x/1"), 2);
        r.remove(&jid("a@x/2"), 3);
        assert!(r.is_empty());
    }

    fn stanza(xml: &str) -> Arc<Routed> {
        Arc::new(Routed::parse(xml.parse().unwrap()).unwrap())
    }

    #[tokio::test]
    async fn full_queue_holds_for_a_session_sender() {
        let (a, mut rx) = SessionHandle::new(jid("a@x/1"), 1, room(1));
        let held = BACKLOG
            .scope(std::cell::RefCell::new(Vec::new()), async {
                a.deliver(stanza("<message xmlns='jabber:client'/>"));
                a.deliver(stanza("<presence xmlns='jabber:client'/>"));
                a.deliver(stanza("<iq xmlns='jabber:client' type='result' id='1'/>"));
                BACKLOG.with(|b| b.take())
            })
            .await;
        // The first fits; the others wait, in order; nobody is closed.
        assert!(a.take_close().is_none());
        assert_eq!(held.len(), 2);
        assert_eq!(held[0].st.element().name(), "presence");
        assert_eq!(held[1].st.element().name(), "iq");
        assert!(rx.try_recv().is_some());
    }

    #[test]
    fn full_queue_asks_to_close() {
        let (a, mut rx) = SessionHandle::new(jid("a@x/1"), 1, room(1));
        a.deliver(stanza("<message xmlns='jabber:client'/>"));
        assert!(a.take_close().is_none());
        a.deliver(stanza("<message xmlns='jabber:client'/>"));
        assert!(a.is_closing());
        assert!(a.take_close().is_some());
        // The one that did not fit is queued beyond the budget (to be
        // routed again when the session ends), nothing after it.
        assert!(rx.try_recv().is_some());
        assert!(rx.try_recv().is_some());
        // A closing session takes nothing more.
        a.deliver(stanza("<message xmlns='jabber:client'/>"));
        assert!(rx.try_recv().is_none());
    }
}
