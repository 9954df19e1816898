//! Real XMPP servers to test against: Prosody and ejabberd, each started
//! from a private configuration in a temporary directory, listening for
//! clients on a free port of 127.0.0.1, with a certificate for `localhost`
//! signed by a test CA made for that run.
//!
//! This module uses only the standard library (and its parent's helpers),
//! so that client, server and federation tests can all include it.
//!
//! ```ignore
//! let Some(peer) = Peer::start_prosody().unwrap_or_else(|e| panic!("{e}")) else {
//!     return; // not installed and not in CI: the reason was printed
//! };
//! peer.register_test_users()?;
//! // connect to peer.address() as alice@{peer.domain}, trusting only peer.ca_file
//! ```
//!
//! What a peer is given:
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
//! is given the temporary directory. [`Drop`] stops every process the peer
//! started, by PID, prints the peer's logs if the thread is panicking, and
//! removes the directory (kept when `STARLING_KEEP_PEER_DIR` is set).
//!
//! When a server is not installed, `start_*` returns `Ok(None)` after
//! printing why, unless the `CI` environment variable is `true`: then it is
//! an error. `cargo xtask peers` installs both.
//!
//! A peer started through `setpriv` gets SIGTERM when the thread that
//! started it ends (so that a test process that is killed does not leave
//! servers behind): start peers from the test's own thread, not from a
//! thread that ends before the peer is dropped.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{note, run_with_limit};

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

/// How long an administration command (`prosodyctl`, `ejabberdctl`) may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// How long a server may take to stop after SIGTERM before it gets SIGKILL.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Lines of each log file that [`Peer::log_tail`] shows.
const TAIL_LINES: usize = 80;

/// Whether this is a CI run (`CI=true`), where a missing peer is an error.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

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
            Kind::Prosody => &["prosody", "prosodyctl", "openssl"],
            Kind::Ejabberd => &["ejabberdctl", "openssl"],
        }
    }

    /// The system user the server runs as when the tests run as root.
    fn system_user(self) -> &'static str {
        match self {
            Kind::Prosody => "prosody",
            Kind::Ejabberd => "ejabberd",
        }
    }
}

/// A running XMPP server.
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
    /// The server's log files, most useful first.
    logs: Vec<PathBuf>,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<&'static str>,
    /// The process started: the server, or the script that runs it.
    child: Option<Child>,
    /// A file where the server writes its own PID.
    pid_file: PathBuf,
}

impl Peer {
    /// Starts Prosody. `Ok(None)` when it is not installed and this is not a
    /// CI run (the reason is printed).
    pub fn start_prosody() -> Result<Option<Peer>, String> {
        Peer::start(Kind::Prosody)
    }

    /// Starts ejabberd. `Ok(None)` when it is not installed and this is not a
    /// CI run (the reason is printed).
    pub fn start_ejabberd() -> Result<Option<Peer>, String> {
        Peer::start(Kind::Ejabberd)
    }

