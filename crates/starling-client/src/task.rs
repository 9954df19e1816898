//! The session task: owns the connection, drives the negotiator, counts
//! stanzas for stream management (reconnection is in `reconnect`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ClientEvent, ClientNegotiator, NegotiationError};
use starling_jid::{FullJid, Jid};
use starling_net::{Driver, Wake};
use starling_stanza::{CsiState, Iq, Ping, SmNonza};
use starling_stream::{Condition, StreamError};
use starling_xml::Element;
use tokio::sync::{mpsc, oneshot};

use crate::builder::ClientBuilder;
use crate::client::{Command, Event};
use crate::connection::Session;
use crate::error::Error;
use crate::sm::{self, Sm, SmError, SmStatus};

/// At most this many stanzas wait for a connection while reconnecting;
/// later ones are dropped.
pub(crate) const OUTBOX_LIMIT: usize = 1024;

/// What the handles can read of the task's state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) jid: FullJid,
    pub(crate) sm: SmStatus,
}

pub(crate) struct Pending {
    pub(crate) to: Option<Jid>,
    pub(crate) reply: oneshot::Sender<Iq>,
}

pub(crate) struct Task {
    pub(crate) builder: ClientBuilder,
    pub(crate) jid: FullJid,
    pub(crate) pending: HashMap<String, Pending>,
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) shared: Arc<Mutex<Shared>>,
    pub(crate) sm: Sm,
    /// The features offered after authentication on the current stream:
    /// (stream management, client state indication).
    pub(crate) offered: (bool, bool),
    /// The last CSI state the application set: restored on a new session.
    pub(crate) csi: Option<CsiState>,
    /// Stanzas sent while there was no connection.
    pub(crate) outbox: Vec<Element>,
}

/// What woke the session task, besides the connection.
enum Tick {
    Command(Option<Command>),
    Keepalive,
    Ping,
    SmTimer,
    CloseDeadline,
}

/// The state of a session's loop.
#[derive(Default)]
struct Loop {
    /// Our keepalive ping and when it went out.
    ping_sent: Option<(String, Instant)>,
    /// We closed the stream (and may have to acknowledge it).
    closing: Option<Option<oneshot::Sender<()>>>,
    /// When to stop waiting for the server's close.
    close_deadline: Option<tokio::time::Instant>,
}

pub(crate) enum End {
    /// The user asked for it (or dropped the client).
    Requested(Option<oneshot::Sender<()>>),
    /// The server or the network ended it.
    Lost(Option<StreamError>),
}

impl Task {
    pub(crate) fn new(
        builder: ClientBuilder,
        jid: FullJid,
        events: mpsc::Sender<Event>,
        commands: mpsc::Receiver<Command>,
        shared: Arc<Mutex<Shared>>,
    ) -> Self {
        Task {
            sm: Sm::new(builder.ack_policy),
            builder,
            jid,
            pending: HashMap::new(),
            events,
            commands,
            shared,
            offered: (false, false),
            csi: None,
            outbox: Vec::new(),
        }
    }

    /// Writes an element, counting stanzas for stream management.
    pub(crate) fn out(&mut self, neg: &mut ClientNegotiator, el: Element) {
        neg.send(&el);
        if sm::is_stanza(&el) {
            if let Some(r) = self.sm.on_sent(el, Instant::now()) {
                neg.send(&r);
            }
        }
    }

    /// Gives up the stream-management session: what it had not seen
    /// acknowledged goes out first on the next new session.
    pub(crate) fn abandon_stream(&mut self) {
        let mut rest = self.sm.on_lost(None);
        rest.append(&mut self.outbox);
        self.outbox = rest;
    }

    pub(crate) fn publish(&self) {
        if let Ok(mut s) = self.shared.lock() {
            s.jid = self.jid.clone();
            s.sm = self.sm.status();
        }
    }

    pub(crate) async fn session(&mut self, s: &mut Session) -> End {
        let driver = &mut s.driver;
        let mut keepalive = tokio::time::interval(self.builder.keepalive);
        keepalive.tick().await;
        let ping_every = self
            .builder
            .ping_interval
            .unwrap_or(Duration::from_secs(3600 * 24 * 365));
        let mut ping_timer = tokio::time::interval(ping_every);
        ping_timer.tick().await;
        let mut st = Loop::default();
        loop {
            if let Some(end) = self.drain(driver, &mut st).await {
                return end;
            }
            self.publish();
            if driver.flush().await.is_err() {
                return st.closing.map_or(End::Lost(None), End::Requested);
            }
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            let deadline = st.close_deadline.unwrap_or(far);
            let closing = st.close_deadline.is_some();
            let sm_at = self
                .sm
                .poll_timeout()
                .map_or(far, tokio::time::Instant::from_std);
            let commands = &mut self.commands;
            let pinging = self.builder.ping_interval.is_some();
            let tick = async {
                tokio::select! {
                    cmd = commands.recv(), if !closing => Tick::Command(cmd),
                    _ = keepalive.tick() => Tick::Keepalive,
                    _ = ping_timer.tick(), if pinging => Tick::Ping,
                    () = tokio::time::sleep_until(sm_at) => Tick::SmTimer,
                    () = tokio::time::sleep_until(deadline), if closing => Tick::CloseDeadline,
                }
            };
            // Input and end of file come back as events.
            if let Wake::Other(tick) = driver.wait(tick).await {
                if let Some(end) = self.on_tick(driver.machine_mut(), tick, &mut st) {
                    return end;
                }
            }
        }
    }

