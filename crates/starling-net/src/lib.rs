//! # starling-net
//!
//! The tokio layer that Starling's client and server share: everything
//! between a socket and the sans-IO stream machines of `starling-auth`.
//!
//! * [`Transport`]: one connection type, plain until STARTTLS and TLS
//!   after (either side of the handshake), or TLS from the start
//!   (XEP-0368); generic over its [`Socket`] so that tests run it over an
//!   in-memory pipe. It can wait until a read will make progress without
//!   holding a buffer, and tells what TLS established ([`TlsInfo`]:
//!   channel bindings, the peer's certificates, SNI, ALPN).
//! * [`Driver`]: one generic driver for every connection loop. It owns a
//!   transport and a [`Machine`](starling_auth::negotiate::Machine) and
//!   does the I/O side of the machines' [driving
//!   contract](starling_auth::negotiate#driving-a-machine): writing their
//!   output, reading straight into them without copies, sleeping until
//!   their deadlines, idle timeouts, read-rate limits, STARTTLS upgrades
//!   and the TLS `close_notify` at the end.
//! * [`discovery`]: finding the host to connect to through DNS SRV records
//!   (RFC 6120 §3.2, XEP-0368), for clients and for servers.
//!
//! A client and a server negotiator talking through two drivers over an
//! in-memory pipe (the connection counts as TLS from the start, so that
//! `PLAIN` is allowed; the bytes are not encrypted here):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use starling_auth::MemoryStore;
//! use starling_auth::negotiate::{
//!     ClientEvent, ClientNegotiator, ClientSettings, ServerEvent, ServerHooks,
//!     ServerNegotiator, ServerSettings,
//! };
//! use starling_auth::sasl::{ClientConfig, Mechanism};
//! use starling_net::{Driver, Transport, Wake};
//! # use starling_jid::{BareJid, DomainPart, FullJid};
//! # use starling_stanza::StanzaError;
//! # struct Hooks;
//! # impl ServerHooks for Hooks {
//! #     fn serves(&self, d: &DomainPart) -> bool { d.as_str() == "example.com" }
//! #     fn bind(&mut self, u: &BareJid, r: Option<&str>) -> Result<FullJid, StanzaError> {
//! #         Ok(u.with_resource_str(r.unwrap_or("generated")).unwrap())
//! #     }
//! # }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let (a, b) = tokio::io::duplex(4096);
//! let now = Instant::now();
//!
//! let mut store = MemoryStore::new();
//! store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
//! let settings = ServerSettings::new(Arc::new(store));
//! let server = ServerNegotiator::new(settings, Hooks, Some(Vec::new()), now);
//! let mut server = Driver::new(Transport::new(a), server);
//!
//! let sasl = ClientConfig { mechanisms: vec![Mechanism::Plain],
//!                           ..ClientConfig::password("juliet", "r0m30myr0m30") };
//! let settings = ClientSettings::new("juliet@example.com/balcony".parse().unwrap());
//! let mut client = ClientNegotiator::new(settings, sasl, Some(None), now);
//! client.start();
//! let mut client = Driver::new(Transport::new(b), client);
//!
//! let serve = async {
//!     loop {
//!         while let Some(event) = server.machine_mut().next_event() {
//!             if let ServerEvent::Bound(jid) = event {
//!                 assert_eq!(jid.as_str(), "juliet@example.com/balcony");
//!             }
//!         }
//!         server.flush().await?;
//!         if server.machine().is_closed() {
//!             return server.shutdown().await;
//!         }
//!         // A server would pass its own reasons to wake here: its queue,
//!         // a close request, the shutdown signal.
//!         server.wait(std::future::pending::<()>()).await;
//!     }
//! };
//! let connect = async {
//!     let mut bound = None;
//!     loop {
//!         while let Some(event) = client.machine_mut().next_event() {
//!             if let ClientEvent::Bound(jid) = event {
//!                 bound = Some(jid);
//!                 client.machine_mut().close();
//!             }
//!         }
//!         client.flush().await?;
//!         if let Wake::Eof(_) = client.wait(std::future::pending::<()>()).await {
//!             return Ok::<_, std::io::Error>(bound);
//!         }
//!     }
//! };
//! let (served, bound) = tokio::join!(serve, connect);
//! assert!(served.is_ok());
//! assert_eq!(bound.unwrap().unwrap().as_str(), "juliet@example.com/balcony");
//! # });
//! ```
#![forbid(unsafe_code)]

mod budget;
pub mod discovery;
mod driver;
mod transport;

pub use driver::{Driver, READ_CHUNK, TLS_TIMEOUT, UpgradeError, Wake};
pub use transport::{Socket, TlsInfo, Transport};
