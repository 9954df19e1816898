//! One client connection: a tokio task that drives the sans-IO negotiator
//! (STARTTLS, SASL, binding) and then the bound session, with the limits
//! of the configuration.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ServerEvent, ServerHooks, ServerNegotiator, ServerSettings};
use starling_auth::sasl::ChannelBinding;
use starling_auth::tls;
use starling_jid::{BareJid, DomainPart, FullJid, Jid};
use starling_stanza::{
    Stanza, StanzaError, StanzaErrorCondition as Cond, error_reply, is_stanza, ns,
};
use starling_stream::{Condition, StreamError};
use starling_xml::Element;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::ConflictPolicy;
use crate::core::{Core, SessionState};
use crate::net::Io;
use crate::registry::{BACKLOG, Held, Insert, Outbound, SessionHandle};
use crate::server::TlsSetup;

/// Read buffer size: small, so that idle sessions stay small.
const READ_CHUNK: usize = 4096;
/// Offline messages sent per batch.
const OFFLINE_BATCH: usize = 100;
/// How long a sender waits for room in a recipient's full queue before
/// the recipient is closed as a slow reader.
const SLOW_READER_GRACE: Duration = Duration::from_secs(10);

/// The negotiator's view of the server.
struct Hooks {
    core: Arc<Core>,
    id: u64,
    bound: Option<(Arc<SessionHandle>, mpsc::Receiver<Outbound>)>,
}

impl ServerHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        self.core.config.serves(domain.as_str())
    }

    fn default_domain(&self) -> Option<DomainPart> {
        self.core.config.hosts.first().map(|h| h.domain.clone())
    }

    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        let jid = match requested {
            Some(r) => user
                .with_resource_str(r)
                .map_err(|_| StanzaError::new(Cond::BadRequest))?,
            None => user
                .with_resource_str(&format!("starling-{}", &crate::random_id()[..12]))
                .map_err(|_| StanzaError::new(Cond::InternalServerError))?,
        };
        let limits = &self.core.config.limits;
        let (handle, rx) = SessionHandle::new(jid.clone(), self.id, limits.outbound_queue);
        let replace = self.core.config.c2s.resource_conflict == ConflictPolicy::Replace;
        match self
            .core
            .registry
            .insert(handle.clone(), replace, limits.max_resources_per_account)
        {
            Insert::Bound(old) => {
                if let Some(old) = old {
                    info!(jid = %jid, "resource taken over by a new session");
                    old.request_close(
                        StreamError::new(Condition::Conflict)
                            .with_text("another session bound this resource"),
                    );
                }
                self.bound = Some((handle, rx));
                Ok(jid)
            }
            Insert::Conflict => Err(StanzaError::new(Cond::Conflict)),
            Insert::TooMany => Err(StanzaError::new(Cond::ResourceConstraint)
                .with_text("too many sessions for this account")),
        }
    }
}

/// Token bucket for the per-connection read rate.
struct ReadBudget {
    tokens: f64,
    capacity: f64,
    rate: f64,
    last: Instant,
}

impl ReadBudget {
    fn new(rate: u64, capacity: usize) -> ReadBudget {
        let capacity = capacity as f64;
        ReadBudget {
            tokens: capacity,
            capacity,
            rate: rate as f64,
            last: Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.capacity);
    }

    /// How long to wait before reading again.
    fn wait(&mut self) -> Option<Duration> {
        self.refill();
        if self.tokens > 0.0 {
            None
        } else {
            Some(Duration::from_secs_f64((-self.tokens + 1.0) / self.rate))
        }
    }

    fn spend(&mut self, n: usize) {
        self.tokens -= n as f64;
    }
}

fn channel_bindings(conn: &rustls::ServerConnection, setup: &TlsSetup) -> Vec<ChannelBinding> {
    let mut out = Vec::new();
    if let Some(x) = tls::tls_exporter(conn) {
        out.push(ChannelBinding::tls_exporter(x));
    }
    if let Some(der) = setup.leaf_for(conn.server_name()) {
        if let Ok(cb) = ChannelBinding::tls_server_end_point(der, None) {
            out.push(cb);
        }
    }
    out
}

fn settings(core: &Core, setup: &TlsSetup) -> ServerSettings {
    let mut s = ServerSettings::new(setup.store.clone());
    s.tls_available = true;
    s.tls_required = core.config.c2s.require_tls;
    s.sasl = setup.sasl.clone();
    s.legacy_session = true;
    let mut limits = starling_xml::Limits::default();
    limits.max_element_bytes = core.config.limits.max_stanza_size;
    s.limits = limits;
    s.timeout = core.config.limits.negotiation_timeout;
    s.extra_features = setup.features.clone();
    s
}

