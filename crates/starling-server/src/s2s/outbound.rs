//! Outgoing streams: one task per domain pair (or shared by several of
//! our domains through dialback piggybacking), with the stanzas that wait
//! for it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use starling_auth::negotiate::{OutboundEvent, S2sOutbound};
use starling_jid::DomainPart;
use starling_stanza::StanzaErrorCondition as Cond;
use starling_stream::{Condition, StreamError};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{Failure, READ_CHUNK, S2s, from_domain, send_converted};
use crate::routed::Routed;

impl S2s {
    pub(super) async fn outbound(
        self: Arc<Self>,
        local: DomainPart,
        remote: DomainPart,
        mut rx: mpsc::Receiver<Routed>,
    ) {
        let mut waiting: HashMap<DomainPart, VecDeque<Routed>> = HashMap::new();
        let result = self
            .run_outbound(&local, &remote, &mut rx, &mut waiting)
            .await;
        rx.close();
        // Every pair this stream carried (only our channel: a new stream
        // may already be registered for some of them).
        self.outgoing.retain(|_, s| !s.is_closed());
        let mut pending: Vec<Routed> = waiting.into_values().flatten().collect();
        while let Ok(el) = rx.try_recv() {
            pending.push(el);
        }
        let stopping = *self.stop.borrow();
        match result {
            Err(f) => {
                warn!(%local, %remote, reason = %f.text, "s2s stream failed; bouncing {} stanzas", pending.len());
                for el in pending {
                    self.bounce(el, &f);
                }
            }
            Ok(()) if !pending.is_empty() && !stopping => {
                debug!(%local, %remote, "s2s stream ended with stanzas waiting: reconnecting");
                for el in pending {
                    self.send(el);
                }
            }
            Ok(()) => {
                for el in pending {
                    self.bounce(
                        el,
                        &Failure::new(Cond::RemoteServerTimeout, "the server is stopping"),
                    );
                }
            }
        }
    }

    async fn run_outbound(
        &self,
        local: &DomainPart,
        remote: &DomainPart,
        rx: &mut mpsc::Receiver<Routed>,
        waiting: &mut HashMap<DomainPart, VecDeque<Routed>>,
    ) -> Result<(), Failure> {
        // Stanzas that arrive while we connect wait in the channel.
        let connect = self.connect(local, remote);
        let (mut io, tls) = tokio::time::timeout(self.config.connect_timeout * 2, connect)
            .await
            .map_err(|_| Failure::new(Cond::RemoteServerTimeout, "connecting took too long"))??;
        let mut neg = S2sOutbound::new(
            self.settings.clone(),
            local.clone(),
            remote.clone(),
            tls,
            Instant::now(),
        );
        let mut buf = vec![0u8; READ_CHUNK];
        let mut ready = false;
        // Our domains authenticated on this stream, and those asked for.
        let mut pairs: HashSet<DomainPart> = HashSet::new();
        let mut asked: HashSet<DomainPart> = HashSet::new();
        let mut last_activity = Instant::now();
        let mut stop = self.stop.clone();
        let mut closing = false;
        loop {
            while let Some(ev) = neg.next_event() {
                match ev {
                    OutboundEvent::StartTls => {
                        self.starttls(&mut io, &mut neg, local, remote).await?;
                    }
                    OutboundEvent::Ready { method, .. } => {
                        info!(%local, %remote, ?method, "s2s stream ready");
                        ready = true;
                        pairs.insert(local.clone());
                        for el in waiting.remove(local).unwrap_or_default() {
                            send_converted(&mut neg, el);
                        }
                        let others: Vec<DomainPart> = waiting.keys().cloned().collect();
                        for l in others {
                            self.add_pair(&mut neg, &l, remote, &mut asked, waiting);
                        }
                    }
                    OutboundEvent::PairReady { local: l, .. } => {
                        info!(local = %l, %remote, "s2s domain pair added to the stream (dialback)");
                        asked.remove(&l);
                        for el in waiting.remove(&l).unwrap_or_default() {
                            send_converted(&mut neg, el);
                        }
                        pairs.insert(l);
                    }
                    OutboundEvent::PairFailed {
                        local: l, error, ..
                    } => {
                        debug!(local = %l, %remote, %error, "piggybacking refused: a stream of its own");
                        asked.remove(&l);
                        self.fall_back(&l, remote, waiting.remove(&l).unwrap_or_default());
                    }
                    OutboundEvent::Closed { error } => {
                        debug!(%local, %remote, ?error, "s2s stream closed");
                    }
                    OutboundEvent::Failed(e) => {
                        if !ready {
                            return Err(Failure::from_s2s(&e));
                        }
                        debug!(%local, %remote, error = %e, "s2s stream failed");
                    }
                    other => debug!(%local, %remote, ?other, "s2s event"),
                }
            }
            let out = neg.take_output();
            if !out.is_empty() {
                if let Err(e) = io.write_all(&out).await {
                    if ready {
                        return Ok(());
                    }
                    return Err(Failure::new(Cond::RemoteServerNotFound, e.to_string()));
                }
            }
            if neg.is_closed() {
                io.shutdown().await;
                return if ready {
                    Ok(())
                } else {
                    Err(Failure::new(
                        Cond::RemoteServerNotFound,
                        "the stream closed during negotiation",
                    ))
                };
            }
            let deadline = match neg.poll_timeout() {
                Some(t) => t,
                None => last_activity + self.config.idle_timeout,
            };
            tokio::select! {
                r = io.read(&mut buf) => match r {
                    Ok(0) | Err(_) => neg.eof(),
                    Ok(n) => neg.feed(&buf[..n]),
                },
                m = rx.recv(), if !closing => match m {
                    Some(el) => {
                        last_activity = Instant::now();
                        let mut next = Some(el);
                        let mut n = 0;
                        while let Some(el) = next.take() {
                            let from = from_domain(&el).unwrap_or_else(|| local.clone());
                            if ready && pairs.contains(&from) {
                                send_converted(&mut neg, el);
                            } else {
                                waiting.entry(from.clone()).or_default().push_back(el);
                                if ready && !asked.contains(&from) {
                                    self.add_pair(&mut neg, &from, remote, &mut asked, waiting);
                                }
                            }
                            n += 1;
                            if n < 256 {
                                next = rx.try_recv().ok();
                            }
                        }
                    }
                    None => {
                        closing = true;
                        neg.close();
                    }
                },
                _ = stop.changed(), if !closing => {
                    closing = true;
                    neg.close_with(StreamError::new(Condition::SystemShutdown));
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    if neg.poll_timeout().is_some() {
                        neg.handle_timeout(Instant::now());
                    } else if last_activity.elapsed() >= self.config.idle_timeout {
                        debug!(%local, %remote, "closing idle s2s stream");
                        // Deregister first, so new stanzas open a new stream.
                        for l in &pairs {
                            self.outgoing.remove(&(l.clone(), remote.clone()));
                        }
                        closing = true;
                        neg.close();
                    }
                }
            }
        }
    }
}
