//! Reconnection: a new connection after a broken one, resuming the
//! XEP-0198 stream when it can, else a new session that gets back what the
//! old one had not seen acknowledged.

use std::time::Duration;

use starling_jid::Jid;
use starling_stream::Condition;
use starling_xml::Element;

use crate::client::{Command, Event};
use crate::connection::{self, Session};
use crate::error::Error;
use crate::sm::SmError;
use crate::task::{End, OUTBOX_LIMIT, Task, too_high};

impl Task {
    pub(crate) async fn run(mut self, mut current: Session) {
        self.start(&mut current, Vec::new());
        let mut backoff = Duration::from_secs(1);
        loop {
            let end = self.session(&mut current).await;
            // The old connection closes here, whatever comes next.
            drop(current);
            match end {
                End::Requested(ack) => {
                    let _ = self.events.send(Event::Disconnected(None)).await;
                    if let Some(a) = ack {
                        let _ = a.send(());
                    }
                    return;
                }
                End::Lost(err) => {
                    let fatal = matches!(
                        err.as_ref().map(|e| &e.condition),
                        Some(Condition::Conflict | Condition::NotAuthorized)
                    );
                    let _ = self.events.send(Event::Disconnected(err)).await;
                    if !self.builder.reconnect || fatal {
                        return;
                    }
                }
            }
            // Reconnect: at once when the stream may be resumed, then with
            // exponential backoff.
            let mut wait =
                self.builder
                    .reconnect_delay
                    .unwrap_or(if self.sm.resume_request().is_some() {
                        Duration::ZERO
                    } else {
                        backoff
                    });
            // The server's preferred `location` is tried once, first.
            let mut location = self.sm.location().map(str::to_owned);
            current = loop {
                if !self.wait_offline(wait).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
                wait = backoff;
                let resume = self.sm.resume_request();
                let mut config = self.builder.config.clone();
                if resume.is_some() {
                    config.jid = Jid::from(self.jid.clone());
                    if let Some(l) = location.take() {
                        config.server = Some(l);
                        wait = Duration::ZERO;
                    }
                }
                let resuming = resume.is_some();
                match connection::establish(&config, resume).await {
                    Ok(mut s) => {
                        if self.reconnected(&mut s).await {
                            break s;
                        }
                        // Unusable (the resumed stream broke the counts):
                        // flush our stream error and try again at once.
                        let _ = s.driver.flush().await;
                        wait = Duration::ZERO;
                    }
                    Err(Error::Auth(_)) => {
                        let _ = self.events.send(Event::Disconnected(None)).await;
                        return;
                    }
                    // The server broke the stream over our <resume/>: give
                    // the resumption up rather than fail the same way
                    // again; what was unacknowledged goes out first on the
                    // new session.
                    Err(Error::Negotiation(_) | Error::Stream(_)) if resuming => {
                        self.abandon_stream();
                        let _ = self.events.send(Event::ResumeFailed(None)).await;
                        wait = Duration::ZERO;
                    }
                    Err(_) => {}
                }
            };
            backoff = Duration::from_secs(1);
        }
    }

    /// Waits `wait` without a connection, keeping what is sent meanwhile;
    /// false when the client closed or was dropped.
    async fn wait_offline(&mut self, wait: Duration) -> bool {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                cmd = self.commands.recv() => match cmd {
                    None => return false,
                    Some(Command::Close(ack)) => {
                        let _ = ack.send(());
                        return false;
                    }
                    Some(Command::Send(el)) => {
                        if self.outbox.len() < OUTBOX_LIMIT {
                            self.outbox.push(el);
                        }
                    }
                    Some(Command::Nonza { reply, .. }) => {
                        let _ = reply.send(Err(Error::Closed));
                    }
                    // A request fails (its sender sees the channel close).
                    Some(Command::Request { .. } | Command::DropConnection) => {}
                },
            }
        }
    }

    /// A new connection is up: resumed, or a new session. False when it
    /// cannot be used after all (its stream is closed).
    async fn reconnected(&mut self, s: &mut Session) -> bool {
        let neg = s.driver.machine_mut();
        if let Some(r) = &s.resumed {
            match self.sm.on_resumed(r.h) {
                Ok(resend) => {
                    for el in &resend {
                        neg.send(el);
                    }
                    for el in std::mem::take(&mut self.outbox) {
                        self.out(neg, el);
                    }
                    self.publish();
                    let _ = self.events.send(Event::Resumed(self.jid.clone())).await;
                    return true;
                }
                Err(SmError::HandledCountTooHigh(e)) => {
                    // The counts are broken: this stream ends, the next
                    // one is a new session that gets everything again.
                    neg.stream_error(&too_high(e));
                    self.abandon_stream();
                    let _ = self.events.send(Event::ResumeFailed(None)).await;
                    return false;
                }
            }
        }
        self.pending.clear();
        let rest = if self.sm.is_on() || s.resume_failed.is_some() {
            self.sm.on_lost(s.resume_failed.as_ref())
        } else {
            Vec::new()
        };
        if let Some(f) = &s.resume_failed {
            let _ = self
                .events
                .send(Event::ResumeFailed(f.condition.clone()))
                .await;
        }
        self.jid = s.jid.clone();
        let _ = self.events.send(Event::Reconnected(self.jid.clone())).await;
        self.start(s, rest);
        true
    }

    /// A new session: enables stream management, restores the CSI state,
    /// sends what waited.
    fn start(&mut self, s: &mut Session, resend: Vec<Element>) {
        let neg = s.driver.machine_mut();
        let f = neg.features();
        let has = |name, ns| f.is_some_and(|f| f.other.iter().any(|e| e.is(name, ns)));
        self.offered = (
            has("sm", starling_stanza::ns::SM),
            has("csi", starling_stanza::ns::CSI),
        );
        if self.builder.stream_management && self.offered.0 {
            let enable = self.sm.enable(true);
            neg.send(&enable);
        }
        if let (Some(state), true) = (self.csi, self.offered.1) {
            neg.send(&state.to_element());
        }
        let outbox = std::mem::take(&mut self.outbox);
        for el in resend.into_iter().chain(outbox) {
            self.out(neg, el);
        }
        self.publish();
    }
}
