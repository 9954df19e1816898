//! The client: builder, requests, events and the session task.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ClientEvent, ClientNegotiator, NegotiationError};
use starling_auth::sasl::Mechanism;
use starling_auth::tls::Trust;
use starling_jid::{FullJid, Jid};
use starling_net::{Driver, Wake};
use starling_stanza::{
    Iq, IqKind, Message, Payload, Ping, Presence, PresenceType, Roster, RosterItem, Stanza,
    StanzaError, StanzaErrorCondition, Subscription, error_reply,
};
use starling_stream::StreamError;
use starling_xml::Element;
use tokio::sync::{mpsc, oneshot};

use crate::connection::{self, Config, Session};
use crate::error::Error;

/// What arrives on a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message.
    Message(Message),
    /// A presence (including subscription requests).
    Presence(Presence),
    /// An iq request (get or set) — only when
    /// [`ClientBuilder::handle_iq_requests`] is on; answer it with
    /// [`Client::send`]. Otherwise the client answers
    /// `service-unavailable` itself (RFC 6120 §8.4).
    Iq(Iq),
    /// A roster push (RFC 6121 §2.1.6), already acknowledged.
    RosterPush(Roster),
    /// The connection was re-established (with reconnection on).
    Reconnected(FullJid),
    /// The session ended: the server's stream error, if it sent one.
    Disconnected(Option<StreamError>),
}

/// Builds and connects a [`Client`].
///
/// ```no_run
/// # async fn run() -> Result<(), starling_client::Error> {
/// use std::time::Duration;
/// use starling_client::Client;
///
/// let client = Client::builder("juliet@example.com".parse().unwrap(), "secret")
///     .resource("balcony")
///     .timeout(Duration::from_secs(20))
///     .connect()
///     .await?;
/// client.send_message("romeo@example.net".parse().unwrap(), "Art thou not Romeo?").await?;
/// client.close().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    config: Config,
    reconnect: bool,
    iq_requests: bool,
    keepalive: Duration,
    ping_interval: Option<Duration>,
}

impl ClientBuilder {
    /// Connect to `host:port` instead of discovering the server through DNS.
    pub fn server(mut self, addr: &str) -> Self {
        self.config.server = Some(addr.to_owned());
        self
    }

    /// Use direct TLS (XEP-0368) rather than STARTTLS for an explicit
    /// server.
    pub fn direct_tls(mut self, on: bool) -> Self {
        self.config.direct_tls = on;
        self
    }

    /// Trust only the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.config.trust = Trust::CaFile(path.as_ref().to_owned());
        self
    }

    /// Which certificates to trust (default: the webpki roots).
    pub fn trust(mut self, trust: Trust) -> Self {
        self.config.trust = trust;
        self
    }

    /// Accept any certificate. **For tests only.**
    pub fn insecure(mut self) -> Self {
        self.config.trust = Trust::InsecureAcceptAnything;
        self
    }

    /// Allow a server without TLS (default: refuse). For loopback tests.
    pub fn allow_plaintext(mut self, allow: bool) -> Self {
        self.config.require_tls = !allow;
        self
    }

    /// The resource to request (the server may assign another).
    ///
    /// # Panics
    /// If `resource` is not a valid resourcepart.
    pub fn resource(mut self, resource: &str) -> Self {
        let full = self
            .config
            .jid
            .with_resource_str(resource)
            .expect("a valid resourcepart");
        self.config.jid = Jid::from(full);
        self
    }

    /// Timeout for connecting, negotiating and each request (default 30 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.config.timeout = t;
        self
    }

    /// The SASL mechanisms allowed, strongest first (default: all that are
    /// safe on the connection).
    pub fn mechanisms(mut self, m: Vec<Mechanism>) -> Self {
        self.config.mechanisms = Some(m);
        self
    }

    /// Use these DNS servers instead of the system's.
    pub fn name_servers(mut self, servers: Vec<SocketAddr>) -> Self {
        self.config.name_servers = Some(servers);
        self
    }

    /// Reconnect with exponential backoff (1 s to 60 s) when the connection
    /// drops; [`Event::Reconnected`] reports each success. Off by default.
    pub fn reconnect(mut self, on: bool) -> Self {
        self.reconnect = on;
        self
    }

    /// Deliver iq requests as [`Event::Iq`] instead of answering them with
    /// `service-unavailable`. Pings are always answered.
    pub fn handle_iq_requests(mut self, on: bool) -> Self {
        self.iq_requests = on;
        self
    }

    /// Interval of whitespace keepalives (default 60 s).
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }

    /// Ping the server (XEP-0199) at this interval and drop the connection
    /// when it does not answer within the timeout. Off by default.
    pub fn ping_interval(mut self, every: Option<Duration>) -> Self {
        self.ping_interval = every;
        self
    }

    /// Connects, negotiates TLS, authenticates and binds.
    pub async fn connect(self) -> Result<Client, Error> {
        let session = connection::establish(&self.config).await?;
        let jid = session.jid.clone();
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let timeout = self.config.timeout;
        let task = Task {
            builder: self,
            jid: jid.clone(),
            pending: HashMap::new(),
            events: ev_tx,
            commands: cmd_rx,
        };
        tokio::spawn(task.run(session));
        Ok(Client {
            jid,
            commands: cmd_tx,
            events: ev_rx,
            next_id: AtomicU64::new(1),
            timeout,
        })
    }
}