    /// Acts on the negotiator's events; the end of the session if the
    /// stream is over.
    async fn drain(&mut self, driver: &mut Driver<ClientNegotiator>, st: &mut Loop) -> Option<End> {
        while let Some(ev) = driver.machine_mut().next_event() {
            let error = match ev {
                ClientEvent::Stanza(el) if SmNonza::is_sm(&el) => {
                    if let Err(e) = self.on_sm(driver.machine_mut(), &el) {
                        let _ = driver.flush().await;
                        let _ = driver.shutdown().await;
                        return Some(End::Lost(Some(e)));
                    }
                    continue;
                }
                ClientEvent::Stanza(el) => {
                    if sm::is_stanza(&el) {
                        self.sm.on_received();
                    }
                    if let Some((id, _)) = &st.ping_sent {
                        if el.attr("id") == Some(id.as_str()) {
                            st.ping_sent = None;
                            continue;
                        }
                    }
                    self.incoming(driver.machine_mut(), el).await;
                    continue;
                }
                ClientEvent::Closed { error } => error,
                ClientEvent::Failed(
                    NegotiationError::StreamError(e) | NegotiationError::Protocol(e),
                ) => Some(e),
                ClientEvent::Failed(_) => None,
                _ => continue,
            };
            let _ = driver.shutdown().await;
            return Some(match st.closing.take() {
                Some(ack) => End::Requested(ack),
                None => End::Lost(error),
            });
        }
        None
    }

    /// A stream management nonza; the stream error we ended the stream
    /// with, if it broke the protocol.
    fn on_sm(&mut self, neg: &mut ClientNegotiator, el: &Element) -> Result<(), StreamError> {
        let Ok(nonza) = SmNonza::from_element(el) else {
            return Ok(());
        };
        match self.sm.on_nonza(nonza) {
            Ok(Some(answer)) => neg.send(&answer),
            Ok(None) => {}
            Err(SmError::HandledCountTooHigh(e)) => {
                let err = too_high(e);
                neg.stream_error(&err);
                // Counts are broken: no resumption; resend on a new stream.
                self.abandon_stream();
                return Err(err);
            }
        }
        Ok(())
    }

    /// Acts on a command or a timer; the end of the session if it is over.
    fn on_tick(&mut self, neg: &mut ClientNegotiator, tick: Tick, st: &mut Loop) -> Option<End> {
        match tick {
            Tick::Command(Some(Command::Send(el))) => self.out(neg, el),
            Tick::Command(Some(Command::Request { iq, id, to, reply })) => {
                self.pending.retain(|_, p| !p.reply.is_closed());
                self.pending.insert(id, Pending { to, reply });
                self.out(neg, iq);
            }
            Tick::Command(Some(Command::Nonza { el, feature, reply })) => {
                let offered = match feature.1 {
                    starling_stanza::ns::CSI => self.offered.1,
                    starling_stanza::ns::SM => self.offered.0,
                    _ => false,
                };
                if !offered {
                    let _ = reply.send(Err(Error::Unsupported(feature.1)));
                } else {
                    if let Ok(state) = CsiState::from_element(&el) {
                        self.csi = Some(state);
                    }
                    neg.send(&el);
                    let _ = reply.send(Ok(()));
                }
            }
            Tick::Command(Some(Command::DropConnection)) => return Some(End::Lost(None)),
            Tick::Command(cmd) => {
                // A close request, or every handle was dropped.
                let ack = match cmd {
                    Some(Command::Close(ack)) => Some(ack),
                    _ => None,
                };
                neg.close();
                st.closing = Some(ack);
                st.close_deadline = Some(tokio::time::Instant::now() + self.builder.config.timeout);
            }
            Tick::Keepalive => neg.keepalive(),
            Tick::SmTimer => {
                if let Some(r) = self.sm.handle_timeout(Instant::now()) {
                    neg.send(&r);
                }
            }
            Tick::Ping => match &st.ping_sent {
                Some((_, sent)) if sent.elapsed() >= self.builder.config.timeout => {
                    return Some(End::Lost(None));
                }
                Some(_) => {}
                None => {
                    let id = format!("keepalive-{}", starling_stream::random_id());
                    let iq = Iq::get(id.clone(), Ping).with_to(Jid::from(self.jid.domain_part()));
                    self.out(neg, iq.to_element());
                    st.ping_sent = Some((id, Instant::now()));
                }
            },
            Tick::CloseDeadline => return Some(End::Requested(st.closing.take().flatten())),
        }
        // The server stopped acknowledging: a new connection (resumed).
        if self.sm.is_full() && st.closing.is_none() {
            return Some(End::Lost(None));
        }
        None
    }

    /// Writes a stanza from the incoming handlers (answers), counted.
    pub(crate) fn reply(&mut self, neg: &mut ClientNegotiator, el: Element) {
        self.out(neg, el);
    }
}

/// XEP-0198 §4: `undefined-condition` with `<handled-count-too-high/>`.
pub(crate) fn too_high(e: starling_stanza::HandledCountTooHigh) -> StreamError {
    use starling_stanza::Payload;
    let mut err = StreamError::new(Condition::UndefinedCondition)
        .with_text(format!("handled count too high: {e}"));
    err.application = Some(Box::new(e.to_element()));
    err
}
