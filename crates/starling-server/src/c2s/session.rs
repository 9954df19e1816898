//! The loop of one client connection: negotiator events, the session's
//! queue, close requests, shutdown, timeouts and the read budget.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use starling_auth::negotiate::{ServerEvent, ServerNegotiator};
use starling_jid::Jid;
use starling_stanza::{error_reply, is_stanza, ns};
use starling_stream::{Condition, StreamError};
use starling_xml::Element;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::budget::ReadBudget;
use super::{Hooks, channel_bindings};
use crate::hub::Hub;
use crate::module::FlushFuture;
use crate::module::{Extensions, Filter, Session, SessionEvent, SessionIo, SessionView};
use crate::net::Io;
use crate::registry::{BACKLOG, Outbound, SessionHandle};
use crate::routed::Routed;
use crate::server::TlsSetup;

/// Read buffer size: small, so that idle sessions stay small.
const READ_CHUNK: usize = 4096;

/// Stanzas written from the queue before looking at the socket again.
const QUEUE_BATCH: usize = 256;

/// One client connection's state.
pub(super) struct Conn {
    pub(super) hub: Arc<Hub>,
    pub(super) me: Option<Arc<SessionHandle>>,
    pub(super) rx: Option<mpsc::Receiver<Outbound>>,
    pub(super) ext: Extensions,
    pub(super) peer: SocketAddr,
}

/// What woke the connection up.
enum Wake {
    Read(std::io::Result<Vec<u8>>),
    Out(Option<Outbound>),
    Close,
    Shutdown,
    Timeout,
    Budget,
}

/// The session's own stream, for modules.
pub(super) struct Stream<'a> {
    pub(super) io: &'a mut Io,
    pub(super) neg: &'a mut ServerNegotiator<Hooks>,
}

impl SessionIo for Stream<'_> {
    fn send(&mut self, el: &Element) {
        self.neg.send(el);
    }

    fn flush(&mut self) -> FlushFuture<'_> {
        Box::pin(async move {
            let out = self.neg.take_output();
            if out.is_empty() {
                return Ok(());
            }
            self.io.write_all(&out).await
        })
    }
}

impl Conn {
    /// Runs the connection until it ends.
    pub(super) async fn drive(
        &mut self,
        io: &mut Io,
        neg: &mut ServerNegotiator<Hooks>,
        setup: &TlsSetup,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let limits = self.hub.config().limits;
        let mut budget =
            ReadBudget::new(limits.read_rate, limits.max_stanza_size.saturating_mul(2));
        let mut last_read = Instant::now();
        loop {
            if !self.events(io, neg, setup).await {
                return;
            }
            let out = neg.take_output();
            if !out.is_empty() && io.write_all(&out).await.is_err() {
                return;
            }
            if neg.is_closed() {
                return;
            }
            // Going to sleep: keep no buffers an idle session does not need.
            neg.shrink();
            let timeout_at = neg
                .poll_timeout()
                .unwrap_or(last_read + limits.idle_timeout);
            let pause = budget.wait();
            match self.wait(io, shutdown, pause, timeout_at).await {
                Wake::Read(Err(_)) => neg.eof(),
                Wake::Read(Ok(data)) if data.is_empty() => neg.eof(),
                Wake::Read(Ok(data)) => {
                    budget.spend(data.len());
                    last_read = Instant::now();
                    neg.feed(&data);
                }
                Wake::Budget | Wake::Out(None) => {}
                Wake::Out(Some(Outbound::Stanza(st))) => self.write_queued(neg, st),
                Wake::Close => {
                    if let Some(e) = self.me.as_ref().and_then(|h| h.take_close()) {
                        info!(peer = %self.peer, condition = e.condition.name(), "closing the session");
                        neg.close_with(e);
                    }
                }
                Wake::Shutdown => neg.close_with(
                    StreamError::new(Condition::SystemShutdown).with_text("the server is stopping"),
                ),
                Wake::Timeout => {
                    if neg.poll_timeout().is_some() {
                        neg.handle_timeout(Instant::now());
                    } else if last_read.elapsed() >= limits.idle_timeout {
                        neg.close_with(
                            StreamError::new(Condition::ConnectionTimeout)
                                .with_text("idle for too long"),
                        );
                    }
                }
            }
        }
    }

    /// Handles everything the negotiator has to say; false when the
    /// connection failed.
    async fn events(
        &mut self,
        io: &mut Io,
        neg: &mut ServerNegotiator<Hooks>,
        setup: &TlsSetup,
    ) -> bool {
        while let Some(ev) = neg.next_event() {
            match ev {
                ServerEvent::StartTls => {
                    if !self.starttls(io, neg, setup).await {
                        return false;
                    }
                }
                ServerEvent::Authenticated(a) => {
                    debug!(peer = %self.peer, jid = %a.jid, mechanism = ?a.mechanism, "authenticated");
                }
                ServerEvent::Bound(jid) => {
                    if let Some((h, rx)) = neg.hooks_mut().bound.take() {
                        info!(peer = %self.peer, %jid, "session bound");
                        self.me = Some(h);
                        self.rx = Some(rx);
                        self.session_event(io, neg, SessionEvent::Bound).await;
                    }
                }
                ServerEvent::Stanza(el) => {
                    self.on_stanza(io, neg, el).await;
                    if BACKLOG.with(|b| !b.borrow().is_empty())
                        && !Box::pin(self.flush_backlog(io, neg)).await
                    {
                        return false;
                    }
                }
                ServerEvent::Closed { peer_error } => {
                    if let Some(e) = peer_error {
                        debug!(peer = %self.peer, condition = e.condition.name(), "peer sent a stream error");
                    }
                }
                ServerEvent::Failed(e) => {
                    info!(peer = %self.peer, condition = e.condition.name(), text = ?e.text, "stream error sent");
                }
            }
        }
        true
    }