    /// Starts a server of the given kind (see [`Peer::start_prosody`]).
    pub fn start(kind: Kind) -> Result<Option<Peer>, String> {
        if let Some(reason) = unavailable(kind) {
            let reason = format!("{}: {reason}", kind.name());
            if in_ci() {
                return Err(format!(
                    "{reason}; CI=true, so this is a failure (run `cargo xtask peers`)"
                ));
            }
            note(&format!(
                "{reason}; skipping the tests against it (`cargo xtask peers` installs it)"
            ));
            return Ok(None);
        }
        let started = Instant::now();
        let dir = make_temp_dir(kind.name())?;
        let run_as = is_root().then(|| kind.system_user());
        let mut peer = Peer {
            name: kind.name(),
            kind,
            domain: DOMAIN.to_owned(),
            sha256_domain: Some(SHA256_DOMAIN.to_owned()),
            c2s_port: 0,
            ca_file: dir.join("ca.pem"),
            logs: Vec::new(),
            run_as,
            child: None,
            pid_file: dir.join(format!("{}.pid", kind.name())),
            dir,
        };
        // From here on, dropping `peer` cleans up whatever was made.
        peer.make_certificates()?;
        match kind {
            Kind::Prosody => peer.launch_prosody()?,
            Kind::Ejabberd => peer.launch_ejabberd()?,
        }
        peer.wait_for_port(started)?;
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
    pub fn register(&self, user: &str, password: &str) -> Result<(), String> {
        self.register_on(user, &self.domain, password)
    }

    /// Creates the account `user@domain` on one of the peer's domains.
    pub fn register_on(&self, user: &str, domain: &str, password: &str) -> Result<(), String> {
        let what = format!("{}: registering {user}@{domain}", self.name);
        match self.kind {
            Kind::Prosody => {
                let mut command = self.command("prosodyctl");
                command
                    .arg("--config")
                    .arg(self.dir.join("prosody.cfg.lua"))
                    .args(["register", user, domain, password]);
                run_bounded(&mut command, COMMAND_LIMIT).map_err(|e| format!("{what}: {e}"))?;
                Ok(())
            }
            Kind::Ejabberd => {
                // Right after the port opens the node may still be finishing
                // its start: retry for a while.
                let deadline = Instant::now() + COMMAND_LIMIT;
                loop {
                    let mut command = self.ejabberdctl();
                    command.args(["register", user, domain, password]);
                    match run_bounded(&mut command, COMMAND_LIMIT) {
                        Ok(_) => return Ok(()),
                        Err(error) if Instant::now() >= deadline => {
                            return Err(format!("{what}: {error}"));
                        }
                        Err(error) if error.contains("already registered") => {
                            return Err(format!("{what}: {error}"));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(500)),
                    }
                }
            }
        }
    }

    /// Creates every account of [`USERS`] on [`Peer::domain`], and `alice`
    /// (same password) on [`Peer::sha256_domain`].
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
        let mut out = String::new();
        for path in &self.logs {
            let _ = writeln!(out, "==> {} <==", path.display());
            match fs::read(path) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let lines: Vec<&str> = text.lines().collect();
                    if lines.len() > TAIL_LINES {
                        let _ = writeln!(out, "[… {} earlier lines]", lines.len() - TAIL_LINES);
                    }
                    for line in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
                        let _ = writeln!(out, "{line}");
                    }
                }
                Err(error) => {
                    let _ = writeln!(out, "(cannot read: {error})");
                }
            }
        }
        out
    }

    /// Whether the server process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Stops the server (also done by [`Drop`]). Returns an error if some
    /// process was still there after SIGKILL.
    pub fn stop(&mut self) -> Result<(), String> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // Every process the peer started: the child, what it started, and
        // the server's own PID from its PID file (the same process or one of
        // the others, unless it has already gone).
        let mut pids = vec![child.id()];
        pids.extend(descendants(child.id()));
        if let Some(pid) = read_pid(&self.pid_file) {
            if !pids.contains(&pid) && is_descendant_or_orphan_of(pid, child.id()) {
                pids.push(pid);
            }
        }
        signal(&pids, "TERM");
        let deadline = Instant::now() + STOP_LIMIT;
        let _ = wait_child_until(&mut child, deadline);
        while Instant::now() < deadline && pids.iter().any(|&pid| is_alive(pid)) {
            thread::sleep(Duration::from_millis(50));
        }
        let left: Vec<u32> = pids.iter().copied().filter(|&pid| is_alive(pid)).collect();
        if left.is_empty() {
            return Ok(());
        }
        signal(&left, "KILL");
        let _ = child.kill();
        let _ = child.wait();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && left.iter().any(|&pid| is_alive(pid)) {
            thread::sleep(Duration::from_millis(50));
        }
        let left: Vec<u32> = left.into_iter().filter(|&pid| is_alive(pid)).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{}: processes {left:?} survived SIGKILL",
                self.name
            ))
        }
    }

    /// A command for one of the server's programs, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let program = find_program(program).unwrap_or_else(|| PathBuf::from(program));
        let mut command = match self.run_as {
            Some(user) => {
                let mut command = Command::new("setpriv");
                command
                    .args(["--reuid", user, "--regid", user, "--init-groups"])
                    .args(["--pdeathsig", "TERM", "--"])
                    .arg(program);
                command
            }
            None => Command::new(program),
        };
        command
            .current_dir(&self.dir)
            .env("HOME", &self.dir)
            .stdin(Stdio::null());
        command
    }

    fn ejabberdctl(&self) -> Command {
        let mut command = self.command("ejabberdctl");
        command.arg("--config-dir").arg(&self.dir);
        command
    }

    /// Writes a file into the peer's directory.
    fn write(&self, name: &str, contents: &str) -> Result<PathBuf, String> {
        let path = self.dir.join(name);
        fs::write(&path, contents).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(path)
    }

    /// A test CA, and a certificate for the peer's domains signed by it.
    fn make_certificates(&self) -> Result<(), String> {
        let mut names = vec![self.domain.clone()];
        names.extend(self.sha256_domain.clone());
        let san: Vec<String> = names.iter().map(|name| format!("DNS:{name}")).collect();
        self.write(
            "server-ext.cnf",
            &format!(
                "subjectAltName = {}\n\
                 basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature\n\
                 extendedKeyUsage = serverAuth\n",
                san.join(", ")
            ),
        )?;
        let steps = [
            "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout ca.key -out ca.pem -days 30 -subj /O=Starling/CN=Starling-test-CA \
             -addext basicConstraints=critical,CA:TRUE \
             -addext keyUsage=critical,keyCertSign,cRLSign",
            "req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout server.key -out server.csr -subj /O=Starling/CN=localhost",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
             -out server.crt -days 30 -extfile server-ext.cnf",
        ];
        for args in steps {
            let mut command = Command::new("openssl");
            command
                .args(args.split_whitespace())
                .current_dir(&self.dir)
                .stdin(Stdio::null());
            run_bounded(&mut command, COMMAND_LIMIT)
                .map_err(|e| format!("{}: making the test certificates: {e}", self.name))?;
        }
        // Not needed after signing; the server only needs its own key.
        let _ = fs::remove_file(self.dir.join("ca.key"));
        let _ = fs::remove_file(self.dir.join("server.csr"));
        Ok(())
    }

    /// Hands the directory to the server's user (when running as root).
    fn give_directory(&self) -> Result<(), String> {
        let Some(user) = self.run_as else {
            return Ok(());
        };
        let mut command = Command::new("chown");
        command
            .args(["-R", &format!("{user}:{user}")])
            .arg(&self.dir)
            .stdin(Stdio::null());
        run_bounded(&mut command, COMMAND_LIMIT).map(|_| ())
    }

    /// Starts the server process with its output going to `stdout.log`.
    fn spawn(&mut self, mut command: Command) -> Result<(), String> {
        let output_path = self.dir.join("stdout.log");
        let output = fs::File::create(&output_path)
            .map_err(|e| format!("creating {}: {e}", output_path.display()))?;
        let errors = output
            .try_clone()
            .map_err(|e| format!("{}: {e}", output_path.display()))?;
        command.stdout(output).stderr(errors);
        self.logs.push(output_path);
        let child = command
            .spawn()
            .map_err(|e| format!("{}: cannot start {command:?}: {e}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    fn launch_prosody(&mut self) -> Result<(), String> {
        self.c2s_port = free_ports(1)?[0];
        let dir = lua_string(&self.dir)?;
        let mut hosts = format!("VirtualHost \"{}\"\n", self.domain);
        if let Some(domain) = &self.sha256_domain {
            let _ = write!(
                hosts,
                "VirtualHost \"{domain}\"\n    password_hash = \"SHA-256\"\n"
            );
        }
        fs::create_dir(self.dir.join("data")).map_err(|e| format!("creating data dir: {e}"))?;
        let log = self.dir.join("prosody.log");
        let config = format!(
            "-- Private configuration of a Prosody started by Starling's interop tests.\n\
             pidfile = \"{dir}/prosody.pid\"\n\
             data_path = \"{dir}/data\"\n\
             certificates = \"{dir}/certs\"\n\
             plugin_paths = {{}}\n\
             admins = {{}}\n\
             log = {{ debug = \"{dir}/prosody.log\" }}\n\
             interfaces = {{ \"127.0.0.1\" }}\n\
             c2s_ports = {{ {port} }}\n\
             c2s_direct_tls_ports = {{}}\n\
             legacy_ssl_ports = {{}}\n\
             s2s_ports = {{}}\n\
             c2s_require_encryption = true\n\
             allow_registration = false\n\
             authentication = \"internal_hashed\"\n\
             -- Only what the tests use: no rate limits (mod_limits), no\n\
             -- stream management, no offline storage, no s2s.\n\
             modules_enabled = {{ \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; \"ping\"; \"version\"; \"posix\" }}\n\
             modules_disabled = {{ \"s2s\"; \"offline\" }}\n\
             ssl = {{ certificate = \"{dir}/server.crt\"; key = \"{dir}/server.key\" }}\n\
             {hosts}",
            port = self.c2s_port,
        );
        let config_path = self.write("prosody.cfg.lua", &config)?;
        // Prosody also looks for certificates in this directory by name.
        fs::create_dir(self.dir.join("certs")).map_err(|e| format!("creating certs dir: {e}"))?;
        self.logs.push(log);
        self.give_directory()?;
        let mut command = self.command("prosody");
        command.arg("-F").arg("--config").arg(&config_path);
        self.spawn(command)
    }

    fn launch_ejabberd(&mut self) -> Result<(), String> {
        let [c2s, dist] = free_ports(2)?[..] else {
            unreachable!("two ports were asked for");
        };
        self.c2s_port = c2s;
        let dir = yaml_string(&self.dir)?;
        for sub in ["spool", "log"] {
            fs::create_dir(self.dir.join(sub)).map_err(|e| format!("creating {sub}: {e}"))?;
        }
        let mut hosts = format!("  - \"{}\"\n", self.domain);
        let mut host_config = String::new();
        if let Some(domain) = &self.sha256_domain {
            let _ = writeln!(hosts, "  - \"{domain}\"");
            let _ = write!(
                host_config,
                "host_config:\n  \"{domain}\":\n    auth_scram_hash: sha256\n"
            );
        }
        let config = format!(
            "# Private configuration of an ejabberd started by Starling's interop tests.\n\
             hosts:\n{hosts}\
             loglevel: info\n\
             log_rotate_count: 0\n\
             certfiles:\n  - \"{dir}/server.crt\"\n  - \"{dir}/server.key\"\n\
             ca_file: \"{dir}/ca.pem\"\n\
             acme:\n  auto: false\n\
             listen:\n\
             \x20 -\n\
             \x20   port: {c2s}\n\
             \x20   ip: \"127.0.0.1\"\n\
             \x20   module: ejabberd_c2s\n\
             \x20   starttls_required: true\n\
             \x20   access: c2s\n\
             auth_method: internal\n\
             auth_password_format: scram\n\
             auth_scram_hash: sha\n\
             {host_config}\
             # No outgoing s2s; no c2s shaper (rate limits); nothing but what the tests use.\n\
             s2s_access: s2s\n\
             access_rules:\n  c2s:\n    allow: all\n  s2s:\n    deny: all\n\
             shaper_rules: {{}}\n\
             modules:\n  mod_disco: {{}}\n  mod_ping: {{}}\n  mod_roster: {{}}\n  mod_version: {{}}\n"
        );
        self.write("ejabberd.yml", &config)?;
        // ejabberdctl reads this file (a shell fragment) both when starting
        // the node and for every command. With ERL_DIST_PORT set, the node
        // listens for ejabberdctl on that port and no epmd daemon is started.
        let node = format!("starling{}x{}@localhost", std::process::id(), unique());
        let ctl = format!(
            "# Private ejabberdctl settings of Starling's interop tests.\n\
             ERLANG_NODE={node}\n\
             ERL_DIST_PORT={dist}\n\
             ERL_OPTIONS=\"-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {{127,0,0,1}}\"\n\
             SPOOL_DIR={dir}/spool\n\
             LOGS_DIR={dir}/log\n\
             EJABBERD_PID_PATH={pid}\n\
             EJABBERD_BYPASS_WARNINGS=true\n",
            pid = yaml_string(&self.pid_file)?,
        );
        self.write("ejabberdctl.cfg", &ctl)?;
        // Name resolution as usual; without the file Erlang prints an error.
        self.write("inetrc", "{lookup, [file, native]}.\n")?;
        // The distribution cookie, private to this run (HOME is the directory).
        let cookie = self.write(".erlang.cookie", &format!("starling{}", random_token()))?;
        fs::set_permissions(&cookie, fs::Permissions::from_mode(0o400))
            .map_err(|e| format!("{}: {e}", cookie.display()))?;
        self.logs.push(self.dir.join("log").join("error.log"));
        self.logs.push(self.dir.join("log").join("ejabberd.log"));
        self.give_directory()?;
        let mut command = self.ejabberdctl();
        command.arg("foreground");
        self.spawn(command)
    }

    /// Waits until the c2s port accepts connections, the process exits, or
    /// [`STARTUP_LIMIT`] has passed since `started`.
    fn wait_for_port(&mut self, started: Instant) -> Result<(), String> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.c2s_port));
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok() {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{} exited ({status}) before listening on {address}\n{}",
                        self.name,
                        self.log_tail()
                    ));
                }
            }
            if started.elapsed() >= STARTUP_LIMIT {
                return Err(format!(
                    "{} was not listening on {address} after {} s\n{}",
                    self.name,
                    STARTUP_LIMIT.as_secs(),
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "\n---- {} logs (the test failed) ----\n{}---- end of {} logs ----",
                self.name,
                self.log_tail(),
                self.name
            );
        }
        if let Err(error) = self.stop() {
            eprintln!("{error}");
        }
        if std::env::var_os("STARLING_KEEP_PEER_DIR").is_some() {
            eprintln!("{}: kept {}", self.name, self.dir.display());
        } else if let Err(error) = fs::remove_dir_all(&self.dir) {
            eprintln!(
                "{}: cannot remove {}: {error}",
                self.name,
                self.dir.display()
            );
        }
    }
}

