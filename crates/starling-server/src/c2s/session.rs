//! The loop of one client connection: negotiator events, SASL jobs, the
//! session's queue, close requests, shutdown, timeouts.

use std::net::SocketAddr;
use std::sync::Arc;

use starling_auth::negotiate::{SaslDone, SaslJob, ServerEvent};
use starling_jid::Jid;
use starling_net::Wake;
use starling_stanza::{SmNonza, error_reply, is_stanza, ns};
use starling_stream::{Condition, StreamError};
use starling_xml::Element;
use std::collections::VecDeque;

use starling_auth::negotiate::Machine;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::resume::Detached;
use super::sm::Sent;
use super::{C2sDriver, channel_bindings};
use crate::hub::Hub;
use crate::module::{AckAction, Extensions, FlushFuture, Session, SessionEvent, SessionIo};
use crate::queue::Inbox;
use crate::registry::{BACKLOG, SessionHandle};
use crate::routed::Routed;
use crate::server::TlsSetup;
use crate::storage::StorageError;

/// Stanzas written from the queue before looking at the socket again.
const QUEUE_BATCH: usize = 256;

/// Bytes of output after which a batch from the queue stops: what sits in
/// the output, outside the queue's byte budget, stays small.
const BATCH_BYTES: usize = 64 * 1024;

/// One client connection's state.
pub(super) struct Conn {
    pub(super) hub: Arc<Hub>,
    pub(super) me: Option<Arc<SessionHandle>>,
    pub(super) rx: Option<Inbox>,
    /// Stanzas from the queue handed to the machine and perhaps not yet
    /// written, with the output position just after each: those the
    /// connection did not take are routed again when it ends.
    pub(super) unwritten: VecDeque<(u64, Arc<Routed>)>,
    pub(super) ext: Extensions,
    /// The SASL step running on a blocking thread.
    pub(super) sasl: Option<SaslStep>,
    pub(super) peer: SocketAddr,
    /// Login throttling and the unauthenticated count.
    pub(super) login: super::login::Login,
    /// Server-initiated pings of a bound session (XEP-0199 §4.2).
    pub(super) keepalive: Option<crate::modules::ping::KeepAlive>,
    /// Where requests for this session's state arrive, while it may be
    /// resumed (XEP-0198).
    pub(super) takeover_rx: Option<super::resume::Listed>,
    /// A resuming connection asked for the state: handed over once the old
    /// connection is closed.
    pub(super) handover: Option<super::resume::HandoverRequest>,
    /// Taken from the queue while detached, not yet sent.
    pub(super) pending: VecDeque<Arc<Routed>>,
    /// The presence withdrawn when the connection broke (to broadcast
    /// again on resumption).
    pub(super) withdrawn: Option<Routed>,
    /// The server ended the stream on purpose (policy, conflict,
    /// shutdown): the session is not kept for resumption.
    pub(super) final_close: bool,
}

/// A SASL step on the hub's blocking executor, kept across waits.
pub(super) type SaslStep = tokio::task::JoinHandle<Result<SaslDone, StorageError>>;

/// What woke the connection up besides its socket and deadlines.
enum Other {
    Shutdown,
    Close,
    Out(Option<Arc<Routed>>),
    Sasl(Box<Result<Result<SaslDone, StorageError>, tokio::task::JoinError>>),
    /// A held SASL answer is due.
    Released,
    /// A resuming connection asks for this session's state.
    Takeover(super::resume::HandoverRequest),
    /// An acknowledgement request is due (XEP-0198).
    SmTimer,
}

/// Writes a stanza from the queue (counted by stream management), and
/// without stream management remembers it until the connection has taken
/// it.
fn write_one(
    driver: &mut C2sDriver,
    unwritten: &mut VecDeque<(u64, Arc<Routed>)>,
    st: Arc<Routed>,
) {
    Conn::emit_routed(driver, &st);
    if driver.machine().hooks().sm.is_none() {
        unwritten.push_back((driver.produced(), st));
    }
}

/// The session's own stream, for modules.
impl SessionIo for C2sDriver {
    fn send(&mut self, el: &Element) {
        super::managed::emit(self, el, || Sent::Element(el.clone()));
    }

    fn send_stored(&mut self, el: &Element) {
        super::managed::emit(self, el, || Sent::Stored(el.clone()));
    }

    fn after_ack(&mut self, action: AckAction) -> Option<AckAction> {
        match self.machine_mut().hooks_mut().sm.as_mut() {
            Some(sm) => sm.after_ack(action),
            None => Some(action),
        }
    }

