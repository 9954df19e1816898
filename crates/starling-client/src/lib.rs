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
//! * **Using the session**: [`Client::send`], [`Client::request`] (matches
//!   the answer by id and `from`, with a timeout), [`Client::next_event`]
//!   for incoming messages, presence and requests. A background task answers
//!   pings, acknowledges roster pushes, keeps the connection alive, and
//!   answers iq requests nobody handles with `service-unavailable`.
//! * **Errors** are typed ([`Error`]): DNS, TCP, TLS, the SASL condition,
//!   a binding conflict, the stream error, a timeout.
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
#![forbid(unsafe_code)]

mod client;
mod connection;
pub mod discovery;
mod error;
mod incoming;
mod mobile;
mod sm;
mod task;

pub use client::{Carbon, Client, ClientBuilder, ClientHandle, Event, Events};
pub use error::Error;
pub use sm::{AckPolicy, SmError, SmStatus};
pub use starling_auth::tls::Trust;
