//! Incoming streams: TLS, SASL `EXTERNAL` or dialback, then the stanzas
//! of the authenticated domain pairs, checked like a client's and routed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use starling_auth::negotiate::{InboundEvent, S2sInbound};
use starling_jid::DomainPart;
use starling_net::{Driver, Transport, Wake};
use starling_stanza::{StanzaErrorCondition as Cond, error_reply, ns};
use starling_stream::{Condition, StreamError};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::backpressure;
use super::certs::peer_tls;
use super::{Hooks, S2s};
use crate::registry::BACKLOG;
use crate::routed::Routed;

/// The driver of an incoming stream.
type InDriver = Driver<S2sInbound<Hooks>>;

/// A dialback verification's answer: (from, to, valid or why not).
type Verdict = (DomainPart, DomainPart, Result<bool, Cond>);

/// What woke the stream up besides its socket and deadlines.
enum Other {
    Verdict(Verdict),
    Stop,
}

impl S2s {
    /// Serves one accepted s2s connection (its stanzas wait for room in
    /// full queues: see [`backpressure`]).
    pub(crate) async fn inbound(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, direct: bool) {
        let backlog = std::cell::RefCell::new(Vec::new());
        BACKLOG
            .scope(backlog, self.inbound_stream(tcp, peer, direct))
            .await;
    }

    async fn inbound_stream(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, direct: bool) {
        let _ = tcp.set_nodelay(true);
        let handshake = self.config.connect_timeout * 2;
        let (transport, tls) = if direct {
            let acceptor = tokio_rustls::TlsAcceptor::from(self.server_direct.clone());
            let accept = Transport::accept(tcp, &acceptor);
            match tokio::time::timeout(handshake, accept).await {
                Ok(Ok((t, info))) => (
                    t,
                    Some(peer_tls(&info.peer_certificates, &self.roots, None)),
                ),
                _ => {
                    debug!(%peer, "s2s direct TLS handshake failed");
                    return;
                }
            }
        } else {
            (Transport::new(tcp), None)
        };
        let neg = S2sInbound::new(
            self.settings.clone(),
            Hooks(self.server.clone()),
            tls,
            Instant::now(),
        );
        let mut driver = Driver::new(transport, neg);
        driver.set_tls_timeout(handshake);
        driver.set_idle_timeout(Some(self.config.idle_timeout));
        let (vtx, mut vrx) = mpsc::channel::<Verdict>(16);
        let mut stop = self.stop.clone();
        loop {
            if !self.inbound_events(&mut driver, peer, &vtx).await || driver.flush().await.is_err()
            {
                return;
            }
            if driver.machine().is_closed() {
                let _ = driver.shutdown().await;
                return;
            }
            let other = async {
                tokio::select! {
                    Some(v) = vrx.recv() => Other::Verdict(v),
                    _ = stop.changed() => Other::Stop,
                }
            };
            let neg = match driver.wait(other).await {
                Wake::Other(o) => (o, driver.machine_mut()),
                Wake::Idle => {
                    driver.machine_mut().close();
                    continue;
                }
                Wake::Input | Wake::Timeout | Wake::Eof(_) => continue,
            };
            match neg {
                (Other::Verdict((from, to, Ok(valid))), neg) => {
                    if !valid {
                        warn!(%peer, %from, %to, "dialback key refused by the authoritative server");
                    }
                    let _ = neg.dialback_result(&from, &to, valid);
                }
                (Other::Verdict((from, to, Err(c))), neg) => {
                    let _ = neg.dialback_error(&from, &to, c);
                }
                (Other::Stop, neg) => neg.close_with(StreamError::new(Condition::SystemShutdown)),
            }
        }
    }

    /// Handles the incoming negotiator's events; false when the
    /// connection failed.
    async fn inbound_events(
        self: &Arc<Self>,
        driver: &mut InDriver,
        peer: SocketAddr,
        vtx: &mpsc::Sender<Verdict>,
    ) -> bool {
        while let Some(ev) = driver.machine_mut().next_event() {
            match ev {
                InboundEvent::StartTls => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(self.server_starttls.clone());
                    let Ok(info) = driver.accept_tls(&acceptor).await else {
                        debug!(%peer, "s2s STARTTLS handshake failed");
                        return false;
                    };
                    let neg = driver.machine_mut();
                    let p = peer_tls(&info.peer_certificates, &self.roots, neg.peer_domain());
                    neg.tls_established(p);
                }
                InboundEvent::Authenticated { from, to, method } => {
                    info!(%peer, %from, %to, ?method, "incoming s2s stream authenticated");
                }
                InboundEvent::DialbackRequest {
                    from,
                    to,
                    key,
                    stream_id,
                } => {
                    let (me, vtx) = (self.clone(), vtx.clone());
                    tokio::spawn(async move {
                        let r = me
                            .verify_dialback(to.clone(), from.clone(), stream_id, key)
                            .await;
                        let _ = vtx.send((from, to, r)).await;
                    });
                }
                InboundEvent::VerifyAnswered {
                    from, to, valid, ..
                } => {
                    debug!(%peer, %from, %to, valid, "answered a dialback verification");
                }
                InboundEvent::Stanza(el) => {
                    self.peer_stanza(el).await;
                    if backpressure::pending() {
                        let Some(hub) = self.hub() else { continue };
                        if let Some(e) = backpressure::settle(&hub, backpressure::GRACE).await {
                            warn!(%peer, "closing an incoming s2s stream whose recipient cannot keep up");
                            driver.machine_mut().close_with(e);
                        }
                    }
                }
                InboundEvent::Closed { peer_error } => {
                    debug!(%peer, ?peer_error, "incoming s2s stream closed");
                }
                InboundEvent::Failed(e) => {
                    info!(%peer, condition = e.condition.name(), text = ?e.text, "s2s stream error sent");
                }
            }
        }
        true
    }

    /// A stanza from an authenticated peer, checked like a client's
    /// stanza. An invalid one is answered with its error, which goes back
    /// over our own stream to the peer (s2s streams carry one direction).
    async fn peer_stanza(&self, mut el: starling_xml::Element) {
        let Some(hub) = self.hub() else { return };
        el.rename_namespace(ns::SERVER, ns::CLIENT);
        match Routed::parse(el) {
            Ok(st) => hub.route(st).await,
            Err(bad) => {
                let (el, e) = *bad;
                let reply = error_reply(&el, &e.to_stanza_error(), false)
                    .and_then(|r| Routed::parse(r).ok());
                if let Some(reply) = reply {
                    hub.route(reply).await;
                }
            }
        }
    }
}
