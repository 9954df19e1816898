//! XEP-0198 §5 resumption: a session whose connection broke waits,
//! detached, for a new connection to take it over; a connection that
//! resumes takes the session's state from the task that kept it.
//!
//! A resumable session is listed in [`Resumptions`] under its id. A
//! connection that receives `<resume previd/>` from the same account asks
//! the session's task for its state (its handle, queue, modules' state,
//! stream management counts, and what arrived while it was detached); that
//! task, whether still attached to an old connection (which it then
//! closes with `conflict`) or detached, hands it over and ends without
//! deregistering the session. A detached session that nobody resumes
//! before its timeout ends as any session does: what it never had
//! acknowledged is routed again (RFC 6121 §8.5).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use starling_jid::BareJid;
use starling_stanza::{
    Payload, PresenceType, SmFailed, SmResume, SmResumed, StanzaErrorCondition as Cond,
};
use starling_stream::{Condition, StreamError};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use super::C2sDriver;
use super::session::Conn;
use super::sm::Sm;
use crate::module::{Extensions, Session};
use crate::queue::{Inbox, weight};
use crate::registry::SessionHandle;
use crate::routed::Routed;

/// How long a resuming connection waits for the old session's task to
/// hand its state over.
const HANDOVER_WAIT: Duration = Duration::from_secs(10);

/// A session's state, moving to the connection that resumes it.
pub(super) struct Takeover {
    pub(super) me: Arc<SessionHandle>,
    pub(super) rx: Option<Inbox>,
    pub(super) ext: Extensions,
    pub(super) sm: Sm,
    /// Taken from the queue while detached, not yet sent.
    pub(super) pending: VecDeque<Arc<Routed>>,
    /// The presence to broadcast again (when it was withdrawn on detach).
    pub(super) withdrawn: Option<Routed>,
}

/// A request for a session's state.
pub(super) type HandoverRequest = oneshot::Sender<Box<Takeover>>;

struct Entry {
    account: BareJid,
    token: u64,
    tx: mpsc::Sender<HandoverRequest>,
}

/// A session's place in [`Resumptions`]: its id, and the receiving end of
/// its handover requests.
pub(super) struct Listed {
    id: String,
    token: u64,
    rx: mpsc::Receiver<HandoverRequest>,
}

impl Listed {
    /// The next handover request.
    pub(super) async fn recv(&mut self) -> Option<HandoverRequest> {
        self.rx.recv().await
    }
}

/// The resumable sessions by resumption id.
#[derive(Default)]
pub(crate) struct Resumptions {
    map: Mutex<HashMap<String, Entry>>,
    tokens: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Resumptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.lock().map_or(0, |m| m.len());
        f.debug_struct("Resumptions").field("len", &n).finish()
    }
}

impl Resumptions {
    /// Lists `id` for `account` (replacing an earlier listing of it).
    pub(super) fn add(&self, id: &str, account: BareJid) -> Listed {
        let (tx, rx) = mpsc::channel(1);
        let token = self
            .tokens
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut m) = self.map.lock() {
            m.insert(id.to_owned(), Entry { account, token, tx });
        }
        Listed {
            id: id.to_owned(),
            token,
            rx,
        }
    }

    /// Where to ask for session `id`, if `account` owns it.
    fn find(&self, id: &str, account: &BareJid) -> Option<mpsc::Sender<HandoverRequest>> {
        let m = self.map.lock().ok()?;
        let e = m.get(id)?;
        (e.account == *account).then(|| e.tx.clone())
    }

    /// Unlists a session, unless a later listing replaced it.
    pub(super) fn remove(&self, listed: &Listed) {
        if let Ok(mut m) = self.map.lock() {
            if m.get(&listed.id).is_some_and(|e| e.token == listed.token) {
                m.remove(&listed.id);
            }
        }
    }
}

/// How a detached session's wait ended.
pub(super) enum Detached {
    /// Another connection took it over.
    HandedOver,
    /// Not resumed in time, or the server or an administrator ended it.
    Ended,
}

impl Conn {
    /// Whether the connection that just ended leaves a session to keep for
    /// resumption.
    pub(super) fn resumable(&self, driver: &C2sDriver) -> bool {
        self.me.is_some()
            && !self.final_close
            && !driver.machine().peer_ended_stream()
            && driver
                .machine()
                .hooks()
                .sm
                .as_ref()
                .is_some_and(|sm| sm.id.is_some())
    }

