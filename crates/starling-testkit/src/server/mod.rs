//! The `starling` binary under test: [`Server`] (client-to-server, one
//! process in its own data directory) and [`FedServer`] (with federation),
//! started on reserved loopback ports from a generated configuration, with
//! accounts made by `starling user add`. [`starling_bin`] says how the
//! binary is found.
//!
//! This crate does not depend on `starling-client`: a server gives a
//! [`Login`] (account, address, certificate to trust), and the suites turn
//! it into a client.

mod bin;
mod fed;

pub use bin::{BIN_VAR, starling_bin};
pub use fed::FedServer;

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use starling_jid::Jid;

use crate::dirs::TestDir;
use crate::logs::note;
use crate::ports::{reserve_ports, wait_for_ports};
use crate::process::{self, Finished, run_with_limit};

/// How long the server may take to open its ports.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// How long an administration command (`starling user add`, …) may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// How long the server may take to exit after a signal.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// How a client logs in to a server under test.
#[derive(Debug, Clone)]
pub struct Login {
    /// The account (a bare JID, or a full one to ask for that resource).
    pub jid: Jid,
    /// Its password.
    pub password: String,
    /// Where to connect (STARTTLS): `127.0.0.1:PORT`.
    pub address: String,
    /// The PEM file of the only certificate (or CA) to trust.
    pub ca_file: PathBuf,
}

impl Login {
    /// A login for `jid` at `127.0.0.1:port`, trusting `ca_file`.
    ///
    /// # Panics
    ///
    /// When `jid` is not a JID.
    pub fn new(jid: &str, password: &str, port: u16, ca_file: PathBuf) -> Login {
        Login {
            jid: jid
                .parse()
                .unwrap_or_else(|e| panic!("{jid:?} is not a JID: {e}")),
            password: password.to_owned(),
            address: format!("127.0.0.1:{port}"),
            ca_file,
        }
    }
}

/// What to change in the generated configuration of a [`Server`].
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Served domains; default `["localhost"]`.
    pub domains: Vec<String>,
    /// TOML text appended to the config file (sections such as
    /// `[limits]`).
    pub extra_toml: String,
    /// TOML lines added inside the generated `[c2s]` table (which already
    /// sets `listen` and `listen_tls`), e.g. `resource_conflict = "refuse"`.
    pub c2s_toml: String,
}

/// A running `starling serve` in its own temporary data directory; stopped
/// (its log printed if the test is failing) and removed on drop.
///
/// ```no_run
/// use starling_testkit::server::{Options, Server};
///
/// let server = Server::start_with(Options {
///     extra_toml: "[limits]\nmax_stanza_size = 10000\n".into(),
///     ..Options::default()
/// });
/// server.add_users(&["alice", "bob"]); // passwords pw-alice, pw-bob
/// let login = server.login("alice@localhost", "pw-alice");
/// // A client connects to login.address trusting login.ca_file.
/// # let _ = login;
/// ```
#[derive(Debug)]
pub struct Server {
    /// The directory of the config file and the data directory.
    pub dir: PathBuf,
    /// The config file passed with `--config`.
    pub config: PathBuf,
    /// The STARTTLS c2s port on 127.0.0.1.
    pub c2s_port: u16,
    /// The direct TLS c2s port on 127.0.0.1.
    pub c2s_tls_port: u16,
    /// The first served domain.
    pub domain: String,
    child: Option<Child>,
    stderr: Option<JoinHandle<String>>,
    /// What the process wrote to standard error so far.
    live: Arc<Mutex<Vec<u8>>>,
    _dir: TestDir,
}

impl Server {
    /// Starts a server with the default options (domain `localhost`).
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    /// Starts a server with `options` and waits until it accepts
    /// connections.
    ///
    /// # Panics
    ///
    /// When it does not start.
    pub fn start_with(options: Options) -> Server {
        let dir = TestDir::create("e2e");
        let mut reserved = reserve_ports(2);
        let ports = reserved.ports.clone();
        let domains = if options.domains.is_empty() {
            vec!["localhost".to_owned()]
        } else {
            options.domains.clone()
        };
        let mut toml = format!("data_dir = {:?}\n\n", dir.join("data"));
        for d in &domains {
            toml.push_str(&format!("[[hosts]]\ndomain = {d:?}\n\n"));
        }
        toml.push_str(&format!(
            "[c2s]\nlisten = [\"127.0.0.1:{}\"]\nlisten_tls = [\"127.0.0.1:{}\"]\n{}\n\n",
            ports[0], ports[1], options.c2s_toml
        ));
        toml.push_str("[log]\nlevel = \"info,starling_server=debug\"\n\n");
        toml.push_str(&options.extra_toml);
        let config = dir.join("starling.toml");
        fs::write(&config, toml).expect("writing the config");
        let mut server = Server {
            dir: dir.path().to_owned(),
            config,
            c2s_port: ports[0],
            c2s_tls_port: ports[1],
            domain: domains[0].clone(),
            child: None,
            stderr: None,
            live: Arc::default(),
            _dir: dir,
        };
        reserved.release();
        server.launch();
        server
    }