/// A connected XMPP session.
///
/// Stanzas are sent with [`send`](Self::send) and friends; requests wait for
/// their answer with [`request`](Self::request); everything else that
/// arrives comes from [`next_event`](Self::next_event). A background task
/// owns the connection: it answers pings, acknowledges roster pushes, sends
/// keepalives, and answers unhandled iq requests with `service-unavailable`.
#[derive(Debug)]
pub struct Client {
    jid: FullJid,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    next_id: AtomicU64,
    timeout: Duration,
}

#[derive(Debug)]
enum Command {
    Send(Element),
    Request {
        iq: Element,
        id: String,
        to: Option<Jid>,
        reply: oneshot::Sender<Iq>,
    },
    Close(oneshot::Sender<()>),
}

impl Client {
    /// A builder for the account `jid` with `password`.
    pub fn builder(jid: Jid, password: &str) -> ClientBuilder {
        ClientBuilder {
            config: Config {
                jid,
                password: password.to_owned(),
                server: None,
                direct_tls: false,
                trust: Trust::WebPki,
                require_tls: true,
                timeout: Duration::from_secs(30),
                mechanisms: None,
                name_servers: None,
            },
            reconnect: false,
            iq_requests: false,
            keepalive: Duration::from_secs(60),
            ping_interval: None,
        }
    }

    /// Connects with the defaults: DNS discovery, TLS required, the
    /// strongest common SASL mechanism, a server-assigned resource.
    pub async fn connect(jid: Jid, password: &str) -> Result<Client, Error> {
        Client::builder(jid, password).connect().await
    }

    /// The bound full JID.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// A fresh stanza id.
    pub fn new_id(&self) -> String {
        format!("sc{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Sends an element (a stanza, usually).
    pub async fn send(&self, el: Element) -> Result<(), Error> {
        self.commands
            .send(Command::Send(el))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Sends a stanza.
    pub async fn send_stanza(&self, stanza: &Stanza) -> Result<(), Error> {
        self.send(stanza.to_element()).await
    }

    /// Sends a chat message with a body.
    pub async fn send_message(&self, to: Jid, body: &str) -> Result<(), Error> {
        let mut m = Message::chat(to, body);
        m.header.id = Some(self.new_id());
        self.send(m.to_element()).await
    }

    /// Sends presence (initial presence: `Presence::new(PresenceType::Available)`).
    pub async fn send_presence(&self, presence: Presence) -> Result<(), Error> {
        self.send(presence.to_element()).await
    }

    /// Sends an iq request and waits for the answer, matched by id and by
    /// `from` (RFC 6120 §8.2.3). An `error` answer is returned as
    /// [`Error::Stanza`]; no answer within the timeout is [`Error::Timeout`].
    pub async fn request(&self, mut iq: Iq) -> Result<Iq, Error> {
        if iq.header.id.as_deref().is_none_or(str::is_empty) {
            iq.header.id = Some(self.new_id());
        }
        let id = iq.id().to_owned();
        let (tx, rx) = oneshot::channel();
        let cmd = Command::Request {
            iq: iq.to_element(),
            id,
            to: iq.header.to.clone(),
            reply: tx,
        };
        self.commands.send(cmd).await.map_err(|_| Error::Closed)?;
        let reply = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) => return Err(Error::Timeout),
        };
        match &reply.kind {
            IqKind::Error { error, .. } => Err(Error::Stanza(Box::new(error.clone()))),
            _ => Ok(reply),
        }
    }

    /// The roster (RFC 6121 §2.1.3).
    pub async fn roster(&self) -> Result<Roster, Error> {
        let reply = self
            .request(Iq::get(self.new_id(), Roster::default()))
            .await?;
        match reply.payload_as::<Roster>() {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(Error::Invalid(e.to_string())),
            // RFC 6121 §2.6.3: an empty result means "your cached version is current".
            None => Ok(Roster::default()),
        }
    }

    /// Adds or updates a roster item (RFC 6121 §2.3).
    pub async fn roster_set(&self, item: RosterItem) -> Result<(), Error> {
        let roster = Roster {
            ver: None,
            items: vec![item],
        };
        self.request(Iq::set(self.new_id(), roster))
            .await
            .map(|_| ())
    }

    /// Removes a roster item (RFC 6121 §2.5).
    pub async fn roster_remove(&self, jid: starling_jid::BareJid) -> Result<(), Error> {
        let mut item = RosterItem::new(jid);
        item.subscription = Subscription::Remove;
        self.roster_set(item).await
    }

    /// Asks `jid` for a presence subscription (RFC 6121 §3.1).
    pub async fn subscribe(&self, jid: starling_jid::BareJid) -> Result<(), Error> {
        self.presence_to(jid, PresenceType::Subscribe).await
    }

    /// Approves `jid`'s subscription request or pre-approves it (RFC 6121 §3.1.4, §3.4).
    pub async fn approve(&self, jid: starling_jid::BareJid) -> Result<(), Error> {
        self.presence_to(jid, PresenceType::Subscribed).await
    }

    /// Cancels our subscription to `jid` (RFC 6121 §3.3).
    pub async fn unsubscribe(&self, jid: starling_jid::BareJid) -> Result<(), Error> {
        self.presence_to(jid, PresenceType::Unsubscribe).await
    }

    /// Cancels or denies `jid`'s subscription to us (RFC 6121 §3.2).
    pub async fn deny(&self, jid: starling_jid::BareJid) -> Result<(), Error> {
        self.presence_to(jid, PresenceType::Unsubscribed).await
    }

    async fn presence_to(&self, jid: starling_jid::BareJid, t: PresenceType) -> Result<(), Error> {
        let mut p = Presence::new(t);
        p.header.to = Some(Jid::from(jid));
        self.send_presence(p).await
    }

    /// Pings `to` (default: our server) with XEP-0199 and returns the
    /// round-trip time.
    pub async fn ping(&self, to: Option<Jid>) -> Result<Duration, Error> {
        let to = to.unwrap_or_else(|| Jid::from(self.jid.domain_part()));
        let start = Instant::now();
        self.request(Iq::get(self.new_id(), Ping).with_to(to))
            .await?;
        Ok(start.elapsed())
    }

    /// The next event; `None` once the session has ended and every event
    /// has been taken.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Closes the stream and waits (up to the timeout) for the server to
    /// close its side.
    pub async fn close(&self) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Close(tx))
            .await
            .map_err(|_| Error::Closed)?;
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Timeout),
        }
    }
}