    /// Waits, detached, until another connection resumes the session or
    /// its time is up. Stanzas for it are taken from its queue (within the
    /// stream management byte bound) and shown to the modules (push
    /// notifications).
    pub(super) async fn detached(
        &mut self,
        driver: &mut C2sDriver,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Detached {
        let Some(me) = self.me.clone() else {
            return Detached::Ended;
        };
        let Some(resume_for) = driver.machine().hooks().sm.as_ref().map(|sm| sm.resume_for) else {
            return Detached::Ended;
        };
        info!(peer = %self.peer, jid = %me.jid, secs = resume_for.as_secs(), "connection lost: the session waits for its resumption");
        if !self.hub.config().modules.stream_management.keep_presence {
            self.withdraw_presence(driver).await;
        }
        let until = tokio::time::Instant::now() + resume_for;
        let max_bytes = self
            .hub
            .config()
            .modules
            .stream_management
            .max_unacked_bytes;
        let mut bytes = 0usize;
        loop {
            let takeover = async {
                match &mut self.takeover_rx {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            let queued = async {
                match &mut self.rx {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.changed() => return Detached::Ended,
                () = me.close_notify.notified() => {
                    let _ = me.take_close();
                    return Detached::Ended;
                }
                () = tokio::time::sleep_until(until) => {
                    info!(jid = %me.jid, "the session was not resumed in time");
                    return Detached::Ended;
                }
                req = takeover => match req {
                    Some(req) => {
                        self.hand_over(driver, req);
                        return Detached::HandedOver;
                    }
                    None => return Detached::Ended,
                },
                st = queued => {
                    // The delivery filters see it when it is written.
                    let Some(st) = st else { return Detached::Ended };
                    bytes += weight(st.element());
                    let hub = self.hub.clone();
                    hub.modules().detached(&hub, &me.jid, &st).await;
                    self.pending.push_back(st);
                    if bytes > max_bytes {
                        info!(jid = %me.jid, "too much arrived for a detached session: it ends");
                        return Detached::Ended;
                    }
                }
            }
        }
    }

    /// Broadcasts unavailable presence for a detached session, keeping the
    /// last presence to broadcast again on resumption.
    async fn withdraw_presence(&mut self, driver: &mut C2sDriver) {
        let Some(me) = self.me.clone() else { return };
        let Some(last) = me.presence() else { return };
        self.withdrawn = Some(last);
        let from = starling_jid::Jid::from(me.jid.clone());
        let mut st = Routed::presence(PresenceType::Unavailable, &from, &from);
        st.clear_to();
        let hub = self.hub.clone();
        let mut s = Session::new(&me, &mut self.ext, driver);
        hub.client_stanza(&mut s, st).await;
    }

    /// Gives the session's state to the connection that resumes it.
    pub(super) fn hand_over(&mut self, driver: &mut C2sDriver, req: HandoverRequest) {
        let (Some(me), Some(sm)) = (self.me.take(), driver.machine_mut().hooks_mut().sm.take())
        else {
            return;
        };
        info!(peer = %self.peer, jid = %me.jid, "session handed over to a resuming connection");
        let state = Takeover {
            me,
            rx: self.rx.take(),
            ext: std::mem::take(&mut self.ext),
            sm,
            pending: std::mem::take(&mut self.pending),
            withdrawn: self.withdrawn.take(),
        };
        // The listing stays: the resuming connection replaces it.
        self.takeover_rx = None;
        self.unwritten.clear();
        // If the resuming side is gone, the state is dropped with the
        // request: the session stays registered with nobody reading its
        // queue until its conflict or expiry (it cannot be: the resuming
        // side only drops the request on its own failure, and then ends
        // the state it received).
        let _ = req.send(Box::new(state));
    }

    /// `<resume/>` from the authenticated `user`: takes the session over
    /// from the task that keeps it, or refuses with `item-not-found`.
    pub(super) async fn resume(&mut self, driver: &mut C2sDriver, user: BareJid, req: SmResume) {
        let Some(state) = self.take_state(&user, &req.previd).await else {
            info!(peer = %self.peer, account = %user, "resumption refused: unknown or expired session");
            driver
                .machine_mut()
                .resume_refused(&SmFailed::with_condition(Cond::ItemNotFound).to_element());
            return;
        };
        let Takeover {
            me,
            rx,
            ext,
            mut sm,
            pending,
            withdrawn,
        } = *state;
        self.me = Some(me.clone());
        self.rx = rx;
        self.ext = ext;
        self.withdrawn = withdrawn;
        self.start_keepalive();
        let acked = match sm.ack(req.h) {
            Ok(a) => a,
            Err(too_high) => {
                // The client's count cannot be right: the session ends
                // (what it never acknowledged is routed again) and the
                // client may bind a new one.
                let f = SmFailed {
                    h: Some(sm.inbound()),
                    condition: Some(Cond::UndefinedCondition),
                    handled_count_too_high: Some(too_high),
                };
                driver.machine_mut().hooks_mut().sm = Some(sm);
                self.pending = pending;
                driver.machine_mut().resume_refused(&f.to_element());
                self.end_session(driver).await;
                return;
            }
        };
        acked.actions.into_iter().for_each(|a| a());
        self.hub.release_journal(acked.rows);
        let resumed = SmResumed {
            h: sm.inbound(),
            previd: req.previd.clone(),
        };
        let neg = driver.machine_mut();
        neg.resume_accepted(me.jid.clone(), &resumed.to_element());
        for s in sm.unacked() {
            if let Some(el) = s.element() {
                neg.send(el);
            }
        }
        sm.resumed();
        neg.hooks_mut().sm = Some(sm);
        self.takeover_rx = Some(self.hub.sessions().resumptions.add(&req.previd, user));
        info!(peer = %self.peer, jid = %me.jid, "session resumed");
        for st in pending {
            self.send_queued(driver, st);
        }
        if let Some(p) = self.withdrawn.take() {
            let hub = self.hub.clone();
            let mut s = Session::new(&me, &mut self.ext, driver);
            hub.client_stanza(&mut s, p).await;
        }
    }

    /// Asks the task keeping session `id` of `user` for its state.
    async fn take_state(&self, user: &BareJid, id: &str) -> Option<Box<Takeover>> {
        let tx = self.hub.sessions().resumptions.find(id, user)?;
        let (otx, orx) = oneshot::channel();
        tx.send(otx).await.ok()?;
        tokio::time::timeout(HANDOVER_WAIT, orx).await.ok()?.ok()
    }

    /// An attached session asked for by a resuming connection: its old
    /// connection is closed with `conflict` and the state handed over once
    /// the close is written.
    pub(super) fn handover_requested(&mut self, driver: &mut C2sDriver, req: HandoverRequest) {
        self.final_close = true;
        self.handover = Some(req);
        driver.machine_mut().close_with(
            StreamError::new(Condition::Conflict)
                .with_text("the session was resumed on another connection"),
        );
    }
}