/// Why a server of `kind` cannot be started here, if it cannot.
fn unavailable(kind: Kind) -> Option<String> {
    let missing: Vec<&str> = kind
        .programs()
        .iter()
        .copied()
        .filter(|program| find_program(program).is_none())
        .collect();
    if !missing.is_empty() {
        return Some(format!("not installed (missing: {})", missing.join(", ")));
    }
    if is_root() {
        if find_program("setpriv").is_none() {
            return Some("`setpriv` is missing (needed to drop root)".to_owned());
        }
        if !user_exists(kind.system_user()) {
            return Some(format!("no `{}` system user", kind.system_user()));
        }
    } else if kind == Kind::Ejabberd && current_user().as_deref() != Some("ejabberd") {
        // Debian's ejabberdctl runs only as root or as `ejabberd`.
        return Some("ejabberdctl runs only as root or as the `ejabberd` user".to_owned());
    }
    None
}

/// The path of `program` in `PATH` or in the system directories that a
/// non-root `PATH` often lacks.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// The real user id of this process, from `/proc/self/status`.
fn uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn is_root() -> bool {
    uid() == Some(0)
}

fn user_exists(user: &str) -> bool {
    passwd_entry(|fields| fields[0] == user).is_some()
}

fn current_user() -> Option<String> {
    let uid = uid()?.to_string();
    passwd_entry(|fields| fields[2] == uid)
}

