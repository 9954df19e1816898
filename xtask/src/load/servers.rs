//! The servers under load: Starling (`target/release/starling`) and Prosody
//! (Debian's package), each started on a free port of 127.0.0.1 from a
//! private configuration in a temporary directory, with the load test's
//! accounts already created.
//!
//! Prosody is started by the interop tests' launcher
//! (`starling_testkit::peers`), which makes the test CA and runs the server
//! as the `prosody` user when we are root; its configuration is then tuned
//! for load (no debug log) and reloaded with SIGHUP.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use starling_auth::sasl::{ScramCredentials, ScramHash};
use starling_testkit::peers::{self, Peer};
use starling_testkit::ports::free_ports;

use crate::util::Result;

/// The domain of the load test's accounts on both servers.
pub(crate) const DOMAIN: &str = peers::DOMAIN;

/// The SCRAM iteration count of every account (the RFC 7677 minimum, which
/// the client also requires).
const ITERATIONS: u32 = 4096;

/// How long a server may take to start or stop, and an account import.
const LIMIT: Duration = Duration::from_secs(120);

/// Warnings or errors from a server's log shown in the report, at most.
const LOG_LINES: usize = 8;

/// One account of the load test.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    /// The localpart.
    pub(crate) user: String,
    /// The password.
    pub(crate) password: String,
}

/// The accounts `u0` … `u{n-1}`.
pub(crate) fn accounts(n: usize) -> Vec<Account> {
    (0..n)
        .map(|i| Account {
            user: format!("u{i}"),
            password: format!("load-{i}-Secret"),
        })
        .collect()
}

/// What Prosody loads besides the load test's modules (Starling runs all of
/// its modules in every run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extras {
    /// Nothing more.
    None,
    /// XEP-0198, carbons, CSI and blocking (`Peer::start_mobile`).
    Mobile,
    /// PEP and the account-storage modules (`Peer::start_pep`).
    Pep,
}

/// A running server.
#[derive(Debug)]
pub(crate) struct Server {
    /// `starling` or `prosody`.
    pub(crate) name: &'static str,
    /// Where clients connect (STARTTLS), `127.0.0.1:PORT`.
    pub(crate) address: String,
    /// The PEM file to trust for the server's certificate.
    pub(crate) ca_file: PathBuf,
    /// The server process, for `/proc`.
    pub(crate) pid: u32,
    /// The server's log with warnings and errors.
    log: PathBuf,
    process: Process,
}

#[derive(Debug)]
enum Process {
    /// Dropping the peer stops Prosody and removes its directory.
    Prosody(Box<Peer>),
    Starling {
        child: Child,
        dir: PathBuf,
    },
}

impl Server {
    /// Starts the server `name` with `accounts`. `root` is the workspace;
    /// `baseline` the binary of the server `baseline`; `extras` what
    /// Prosody loads besides (Starling has its own modules on by default).
    pub(crate) fn start(
        name: &str,
        accounts: &[Account],
        root: &Path,
        baseline: Option<&Path>,
        extras: Extras,
    ) -> Result<Server> {
        match (name, baseline) {
            ("starling", _) => {
                let binary = crate::load::target_dir(root)
                    .join("release")
                    .join("starling");
                start_starling(accounts, &binary, "starling")
            }
            ("baseline", Some(binary)) => start_starling(accounts, binary, "baseline"),
            ("prosody", _) => start_prosody(accounts, extras),
            (other, _) => bail!("unknown server `{other}`"),
        }
    }

