//! Sans-IO stream negotiation state machines for both sides (RFC 6120
//! §4.3): stream open, features, STARTTLS, SASL, restart, resource binding
//! and the optional legacy session; and the server-to-server streams
//! (STARTTLS, SASL `EXTERNAL`, Server Dialback) of `S2sInbound` and
//! `S2sOutbound`.
//!
//! Both machines take the bytes read from the connection and return the
//! bytes to write and events; the TLS handshake itself is the caller's
//! (see [`crate::tls`]): on `StartTls` the caller flushes the output, runs
//! rustls on the connection, and reports the result with
//! `tls_established`. Time is passed in (`poll_timeout` /
//! `handle_timeout`), never read.

mod client;
mod s2s;
mod server;

pub use client::{ClientEvent, ClientNegotiator, ClientSettings, NegotiationError};

/// The namespace of XEP-0440 (SASL Channel-Binding Type Capability): the
/// server lists the channel bindings its `-PLUS` mechanisms accept, and the
/// client uses `-PLUS` only with one of them.
pub const SASL_CB_NS: &str = "urn:xmpp:sasl-cb:0";
pub use s2s::{
    AuthMethod, InboundEvent, OutboundEvent, PeerTls, S2sError, S2sHooks, S2sInbound, S2sOutbound,
    S2sSettings,
};
pub use server::{ServerEvent, ServerHooks, ServerNegotiator, ServerSettings};
