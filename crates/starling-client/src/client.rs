//! The client: builder, requests, events and the session task.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starling_auth::tls::Trust;
use starling_jid::{FullJid, Jid};
use starling_stanza::{
    Iq, IqKind, Message, Ping, Presence, PresenceType, PubSubEvent, Roster, RosterItem, Stanza,
    StanzaErrorCondition, Subscription,
};
use starling_stream::StreamError;
use starling_xml::Element;
use tokio::sync::{mpsc, oneshot};

use crate::builder::ClientBuilder;
use crate::connection::Config;
use crate::error::Error;
use crate::sm::{AckPolicy, SmStatus};
use crate::task::Shared;

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
    /// [`ClientHandle::send`]. Otherwise the client answers
    /// `service-unavailable` itself (RFC 6120 §8.4).
    Iq(Iq),
    /// A roster push (RFC 6121 §2.1.6), already acknowledged.
    RosterPush(Roster),
    /// A carbon copy (XEP-0280) of a message another resource of the
    /// account sent or received, unwrapped. Only copies from the account's
    /// own bare JID are delivered; forged ones are dropped (XEP-0280 §11).
    Carbon(Carbon, Message),
    /// A publish-subscribe notification (XEP-0060 §7.1.2, PEP XEP-0163):
    /// a `<message/>` carrying `<event xmlns='…pubsub#event'/>`, from the
    /// service or the contact whose PEP node changed (the account's own
    /// bare JID when the server left `from` out). Declare the PEP nodes
    /// wanted with [`ClientBuilder::notify`].
    PubSub {
        /// The pubsub service or PEP account.
        from: Jid,
        /// What happened.
        event: PubSubEvent,
    },
    /// A block push (XEP-0191 §3.3): these JIDs are now blocked.
    Blocked(Vec<Jid>),
    /// An unblock push (XEP-0191 §3.4): these JIDs are unblocked; empty
    /// means every JID.
    Unblocked(Vec<Jid>),
    /// The connection broke and the XEP-0198 stream was resumed on a new
    /// one (with [`ClientBuilder::stream_management`] and
    /// [`ClientBuilder::reconnect`]): nothing was lost, the session (its
    /// presence, its full JID) goes on, and the stanzas the server had not
    /// acknowledged were sent again.
    Resumed(FullJid),
    /// The server refused to resume the stream (the condition it gave, if
    /// any): a new session follows ([`Event::Reconnected`]). The stanzas
    /// the old stream had not seen acknowledged are sent again on the new
    /// one; presence and anything else bound to the old session must be
    /// established again by the application.
    ResumeFailed(Option<StanzaErrorCondition>),
    /// The connection was re-established with a new session (with
    /// reconnection on): send presence again.
    Reconnected(FullJid),
    /// The connection ended: the server's stream error, if it sent one.
    /// With reconnection on, [`Event::Resumed`] or [`Event::Reconnected`]
    /// follows once a new connection is up (unless the error was fatal:
    /// `conflict`, `not-authorized`, or the account's credentials refused).
    Disconnected(Option<StreamError>),
}

/// Which carbon copy (XEP-0280) an [`Event::Carbon`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Carbon {
    /// A message another resource of the account sent (`<sent/>`).
    Sent,
    /// A message another resource of the account received (`<received/>`).
    Received,
}

