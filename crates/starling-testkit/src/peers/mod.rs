//! Real XMPP software to test against.
//!
//! [`Peer`]: Prosody or ejabberd, each started from a private
//! configuration in a temporary directory, listening for clients on a
//! reserved port of 127.0.0.1, with a certificate for its domains signed by
//! a test CA made for that run. [`prosody::FedProsody`] is a Prosody with
//! server-to-server enabled; [`slixmpp`] prepares the Python client.
//!
//! ```no_run
//! use starling_testkit::peers::{self, Peer};
//!
//! let Some(peer) = Peer::start_prosody().unwrap_or_else(|e| panic!("{e}")) else {
//!     return; // not installed and not in CI: the reason was printed
//! };
//! peer.register_test_users().unwrap_or_else(|e| panic!("{e}"));
//! // A client connects to this address as alice@localhost, trusting only
//! // `peer.ca_file`.
//! let (address, jid) = (peer.address(), peer.jid("alice"));
//! assert_eq!(jid, "alice@localhost");
//! # let _ = (address, peers::password("alice"));
//! ```
//!
//! What a [`Peer`] is given:
//!
//! * two virtual hosts: [`Peer::domain`] (`localhost`), whose passwords are
//!   stored for SCRAM-SHA-1, and [`Peer::sha256_domain`]
//!   (`sha256.localhost`), whose passwords are stored for SCRAM-SHA-256 (both
//!   servers keep one SCRAM hash per host, and offer only that one);
//! * client connections on [`Peer::c2s_port`] only, STARTTLS required;
//! * roster, ping (XEP-0199), software version (XEP-0092), service discovery
//!   and presence; no server-to-server connections, no in-band registration,
//!   no offline storage, no rate limits, no multi-user chat.
//!
//! Both servers refuse to run as root: when the tests run as root, the peer
//! runs as the `prosody` or `ejabberd` system user (through `setpriv`), which
//! is given the temporary directory. Dropping a peer stops every process it
//! started, by PID, prints the peer's logs if the thread is panicking, and
//! removes the directory (kept when `STARLING_KEEP_PEER_DIR` or
//! `STARLING_KEEP_TEST_DIR` is set).
//!
//! When a server is not installed, `start_*` returns `Ok(None)` after
//! printing why, unless the `CI` environment variable is `true`: then it is
//! an error. `cargo xtask peers` installs both.
//!
//! A peer started through `setpriv` gets SIGTERM when the thread that
//! started it ends (so that a test process that is killed does not leave
//! servers behind): start peers from the test's own thread, not from a
//! thread that ends before the peer is dropped.

mod daemon;
mod ejabberd;
pub mod prosody;
pub mod slixmpp;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use daemon::Daemon;

use crate::host::{cannot_drop_root_to, current_user, find_program, is_root, missing};
use crate::tls::TestCa;

/// The accounts [`Peer::register_test_users`] creates on [`Peer::domain`]:
/// `(localpart, password)`.
pub const USERS: [(&str, &str); 3] = [
    ("alice", "alice-Secret-1"),
    ("bob", "bob-Secret-2"),
    ("carol", "carol-Secret-3"),
];

/// The password of `user` in [`USERS`].
///
/// # Panics
///
/// If `user` is not one of them.
pub fn password(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(name, _)| *name == user)
        .map(|(_, password)| *password)
        .unwrap_or_else(|| panic!("no test user `{user}`"))
}

/// The domain whose passwords are stored for SCRAM-SHA-1.
pub const DOMAIN: &str = "localhost";

/// The domain whose passwords are stored for SCRAM-SHA-256.
pub const SHA256_DOMAIN: &str = "sha256.localhost";

/// How long a server may take to open its port.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// What `start_*` says when a server cannot run here.
const INSTALL_HINT: &str = "`cargo xtask peers` installs it";

/// Which server a [`Peer`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Prosody (0.12 or later).
    Prosody,
    /// ejabberd (23 or later).
    Ejabberd,
}

impl Kind {
    /// Both kinds, in the order the tests use them.
    pub const ALL: [Kind; 2] = [Kind::Prosody, Kind::Ejabberd];