    async fn starttls(
        &mut self,
        io: &mut Io,
        neg: &mut ServerNegotiator<Hooks>,
        setup: &TlsSetup,
    ) -> bool {
        let out = neg.take_output();
        if io.write_all(&out).await.is_err() {
            return false;
        }
        let Some(tcp) = io.take_plain() else {
            return false;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(setup.starttls.clone());
        let deadline = neg.poll_timeout().unwrap_or_else(Instant::now);
        let accepted =
            tokio::time::timeout_at(deadline.into(), Box::pin(acceptor.accept(tcp))).await;
        match accepted {
            Ok(Ok(s)) => {
                let cb = channel_bindings(s.get_ref().1, setup);
                *io = Io::ServerTls(Box::new(s));
                neg.tls_established(cb, None);
                true
            }
            _ => {
                debug!(peer = %self.peer, "STARTTLS handshake failed");
                false
            }
        }
    }

    async fn wait(
        &mut self,
        io: &mut Io,
        shutdown: &mut watch::Receiver<bool>,
        pause: Option<std::time::Duration>,
        timeout_at: Instant,
    ) -> Wake {
        let close = async {
            match &self.me {
                Some(h) => h.close_notify.notified().await,
                None => std::future::pending().await,
            }
        };
        let out = async {
            match &mut self.rx {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let read = async {
            match pause {
                Some(d) => {
                    tokio::time::sleep(d).await;
                    Wake::Budget
                }
                None => Wake::Read(io.read_chunk(READ_CHUNK).await),
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.changed() => Wake::Shutdown,
            () = close => Wake::Close,
            m = out => Wake::Out(m),
            w = read => w,
            () = tokio::time::sleep_until(timeout_at.into()) => Wake::Timeout,
        }
    }

    /// Writes a queued stanza and what else is queued, through the
    /// modules' delivery filters.
    fn write_queued(&mut self, neg: &mut ServerNegotiator<Hooks>, first: Arc<Routed>) {
        let (Some(me), Some(rx)) = (&self.me, &mut self.rx) else {
            return;
        };
        let modules = self.hub.modules();
        let view = SessionView {
            handle: me,
            ext: &self.ext,
        };
        let mut next = Some(first);
        let mut n = 0;
        while let Some(st) = next.take() {
            if let Filter::Deliver = modules.filter(&view, &st) {
                neg.send(st.element());
            }
            n += 1;
            if n < QUEUE_BATCH {
                if let Ok(Outbound::Stanza(st)) = rx.try_recv() {
                    next = Some(st);
                }
            }
        }
    }

    async fn session_event(
        &mut self,
        io: &mut Io,
        neg: &mut ServerNegotiator<Hooks>,
        event: SessionEvent,
    ) {
        let Some(me) = self.me.clone() else { return };
        let hub = self.hub.clone();
        let mut stream = Stream { io, neg };
        let mut s = Session::new(&me, &mut self.ext, &mut stream);
        hub.modules().session_event(&hub, &mut s, event).await;
    }

    /// A top-level element from the bound client: checked, `from`
    /// stamped, parsed once, and handed to the hub.
    async fn on_stanza(&mut self, io: &mut Io, neg: &mut ServerNegotiator<Hooks>, mut el: Element) {
        let Some(me) = self.me.clone() else {
            return;
        };
        if !is_stanza(&el) || el.ns() != ns::CLIENT {
            neg.close_with(
                StreamError::new(Condition::UnsupportedStanzaType)
                    .with_text(format!("<{}/> is not a stanza", el.name())),
            );
            return;
        }
        // RFC 6120 §8.1.2.1: the server stamps the full JID.
        if let Some(f) = el.attr("from") {
            // The usual forms compare as strings; only others are parsed.
            let ok = f == me.jid.as_str()
                || f == me.jid.bare().as_str()
                || Jid::new(f).is_ok_and(|j| {
                    j.as_str() == me.jid.as_str() || (j.is_bare() && j.bare() == me.jid.bare())
                });
            if !ok {
                warn!(peer = %self.peer, jid = %me.jid, from = f, "forged from address");
                neg.close_with(
                    StreamError::new(Condition::InvalidFrom)
                        .with_text("the from address does not match the session"),
                );
                return;
            }
        }
        el.set_attr("from", Some(me.jid.as_str()));
        let st = match Routed::parse(el) {
            Ok(st) => st,
            Err(bad) => {
                let (el, e) = *bad;
                if let Some(reply) = error_reply(&el, &e.to_stanza_error(), false) {
                    neg.send(&reply);
                }
                return;
            }
        };
        let hub = self.hub.clone();
        let mut stream = Stream { io, neg };
        let mut s = Session::new(&me, &mut self.ext, &mut stream);
        hub.client_stanza(&mut s, st).await;
    }

    /// The connection is over: the modules hear of it (unavailable
    /// presence), then the session is deregistered.
    pub(super) async fn finish(&mut self, io: &mut Io, neg: &mut ServerNegotiator<Hooks>) {
        if self.me.is_none() {
            return;
        }
        self.session_event(io, neg, SessionEvent::Closed).await;
        if let Some(me) = self.me.take() {
            self.hub.sessions().remove(&me.jid, me.id);
            info!(peer = %self.peer, jid = %me.jid, "session ended");
        }
    }
}
