//! Test support for the Starling workspace: one home for what the test
//! suites of several crates share.
//!
//! | module | what it offers |
//! |---|---|
//! | [`process`] | programs run with a time limit ([`run_with_limit`](process::run_with_limit), [`Running`](process::Running), [`Finished`](process::Finished)); stopping process trees by PID |
//! | [`ports`] | loopback ports: [`reserve_ports`](ports::reserve_ports) (outside the ephemeral range, held until the server starts), [`closed_port`](ports::closed_port), [`wait_for_ports`](ports::wait_for_ports) |
//! | [`server`] | the `starling` binary under test ([`starling_bin`](server::starling_bin), `STARLING_BIN`): [`Server`](server::Server) and [`FedServer`](server::FedServer), and the [`Login`](server::Login) a client needs |
//! | [`peers`] | real peers: Prosody and ejabberd ([`Peer`](peers::Peer)), a federating Prosody ([`FedProsody`](peers::prosody::FedProsody)), slixmpp's virtualenv ([`slixmpp::python`](peers::slixmpp::python)) |
//! | [`script`], [`json`] | the JSON report a scenario script prints ([`ScriptReport`](script::ScriptReport)): its checks, facts and what went wrong |
//! | [`raw`] | a raw c2s connection ([`Raw`](raw::Raw)): our own bytes over TCP and TLS, the server's read by a stream framer |
//! | [`raw_wait`] | waiting on a raw connection for an element, with what came before it ([`Raw::until`](raw::Raw::until), [`Raw::iq`](raw::Raw::iq)); carbons and bodies of message elements |
//! | [`dns`] | a DNS responder on UDP loopback answering from a table ([`Dns`](dns::Dns)) |
//! | [`tls`] | a test CA ([`TestCa`](tls::TestCa)), self-signed identities, and [`tls::pump`]: two sans-IO negotiators connected in memory through real rustls sessions |
//! | [`wait`], [`stanzas`], [`logs`], [`dirs`], [`host`] | bounded waits, JIDs and stanzas in one call, log tails and notes, temporary directories, facts about the machine (CI, programs, users) |
//!
//! The crate depends only on the layers below the client and the server
//! (`starling-xml`, `-jid`, `-stream`, `-stanza`, `-auth`) and on tokio and
//! rustls, so that both can use it as a dev-dependency without depending
//! on each other. Helpers that need `starling-client` types live beside
//! the suites that use them (`tests/common` of this crate).
//!
//! Everything here runs on loopback only; every process a helper starts is
//! stopped by PID when its guard is dropped, and every directory it makes
//! is removed (kept with `STARLING_KEEP_TEST_DIR=1`). A peer that is not
//! installed makes its tests print why and pass, unless `CI=true`.

#![forbid(unsafe_code)]

pub mod dirs;
pub mod dns;
pub mod host;
pub mod json;
pub mod logs;
pub mod peers;
pub mod ports;
pub mod process;
pub mod raw;
pub mod raw_pep;
pub mod raw_wait;
pub mod script;
pub mod server;
pub mod sm;
pub mod stanzas;
pub mod tls;
pub mod wait;