    /// The data directory given to the server.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The generated certificate of `domain` (PEM), to trust in clients.
    pub fn cert_file(&self, domain: &str) -> PathBuf {
        self.data_dir().join("certs").join(format!("{domain}.crt"))
    }

    /// How `jid` logs in with `password` over STARTTLS, trusting the
    /// certificate of its domain.
    pub fn login(&self, jid: &str, password: &str) -> Login {
        let mut login = Login::new(jid, password, self.c2s_port, PathBuf::new());
        login.ca_file = self.cert_file(login.jid.domain());
        login
    }

    /// A `starling` command with `--config` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(starling_bin());
        c.arg("--config").arg(&self.config);
        c
    }

    fn launch(&mut self) {
        let mut cmd = self.command();
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("starting starling serve");
        let live = self.live.clone();
        if let Ok(mut l) = live.lock() {
            l.clear();
        }
        self.stderr = child.stderr.take().map(|mut pipe| {
            thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    if let Ok(mut l) = live.lock() {
                        l.extend_from_slice(&buf[..n]);
                    }
                }
                live.lock()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
                    .unwrap_or_default()
            })
        });
        let started = wait_for_ports(
            &[self.c2s_port],
            STARTUP_LIMIT,
            || child.try_wait().ok().flatten().map(|s| s.to_string()),
            String::new,
        );
        self.child = Some(child);
        if let Err(e) = started {
            panic!("starling did not start: {e}\n{}", self.take_log());
        }
    }

    /// Runs `starling ARGS…` (with this server's config) to completion.
    ///
    /// # Panics
    ///
    /// When the binary cannot be run.
    pub fn admin(&self, args: &[&str]) -> Finished {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_limit(&mut cmd, COMMAND_LIMIT).expect("running starling")
    }

    /// Creates an account with `starling user add`.
    ///
    /// # Panics
    ///
    /// When the command fails.
    pub fn add_user(&self, jid: &str, password: &str) {
        let out = self.admin(&["user", "add", jid, "--password", password]);
        assert!(out.success(), "user add {jid}: {}", out.describe());
    }

    /// Creates the accounts `<name>@<domain>` with password `pw-<name>`
    /// (from a multi-threaded tokio runtime or outside any).
    pub fn add_users(&self, names: &[&str]) {
        let add = || {
            for n in names {
                self.add_user(&format!("{n}@{}", self.domain), &format!("pw-{n}"));
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => crate::wait::blocking(add),
            Err(_) => add(),
        }
    }

    /// The process id.
    ///
    /// # Panics
    ///
    /// When the server is not running.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// Sends a signal (`"TERM"`, `"KILL"`, …) and waits for the process to
    /// exit (up to 20 s); returns its exit status and log.
    ///
    /// # Panics
    ///
    /// When the signal cannot be sent.
    pub fn signal(&mut self, sig: &str) -> (Option<ExitStatus>, String) {
        let pid = self.pid();
        assert!(process::signal(&[pid], sig), "kill -{sig} {pid} failed");
        let mut child = self.child.take().expect("running");
        let status = process::wait_until(&mut child, std::time::Instant::now() + STOP_LIMIT);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        (status, self.take_log())
    }

    /// Starts the server again on the same ports and data directory.
    ///
    /// # Panics
    ///
    /// When it is still running.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.launch();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the process (if running) and returns its log (standard error).
    fn take_log(&mut self) -> String {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// A hint for failure messages (the log is printed when a failing
    /// test stops the server).
    pub fn log_so_far(&self) -> String {
        format!("(server log in {})", self.dir.display())
    }

    /// What the server has logged so far (standard error, read as it
    /// comes), for tests that wait for a log line.
    pub fn log_now(&self) -> String {
        self.live
            .lock()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let log = self.take_log();
        if thread::panicking() {
            note(&format!("--- starling log ---\n{log}"));
        }
    }
}
