//! The Starling XMPP server: client connections over STARTTLS and direct
//! TLS (RFC 6120, XEP-0368), instant messaging and presence (RFC 6121),
//! federation (XEP-0220), embedded SQLite storage, and the `starling`
//! command.
//!
//! The server is made of parts with one job each:
//!
//! * [`router`]: the delivery rules of RFC 6120 §10 / RFC 6121 §8 as a
//!   pure function from a stanza's kind, its address and the recipient's
//!   state to a decision;
//! * [`hub`]: the shared state (sessions, stores, modules) that carries
//!   decisions out;
//! * [`module`]: the interface every feature plugs into, and [`modules`]:
//!   the features (roster, presence, offline storage, disco, ping,
//!   version, federation);
//! * [`storage`]: one store per feature, called off the async workers;
//! * [`s2s`]: federation streams; client sessions are internal.
//!
//! The library is what the binary is made of; embedders can start a server
//! from a [`config::Config`] with [`server::start`]:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use starling_server::config::Config;
//!
//! let config = Config::from_toml_str("data_dir = \"/tmp/starling-example\"", "inline")?;
//! let server = starling_server::server::start(config).await?;
//! println!("listening on {:?}", server.addresses);
//! tokio::signal::ctrl_c().await?;
//! server.shutdown(Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_socket;
mod c2s;
pub mod caps;
pub mod config;
pub mod data_dir;
pub mod hub;
mod listen;
pub mod module;
pub mod modules;
pub mod password_input;
pub mod pep;
pub mod queue;
pub mod registry;
pub mod routed;
pub mod router;
pub mod s2s;
pub mod server;
pub mod storage;
mod throttle;
mod tls_setup;

/// A random identifier (stream ids, resources, push ids).
pub(crate) fn random_id() -> String {
    starling_stream::random_id()
}