struct Pending {
    to: Option<Jid>,
    reply: oneshot::Sender<Iq>,
}

struct Task {
    builder: ClientBuilder,
    jid: FullJid,
    pending: HashMap<String, Pending>,
    events: mpsc::Sender<Event>,
    commands: mpsc::Receiver<Command>,
}

/// What woke the session task, besides the connection.
enum Tick {
    Command(Option<Command>),
    Keepalive,
    Ping,
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

enum End {
    /// The user asked for it (or dropped the client).
    Requested(Option<oneshot::Sender<()>>),
    /// The server or the network ended it.
    Lost(Option<StreamError>),
}

impl Task {
    async fn run(mut self, mut session: Session) {
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.session(&mut session).await {
                End::Requested(ack) => {
                    let _ = self.events.send(Event::Disconnected(None)).await;
                    if let Some(a) = ack {
                        let _ = a.send(());
                    }
                    return;
                }
                End::Lost(err) => {
                    self.pending.clear();
                    let fatal = matches!(
                        err.as_ref().map(|e| &e.condition),
                        Some(
                            starling_stream::Condition::Conflict
                                | starling_stream::Condition::NotAuthorized
                        )
                    );
                    let _ = self.events.send(Event::Disconnected(err)).await;
                    if !self.builder.reconnect || fatal {
                        return;
                    }
                }
            }
            // Reconnect with exponential backoff.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    cmd = self.commands.recv() => match cmd {
                        None => return,
                        Some(Command::Close(ack)) => { let _ = ack.send(()); return; }
                        Some(_) => continue,
                    },
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
                match connection::establish(&self.builder.config).await {
                    Ok(s) => {
                        session = s;
                        self.jid = session.jid.clone();
                        backoff = Duration::from_secs(1);
                        let _ = self.events.send(Event::Reconnected(self.jid.clone())).await;
                        break;
                    }
                    Err(Error::Auth(_)) => {
                        let _ = self.events.send(Event::Disconnected(None)).await;
                        return;
                    }
                    Err(_) => {}
                }
            }
        }
    }

    async fn session(&mut self, s: &mut Session) -> End {
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
            if driver.flush().await.is_err() {
                return st.closing.map_or(End::Lost(None), End::Requested);
            }
            let deadline = st
                .close_deadline
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            let closing = st.close_deadline.is_some();
            let commands = &mut self.commands;
            let pinging = self.builder.ping_interval.is_some();
            let tick = async {
                tokio::select! {
                    cmd = commands.recv(), if !closing => Tick::Command(cmd),
                    _ = keepalive.tick() => Tick::Keepalive,
                    _ = ping_timer.tick(), if pinging => Tick::Ping,
                    _ = tokio::time::sleep_until(deadline), if closing => Tick::CloseDeadline,
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
                ClientEvent::Stanza(el) => {
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

    /// Acts on a command or a timer; the end of the session if it is over.
    fn on_tick(&mut self, neg: &mut ClientNegotiator, tick: Tick, st: &mut Loop) -> Option<End> {
        match tick {
            Tick::Command(Some(Command::Send(el))) => neg.send(&el),
            Tick::Command(Some(Command::Request { iq, id, to, reply })) => {
                self.pending.retain(|_, p| !p.reply.is_closed());
                self.pending.insert(id, Pending { to, reply });
                neg.send(&iq);
            }
            Tick::Command(cmd) => {
                // A close request, or the client was dropped.
                let ack = match cmd {
                    Some(Command::Close(ack)) => Some(ack),
                    _ => None,
                };
                neg.close();
                st.closing = Some(ack);
                st.close_deadline = Some(tokio::time::Instant::now() + self.builder.config.timeout);
            }
            Tick::Keepalive => neg.keepalive(),
            Tick::Ping => match &st.ping_sent {
                Some((_, sent)) if sent.elapsed() >= self.builder.config.timeout => {
                    return Some(End::Lost(None));
                }
                Some(_) => {}
                None => {
                    let id = format!("keepalive-{}", starling_stream::random_id());
                    let iq = Iq::get(id.clone(), Ping).with_to(Jid::from(self.jid.domain_part()));
                    neg.send(&iq.to_element());
                    st.ping_sent = Some((id, Instant::now()));
                }
            },
            Tick::CloseDeadline => return Some(End::Requested(st.closing.take().flatten())),
        }
        None
    }

    /// Whether a reply from `from` may answer a request sent to `to`
    /// (RFC 6120 §8.2.3; a request to our own account or server may be
    /// answered without `from`).
    fn reply_matches(&self, to: &Option<Jid>, from: &Option<Jid>) -> bool {
        let own_bare = Jid::from(self.jid.bare());
        let own_domain = Jid::from(self.jid.domain_part());
        let implicit = |j: &Option<Jid>| match j {
            None => true,
            Some(j) => *j == own_bare || *j == own_domain || j.as_str() == self.jid.as_str(),
        };
        match (to, from) {
            (Some(t), Some(f)) if t == f => true,
            _ => implicit(to) && implicit(from),
        }
    }

    async fn incoming(&mut self, neg: &mut ClientNegotiator, el: Element) {
        let stanza = match Stanza::from_element(&el) {
            Ok(s) => s,
            Err(e) => {
                // Answer a malformed request; ignore other junk.
                if el.name() == "iq" && matches!(el.attr("type"), Some("get" | "set")) {
                    if let Some(reply) = error_reply(&el, &e.to_stanza_error(), false) {
                        neg.send(&reply);
                    }
                }
                return;
            }
        };
        match stanza {
            Stanza::Message(m) => {
                let _ = self.events.send(Event::Message(m)).await;
            }
            Stanza::Presence(p) => {
                let _ = self.events.send(Event::Presence(p)).await;
            }
            Stanza::Iq(iq) => match &iq.kind {
                IqKind::Result(_) | IqKind::Error { .. } => {
                    let id = iq.id().to_owned();
                    let matches = self
                        .pending
                        .get(&id)
                        .is_some_and(|p| self.reply_matches(&p.to, &iq.header.from));
                    if matches {
                        if let Some(p) = self.pending.remove(&id) {
                            let _ = p.reply.send(iq);
                        }
                    }
                }
                IqKind::Get(p) | IqKind::Set(p) => {
                    if p.is(Ping::NAME, Ping::NS) {
                        neg.send(&iq.result(None).to_element());
                    } else if p.is(Roster::NAME, Roster::NS) && matches!(iq.kind, IqKind::Set(_)) {
                        // RFC 6121 §2.1.6: only from the server (no `from`, or our bare JID).
                        if self.reply_matches(&None, &iq.header.from) {
                            neg.send(&iq.result(None).to_element());
                            if let Some(Ok(r)) = iq.payload_as::<Roster>() {
                                let _ = self.events.send(Event::RosterPush(r)).await;
                            }
                        } else {
                            let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
                            neg.send(&iq.error_reply(e).to_element());
                        }
                    } else if self.builder.iq_requests {
                        let _ = self.events.send(Event::Iq(iq)).await;
                    } else {
                        let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
                        neg.send(&iq.error_reply(e).to_element());
                    }
                }
            },
        }
    }
}