    fn flush(&mut self) -> FlushFuture<'_> {
        Box::pin(C2sDriver::flush(self))
    }
}

impl Conn {
    /// Runs the connection until it ends.
    pub(super) async fn drive(
        &mut self,
        driver: &mut C2sDriver,
        setup: &TlsSetup,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        loop {
            if !self.events(driver, setup).await {
                return;
            }
            Self::sm_tick(driver);
            let ka_at = self.keepalive_tick(driver);
            if driver.flush().await.is_err() {
                return;
            }
            if !self.unwritten.is_empty() {
                self.release_written(driver);
            }
            if driver.machine().is_closed() {
                return;
            }
            if let Some(job) = driver.machine_mut().take_sasl_job() {
                if self.start_sasl(driver, job) {
                    // Answered at once: its events come first.
                    continue;
                }
            }
            let sm_at = [Self::sm_deadline(driver), ka_at]
                .into_iter()
                .flatten()
                .min();
            let wake = driver.wait(self.other(shutdown, sm_at)).await;
            let neg = driver.machine_mut();
            match wake {
                Wake::Input => {
                    if let Some(ka) = self.keepalive.as_mut() {
                        ka.on_input(std::time::Instant::now());
                    }
                }
                Wake::Timeout => {}
                Wake::Eof(_) => {}
                Wake::Idle => neg.close_with(
                    StreamError::new(Condition::ConnectionTimeout).with_text("idle for too long"),
                ),
                Wake::Other(Other::Out(Some(st))) => {
                    self.write_queued(driver, st);
                }
                Wake::Other(Other::Out(None)) => {}
                Wake::Other(Other::Sasl(r)) => {
                    let step = r.map_err(|e| e.to_string());
                    match step.and_then(|s| s.map_err(|e| e.to_string())) {
                        Ok(done) => {
                            if let Some(done) = self.login.settle(done) {
                                neg.sasl_done(done);
                            }
                        }
                        Err(e) => {
                            warn!(peer = %self.peer, error = %e, "a SASL step failed");
                            neg.close_with(StreamError::new(Condition::InternalServerError));
                        }
                    }
                }
                Wake::Other(Other::Released) => {
                    if let Some(done) = self.login.release() {
                        neg.sasl_done(done);
                    }
                }
                Wake::Other(Other::Close) => {
                    if let Some(e) = self.me.as_ref().and_then(|h| h.take_close()) {
                        info!(peer = %self.peer, condition = e.condition.name(), "closing the session");
                        self.final_close = true;
                        neg.close_with(e);
                    }
                }
                Wake::Other(Other::Shutdown) => {
                    self.final_close = true;
                    neg.close_with(
                        StreamError::new(Condition::SystemShutdown)
                            .with_text("the server is stopping"),
                    );
                }
                Wake::Other(Other::Takeover(req)) => self.handover_requested(driver, req),
                Wake::Other(Other::SmTimer) => {}
            }
        }
    }

    /// Runs a SASL job, unless the login throttle refuses it: a light
    /// one inline (true: its answer is in, or held), the others on the
    /// hub's blocking executor.
    fn start_sasl(&mut self, driver: &mut C2sDriver, job: SaslJob) -> bool {
        let Some(job) = self.login.admit(job) else {
            return false;
        };
        if job.is_light() {
            if let Some(done) = self.login.settle(job.run()) {
                driver.machine_mut().sasl_done(done);
            }
            return true;
        }
        let exec = self.hub.blocking().clone();
        self.sasl = Some(tokio::spawn(async move {
            exec.run(move || Ok(job.run())).await
        }));
        false
    }