    /// The server's name, as the tests print it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prosody => "prosody",
            Kind::Ejabberd => "ejabberd",
        }
    }

    /// The programs the peer needs.
    fn programs(self) -> &'static [&'static str] {
        match self {
            Kind::Prosody => &["prosody", "prosodyctl"],
            Kind::Ejabberd => &["ejabberdctl"],
        }
    }

    /// The system user the server runs as when the tests run as root.
    fn system_user(self) -> &'static str {
        match self {
            Kind::Prosody => "prosody",
            Kind::Ejabberd => "ejabberd",
        }
    }

    /// Why a server of this kind cannot be started here, if it cannot.
    fn unavailable(self) -> Option<String> {
        let missing: Vec<&str> = self
            .programs()
            .iter()
            .copied()
            .filter(|program| find_program(program).is_none())
            .collect();
        if !missing.is_empty() {
            return Some(format!("not installed (missing: {})", missing.join(", ")));
        }
        if let Some(reason) = cannot_drop_root_to(self.system_user()) {
            return Some(reason);
        }
        if !is_root() && self == Kind::Ejabberd && current_user().as_deref() != Some("ejabberd") {
            // Debian's ejabberdctl runs only as root or as `ejabberd`.
            return Some("ejabberdctl runs only as root or as the `ejabberd` user".to_owned());
        }
        None
    }
}

/// A running XMPP server for client tests.
#[derive(Debug)]
pub struct Peer {
    /// `"prosody"` or `"ejabberd"`.
    pub name: &'static str,
    /// Which server this is.
    pub kind: Kind,
    /// The domain of the test accounts (passwords stored for SCRAM-SHA-1).
    pub domain: String,
    /// A second domain on the same server whose passwords are stored for
    /// SCRAM-SHA-256, so that the server offers that mechanism there.
    pub sha256_domain: Option<String>,
    /// The client-to-server port on 127.0.0.1 (STARTTLS).
    pub c2s_port: u16,
    /// The PEM file of the CA that signed the server's certificate: the only
    /// trust anchor a client should use.
    pub ca_file: PathBuf,
    /// The temporary directory holding configuration, data and logs.
    pub dir: PathBuf,
    /// Whether the modules of a mobile client are loaded (see
    /// [`Peer::start_mobile`]).
    pub mobile: bool,
    /// Whether PEP and the account-storage modules are loaded (see
    /// [`Peer::start_pep`]).
    pub pep: bool,
    daemon: Daemon,
}

impl Peer {
    /// Starts Prosody. `Ok(None)` when it is not installed and this is not a
    /// CI run (the reason is printed).
    ///
    /// # Errors
    ///
    /// When it does not start, or is not installed and `CI=true`.
    pub fn start_prosody() -> Result<Option<Peer>, String> {
        Peer::start(Kind::Prosody)
    }

    /// Starts ejabberd. `Ok(None)` when it is not installed and this is not a
    /// CI run (the reason is printed).
    ///
    /// # Errors
    ///
    /// When it does not start, or is not installed and `CI=true`.
    pub fn start_ejabberd() -> Result<Option<Peer>, String> {
        Peer::start(Kind::Ejabberd)
    }

    /// Starts a server of the given kind (see [`Peer::start_prosody`]).
    ///
    /// # Errors
    ///
    /// When it does not start, or is not installed and `CI=true`.
    pub fn start(kind: Kind) -> Result<Option<Peer>, String> {
        Peer::start_with(kind, false, false)
    }

    /// Starts a server of the given kind with, in addition, what a mobile
    /// client uses: stream management (XEP-0198, resumable), message
    /// carbons (XEP-0280), client state indication (XEP-0352) and blocking
    /// (XEP-0191). Prosody loads `smacks`, `carbons`, `csi_simple` and
    /// `blocklist`; ejabberd `mod_stream_mgmt`, `mod_carboncopy`,
    /// `mod_client_state`, `mod_blocking` and `mod_privacy`.
    ///
    /// # Errors
    ///
    /// When it does not start, or is not installed and `CI=true`.
    pub fn start_mobile(kind: Kind) -> Result<Option<Peer>, String> {
        Peer::start_with(kind, true, false)
    }

