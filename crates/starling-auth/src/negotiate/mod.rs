//! Sans-IO stream negotiation state machines for both sides (RFC 6120
//! §4.3): stream open, features, STARTTLS, SASL, restart, resource binding
//! and the optional legacy session ([`ClientNegotiator`],
//! [`ServerNegotiator`]); and the server-to-server streams (STARTTLS, SASL
//! `EXTERNAL`, Server Dialback) of [`S2sInbound`] and [`S2sOutbound`].
//!
//! # Driving a machine
//!
//! The four negotiators are [`Machine`]s: each is a deterministic state
//! machine that never touches a socket, a TLS library or a clock. Bytes and
//! the current time go in; bytes to write and events come out. Whoever owns
//! the connection (a hand-written loop, a test that shuttles bytes between
//! two machines, or the generic tokio driver of `starling-net`) runs the
//! same loop:
//!
//! 1. **Feed.** Hand every byte read from the connection, in order, to
//!    [`feed`](Machine::feed) — or to [`feed_bytes`](Machine::feed_bytes)
//!    to hand the read buffer over without a copy. At end of file (or a
//!    read error) call [`eof`](Machine::eof) once.
//! 2. **Process.** Call [`next_event`](Machine::next_event) until it
//!    returns `None`, acting on each event. Input is processed lazily,
//!    inside `next_event`: until it returns `None`, fed bytes may still be
//!    waiting in the machine.
//! 3. **Transmit.** Call [`take_output`](Machine::take_output) and write
//!    all of it to the connection, then flush. Output appears after
//!    construction (or `start`), while processing input, after the
//!    application's own calls (`send`, `close`, answers to events) and
//!    after [`handle_timeout`](Machine::handle_timeout): take it after each
//!    of them, before waiting.
//! 4. **Stop** when [`is_closed`](Machine::is_closed): the output taken in
//!    step 3 held the end of the stream (a stream error, or
//!    `</stream:stream>`); shut the connection down (with TLS
//!    `close_notify`).
//! 5. **Wait** for the next of: input (back to 1), the instant
//!    [`poll_timeout`](Machine::poll_timeout) returned (call
//!    [`handle_timeout`](Machine::handle_timeout) with the current time,
//!    then back to 2), or something of the application's (a stanza to
//!    send, a close request: make the call, then back to 2). Call
//!    [`shrink`](Machine::shrink) before a wait that may be long, so that an
//!    idle connection holds no buffers.
//!
//! **STARTTLS.** A `StartTls` event means the TLS handshake is due now.
//! First write the output (a server's `<proceed/>` is in it), then run the
//! handshake on the connection, then report it with the machine's
//! `tls_established`, which restarts the stream (a client's new header is
//! then in the output). Bytes read after the STARTTLS exchange and before
//! the handshake are discarded — nothing sent in plaintext there may be
//! read as if TLS protected it — so read nothing outside the handshake
//! meanwhile. With direct TLS (XEP-0368) the handshake comes first and the
//! machine is created with TLS on.
//!
//! **Time is passed in**, never read: constructors take `now`, and
//! `handle_timeout(now)` is told the time. Deadlines are `Instant`s the
//! caller sleeps until, and tests run a timeout in microseconds by passing
//! a later instant.
//!
//! **Outputs are `#[must_use]`**: bytes from `take_output` that are not
//! written, events from `next_event` that are not acted on, and a
//! `poll_timeout` that is not slept until are protocol errors waiting to
//! happen.
//!
//! A server that must not run the password checks of SASL on its async
//! worker threads sets [`ServerSettings::offload_sasl`]; then, whenever
//! `next_event` returns `None`, it also asks
//! [`ServerNegotiator::take_sasl_job`] for work to run on a blocking
//! thread.
//!
//! ```
//! use std::time::Instant;
//! use starling_auth::negotiate::{
//!     ClientEvent, ClientNegotiator, ClientSettings, Machine, NegotiationError,
//! };
//! use starling_auth::sasl::ClientConfig;
//!
//! let mut settings = ClientSettings::new("juliet@example.com".parse().unwrap());
//! settings.require_tls = false;
//! let now = Instant::now();
//! let mut client = ClientNegotiator::new(settings, ClientConfig::password("juliet", "pw"), None, now);
//! client.start();
//!
//! /// Steps 2 and 3, for any machine: the events, and the bytes to write.
//! fn process<M: Machine>(m: &mut M) -> (Vec<M::Event>, Vec<u8>) {
//!     let events = std::iter::from_fn(|| m.next_event()).collect();
//!     (events, m.take_output())
//! }
//!
//! // The stream header is written; then nothing arrives.
//! let (events, out) = process(&mut client);
//! assert!(events.is_empty() && out.starts_with(b"<?xml version='1.0'?><stream:stream"));
//! // The negotiation deadline passes.
//! let deadline = client.poll_timeout().unwrap();
//! client.handle_timeout(deadline);
//! let (events, out) = process(&mut client);
//! assert_eq!(events, [ClientEvent::Failed(NegotiationError::Timeout)]);
//! assert!(out.ends_with(b"</stream:stream>"));
//! assert!(client.is_closed());
//! ```

