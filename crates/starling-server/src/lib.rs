//! The Starling XMPP server: client connections over STARTTLS and direct
//! TLS (RFC 6120, XEP-0368), instant messaging and presence (RFC 6121),
//! embedded SQLite storage, and the `starling` command.
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
pub mod config;
pub mod core;
mod net;
pub mod registry;
pub mod s2s;
pub mod server;
mod session;
pub mod storage;

/// A random identifier (stream ids, resources, push ids).
pub(crate) fn random_id() -> String {
    starling_stream::random_id()
}
