//! Incoming streams: TLS, SASL `EXTERNAL` or dialback, then the stanzas
//! of the authenticated domain pairs, checked like a client's and routed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use starling_auth::negotiate::{InboundEvent, S2sInbound};
use starling_jid::DomainPart;
use starling_stanza::{StanzaErrorCondition as Cond, error_reply, ns};
use starling_stream::{Condition, StreamError};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::certs::{peer_tls, server_peer_chain};
use super::{Hooks, READ_CHUNK, S2s};
use crate::net::Io;
use crate::routed::Routed;

impl S2s {
    /// Serves one accepted s2s connection.
    pub(crate) async fn inbound(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr, direct: bool) {
        let _ = tcp.set_nodelay(true);
        let deadline = Instant::now() + self.config.connect_timeout * 2;
        let (mut io, tls) = if direct {
            let acceptor = tokio_rustls::TlsAcceptor::from(self.server_direct.clone());
            match tokio::time::timeout_at(deadline.into(), acceptor.accept(tcp)).await {
                Ok(Ok(s)) => {
                    let chain = server_peer_chain(&s);
                    let p = peer_tls(&chain, &self.roots, None);
                    (Io::ServerTls(Box::new(s)), Some(p))
                }
                _ => {
                    debug!(%peer, "s2s direct TLS handshake failed");
                    return;
                }
            }
        } else {
            (Io::Plain(tcp), None)
        };
        let mut neg = S2sInbound::new(
            self.settings.clone(),
            Hooks(self.server.clone()),
            tls,
            Instant::now(),
        );
        let (vtx, mut vrx) = mpsc::channel::<(DomainPart, DomainPart, Result<bool, Cond>)>(16);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut last_read = Instant::now();
        let mut stop = self.stop.clone();
        loop {
            while let Some(ev) = neg.next_event() {
                match ev {
                    InboundEvent::StartTls => {
                        let out = neg.take_output();
                        if io.write_all(&out).await.is_err() {
                            return;
                        }
                        let Some(tcp) = io.take_plain() else {
                            return;
                        };
                        let acceptor =
                            tokio_rustls::TlsAcceptor::from(self.server_starttls.clone());
                        match tokio::time::timeout_at(deadline.into(), acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => {
                                let chain = server_peer_chain(&s);
                                let p = peer_tls(&chain, &self.roots, neg.peer_domain());
                                io = Io::ServerTls(Box::new(s));
                                neg.tls_established(p);
                            }
                            _ => {
                                debug!(%peer, "s2s STARTTLS handshake failed");
                                return;
                            }
                        }
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
                                .verify_key(to.clone(), from.clone(), stream_id, key)
                                .await;
                            let _ = vtx.send((from, to, r)).await;
                        });
                    }
                    InboundEvent::VerifyAnswered {
                        from, to, valid, ..
                    } => {
                        debug!(%peer, %from, %to, valid, "answered a dialback verification");
                    }
                    InboundEvent::Stanza(el) => self.peer_stanza(el).await,
                    InboundEvent::Closed { peer_error } => {
                        debug!(%peer, ?peer_error, "incoming s2s stream closed");
                    }
                    InboundEvent::Failed(e) => {
                        info!(%peer, condition = e.condition.name(), text = ?e.text, "s2s stream error sent");
                    }
                }
            }
            let out = neg.take_output();
            if !out.is_empty() && io.write_all(&out).await.is_err() {
                return;
            }
            if neg.is_closed() {
                io.shutdown().await;
                return;
            }
            let wake_at = neg
                .poll_timeout()
                .unwrap_or(last_read + self.config.idle_timeout);
            tokio::select! {
                r = io.read(&mut buf) => match r {
                    Ok(0) | Err(_) => neg.eof(),
                    Ok(n) => {
                        last_read = Instant::now();
                        neg.feed(&buf[..n]);
                    }
                },
                Some((from, to, r)) = vrx.recv() => {
                    match r {
                        Ok(valid) => {
                            if !valid {
                                warn!(%peer, %from, %to, "dialback key refused by the authoritative server");
                            }
                            neg.dialback_result(&from, &to, valid);
                        }
                        Err(c) => {
                            neg.dialback_error(&from, &to, c);
                        }
                    }
                }
                _ = stop.changed() => neg.close_with(StreamError::new(Condition::SystemShutdown)),
                () = tokio::time::sleep_until(wake_at.into()) => {
                    if neg.poll_timeout().is_some() {
                        neg.handle_timeout(Instant::now());
                    } else if last_read.elapsed() >= self.config.idle_timeout {
                        neg.close();
                    }
                }
            }
        }
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