    /// Makes the subscription between `owner` and each of `contacts`
    /// mutual by writing Prosody's roster files (before anyone logs in):
    /// `Ok(false)` on a server where that must be done over the protocol.
    /// (Prosody rewrites a user's whole roster file at each change, so
    /// 500 subscriptions over the protocol take minutes.)
    pub(crate) fn preset_mutual_rosters(
        &self,
        owner: &Account,
        contacts: &[Account],
    ) -> Result<bool> {
        let Process::Prosody(peer) = &self.process else {
            return Ok(false);
        };
        let dir = peer
            .dir
            .join("data")
            .join(escape_prosody_path(DOMAIN))
            .join("roster");
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let write = |user: &str, text: String| -> Result<()> {
            let path = dir.join(format!("{}.dat", escape_prosody_path(user)));
            fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()).into())
        };
        let jids: Vec<String> = contacts
            .iter()
            .map(|c| format!("{}@{DOMAIN}", c.user))
            .collect();
        write(
            &owner.user,
            prosody_roster_file(jids.iter().map(String::as_str)),
        )?;
        let owner_jid = format!("{}@{DOMAIN}", owner.user);
        for contact in contacts {
            write(
                &contact.user,
                prosody_roster_file([owner_jid.as_str()].into_iter()),
            )?;
        }
        give_to_prosody(&peer.dir, &dir)?;
        Ok(true)
    }

    /// Whether the server process is still there.
    pub(crate) fn is_running(&self) -> bool {
        fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|stat| {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            !matches!(state, Some("Z" | "X") | None)
        })
    }

    /// The warning and error lines of the server's log: how many, and the
    /// first few.
    pub(crate) fn log_problems(&self) -> (usize, Vec<String>) {
        let text = fs::read(&self.log)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let problems: Vec<&str> = text.lines().filter(|line| is_problem(line)).collect();
        let shown = problems
            .iter()
            .take(LOG_LINES)
            .map(|line| line.chars().take(300).collect())
            .collect();
        (problems.len(), shown)
    }

    /// Stops the server and removes its directory (kept when
    /// `STARLING_KEEP_PEER_DIR` is set).
    pub(crate) fn stop(self) -> Result<()> {
        match self.process {
            Process::Prosody(mut peer) => {
                let result = peer.stop();
                drop(peer);
                result.map_err(Into::into)
            }
            Process::Starling { mut child, dir } => {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut status = None;
                while Instant::now() < deadline {
                    if let Ok(Some(exit)) = child.try_wait() {
                        status = Some(exit);
                        break;
                    }
                    thread::sleep(Duration::from_millis(50));
                }
                let result = match status {
                    Some(_) => Ok(()),
                    None => {
                        let _ = child.kill();
                        let _ = child.wait();
                        Err("starling did not stop within 20 s of SIGTERM (killed)".into())
                    }
                };
                if std::env::var_os("STARLING_KEEP_PEER_DIR").is_some() {
                    eprintln!("starling: kept {}", dir.display());
                } else {
                    let _ = fs::remove_dir_all(&dir);
                }
                result
            }
        }
    }
}

/// Whether a log line reports a warning or an error (Prosody's and
/// tracing's formats).
fn is_problem(line: &str) -> bool {
    line.split_whitespace()
        .take(6)
        .any(|word| matches!(word, "warn" | "error" | "WARN" | "ERROR"))
}

fn start_prosody(accounts: &[Account], extras: Extras) -> Result<Server> {
    let peer = match extras {
        Extras::None => Peer::start_prosody()?,
        Extras::Mobile => Peer::start_mobile(peers::Kind::Prosody)?,
        Extras::Pep => Peer::start_pep(peers::Kind::Prosody)?,
    };
    let Some(peer) = peer else {
        bail!("prosody is not installed (`cargo xtask peers` installs it)");
    };
    let data = peer.dir.join("data");
    write_prosody_accounts(&data, DOMAIN, accounts)?;
    give_to_prosody(&peer.dir, &data)?;
    let pid = wait_for_pid(&peer.dir.join("prosody.pid"))?;
    let log = reconfigure_prosody(&peer.dir, pid)?;
    Ok(Server {
        name: "prosody",
        address: peer.address(),
        ca_file: peer.ca_file.clone(),
        pid,
        log,
        process: Process::Prosody(Box::new(peer)),
    })
}

/// Gives `path` (recursively) to the owner of Prosody's directory `dir`:
/// the server's user.
fn give_to_prosody(dir: &Path, path: &Path) -> Result<()> {
    let mut chown = Command::new("chown");
    chown
        .arg("-R")
        .arg(format!("--reference={}", dir.display()))
        .arg(path);
    crate::util::capture(&mut chown)?;
    Ok(())
}

