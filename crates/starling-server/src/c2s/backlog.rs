//! Backpressure: a session whose last stanza produced deliveries that did
//! not fit in their recipients' full queues waits for room before it
//! reads more from its client, while still writing its own queue (so two
//! sessions flooding each other cannot deadlock).

use std::time::Duration;

use starling_stream::{Condition, StreamError};
use tokio::sync::mpsc;

use super::C2sDriver;
use super::session::Conn;
use crate::registry::{BACKLOG, Held, Outbound};

/// How long a sender waits for room in a recipient's full queue before
/// the recipient is closed as a slow reader.
const SLOW_READER_GRACE: Duration = Duration::from_secs(10);

impl Conn {
    /// Waits until the stanzas this session's last stanza produced fit in
    /// their recipients' full queues. A recipient that does not make room
    /// within [`SLOW_READER_GRACE`] is closed. False if our own connection
    /// failed.
    pub(super) async fn flush_backlog(&mut self, driver: &mut C2sDriver) -> bool {
        let held: Vec<Held> = BACKLOG.with(|b| b.take());
        let mut rx = self.rx.take();
        let mut given_up: Vec<mpsc::Sender<Outbound>> = Vec::new();
        let mut ok = true;
        for h in held {
            if given_up.iter().any(|g| g.same_channel(&h.tx)) {
                continue;
            }
            match self.wait_for_room(driver, &mut rx, h).await {
                Room::Sent => {}
                Room::GaveUp(tx) => given_up.push(tx),
                Room::OwnFailure => {
                    ok = false;
                    break;
                }
            }
        }
        self.rx = rx;
        ok
    }

    async fn wait_for_room(
        &self,
        driver: &mut C2sDriver,
        rx: &mut Option<mpsc::Receiver<Outbound>>,
        h: Held,
    ) -> Room {
        let deadline = tokio::time::Instant::now() + SLOW_READER_GRACE;
        loop {
            let own = async {
                match rx {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                permit = h.tx.reserve() => {
                    if let Ok(p) = permit {
                        p.send(Outbound::Stanza(h.st));
                    }
                    return Room::Sent;
                }
                Some(Outbound::Stanza(o)) = own => {
                    if self.admits(&o) {
                        driver.machine_mut().send(o.element());
                    }
                    if driver.flush().await.is_err() {
                        return Room::OwnFailure;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    if let Some(s) = self.hub.sessions().get(&h.jid) {
                        if s.id == h.id {
                            s.request_close(
                                StreamError::new(Condition::PolicyViolation)
                                    .with_text("too many stanzas waiting: the client reads too slowly"),
                            );
                        }
                    }
                    return Room::GaveUp(h.tx.clone());
                }
            }
        }
    }
}

enum Room {
    Sent,
    GaveUp(mpsc::Sender<Outbound>),
    OwnFailure,
}
