//! SASL (RFC 4422) as XMPP uses it (RFC 6120 §6), sans-IO.
//!
//! # Mechanisms
//!
//! | mechanism | client | server | specification |
//! |---|---|---|---|
//! | `SCRAM-SHA-256-PLUS`, `SCRAM-SHA-1-PLUS` | yes | yes | RFC 5802, RFC 7677; channel binding `tls-exporter` (RFC 9266) or `tls-server-end-point` (RFC 5929) |
//! | `SCRAM-SHA-256`, `SCRAM-SHA-1` | yes | yes | RFC 5802, RFC 7677 |
//! | `PLAIN` | yes | yes | RFC 4616; only over TLS unless configured otherwise |
//! | `EXTERNAL` | yes | yes | RFC 4422 Appendix A; the identity comes from the TLS layer |
//! | `ANONYMOUS` | yes | yes | RFC 4505; off by default on both sides |
//!
//! # Driving an exchange
//!
//! Both sides take and return [`Element`](starling_xml::Element)s of the
//! SASL namespace; the stream negotiation layer moves them between the
//! framer and the writer and never looks inside.
//!
//! * **Server.** Build one [`SaslServer`] per stream from a shared
//!   [`ServerConfig`], a [`CredentialStore`] and what the TLS layer knows
//!   about the connection ([`ServerConnection`]). Offer
//!   [`SaslServer::mechanism_names`] in `<stream:features/>`. Pass every
//!   SASL element the client sends (`<auth/>`, `<response/>`, `<abort/>`)
//!   to [`SaslServer::receive`] and send the element of the [`ServerStep`]
//!   it returns. On [`ServerStep::Success`] restart the stream as the
//!   [`Authenticated`] identity; on [`ServerStep::Failure`] with
//!   `retry: false`, close the stream after sending the failure.
//! * **Client.** Build a [`SaslClient`] from a [`ClientConfig`] and a
//!   [`ClientConnection`]; [`SaslClient::start`] takes the offered
//!   mechanism names and returns the `<auth/>` to send. Pass every SASL
//!   element the server sends to [`SaslClient::receive`]: send the element
//!   of [`ClientStep::Response`] or [`ClientStep::Abort`]; restart the
//!   stream on [`ClientStep::Success`]; on [`ClientStep::Failure`] give up
//!   or [`start`](SaslClient::start) again. An `Err` means the server broke
//!   the protocol or failed to prove it knows the password: close the
//!   stream.
//!
//! # Credentials
//!
//! The server stores [`ScramCredentials`] (salt, iteration count,
//! `StoredKey`, `ServerKey`) per user and hash, never the password; PLAIN
//! is verified by deriving the keys from the password it carries. Unknown
//! users get a challenge with a salt derived from the user name and a
//! server secret, and fail at the proof with `not-authorized`, exactly as a
//! wrong password does. Passwords are prepared with the PRECIS
//! `OpaqueString` profile ([`opaque_string`]) on both sides.
//!
//! # Failures
//!
//! Every condition of RFC 6120 §6.5 is a [`Condition`]; [`Failure`] reads
//! and writes `<failure/>`. The server answers malformed input of any kind
//! with a failure rather than an error, and counts it towards
//! [`ServerConfig::max_attempts`].

mod channel_binding;
mod client;
mod condition;
mod mechanism;
mod random;
mod saslprep;
mod scram;
mod server;
mod simple;
mod store;
mod wire;

pub use channel_binding::{ChannelBinding, ChannelBindingError, ChannelBindingType, SignatureHash};
pub use client::{
    ClientConfig, ClientConnection, ClientError, ClientStep, SaslClient, select_mechanism,
};
pub use condition::{Condition, Failure, UnknownCondition};
pub use mechanism::{Mechanism, UnknownMechanism};
pub use random::{OsRandom, RandomError, RandomSource};
pub use saslprep::{PrepError, opaque_string};
pub use scram::{CredentialError, ScramCredentials, ScramHash, ScramServerError};
pub use server::{
    Authenticated, AuthzPolicy, SaslServer, ServerConfig, ServerConnection, ServerError, ServerStep,
};
pub use store::{AccountState, CredentialStore, MemoryStore, StoreError};
pub use wire::{SaslMessage, WireError};