/// The name of the first `/etc/passwd` entry matching `matches`.
fn passwd_entry(matches: impl Fn(&[&str]) -> bool) -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() > 2 && matches(fields))
        .map(|fields| fields[0].to_owned())
}

/// A number unique within this process.
fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Some unpredictable hex digits (for the Erlang cookie).
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut file) = fs::File::open("/dev/urandom") {
        let _ = file.read_exact(&mut bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    bytes[..4]
        .iter_mut()
        .zip(nanos.to_le_bytes())
        .for_each(|(b, n)| *b ^= n);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Creates a fresh directory under the system temporary directory.
fn make_temp_dir(name: &str) -> Result<PathBuf, String> {
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let dir = base.join(format!(
            "starling-{name}-{}-{}-{}",
            std::process::id(),
            unique(),
            &random_token()[..8]
        ));
        match fs::create_dir(&dir) {
            Ok(()) => {
                // Readable by the server's user, who gets ownership later.
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("{}: {e}", dir.display()))?;
                return Ok(dir);
            }
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(format!("creating {}: {error}", dir.display())),
        }
    }
    Err(format!("cannot create a directory in {}", base.display()))
}

/// `count` distinct ports of 127.0.0.1 that were free a moment ago.
pub fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    // Hold every listener until all are chosen, so the ports differ.
    let listeners = (0..count)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("finding a free port: {e}"))?;
    listeners
        .iter()
        .map(|listener| listener.local_addr().map(|address| address.port()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("finding a free port: {e}"))
}

