//! [`FedServer`]: a `starling serve` with `[s2s]` enabled.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use super::{COMMAND_LIMIT, Login, starling_bin};
use crate::dirs::{TestDir, unique};
use crate::logs::{note, read_or_empty, tail};
use crate::ports::{Reserved, reserve_ports, wait_for_ports};
use crate::process::{Finished, run_with_limit, terminate};
use crate::tls::TestCa;
use crate::wait::WAIT;

/// How long the server may take to open its ports (several start at once
/// in the federation suites).
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// How long the server may take to stop after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A `starling serve` with federation on reserved loopback ports, its own
/// directory, and its log (standard error) in a file that can be read while
/// it runs. Configured through its public fields before
/// [`FedServer::start`]; stopped and removed on drop.
#[derive(Debug)]
pub struct FedServer {
    /// The served domain.
    pub domain: String,
    /// The temporary directory (config, data, log).
    pub dir: PathBuf,
    /// The config file.
    pub config: PathBuf,
    /// The c2s STARTTLS port on 127.0.0.1.
    pub c2s_port: u16,
    /// The s2s STARTTLS port on 127.0.0.1 (listening when
    /// [`FedServer::starttls_listener`]).
    pub s2s_port: u16,
    /// The s2s direct TLS port on 127.0.0.1 (listening when
    /// [`FedServer::direct_tls_listener`]).
    pub s2s_tls_port: u16,
    /// `s2s.dialback_secret`.
    pub dialback_secret: String,
    /// The host's certificate and key; `None`: generated (self-signed).
    pub cert: Option<(PathBuf, PathBuf)>,
    /// What clients trust for c2s: the CA of [`FedServer::cert`]; `None`:
    /// the generated certificate.
    pub client_ca: Option<PathBuf>,
    /// `s2s.ca_file`.
    pub ca_file: Option<PathBuf>,
    /// `[s2s.hosts]`.
    pub host_map: Vec<(String, String)>,
    /// `s2s.name_servers`.
    pub name_servers: Vec<SocketAddr>,
    /// Listen on [`FedServer::s2s_port`] (STARTTLS). Default: true.
    pub starttls_listener: bool,
    /// Listen on [`FedServer::s2s_tls_port`] (XEP-0368). Default: false.
    pub direct_tls_listener: bool,
    /// `s2s.require_tls`. Default: true.
    pub require_tls: bool,
    /// `s2s.dialback`. Default: true.
    pub dialback: bool,
    /// `s2s.connect_timeout` in seconds, if set.
    pub connect_timeout: Option<u64>,
    /// More served domains (generated certificates).
    pub extra_domains: Vec<String>,
    /// TOML text appended to the config file (sections such as
    /// `[limits]`).
    pub extra_toml: String,
    /// `s2s.allow_private_addresses`. Default: true (tests federate on
    /// loopback).
    pub allow_private_addresses: bool,
    /// More `KEY = VALUE` lines of the `[s2s]` table.
    pub s2s_extra: Vec<String>,
    log: PathBuf,
    /// The reserved ports, held until the server starts.
    reserved: Reserved,
    child: Option<Child>,
    _dir: TestDir,
}

impl FedServer {
    /// A server for `domain` (not started): a directory, reserved ports, a
    /// dialback secret, generated certificates, STARTTLS s2s, TLS required.
    pub fn new(domain: &str) -> FedServer {
        let dir = TestDir::create("fed-starling");
        let reserved = reserve_ports(3);
        let ports = reserved.ports.clone();
        FedServer {
            domain: domain.to_owned(),
            config: dir.join("starling.toml"),
            log: dir.join("starling.log"),
            dir: dir.path().to_owned(),
            c2s_port: ports[0],
            s2s_port: ports[1],
            s2s_tls_port: ports[2],
            dialback_secret: format!("dialback-secret-of-{domain}-{}", unique()),
            cert: None,
            client_ca: None,
            ca_file: None,
            host_map: Vec::new(),
            name_servers: Vec::new(),
            starttls_listener: true,
            direct_tls_listener: false,
            require_tls: true,
            dialback: true,
            connect_timeout: None,
            extra_domains: Vec::new(),
            extra_toml: String::new(),
            allow_private_addresses: true,
            s2s_extra: Vec::new(),
            reserved,
            child: None,
            _dir: dir,
        }
    }