use std::time::Instant;

use starling_xml::BytesMut;

mod client;
mod common;
mod s2s;
mod server;

pub use client::{ClientEvent, ClientNegotiator, ClientSettings, NegotiationError};
pub use s2s::{
    AuthMethod, InboundEvent, OutboundEvent, PeerTls, S2sError, S2sHooks, S2sInbound, S2sOutbound,
    S2sSettings,
};
pub use server::{SaslDone, SaslJob, ServerEvent, ServerHooks, ServerNegotiator, ServerSettings};

/// The namespace of XEP-0440 (SASL Channel-Binding Type Capability): the
/// server lists the channel bindings its `-PLUS` mechanisms accept, and the
/// client uses `-PLUS` only with one of them.
pub const SASL_CB_NS: &str = "urn:xmpp:sasl-cb:0";

/// A sans-IO connection state machine, as a generic driver runs it.
///
/// The calls and their order are described in the [module
/// documentation](self#driving-a-machine). The negotiators also have these
/// methods as inherent methods, so code that names a concrete negotiator
/// needs no import; the trait is for code that drives any of them.
pub trait Machine {
    /// What the machine reports: [`ClientEvent`], [`ServerEvent`],
    /// [`InboundEvent`] or [`OutboundEvent`].
    type Event;

    /// Appends bytes read from the connection.
    fn feed(&mut self, data: &[u8]);

    /// Appends a buffer of bytes read from the connection, handed over:
    /// when nothing is buffered the machine keeps the buffer itself
    /// instead of copying it.
    fn feed_bytes(&mut self, data: BytesMut);

    /// The connection reached end of file (or failed).
    fn eof(&mut self);

    /// The bytes to write to the connection, taken.
    #[must_use = "the output must be written to the connection"]
    fn take_output(&mut self) -> Vec<u8>;

    /// Whether output is waiting.
    fn has_output(&self) -> bool;

    /// How many bytes of output are waiting (what the next
    /// [`take_output`](Self::take_output) returns): a driver counts with it
    /// which of the stanzas it handed over were written.
    fn output_len(&self) -> usize;

    /// The next event, processing buffered input; `None` when more input
    /// (or TLS, or the application) is needed.
    #[must_use = "events must be acted on"]
    fn next_event(&mut self) -> Option<Self::Event>;

    /// When [`handle_timeout`](Self::handle_timeout) must be called next;
    /// `None` when no deadline is pending.
    #[must_use = "the machine's deadline must be waited for"]
    fn poll_timeout(&self) -> Option<Instant>;

    /// Time has passed: it is `now`, and deadlines up to it take effect.
    fn handle_timeout(&mut self, now: Instant);

    /// Whether the stream is over (the output may still hold its end).
    fn is_closed(&self) -> bool;

    /// Frees the buffers an idle connection does not need.
    fn shrink(&mut self);
}