/// A connected XMPP session.
///
/// Stanzas are sent with [`send`](ClientHandle::send) and friends; requests
/// wait for their answer with [`request`](ClientHandle::request); everything
/// else that arrives comes from [`next_event`](Self::next_event). A
/// background task owns the connection: it answers pings, acknowledges
/// roster pushes, sends keepalives, and answers unhandled iq requests with
/// `service-unavailable`.
///
/// Every sending method belongs to [`ClientHandle`], which a `Client`
/// dereferences to; [`split`](Self::split) separates the (clonable) handle
/// from the [`Events`], so that one task waits for events while others
/// send and make requests:
///
/// ```no_run
/// # async fn run() -> Result<(), starling_client::Error> {
/// use starling_client::{Client, Event};
///
/// let client = Client::connect("juliet@example.com".parse().unwrap(), "secret").await?;
/// let (handle, mut events) = client.split();
/// let sender = handle.clone();
/// tokio::spawn(async move {
///     let _ = sender.send_message("romeo@example.net".parse().unwrap(), "Wherefore?").await;
/// });
/// while let Some(event) = events.next_event().await {
///     if let Event::Message(m) = event {
///         // Answer from this task too.
///         let to = m.header.from.clone().unwrap_or_else(|| handle.jid().domain_part().into());
///         handle.send_message(to, "Here.").await?;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client {
    pub(crate) handle: ClientHandle,
    pub(crate) events: Events,
}

/// The sending half of a [`Client`]: clone it freely; the session ends when
/// every handle is dropped (or [`close`](Self::close) is called).
#[derive(Debug, Clone)]
pub struct ClientHandle {
    pub(crate) jid: FullJid,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) next_id: Arc<AtomicU64>,
    pub(crate) timeout: Duration,
    pub(crate) shared: Arc<Mutex<Shared>>,
}

/// The receiving half of a [`Client`]: what arrives on the session.
#[derive(Debug)]
pub struct Events {
    pub(crate) rx: mpsc::Receiver<Event>,
}

impl Events {
    /// The next event; `None` once the session has ended and every event
    /// has been taken.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

#[derive(Debug)]
pub(crate) enum Command {
    Send(Element),
    Request {
        iq: Element,
        id: String,
        to: Option<Jid>,
        reply: oneshot::Sender<Iq>,
    },
    Close(oneshot::Sender<()>),
    /// Send a nonza that needs a stream feature (CSI); refused when the
    /// server did not offer it.
    Nonza {
        el: Element,
        feature: (&'static str, &'static str),
        reply: oneshot::Sender<Result<(), Error>>,
    },
    DropConnection,
}

impl Deref for Client {
    type Target = ClientHandle;
    fn deref(&self) -> &ClientHandle {
        &self.handle
    }
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
            stream_management: false,
            ack_policy: AckPolicy::default(),
            reconnect_delay: None,
            disco: crate::disco::OwnDisco::default(),
        }
    }

    /// Connects with the defaults: DNS discovery, TLS required, the
    /// strongest common SASL mechanism, a server-assigned resource.
    pub async fn connect(jid: Jid, password: &str) -> Result<Client, Error> {
        Client::builder(jid, password).connect().await
    }

    /// The next event; `None` once the session has ended and every event
    /// has been taken.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.next_event().await
    }

    /// Separates the sending handle from the events.
    pub fn split(self) -> (ClientHandle, Events) {
        (self.handle, self.events)
    }

    /// Another handle on the session.
    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }
}

impl ClientHandle {
    /// The full JID bound when the client connected (see
    /// [`current_jid`](Self::current_jid) after a reconnection).
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// The full JID of the current session (a new session after a
    /// reconnection may have another resource).
    pub fn current_jid(&self) -> FullJid {
        self.shared
            .lock()
            .map_or_else(|_| self.jid.clone(), |s| s.jid.clone())
    }

    /// The state of XEP-0198 stream management on the current stream.
    pub fn sm_status(&self) -> SmStatus {
        self.shared.lock().map(|s| s.sm.clone()).unwrap_or_default()
    }

    /// Drops the TCP connection at once without closing the stream, as a
    /// network failure would (for example when the device changed
    /// networks). With [`ClientBuilder::reconnect`] the client reconnects
    /// at once, and resumes the stream with stream management.
    pub async fn drop_connection(&self) -> Result<(), Error> {
        self.commands
            .send(Command::DropConnection)
            .await
            .map_err(|_| Error::Closed)
    }

    pub(crate) async fn command(&self, cmd: Command) -> Result<(), Error> {
        self.commands.send(cmd).await.map_err(|_| Error::Closed)
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