    /// Presents a certificate from `ca` and trusts `ca` for peers (so
    /// that SASL `EXTERNAL` works between servers of the same CA).
    pub fn use_ca(&mut self, ca: &TestCa) -> &mut FedServer {
        self.cert = Some(ca.issue(&self.domain));
        self.client_ca = Some(ca.ca_file());
        self.ca_file = Some(ca.ca_file());
        self
    }

    /// Maps `other`'s domain to its STARTTLS s2s port (`[s2s.hosts]`).
    pub fn route_to(&mut self, other: &FedServer) -> &mut FedServer {
        self.map(&other.domain, other.s2s_port)
    }

    /// Maps `domain` to `127.0.0.1:port` (`[s2s.hosts]`).
    pub fn map(&mut self, domain: &str, port: u16) -> &mut FedServer {
        self.host_map
            .push((domain.to_owned(), format!("127.0.0.1:{port}")));
        self
    }

    /// The configuration file's text.
    fn toml(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(t, "data_dir = {:?}\n", self.dir.join("data"));
        let _ = writeln!(t, "[[hosts]]\ndomain = {:?}", self.domain);
        if let Some((cert, key)) = &self.cert {
            let _ = writeln!(t, "certificate = {cert:?}\nkey = {key:?}");
        }
        for d in &self.extra_domains {
            let _ = writeln!(t, "\n[[hosts]]\ndomain = {d:?}");
        }
        let _ = writeln!(
            t,
            "\n[c2s]\nlisten = [\"127.0.0.1:{}\"]\nlisten_tls = []\n",
            self.c2s_port
        );
        let _ = writeln!(t, "[log]\nlevel = \"info,starling_server=debug\"\n");
        t.push_str(&self.s2s_toml());
        t.push('\n');
        t.push_str(&self.extra_toml);
        t
    }

    /// The `[s2s]` table and its `[s2s.hosts]`.
    fn s2s_toml(&self) -> String {
        let listen = |on: bool, port: u16| {
            if on {
                format!("\"127.0.0.1:{port}\"")
            } else {
                String::new()
            }
        };
        let mut t = String::from("[s2s]\nenabled = true\n");
        let _ = writeln!(
            t,
            "listen = [{}]",
            listen(self.starttls_listener, self.s2s_port)
        );
        let _ = writeln!(
            t,
            "listen_tls = [{}]",
            listen(self.direct_tls_listener, self.s2s_tls_port)
        );
        let _ = writeln!(t, "require_tls = {}", self.require_tls);
        let _ = writeln!(t, "dialback = {}", self.dialback);
        let _ = writeln!(t, "dialback_secret = {:?}", self.dialback_secret);
        if let Some(ca) = &self.ca_file {
            let _ = writeln!(t, "ca_file = {ca:?}");
        }
        if let Some(s) = self.connect_timeout {
            let _ = writeln!(t, "connect_timeout = {s}");
        }
        let _ = writeln!(
            t,
            "allow_private_addresses = {}",
            self.allow_private_addresses
        );
        for line in &self.s2s_extra {
            let _ = writeln!(t, "{line}");
        }
        if !self.name_servers.is_empty() {
            let list: Vec<String> = self
                .name_servers
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect();
            let _ = writeln!(t, "name_servers = [{}]", list.join(", "));
        }
        if !self.host_map.is_empty() {
            let _ = writeln!(t, "\n[s2s.hosts]");
            for (d, a) in &self.host_map {
                let _ = writeln!(t, "{d:?} = {a:?}");
            }
        }
        t
    }

