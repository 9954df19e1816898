//! # starling-client
//!
//! A tokio XMPP client on the Starling stack: what a bot or an application
//! picks.
//!
//! * **Connecting**: [`Client::connect`] finds the server through DNS SRV
//!   records (`_xmpps-client._tcp` for direct TLS and `_xmpp-client._tcp`
//!   for STARTTLS, ordered together by priority and weight, RFC 6120 §3.2 and
//!   XEP-0368), falls back to the domain on port 5222, and tries each
//!   address in turn; [`ClientBuilder::server`] skips discovery.
//! * **Security**: TLS is required by default and the certificate is checked
//!   for the XMPP domain (not the host an SRV record named); SASL uses the
//!   strongest mechanism both sides have (SCRAM-SHA-256-PLUS with
//!   `tls-exporter` on TLS 1.3, then SCRAM-SHA-256, SCRAM-SHA-1, PLAIN only
//!   over TLS); then resource binding.
//! * **Using the session**: [`ClientHandle::send`], [`ClientHandle::request`] (matches
//!   the answer by id and `from`, with a timeout), [`Client::next_event`]
//!   for incoming messages, presence and requests. A background task answers
//!   pings, acknowledges roster pushes, keeps the connection alive, and
//!   answers iq requests nobody handles with `service-unavailable`.
//! * **Several tasks**: [`Client::split`] gives a clonable [`ClientHandle`]
//!   (send, request, everything below) and the [`Events`]; a `Client`
//!   dereferences to its handle, so the one-task style above still works.
//! * **Mobile sessions**: XEP-0198 stream management
//!   ([`ClientBuilder::stream_management`]): stanzas are counted and
//!   acknowledged under an [`AckPolicy`], the unacknowledged ones are kept,
//!   and with [`ClientBuilder::reconnect`] a broken connection is resumed
//!   ([`Event::Resumed`]); when the server refuses,
//!   [`Event::ResumeFailed`] and [`Event::Reconnected`] say that a new
//!   session began (send presence again), and the unacknowledged stanzas
//!   are sent again on it. [`ClientHandle::sm_status`] shows the counts,
//!   [`ClientHandle::drop_connection`] cuts the connection as a network
//!   change would. Message carbons (XEP-0280,
//!   [`ClientHandle::enable_carbons`], [`Event::Carbon`]: only copies from
//!   the account itself), client state indication (XEP-0352,
//!   [`ClientHandle::set_active`]) and blocking (XEP-0191,
//!   [`ClientHandle::block`], [`Event::Blocked`]).
//! * **Publish-subscribe and PEP** (XEP-0060, XEP-0163):
//!   [`ClientHandle::publish`] (with publish-options),
//!   [`ClientHandle::items`], [`ClientHandle::retract`], node deletion,
//!   purge and configuration, on the account's own PEP service or a pubsub
//!   service; [`ClientBuilder::notify`] declares the PEP nodes whose
//!   notifications the application wants (advertised as `NODE+notify` in
//!   the client's disco#info, [`disco`]), which arrive as
//!   [`Event::PubSub`]. Bookmarks (XEP-0402, [`ClientHandle::bookmarks`])
//!   and the user's avatar (XEP-0084, [`ClientHandle::set_avatar`]) are
//!   built on them.
//! * **Errors** are typed ([`Error`]): DNS, TCP, TLS, the SASL condition,
//!   a binding conflict, the stream error, a timeout, a pubsub condition
//!   ([`Error::PubSub`]).
//!
//! The protocol logic is the sans-IO negotiator of `starling-auth`; the
//! connection, TLS, DNS and the loop that drives the negotiator come from
//! `starling-net` (its `Driver`); this crate adds the session: requests,
//! events, keepalives and reconnection.
//!
//! The `starling-client` command-line tool is behind the `cli` feature
//! (`cargo run -p starling-client --features cli -- --help`), so that the
//! library pulls in no argument parser or JSON encoder.
//!
//! ```no_run
//! # async fn run() -> Result<(), starling_client::Error> {
//! use starling_client::{Client, Event};
//! use starling_stanza::{Presence, PresenceType};
//!
//! let mut client = Client::connect("juliet@example.com".parse().unwrap(), "secret").await?;
//! client.send_presence(Presence::new(PresenceType::Available)).await?;
//! while let Some(event) = client.next_event().await {
//!     if let Event::Message(m) = event {
//!         println!("{:?}: {:?}", m.header.from, m.body(None));
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! A mobile client: stream management with resumption, carbons, and the
//! user's activity for the server.
//!
//! ```no_run
//! # async fn run() -> Result<(), starling_client::Error> {
//! use starling_client::{Carbon, Client, Event};
//!
//! let client = Client::builder("juliet@example.com".parse().unwrap(), "secret")
//!     .stream_management(true)
//!     .reconnect(true)
//!     .connect()
//!     .await?;
//! let (handle, mut events) = client.split();
//! handle.enable_carbons().await?;
//! handle.set_active(false).await?; // the app went to the background
//! while let Some(event) = events.next_event().await {
//!     match event {
//!         Event::Carbon(Carbon::Sent, m) => println!("sent elsewhere: {:?}", m.body(None)),
//!         Event::Resumed(_) => println!("back, nothing lost"),
//!         Event::Reconnected(_) => {
//!             handle
//!                 .send_presence(starling_stanza::Presence::new(
//!                     starling_stanza::PresenceType::Available,
//!                 ))
//!                 .await?
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! PEP: publish the user's tune, and hear the contacts' tunes.
//!
//! ```no_run
//! # async fn run() -> Result<(), starling_client::Error> {
//! use starling_client::{Client, Event};
//! use starling_stanza::{Item, PubSubEvent};
//! use starling_xml::Element;
//!
//! const TUNE: &str = "http://jabber.org/protocol/tune";
//! let mut client = Client::builder("juliet@example.com".parse().unwrap(), "secret")
//!     .notify(TUNE)
//!     .connect()
//!     .await?;
//! let id = client.publish(TUNE, Item::new(None, Element::new("tune", TUNE)), None).await?;
//! println!("published item {id}");
//! while let Some(event) = client.next_event().await {
//!     if let Event::PubSub { from, event: PubSubEvent::Items { items, .. } } = event {
//!         println!("{from} now listens to {:?}", items.first().and_then(|i| i.payload.as_ref()));
//!     }
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod builder;
pub mod caps;
mod client;
mod connection;
pub mod disco;
pub mod discovery;
mod error;
mod incoming;
mod mobile;
mod pep;
mod pep_data;
mod profile;
mod reconnect;
mod sm;
mod task;

pub use builder::ClientBuilder;
pub use client::{Carbon, Client, ClientHandle, Event, Events};
pub use error::Error;
pub use pep_data::avatar_id;
pub use sm::{AckPolicy, SmError, SmStatus};
pub use starling_auth::tls::Trust;
