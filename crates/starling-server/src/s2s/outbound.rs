//! Outgoing streams: one task per domain pair (or shared by several of
//! our domains through dialback piggybacking, XEP-0220 §2.5), with the
//! stanzas that wait for it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use starling_auth::negotiate::{OutboundEvent, S2sOutbound};
use starling_jid::DomainPart;
use starling_net::{Driver, Wake};
use starling_stanza::StanzaErrorCondition as Cond;
use starling_stream::{Condition, StreamError};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::connect::OutDriver;
use super::{Failure, S2s, from_domain, send_converted};
use crate::routed::Routed;

/// Queued stanzas taken in one go before looking at the socket again.
const QUEUE_BATCH: usize = 256;

/// One outgoing stream's state.
struct Out<'a> {
    s2s: &'a S2s,
    local: DomainPart,
    remote: DomainPart,
    /// Authenticated: stanzas of `pairs` can be sent.
    ready: bool,
    /// Our domains authenticated on this stream.
    pairs: HashSet<DomainPart>,
    /// Our domains whose piggybacking was asked for.
    asked: HashSet<DomainPart>,
    /// The stream is being closed: nothing more is taken from the queue.
    closing: bool,
    /// Stanzas waiting for their domain to be authenticated.
    waiting: HashMap<DomainPart, VecDeque<Routed>>,
}

/// What woke the stream up besides its socket and deadlines.
#[allow(
    clippy::large_enum_variant,
    reason = "a queued stanza is moved out at once; boxing it would allocate per stanza"
)]
enum Other {
    Queued(Option<Routed>),
    Stop,
}

impl S2s {
    /// The task of the outgoing stream for (`local`, `remote`): runs it,
    /// then bounces or re-sends what it could not carry.
    pub(super) async fn outbound(
        self: Arc<Self>,
        local: DomainPart,
        remote: DomainPart,
        mut rx: mpsc::Receiver<Routed>,
    ) {
        let mut out = Out {
            s2s: &self,
            local: local.clone(),
            remote: remote.clone(),
            ready: false,
            pairs: HashSet::new(),
            asked: HashSet::new(),
            closing: false,
            waiting: HashMap::new(),
        };
        let result = out.run(&mut rx).await;
        let waiting = std::mem::take(&mut out.waiting);
        rx.close();
        // Every pair this stream carried (only our channel: a new stream
        // may already be registered for some of them).
        self.outgoing.retain(|_, s| !s.is_closed());
        let mut pending: Vec<Routed> = waiting.into_values().flatten().collect();
        while let Ok(st) = rx.try_recv() {
            pending.push(st);
        }
        self.after_stream(&local, &remote, result, pending);
    }

    fn after_stream(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
        result: Result<(), Failure>,
        pending: Vec<Routed>,
    ) {
        let stopping = *self.stop.borrow();
        match result {
            Err(f) => {
                warn!(%local, %remote, reason = %f.detail, "s2s stream failed; bouncing {} stanzas", pending.len());
                for st in pending {
                    self.bounce(st, &f);
                }
            }
            Ok(()) if !pending.is_empty() && !stopping => {
                debug!(%local, %remote, "s2s stream ended with stanzas waiting: reconnecting");
                for st in pending {
                    self.send(st);
                }
            }
            Ok(()) => {
                let f = Failure::stated(Cond::RemoteServerTimeout, "the server is stopping");
                for st in pending {
                    self.bounce(st, &f);
                }
            }
        }
    }
}