    /// A `starling` command with `--config` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(starling_bin());
        c.arg("--config").arg(&self.config);
        c
    }

    /// Two servers for `a` and `b` routed to each other, started, with
    /// `users` added to each (password `pw-USER`). Blocking: call it in
    /// [`crate::wait::blocking`] from a multi-threaded runtime.
    pub fn started_pair(a: (&str, &[&str]), b: (&str, &[&str])) -> (FedServer, FedServer) {
        let mut sa = FedServer::new(a.0);
        let mut sb = FedServer::new(b.0);
        sa.route_to(&sb);
        sb.route_to(&sa);
        sa.start();
        sb.start();
        for (s, users) in [(&sa, a.1), (&sb, b.1)] {
            for u in users {
                s.add_user(u);
            }
        }
        (sa, sb)
    }

    /// Writes the config and starts the server; returns once every
    /// configured port accepts connections.
    ///
    /// # Panics
    ///
    /// When it was started already, or does not start.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already started");
        fs::write(&self.config, self.toml()).expect("writing the config");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("creating the log file");
        // Free the reserved ports for the server, at the last moment.
        self.reserved.release();
        let mut cmd = self.command();
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = self
            .child
            .insert(cmd.spawn().expect("starting starling serve"));
        let mut ports = vec![self.c2s_port];
        if self.starttls_listener {
            ports.push(self.s2s_port);
        }
        if self.direct_tls_listener {
            ports.push(self.s2s_tls_port);
        }
        let log_path = self.log.clone();
        let result = wait_for_ports(
            &ports,
            STARTUP_LIMIT,
            || child.try_wait().ok().flatten().map(|s| s.to_string()),
            || read_or_empty(&log_path),
        );
        if let Err(e) = result {
            panic!("{}: {e}", self.domain);
        }
    }

    /// Whether the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the server (SIGTERM; SIGKILL after 10 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, STOP_LIMIT);
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        read_or_empty(&self.log)
    }

    /// Waits (at most [`WAIT`]) until a line of the log contains every one
    /// of `parts`; returns that line.
    ///
    /// # Panics
    ///
    /// When no such line comes.
    pub async fn wait_log(&self, parts: &[&str]) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let log = self.log();
            if let Some(l) = log.lines().find(|l| parts.iter().all(|p| l.contains(p))) {
                return l.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: no log line with {parts:?} within {WAIT:?}\n{}",
                self.domain,
                tail(&log, 60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `starling ARGS…` with this server's config.
    ///
    /// # Panics
    ///
    /// When the binary cannot be run.
    pub fn admin(&self, args: &[&str]) -> Finished {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_limit(&mut cmd, COMMAND_LIMIT).expect("running starling")
    }

    /// Creates `user@domain` with password `pw-user`.
    ///
    /// # Panics
    ///
    /// When the command fails.
    pub fn add_user(&self, user: &str) {
        let jid = self.jid(user);
        let out = self.admin(&["user", "add", &jid, "--password", &format!("pw-{user}")]);
        assert!(out.success(), "user add {jid}: {}", out.describe());
    }

    /// The bare JID of `user` here.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// How `user` (password `pw-user`) logs in on this server's c2s port,
    /// trusting its certificate.
    pub fn login(&self, user: &str) -> Login {
        let ca = self
            .client_ca
            .clone()
            .unwrap_or_else(|| self.generated_cert(&self.domain));
        Login::new(&self.jid(user), &format!("pw-{user}"), self.c2s_port, ca)
    }

    /// How `user@domain` (password `pw-user`) logs in on one of the
    /// [`FedServer::extra_domains`], trusting its generated certificate.
    pub fn login_on(&self, domain: &str, user: &str) -> Login {
        Login::new(
            &format!("{user}@{domain}"),
            &format!("pw-{user}"),
            self.c2s_port,
            self.generated_cert(domain),
        )
    }

    /// The certificate the server generates for `domain`.
    fn generated_cert(&self, domain: &str) -> PathBuf {
        self.dir
            .join("data")
            .join("certs")
            .join(format!("{domain}.crt"))
    }
}

impl Drop for FedServer {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            note(&format!(
                "--- starling log of {} ({}) ---\n{}--- end of the log of {} ---",
                self.domain,
                self.log.display(),
                tail(&self.log(), 200),
                self.domain
            ));
        }
    }
}