/// Serves one accepted connection until it ends.
pub(crate) async fn run(
    core: Arc<Core>,
    setup: Arc<TlsSetup>,
    tcp: TcpStream,
    peer: SocketAddr,
    direct_tls: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let id = core.registry.next_id();
    let deadline = Instant::now() + core.config.limits.negotiation_timeout;
    let (mut io, initial_tls) = if direct_tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(setup.direct.clone());
        match tokio::time::timeout_at(deadline.into(), Box::pin(acceptor.accept(tcp))).await {
            Ok(Ok(s)) => {
                let cb = channel_bindings(s.get_ref().1, &setup);
                (Io::ServerTls(Box::new(s)), Some(cb))
            }
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        }
    } else {
        (Io::Plain(tcp), None)
    };
    let hooks = Hooks {
        core: core.clone(),
        id,
        bound: None,
    };
    let mut neg =
        ServerNegotiator::new(settings(&core, &setup), hooks, initial_tls, Instant::now());
    let mut conn = Conn {
        core,
        me: None,
        rx: None,
        st: SessionState::default(),
        peer,
    };
    BACKLOG
        .scope(
            std::cell::RefCell::new(Vec::new()),
            conn.drive(&mut io, &mut neg, &setup, &mut shutdown),
        )
        .await;
    conn.finish();
    io.shutdown().await;
}

struct Conn {
    core: Arc<Core>,
    me: Option<Arc<SessionHandle>>,
    rx: Option<mpsc::Receiver<Outbound>>,
    st: SessionState,
    peer: SocketAddr,
}

enum Wake {
    Read(std::io::Result<Vec<u8>>),
    Out(Option<Outbound>),
    Close,
    Shutdown,
    Timeout,
    Budget,
}