impl Out<'_> {
    async fn run(&mut self, rx: &mut mpsc::Receiver<Routed>) -> Result<(), Failure> {
        let s2s = self.s2s;
        // Stanzas that arrive while we connect wait in the channel.
        let connect = s2s.connect(&self.local, &self.remote);
        let (transport, tls) = tokio::time::timeout(s2s.config.connect_timeout * 2, connect)
            .await
            .map_err(|_| Failure::new(Cond::RemoteServerTimeout, "connecting took too long"))??;
        let neg = S2sOutbound::new(
            s2s.settings.clone(),
            self.local.clone(),
            self.remote.clone(),
            tls,
            Instant::now(),
        );
        let mut driver = Driver::new(transport, neg);
        driver.set_idle_timeout(Some(s2s.config.idle_timeout));
        let mut stop = s2s.stop.clone();
        loop {
            self.events(&mut driver).await?;
            if let Err(e) = driver.flush().await {
                return self.ended(Some(e.to_string()));
            }
            if driver.machine().is_closed() {
                let _ = driver.shutdown().await;
                return self.ended(None);
            }
            let closing = self.closing;
            let other = async {
                if closing {
                    return std::future::pending().await;
                }
                tokio::select! {
                    m = rx.recv() => Other::Queued(m),
                    _ = stop.changed() => Other::Stop,
                }
            };
            match driver.wait(other).await {
                Wake::Other(Other::Queued(Some(st))) => {
                    driver.touch();
                    self.queued(&mut driver, st, rx);
                }
                Wake::Other(Other::Queued(None)) => {
                    self.closing = true;
                    driver.machine_mut().close();
                }
                Wake::Other(Other::Stop) => {
                    self.closing = true;
                    let e = StreamError::new(Condition::SystemShutdown);
                    driver.machine_mut().close_with(e);
                }
                Wake::Idle => self.idle(&mut driver),
                Wake::Input | Wake::Timeout | Wake::Eof(_) => {}
            }
        }
    }

    /// The stream is over: fine once it carried stanzas, a failure before.
    fn ended(&self, error: Option<String>) -> Result<(), Failure> {
        if self.ready {
            return Ok(());
        }
        let text = error.unwrap_or_else(|| "the stream closed during negotiation".to_owned());
        Err(Failure::new(Cond::RemoteServerNotFound, text))
    }

    /// No traffic for the idle timeout: deregister first, so that new
    /// stanzas open a new stream, then close.
    fn idle(&mut self, driver: &mut OutDriver) {
        debug!(local = %self.local, remote = %self.remote, "closing idle s2s stream");
        for l in &self.pairs {
            self.s2s.outgoing.remove(&(l.clone(), self.remote.clone()));
        }
        self.closing = true;
        driver.machine_mut().close();
    }

    async fn events(&mut self, driver: &mut OutDriver) -> Result<(), Failure> {
        while let Some(ev) = driver.machine_mut().next_event() {
            match ev {
                OutboundEvent::StartTls => {
                    let (s2s, local, remote) = (self.s2s, self.local.clone(), self.remote.clone());
                    s2s.starttls(driver, &local, &remote).await?;
                }
                OutboundEvent::Ready { method, .. } => {
                    info!(local = %self.local, remote = %self.remote, ?method, "s2s stream ready");
                    self.ready = true;
                    let local = self.local.clone();
                    self.authenticated(driver.machine_mut(), local);
                    let others: Vec<DomainPart> = self.waiting.keys().cloned().collect();
                    for l in others {
                        self.add_pair(driver.machine_mut(), &l);
                    }
                }
                OutboundEvent::PairReady { local: l, .. } => {
                    info!(local = %l, remote = %self.remote, "s2s domain pair added to the stream (dialback)");
                    self.asked.remove(&l);
                    self.authenticated(driver.machine_mut(), l);
                }
                OutboundEvent::PairFailed {
                    local: l, error, ..
                } => {
                    debug!(local = %l, remote = %self.remote, %error, "piggybacking refused: a stream of its own");
                    self.asked.remove(&l);
                    let els = self.waiting.remove(&l).unwrap_or_default();
                    self.s2s.fall_back(&l, &self.remote, els);
                }
                OutboundEvent::Closed { error } => {
                    debug!(local = %self.local, remote = %self.remote, ?error, "s2s stream closed");
                }
                OutboundEvent::Failed(e) => {
                    if !self.ready {
                        return Err(Failure::from_s2s(&e));
                    }
                    debug!(local = %self.local, remote = %self.remote, error = %e, "s2s stream failed");
                }
                other => debug!(local = %self.local, remote = %self.remote, ?other, "s2s event"),
            }
        }
        Ok(())
    }

    /// `l` may send on this stream now: what waited for it goes.
    fn authenticated(&mut self, neg: &mut S2sOutbound, l: DomainPart) {
        for st in self.waiting.remove(&l).unwrap_or_default() {
            send_converted(neg, st);
        }
        self.pairs.insert(l);
    }

    /// Asks the peer to accept `l` as a further sending domain on this
    /// stream; if it cannot even be asked, the pair gets its own stream.
    fn add_pair(&mut self, neg: &mut S2sOutbound, l: &DomainPart) {
        if self.asked.contains(l) {
            return;
        }
        if neg.authenticate_additional(l.clone(), Instant::now()) {
            self.asked.insert(l.clone());
        } else {
            let els = self.waiting.remove(l).unwrap_or_default();
            self.s2s.fall_back(l, &self.remote, els);
        }
    }

    /// Stanzas from the queue: sent if their domain is authenticated here,
    /// else held (and its piggybacking asked for).
    fn queued(&mut self, driver: &mut OutDriver, first: Routed, rx: &mut mpsc::Receiver<Routed>) {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(st) = next.take() {
            let from = from_domain(&st).unwrap_or_else(|| self.local.clone());
            if self.ready && self.pairs.contains(&from) {
                send_converted(driver.machine_mut(), st);
            } else {
                self.waiting.entry(from.clone()).or_default().push_back(st);
                if self.ready && !self.asked.contains(&from) {
                    self.add_pair(driver.machine_mut(), &from);
                }
            }
            n += 1;
            if n < QUEUE_BATCH {
                next = rx.try_recv().ok();
            }
        }
    }
}