    /// Starts a server of the given kind with, in addition, what a client
    /// keeps in its account: PEP on a PubSub service (XEP-0163, XEP-0060),
    /// entity capabilities (XEP-0115), vCards (XEP-0054) and their avatar
    /// hash in presence (XEP-0153), private XML storage (XEP-0049) and
    /// bookmarks (XEP-0402 with the XEP-0048 conversion). Prosody loads
    /// `pep`, `vcard_legacy`, `private` and `bookmarks`; ejabberd
    /// `mod_caps`, `mod_pubsub` (plugins `flat` and `pep`), `mod_vcard`,
    /// `mod_vcard_xupdate`, `mod_avatar` and `mod_private`.
    ///
    /// # Errors
    ///
    /// When it does not start, or is not installed and `CI=true`.
    pub fn start_pep(kind: Kind) -> Result<Option<Peer>, String> {
        Peer::start_with(kind, false, true)
    }

    fn start_with(kind: Kind, mobile: bool, pep: bool) -> Result<Option<Peer>, String> {
        if let Some(reason) = kind.unavailable() {
            return missing(kind.name(), &reason, INSTALL_HINT);
        }
        let started = Instant::now();
        let daemon = Daemon::new(kind.name(), kind.system_user())?;
        let mut peer = Peer {
            name: kind.name(),
            kind,
            domain: DOMAIN.to_owned(),
            sha256_domain: Some(SHA256_DOMAIN.to_owned()),
            c2s_port: 0,
            ca_file: daemon.dir().join("ca.pem"),
            dir: daemon.dir().to_owned(),
            mobile,
            pep,
            daemon,
        };
        // From here on, dropping `peer` cleans up whatever was made.
        peer.make_certificates()?;
        match kind {
            Kind::Prosody => peer.launch_prosody()?,
            Kind::Ejabberd => peer.launch_ejabberd()?,
        }
        let port = peer.c2s_port;
        // An error includes the tails of the peer's logs.
        peer.daemon.wait_for_ports(&[port], STARTUP_LIMIT)?;
        eprintln!(
            "{}: listening on 127.0.0.1:{} after {:.1} s (directory {})",
            peer.name,
            peer.c2s_port,
            started.elapsed().as_secs_f64(),
            peer.dir.display()
        );
        Ok(Some(peer))
    }

    /// The address to connect to, `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.c2s_port)
    }

    /// The bare JID of `user` on [`Peer::domain`].
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// Creates the account `user@domain` with `password`.
    ///
    /// # Errors
    ///
    /// When the server's administration command fails.
    pub fn register(&self, user: &str, password: &str) -> Result<(), String> {
        self.register_on(user, &self.domain, password)
    }

    /// Creates the account `user@domain` on one of the peer's domains.
    ///
    /// # Errors
    ///
    /// When the server's administration command fails.
    pub fn register_on(&self, user: &str, domain: &str, password: &str) -> Result<(), String> {
        let result = match self.kind {
            Kind::Prosody => prosody::register(&self.daemon, user, domain, password),
            Kind::Ejabberd => ejabberd::register(&self.daemon, user, domain, password),
        };
        result.map_err(|e| format!("{}: registering {user}@{domain}: {e}", self.name))
    }

    /// Creates every account of [`USERS`] on [`Peer::domain`], and `alice`
    /// (same password) on [`Peer::sha256_domain`].
    ///
    /// # Errors
    ///
    /// When the server's administration command fails.
    pub fn register_test_users(&self) -> Result<(), String> {
        for (user, password) in USERS {
            self.register(user, password)?;
        }
        if let Some(domain) = &self.sha256_domain {
            self.register_on("alice", domain, password("alice"))?;
        }
        Ok(())
    }

    /// The last lines of each of the peer's log files, for a failure report.
    pub fn log_tail(&self) -> String {
        self.daemon.log_tail()
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.daemon.is_running()
    }

    /// Stops the server (also done on drop).
    ///
    /// # Errors
    ///
    /// When some process was still there after SIGKILL.
    pub fn stop(&mut self) -> Result<(), String> {
        self.daemon.stop()
    }

    /// The server's domains: [`Peer::domain`], then the SCRAM-SHA-256 one.
    fn domains(&self) -> Vec<&str> {
        let mut names = vec![self.domain.as_str()];
        names.extend(self.sha256_domain.as_deref());
        names
    }

    /// A test CA (`ca.pem`), and a certificate for the peer's domains
    /// signed by it (`server.crt`, `server.key`).
    fn make_certificates(&self) -> Result<(), String> {
        let ca = TestCa::new();
        self.daemon.write("ca.pem", ca.pem())?;
        ca.issue_into(&self.dir, "server", &self.domains());
        Ok(())
    }
}