impl Conn {
    async fn drive(
        &mut self,
        io: &mut Io,
        neg: &mut ServerNegotiator<Hooks>,
        setup: &TlsSetup,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        let limits = self.core.config.limits;
        let mut budget =
            ReadBudget::new(limits.read_rate, limits.max_stanza_size.saturating_mul(2));
        let mut last_read = Instant::now();
        loop {
            // Process everything buffered, then write.
            while let Some(ev) = neg.next_event() {
                match ev {
                    ServerEvent::StartTls => {
                        let out = neg.take_output();
                        if io.write_all(&out).await.is_err() {
                            return;
                        }
                        let Io::Plain(tcp) = std::mem::replace(io, Io::Gone) else {
                            return;
                        };
                        let acceptor = tokio_rustls::TlsAcceptor::from(setup.starttls.clone());
                        let deadline = neg.poll_timeout().unwrap_or_else(Instant::now);
                        match tokio::time::timeout_at(
                            deadline.into(),
                            Box::pin(acceptor.accept(tcp)),
                        )
                        .await
                        {
                            Ok(Ok(s)) => {
                                let cb = channel_bindings(s.get_ref().1, setup);
                                *io = Io::ServerTls(Box::new(s));
                                neg.tls_established(cb, None);
                            }
                            _ => {
                                debug!(peer = %self.peer, "STARTTLS handshake failed");
                                return;
                            }
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
                        }
                    }
                    ServerEvent::Stanza(el) => {
                        self.on_stanza(neg, el);
                        if BACKLOG.with(|b| !b.borrow().is_empty())
                            && !Box::pin(self.flush_backlog(io, neg)).await
                        {
                            return;
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
            let out = neg.take_output();
            if !out.is_empty() && io.write_all(&out).await.is_err() {
                return;
            }
            if self.st.want_offline {
                self.st.want_offline = false;
                if Box::pin(self.send_offline(io, neg)).await.is_err() {
                    return;
                }
            }
            if neg.is_closed() {
                return;
            }
            // Going to sleep: keep no buffers an idle session does not need.
            neg.shrink();
            let timeout_at = match neg.poll_timeout() {
                Some(t) => t,
                None => last_read + limits.idle_timeout,
            };
            let pause = budget.wait();
            let wake = {
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
            };
            match wake {
                Wake::Read(Err(_)) => neg.eof(),
                Wake::Read(Ok(data)) if data.is_empty() => neg.eof(),
                Wake::Read(Ok(data)) => {
                    budget.spend(data.len());
                    last_read = Instant::now();
                    neg.feed(&data);
                }
                Wake::Budget => {}
                Wake::Out(Some(Outbound::Stanza(el))) => {
                    neg.send(&el);
                    // Drain what else is queued without waiting.
                    if let Some(rx) = &mut self.rx {
                        let mut n = 0;
                        while let Ok(Outbound::Stanza(el)) = rx.try_recv() {
                            neg.send(&el);
                            n += 1;
                            if n >= 256 {
                                break;
                            }
                        }
                    }
                }
                Wake::Out(None) => {}
                Wake::Close => {
                    if let Some(e) = self.me.as_ref().and_then(|h| h.take_close()) {
                        info!(peer = %self.peer, condition = e.condition.name(), "closing the session");
                        neg.close_with(e);
                    }
                }
                Wake::Shutdown => {
                    neg.close_with(
                        StreamError::new(Condition::SystemShutdown)
                            .with_text("the server is stopping"),
                    );
                }
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

    /// Waits until the stanzas this session's last stanza produced fit in
    /// their recipients' full queues (reading nothing from our client
    /// meanwhile, but still writing what is queued for it). A recipient
    /// that does not make room within [`SLOW_READER_GRACE`] is closed.
    /// False if our own connection failed.
    async fn flush_backlog(&mut self, io: &mut Io, neg: &mut ServerNegotiator<Hooks>) -> bool {
        let held: Vec<Held> = BACKLOG.with(|b| b.take());
        let mut rx = self.rx.take();
        let mut given_up: Vec<mpsc::Sender<Outbound>> = Vec::new();
        let mut ok = true;
        'each: for h in held {
            if given_up.iter().any(|g| g.same_channel(&h.tx)) {
                continue;
            }
            let deadline = tokio::time::Instant::now() + SLOW_READER_GRACE;
            loop {
                let own = async {
                    match &mut rx {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    permit = h.tx.reserve() => {
                        if let Ok(p) = permit {
                            p.send(Outbound::Stanza(Box::new(h.el)));
                        }
                        continue 'each;
                    }
                    Some(Outbound::Stanza(o)) = own => {
                        neg.send(&o);
                        let out = neg.take_output();
                        if io.write_all(&out).await.is_err() {
                            ok = false;
                            break 'each;
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        if let Some(s) = self.core.registry.get(&h.jid) {
                            if s.id == h.id {
                                s.request_close(
                                    StreamError::new(Condition::PolicyViolation)
                                        .with_text("too many stanzas waiting: the client reads too slowly"),
                                );
                            }
                        }
                        given_up.push(h.tx.clone());
                        continue 'each;
                    }
                }
            }
        }
        self.rx = rx;
        ok
    }

    /// Delivers stored messages after initial presence; each batch is
    /// deleted only once written.
    async fn send_offline(
        &mut self,
        io: &mut Io,
        neg: &mut ServerNegotiator<Hooks>,
    ) -> Result<(), ()> {
        let Some(me) = self.me.clone() else {
            return Ok(());
        };
        let bare = me.jid.bare();
        loop {
            let batch = match self.core.storage.offline_load(&bare, OFFLINE_BATCH) {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "loading offline messages failed");
                    return Ok(());
                }
            };
            let Some(last) = batch.last().map(|m| m.id) else {
                return Ok(());
            };
            for m in &batch {
                match Element::parse(m.stanza.as_bytes()) {
                    Ok(mut el) => {
                        el.set_attr("to", Some(me.jid.as_str()));
                        neg.send(&el);
                    }
                    Err(e) => warn!(error = %e, id = m.id, "unreadable offline message skipped"),
                }
            }
            let out = neg.take_output();
            io.write_all(&out).await.map_err(|_| ())?;
            if let Err(e) = self.core.storage.offline_delete(&bare, last) {
                warn!(error = %e, "deleting delivered offline messages failed");
                return Ok(());
            }
            if batch.len() < OFFLINE_BATCH {
                return Ok(());
            }
        }
    }

    fn on_stanza(&mut self, neg: &mut ServerNegotiator<Hooks>, mut el: Element) {
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
            let ok = Jid::new(f).is_ok_and(|j| {
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
        let parsed = match Stanza::from_element(&el) {
            Ok(s) => s,
            Err(e) => {
                if let Some(reply) = error_reply(&el, &e.to_stanza_error(), false) {
                    neg.send(&reply);
                }
                return;
            }
        };
        let to = parsed.header().to.clone();
        let core = self.core.clone();
        if let Stanza::Presence(_) = parsed {
            match to {
                None => core.client_broadcast(&me, &mut self.st, el),
                Some(to) => core.client_directed_presence(&me, &mut self.st, el, to),
            }
            return;
        }
        // A message or iq without `to` is for the account itself (RFC 6120
        // §10.3); the roster is answered here, on the session's stream.
        let to = to.unwrap_or_else(|| Jid::from(me.jid.bare()));
        if matches!(parsed, Stanza::Iq(_))
            && to.as_str() == me.jid.bare().as_str()
            && el.has_child("query", ns::ROSTER)
        {
            match core.roster_iq(&me, &el) {
                Ok(reply) => neg.send(&reply),
                Err(err) => {
                    if let Some(reply) = error_reply(&el, &err, false) {
                        neg.send(&reply);
                    }
                }
            }
            return;
        }
        el.set_attr("to", Some(to.as_str()));
        core.route_to(el, to);
    }

    /// The connection is over: unavailable presence and deregistration.
    fn finish(&mut self) {
        if let Some(me) = self.me.take() {
            self.core.go_unavailable(&me, &mut self.st, None);
            self.core.registry.remove(&me.jid, me.id);
            info!(peer = %self.peer, jid = %me.jid, "session ended");
        }
    }
}