/// A path as the inside of a double-quoted Lua string.
fn lua_string(path: &Path) -> Result<String, String> {
    plain_path(path)
}

/// A path as the inside of a double-quoted YAML string (and a shell word).
fn yaml_string(path: &Path) -> Result<String, String> {
    plain_path(path)
}

/// The path as text, if it has nothing that would need quoting in a Lua,
/// YAML or shell string (temporary directories never do).
fn plain_path(path: &Path) -> Result<String, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text}: unusual characters in the temporary directory (set TMPDIR)"
        ))
    }
}

/// Runs an administration command within `limit`, returning its standard
/// output; a non-zero exit or the time running out is an error that
/// includes both output streams.
fn run_bounded(command: &mut Command, limit: Duration) -> Result<String, String> {
    let finished = run_with_limit(command, limit)?;
    if finished.success() {
        Ok(finished.stdout)
    } else {
        Err(format!("{command:?}: {}", finished.describe()))
    }
}

/// Waits for `child` to exit until `deadline`; `None` if it is still running.
fn wait_child_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(25)),
            _ => return None,
        }
    }
}

/// `(pid, ppid, state)` of a process, from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u32, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((pid, ppid, state))
}

fn all_processes() -> Vec<(u32, u32, char)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(proc_stat)
        .collect()
}

/// Every running descendant of `root`.
fn descendants(root: u32) -> Vec<u32> {
    let processes = all_processes();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for &(pid, ppid, _) in &processes {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

/// Whether `pid` (read from a PID file) is one of ours: a descendant of
/// `root`, or an orphan re-parented after `root` died. Guards against
/// signalling an unrelated process that reused a stale PID.
fn is_descendant_or_orphan_of(pid: u32, root: u32) -> bool {
    descendants(root).contains(&pid) || proc_stat(pid).is_some_and(|(_, ppid, _)| ppid == 1)
}

/// Whether `pid` is a process that has not exited (zombies have).
fn is_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(_, _, state)| state != 'Z' && state != 'X')
}

/// Sends a signal to each of `pids` with `kill(1)`.
fn signal(pids: &[u32], name: &str) {
    let pids: Vec<String> = pids
        .iter()
        .filter(|&&pid| is_alive(pid))
        .map(u32::to_string)
        .collect();
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .args(&pids)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}