/// The text of a Prosody roster file whose every contact of `contacts`
/// has a mutual (`both`) subscription, as Prosody 0.12 writes it.
fn prosody_roster_file<'a>(contacts: impl Iterator<Item = &'a str>) -> String {
    let mut text = String::from(
        "return {\n\t[false] = {\n\t\t[\"pending\"] = {};\n\t\t[\"version\"] = 1;\n\t};\n",
    );
    for jid in contacts {
        let _ = write!(
            text,
            "\t[\"{jid}\"] = {{\n\t\t[\"subscription\"] = \"both\";\n\t\t[\"groups\"] = {{}};\n\t}};\n"
        );
    }
    text.push_str("};\n");
    text
}

/// Writes one Prosody `internal_hashed` account file per account, as
/// `prosodyctl register` does: `<data>/<host>/accounts/<user>.dat`.
fn write_prosody_accounts(data: &Path, host: &str, accounts: &[Account]) -> Result<()> {
    let dir = data.join(escape_prosody_path(host)).join("accounts");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // PBKDF2 for thousands of accounts: use every core.
    let threads = thread::available_parallelism().map_or(2, usize::from);
    let chunk = accounts.len().div_ceil(threads).max(1);
    thread::scope(|scope| {
        let workers: Vec<_> = accounts
            .chunks(chunk)
            .map(|chunk| {
                let dir = &dir;
                scope.spawn(move || -> Result<()> {
                    for account in chunk {
                        let salt = random_salt();
                        let text = prosody_account_file(&account.password, &salt, ITERATIONS)?;
                        let path = dir.join(format!("{}.dat", escape_prosody_path(&account.user)));
                        fs::write(&path, text)
                            .map_err(|e| format!("writing {}: {e}", path.display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().map_err(|_| "a worker panicked")?)
    })
}

/// The text of a Prosody 0.12 `internal_hashed` account file.
fn prosody_account_file(password: &str, salt: &str, iterations: u32) -> Result<String> {
    let credentials =
        ScramCredentials::derive(password, salt.as_bytes(), iterations, ScramHash::Sha1)
            .map_err(|e| format!("deriving SCRAM credentials: {e}"))?;
    Ok(format!(
        "return {{\n\
         \t[\"iteration_count\"] = {iterations};\n\
         \t[\"salt\"] = \"{salt}\";\n\
         \t[\"server_key\"] = \"{}\";\n\
         \t[\"stored_key\"] = \"{}\";\n\
         }};\n",
        hex(&credentials.server_key),
        hex(&credentials.stored_key),
    ))
}

/// Prosody's file name encoding (`util.datamanager`): every character but
/// letters, digits and `_` as `%xx`.
fn escape_prosody_path(name: &str) -> String {
    name.bytes().fold(String::new(), |mut out, byte| {
        if byte.is_ascii_alphanumeric() || byte == b'_' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02x}");
        }
        out
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// 32 random hex digits (Prosody uses a UUID as the salt; any printable
/// string will do).
fn random_salt() -> String {
    let mut bytes = [0u8; 16];
    let _ = fs::File::open("/dev/urandom")
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes));
    hex(&bytes)
}

/// Waits for a PID file to hold a PID.
fn wait_for_pid(path: &Path) -> Result<u32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            bail!("no PID in {} after 30 s", path.display());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until process `pid` catches SIGHUP (`SigCgt` in
/// `/proc/PID/status`).
fn wait_for_sighup_handler(pid: u32) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if catches_sighup(&status) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("process {pid} does not catch SIGHUP after 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether the `SigCgt` mask of a `/proc/PID/status` text has SIGHUP
/// (signal 1, the lowest bit).
fn catches_sighup(status: &str) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & 1 == 1)
}

/// Rewrites the launcher's configuration for load — warnings only in the
/// log instead of debug, a larger stanza limit — and makes Prosody reload
/// it (SIGHUP). Returns the new log file.
fn reconfigure_prosody(dir: &Path, pid: u32) -> Result<PathBuf> {
    let path = dir.join("prosody.cfg.lua");
    let config = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let log = dir.join("prosody-load.log");
    let mut tuned: String = config
        .lines()
        .filter(|line| !line.trim_start().starts_with("log ="))
        .fold(String::new(), |mut out, line| {
            out.push_str(line);
            out.push('\n');
            out
        });
    // Global options must come before the first VirtualHost line.
    let globals = format!(
        "-- cargo xtask load: warnings only (a debug log would dominate the\n\
         -- measurement); no mod_limits (not loaded), stanzas up to 1 MiB.\n\
         log = {{ warn = \"{}\" }}\n\
         c2s_stanza_size_limit = 1024*1024\n\
         network_settings = {{ nagle = false }}\n",
        log.display()
    );
    let at = tuned.find("VirtualHost").unwrap_or(tuned.len());
    tuned.insert_str(at, &globals);
    fs::write(&path, tuned).map_err(|e| format!("{}: {e}", path.display()))?;
    // Prosody writes its PID file when mod_posix loads but installs its
    // signal handlers a moment later: a SIGHUP before that ends it.
    wait_for_sighup_handler(pid)?;
    let status = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("could not send SIGHUP to prosody ({pid})");
    }
    // The reload opens the new log file.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !log.exists() {
        if Instant::now() >= deadline {
            bail!(
                "prosody did not reload its configuration (no {})",
                log.display()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(log)
}

/// A new private directory for a server: `TMP/starling-PREFIX-PID-RANDOM`.
pub(crate) fn server_dir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "starling-{prefix}-{}-{}",
        std::process::id(),
        &random_salt()[..8]
    ));
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

/// A Starling server to start with [`launch_starling`].
#[derive(Debug)]
pub(crate) struct StarlingSetup<'a> {
    /// The name in reports.
    pub(crate) name: &'static str,
    /// The `starling` binary.
    pub(crate) binary: &'a Path,
    /// Its directory (from [`server_dir`]): the data directory is `data`
    /// in it; the configuration, the log and the account list go there.
    pub(crate) dir: PathBuf,
    /// The served domain (the one of the accounts).
    pub(crate) domain: &'a str,
    /// The c2s STARTTLS port on 127.0.0.1, in [`StarlingSetup::config`].
    pub(crate) port: u16,
    /// The configuration file's text.
    pub(crate) config: String,
}

/// Starts the `starling` binary `binary`, reported as `name`.
fn start_starling(accounts: &[Account], binary: &Path, name: &'static str) -> Result<Server> {
    let dir = server_dir("load")?;
    let port = free_ports(1)?[0];
    let data = dir.join("data");
    let config = format!(
        "# cargo xtask load: STARTTLS on one loopback port, warnings only,\n\
         # no per-IP or read-rate limits in the way of one load generator.\n\
         data_dir = \"{data}\"\n\
         [[hosts]]\n\
         domain = \"{DOMAIN}\"\n\
         [c2s]\n\
         listen = [\"127.0.0.1:{port}\"]\n\
         listen_tls = []\n\
         require_tls = true\n\
         scram_iterations = {ITERATIONS}\n\
         [limits]\n\
         read_rate = 1073741824\n\
         max_connections_per_ip = 1000000\n\
         negotiation_timeout = 120\n\
         idle_timeout = 3600\n\
         [log]\n\
         level = \"warn\"\n\
         {extra}",
        data = data.display(),
        // More configuration for an experiment, e.g. a module's switch.
        extra = std::env::var("STARLING_LOAD_TOML").unwrap_or_default(),
    );
    let setup = StarlingSetup {
        name,
        binary,
        dir,
        domain: DOMAIN,
        port,
        config,
    };
    launch_starling(setup, accounts)
}

/// Writes the configuration, imports the accounts, starts the server and
/// waits until it listens on its port and its certificate is there.
pub(crate) fn launch_starling(setup: StarlingSetup<'_>, accounts: &[Account]) -> Result<Server> {
    let StarlingSetup {
        name,
        binary,
        dir,
        domain,
        port,
        config,
    } = setup;
    if !binary.is_file() {
        let _ = fs::remove_dir_all(&dir);
        bail!(
            "{} is missing (cargo build --release -p starling-server)",
            binary.display()
        );
    }
    let data = dir.join("data");
    let config_path = dir.join("starling.toml");
    fs::write(&config_path, config).map_err(|e| format!("writing the config: {e}"))?;
    let list = dir.join("accounts.txt");
    let lines: String = accounts
        .iter()
        .map(|a| format!("{}@{domain} {}\n", a.user, a.password))
        .collect();
    write_private(&list, lines.as_bytes())
        .map_err(|e| format!("writing {}: {e}", list.display()))?;
    let mut import = Command::new(binary);
    import
        .arg("--config")
        .arg(&config_path)
        .args(["user", "import"])
        .arg(&list)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let started = Instant::now();
    crate::util::capture(&mut import)?;
    eprintln!(
        "{name}: imported {} accounts in {:.1} s",
        accounts.len(),
        started.elapsed().as_secs_f64()
    );
    let log = dir.join("starling.log");
    let log_file = fs::File::create(&log)?;
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(&config_path)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let ca_file = data.join("certs").join(format!("{domain}.crt"));
    let deadline = Instant::now() + LIMIT;
    loop {
        if TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
            && ca_file.is_file()
        {
            break;
        }
        let exited = child.try_wait().ok().flatten();
        if exited.is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = fs::read_to_string(&log).unwrap_or_default();
            bail!(
                "starling is not listening on {address} ({}); its log:\n{text}",
                exited.map_or_else(|| "timed out".to_owned(), |status| status.to_string())
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "{name}: listening on {address} (directory {})",
        dir.display()
    );
    let pid = child.id();
    Ok(Server {
        name,
        address: address.to_string(),
        ca_file,
        pid,
        log,
        process: Process::Starling { child, dir },
    })
}

/// Writes a file only its owner can read (it holds passwords; `starling
/// user import` warns about one others can read).
fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prosody_account_file_matches_prosodyctl() {
        // Written by `prosodyctl register user1 localhost pw1` (Prosody
        // 0.12.3, Debian 12).
        let expected = "return {\n\
             \t[\"iteration_count\"] = 10000;\n\
             \t[\"salt\"] = \"35125268-44a7-4c0d-8464-ee0935d0bf6e\";\n\
             \t[\"server_key\"] = \"cedb656abb90234109630ca6543fb68d1e6d3057\";\n\
             \t[\"stored_key\"] = \"88460d5b82e25192ccda1672491cf82f9aad209d\";\n\
             };\n";
        let written =
            prosody_account_file("pw1", "35125268-44a7-4c0d-8464-ee0935d0bf6e", 10000).unwrap();
        assert_eq!(written, expected);
    }

    #[test]
    fn prosody_roster_file_as_prosody_writes_it() {
        // Written by Prosody 0.12.3 for u1 after the benchmark's
        // subscriptions (its version counter aside).
        let expected = "return {\n\
             \t[false] = {\n\
             \t\t[\"pending\"] = {};\n\
             \t\t[\"version\"] = 1;\n\
             \t};\n\
             \t[\"u0@localhost\"] = {\n\
             \t\t[\"subscription\"] = \"both\";\n\
             \t\t[\"groups\"] = {};\n\
             \t};\n\
             };\n";
        assert_eq!(prosody_roster_file(["u0@localhost"].into_iter()), expected);
        let empty = prosody_roster_file([].into_iter());
        assert!(
            empty.ends_with("\t};\n};\n") && !empty.contains("subscription"),
            "{empty}"
        );
    }

    #[test]
    fn sighup_in_the_caught_mask() {
        let cases = [
            (
                "SigBlk:\t0000000000000000\nSigCgt:\t0000000180004a03\n",
                true,
            ),
            ("SigCgt:\t0000000180004a02\n", false),
            ("SigCgt:\tnot hex\n", false),
            ("", false),
        ];
        for (status, want) in cases {
            assert_eq!(catches_sighup(status), want, "{status}");
        }
    }

    #[test]
    fn prosody_path_escaping() {
        assert_eq!(escape_prosody_path("u12"), "u12");
        assert_eq!(
            escape_prosody_path("sha256.localhost"),
            "sha256%2elocalhost"
        );
    }

    #[test]
    fn accounts_and_problem_lines() {
        let list = accounts(3);
        assert_eq!(list[2].user, "u2");
        assert_ne!(list[0].password, list[1].password);
        assert!(is_problem(
            "Nov 25 15:00:01 c2s55d0 warn\tClient disconnected"
        ));
        assert!(is_problem(
            "2026-11-25T15:00:01Z  WARN starling_server::session: slow"
        ));
        assert!(!is_problem(
            "2026-11-25T15:00:01Z  INFO a warning about nothing"
        ));
        assert_eq!(random_salt().len(), 32);
    }
}