    /// The connection's own reasons to wake: shutdown first, then a close
    /// request, a finished SASL step, a held SASL answer that is due, a
    /// queued stanza.
    async fn other(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        sm_at: Option<std::time::Instant>,
    ) -> Other {
        let held = self.login.held_until();
        let released = async {
            match held {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let close = async {
            match &self.me {
                Some(h) => h.close_notify.notified().await,
                None => std::future::pending().await,
            }
        };
        let sasl = async {
            match &mut self.sasl {
                Some(job) => {
                    let r = job.await;
                    self.sasl = None;
                    r
                }
                None => std::future::pending().await,
            }
        };
        let out = async {
            match &mut self.rx {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let takeover = async {
            match &mut self.takeover_rx {
                Some(l) => match l.recv().await {
                    Some(req) => req,
                    None => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        let sm_timer = async {
            match sm_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.changed() => Other::Shutdown,
            () = close => Other::Close,
            req = takeover => Other::Takeover(req),
            () = sm_timer => Other::SmTimer,
            r = sasl => Other::Sasl(Box::new(r)),
            () = released => Other::Released,
            m = out => Other::Out(m),
        }
    }

    /// Handles everything the negotiator has to say; false when the
    /// connection failed.
    async fn events(&mut self, driver: &mut C2sDriver, setup: &TlsSetup) -> bool {
        while let Some(ev) = driver.machine_mut().next_event() {
            match ev {
                ServerEvent::StartTls => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(setup.starttls.clone());
                    // Boxed: a rare, large future kept out of every idle session.
                    match Box::pin(driver.accept_tls(&acceptor)).await {
                        Ok(info) => {
                            let cb = channel_bindings(&info, setup);
                            driver.machine_mut().tls_established(cb, None);
                        }
                        Err(e) => {
                            debug!(peer = %self.peer, error = %e, "STARTTLS handshake failed");
                            return false;
                        }
                    }
                }
                ServerEvent::Authenticated(a) => {
                    self.login.authenticated();
                    debug!(peer = %self.peer, jid = %a.jid, mechanism = ?a.mechanism, "authenticated");
                }
                ServerEvent::Bound(jid) => {
                    if let Some((h, rx)) = driver.machine_mut().hooks_mut().bound.take() {
                        info!(peer = %self.peer, %jid, "session bound");
                        self.me = Some(h);
                        self.rx = Some(rx);
                        self.start_keepalive();
                        self.session_event(driver, SessionEvent::Bound).await;
                    }
                }
                ServerEvent::Stanza(el) => {
                    // Boxed: routing is a large future that an idle
                    // session should not carry.
                    Box::pin(self.on_stanza(driver, el)).await;
                    if BACKLOG.with(|b| !b.borrow().is_empty())
                        && !Box::pin(self.flush_backlog(driver)).await
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
                    // A connection timed out may be a broken one: the
                    // session may still be resumed. Other errors end it.
                    if e.condition != Condition::ConnectionTimeout {
                        self.final_close = true;
                    }
                    info!(peer = %self.peer, condition = e.condition.name(), text = ?e.text, "stream error sent");
                }
                ServerEvent::Resume { user, request } => {
                    Box::pin(self.resume(driver, user, request)).await;
                }
            }
        }
        true
    }

    /// Writes a queued stanza and what else is queued (up to a batch, in
    /// count and in bytes).
    fn write_queued(&mut self, driver: &mut C2sDriver, first: Arc<Routed>) {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(st) = next.take() {
            self.send_queued(driver, st);
            n += 1;
            if n < QUEUE_BATCH && driver.machine().output_len() < BATCH_BYTES {
                next = self.rx.as_mut().and_then(Inbox::try_recv);
            }
        }
    }

    /// Hands a stanza from the queue to the machine, if the filters let it
    /// through, and remembers it until the connection has taken it.
    pub(super) fn send_queued(&mut self, driver: &mut C2sDriver, st: Arc<Routed>) {
        self.release_written(driver);
        let Some(me) = &self.me else {
            write_one(driver, &mut self.unwritten, st);
            return;
        };
        // The filters may drop it, replace it, hold it back (XEP-0352), or
        // let what they held go first.
        let unwritten = &mut self.unwritten;
        self.hub
            .modules()
            .admit(me, &mut self.ext, st, |st| write_one(driver, unwritten, st));
    }

    /// Forgets the stanzas the connection has taken (releasing their
    /// journal rows).
    pub(super) fn release_written(&mut self, driver: &C2sDriver) {
        let written = driver.written();
        let mut rows = Vec::new();
        while let Some((end, st)) = self.unwritten.front() {
            if *end > written {
                break;
            }
            if let crate::routed::Journal::Row(id) = st.journal() {
                rows.push(id);
            }
            self.unwritten.pop_front();
        }
        self.hub.release_journal(rows);
    }

    /// Writes what the modules held back for the session (a nonza such as
    /// XEP-0352 `<active/>` may have ended the holding).
    fn release_held(&mut self, driver: &mut C2sDriver) {
        let unwritten = &mut self.unwritten;
        self.hub
            .modules()
            .release(&mut self.ext, |st| write_one(driver, unwritten, st));
    }

    async fn session_event(&mut self, driver: &mut C2sDriver, event: SessionEvent) {
        let Some(me) = self.me.clone() else { return };
        let hub = self.hub.clone();
        let mut s = Session::new(&me, &mut self.ext, driver);
        hub.modules().session_event(&hub, &mut s, event).await;
    }

    /// A top-level element from the bound client: checked, `from`
    /// stamped, parsed once, and handed to the hub.
    async fn on_stanza(&mut self, driver: &mut C2sDriver, el: Element) {
        let Some(me) = self.me.clone() else {
            return;
        };
        if SmNonza::is_sm(&el) {
            self.on_sm(driver, &el);
            return;
        }
        if !is_stanza(&el) || el.ns() != ns::CLIENT {
            let hub = self.hub.clone();
            let mut s = Session::new(&me, &mut self.ext, driver);
            if hub.modules().nonza(&hub, &mut s, &el).await {
                self.release_held(driver);
                return;
            }
            self.final_close = true;
            driver.machine_mut().close_with(
                StreamError::new(Condition::UnsupportedStanzaType)
                    .with_text(format!("<{}/> is not a stanza", el.name())),
            );
            return;
        }
        Self::count_handled(driver);
        let neg = driver.machine_mut();
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
                self.final_close = true;
                neg.close_with(
                    StreamError::new(Condition::InvalidFrom)
                        .with_text("the from address does not match the session"),
                );
                return;
            }
        }
        let st = match Routed::parse_from(el, &Jid::from(me.jid.clone())) {
            Ok(mut st) => {
                // The client is told this was handled (XEP-0198): a
                // message is journaled until its local recipient has it.
                if driver.machine().hooks().sm.is_some()
                    && matches!(st.kind(), starling_stanza::StanzaKind::Message(_))
                {
                    st.set_journal(crate::routed::Journal::Wanted);
                }
                st
            }
            Err(bad) => {
                let (el, e) = *bad;
                if let Some(reply) = error_reply(&el, &e.to_stanza_error(), false) {
                    super::managed::emit(driver, &reply, || Sent::Element(reply.clone()));
                }
                return;
            }
        };
        if self.takes_pong(&st) {
            return;
        }
        let hub = self.hub.clone();
        let mut s = Session::new(&me, &mut self.ext, driver);
        hub.client_stanza(&mut s, st).await;
    }

    /// The connection is over. A session asked for by a resuming
    /// connection is handed over; one that may be resumed waits for that,
    /// detached; otherwise it ends.
    pub(super) async fn finish(
        &mut self,
        driver: &mut C2sDriver,
        shutdown: &mut watch::Receiver<bool>,
    ) {
        if let Some(req) = self.handover.take() {
            self.hand_over(driver, req);
            return;
        }
        if self.resumable(driver) {
            if let Detached::HandedOver = self.detached(driver, shutdown).await {
                return;
            }
        }
        self.end_session(driver).await;
    }

    /// The session ends: it stops receiving, the modules hear of it
    /// (unavailable presence), it is deregistered, and the stanzas it did
    /// not write, or that the client never acknowledged, are routed again
    /// as if it had never been there (RFC 6121 §8.5: a message goes to
    /// another resource or to offline storage, an iq request is answered
    /// with an error, presence is dropped).
    pub(super) async fn end_session(&mut self, driver: &mut C2sDriver) {
        let Some(me) = self.me.clone() else {
            return;
        };
        if let Some(listed) = self.takeover_rx.take() {
            self.hub.sessions().resumptions.remove(&listed);
        }
        me.stop_receiving();
        self.session_event(driver, SessionEvent::Closed).await;
        self.hub.sessions().remove(&me.jid, me.id);
        self.me = None;
        self.release_written(driver);
        let written = driver.written();
        let mut left: Vec<Arc<Routed>> = std::mem::take(&mut self.unwritten)
            .into_iter()
            .filter(|(end, _)| *end > written)
            .map(|(_, st)| st)
            .collect();
        if let Some(mut sm) = driver.machine_mut().hooks_mut().sm.take() {
            left.extend(sm.end().into_iter().filter_map(Sent::into_reroute));
        }
        left.extend(self.pending.drain(..));
        if let Some(rx) = self.rx.as_mut() {
            left.extend(rx.close());
        }
        if !left.is_empty() {
            info!(peer = %self.peer, jid = %me.jid, stanzas = left.len(), "routing again what the session did not write or have acknowledged");
        }
        for st in left {
            self.hub.route(Arc::unwrap_or_clone(st)).await;
        }
        // What did not fit in full queues waits for room, as from any
        // sender (a healthy resource is not closed for it).
        if BACKLOG.with(|b| !b.borrow().is_empty()) {
            Box::pin(self.flush_backlog(driver)).await;
        }
        info!(peer = %self.peer, jid = %me.jid, "session ended");
    }
}
