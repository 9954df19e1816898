//! Backpressure: a session whose last stanza produced deliveries that did
//! not fit in their recipients' full queues waits for room before it
//! reads more from its client, while still writing its own queue (so two
//! sessions flooding each other cannot deadlock).

use std::sync::Arc;
use std::time::Duration;

use super::C2sDriver;
use super::session::Conn;
use crate::queue::Queue;
use crate::registry::{BACKLOG, Held, slow_reader};
use crate::routed::Routed;

/// How long a sender waits for room in a recipient's full queue before
/// the recipient is closed as a slow reader.
const SLOW_READER_GRACE: Duration = Duration::from_secs(10);

/// How long a recipient with a full queue may take nothing from it before
/// it is closed as a slow reader: one that reads slowly keeps its senders
/// waiting (up to the grace), one that stopped reading does not.
const STALL: Duration = Duration::from_secs(2);

/// How often a waiting sender looks at its recipient's progress.
const STALL_CHECK: Duration = Duration::from_millis(250);

impl Conn {
    /// Waits until the stanzas this session's last stanza produced fit in
    /// their recipients' full queues. A recipient that does not make room
    /// within [`SLOW_READER_GRACE`], or takes nothing from its queue for
    /// [`STALL`], is closed, and what was waiting for it
    /// is routed again (to the account's other resources or offline
    /// storage), as is what was waiting for a session that ended. False if
    /// our own connection failed.
    pub(super) async fn flush_backlog(&mut self, driver: &mut C2sDriver) -> bool {
        let held: Vec<Held> = BACKLOG.with(|b| b.take());
        let mut given_up: Vec<Queue> = Vec::new();
        let mut reroute: Vec<Arc<Routed>> = Vec::new();
        let mut ok = true;
        for h in held {
            if !ok || given_up.iter().any(|g| g.same_queue(&h.queue)) {
                reroute.push(h.st);
                continue;
            }
            match self.wait_for_room(driver, &h).await {
                Room::Sent => {}
                Room::Gone => reroute.push(h.st),
                Room::GaveUp => {
                    given_up.push(h.queue.clone());
                    reroute.push(h.st);
                }
                Room::OwnFailure => {
                    ok = false;
                    reroute.push(h.st);
                }
            }
        }
        for st in reroute {
            self.hub.route(Arc::unwrap_or_clone(st)).await;
        }
        ok
    }

    async fn wait_for_room(&mut self, driver: &mut C2sDriver, h: &Held) -> Room {
        let start = tokio::time::Instant::now();
        let deadline = start + SLOW_READER_GRACE;
        let mut progress = (h.queue.taken(), start);
        let mut check = tokio::time::interval_at(start + STALL_CHECK, STALL_CHECK);
        let mut rx = self.rx.take();
        let room = loop {
            let own = async {
                match &mut rx {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                sent = h.queue.push(h.st.clone()) => {
                    break if sent { Room::Sent } else { Room::Gone };
                }
                Some(o) = own => {
                    self.send_queued(driver, o);
                    if driver.flush().await.is_err() {
                        break Room::OwnFailure;
                    }
                }
                now = check.tick() => {
                    let taken = h.queue.taken();
                    if taken != progress.0 {
                        progress = (taken, now);
                    } else if now >= deadline || now - progress.1 >= STALL {
                        self.close_slow_reader(h);
                        break Room::GaveUp;
                    }
                }
            }
        };
        self.rx = rx;
        room
    }
}

impl Conn {
    fn close_slow_reader(&self, h: &Held) {
        if let Some(s) = self.hub.sessions().get(&h.jid) {
            if s.id == h.id {
                s.request_close(slow_reader());
            }
        }
    }
}

enum Room {
    Sent,
    /// The recipient's session ended meanwhile.
    Gone,
    GaveUp,
    OwnFailure,
}
