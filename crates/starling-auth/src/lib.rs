//! # starling-auth
//!
//! Authentication for the Starling XMPP stack (RFC 6120 §5–§6).
//!
//! * [`sasl`]: the SASL mechanisms (SCRAM-SHA-1/256 and their `-PLUS`
//!   variants, PLAIN, EXTERNAL, ANONYMOUS) and the sans-IO exchanges that
//!   turn the client's and server's SASL elements into the next element to
//!   send — bytes and elements in, elements out, no sockets, no async
//!   runtime, no TLS library.
//! * [`dialback`]: Server Dialback keys (XEP-0185); the server-to-server
//!   negotiators are in [`negotiate`].
//! * [`negotiate`]: the sans-IO stream negotiators of both sides, c2s and
//!   s2s, and the [`Machine`](negotiate::Machine) trait a connection
//!   driver runs them through.
//! * `tls` (feature `tls`, on by default): rustls configurations for both
//!   sides. Without it the crate pulls in no TLS library at all: the SASL
//!   mechanisms and the negotiators need none.
//!
//! Features: `tls` (default) gates rustls and webpki-roots; `cert-gen`
//! (off by default) adds self-signed certificate generation with rcgen,
//! which a server's first start needs and a client never does.
//!
//! ```
//! use std::sync::Arc;
//! use starling_auth::{ClientConfig, ClientConnection, ClientStep, MemoryStore, SaslClient,
//!                     SaslServer, ServerConfig, ServerConnection, ServerStep};
//!
//! let mut store = MemoryStore::new();
//! store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
//! let mut server = SaslServer::new(Arc::new(ServerConfig::default()), Arc::new(store),
//!                                  ServerConnection::new("example.com".parse().unwrap()));
//! let mut client = SaslClient::new(ClientConfig::password("juliet", "r0m30myr0m30"),
//!                                  ClientConnection::default());
//!
//! let auth = client.start(&server.mechanism_names()).unwrap();       // SCRAM-SHA-256
//! let ServerStep::Challenge(challenge) = server.receive(&auth).unwrap() else { panic!() };
//! let ClientStep::Response(response) = client.receive(&challenge).unwrap() else { panic!() };
//! let ServerStep::Success { element, authenticated } = server.receive(&response).unwrap() else { panic!() };
//! assert_eq!(client.receive(&element).unwrap(), ClientStep::Success);
//! assert_eq!(authenticated.jid.as_str(), "juliet@example.com");
//! ```
#![forbid(unsafe_code)]

pub mod dialback;
pub mod negotiate;
pub mod sasl;
#[cfg(feature = "tls")]
pub mod tls;

pub use sasl::{
    Authenticated, ChannelBinding, ClientConfig, ClientConnection, ClientStep, CredentialStore,
    Mechanism, MemoryStore, SaslClient, SaslServer, ScramCredentials, ServerConfig,
    ServerConnection, ServerStep,
};
