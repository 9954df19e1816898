//! Federation (server-to-server) test helpers:
//!
//! * [`TestCa`]: a private CA made with `rcgen`, issuing certificates whose
//!   SAN is a domain, so that SASL `EXTERNAL` (XEP-0178) is exercised for
//!   real;
//! * [`FedServer`]: a `starling serve` with `[s2s]` enabled on free
//!   loopback ports, its own data directory, and its log (standard error)
//!   in a file that can be read while it runs;
//! * [`Dns`]: a DNS responder on UDP loopback answering SRV and A queries
//!   from a table (NXDOMAIN for other names), for `name_servers` and for
//!   Prosody's resolver;
//! * [`FedProsody`]: a Prosody with s2s enabled, reaching other domains
//!   through that DNS responder.
//!
//! Every process is stopped by PID on drop; every directory made here is
//! removed on drop (kept when `STARLING_KEEP_TEST_DIR` is set).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use starling_client::{Client, ClientBuilder};
use starling_jid::Jid;

use super::support::peers::{find_program, in_ci};
use super::support::{Finished, note, run_with_limit};
use super::{WAIT, presence, starling_bin, within};

/// How long a process may take to open its ports.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);

/// How long an administration command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

/// A number unique within this process.
fn unique() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A fresh directory of ours under the system temporary directory.
fn make_dir(kind: &str) -> PathBuf {
    let base = std::env::temp_dir();
    for _ in 0..1000 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "starling-fed-{kind}-{}-{}-{nanos:x}",
            std::process::id(),
            unique()
        ));
        if fs::create_dir(&dir).is_ok() {
            // Readable by a server that runs as another user.
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o755));
            return dir;
        }
    }
    panic!("cannot create a temporary directory in {}", base.display());
}

fn keep_dirs() -> bool {
    std::env::var_os("STARLING_KEEP_TEST_DIR").is_some()
}

fn remove_dir(dir: &Path) {
    if keep_dirs() {
        note(&format!("kept {}", dir.display()));
    } else {
        let _ = fs::remove_dir_all(dir);
    }
}

/// The kernel's range of ephemeral ports (`ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(str::parse::<u16>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// `count` distinct free ports of 127.0.0.1 outside the ephemeral range,
/// each held by a listener of ours until the caller drops it (just before
/// the server that will use it starts).
///
/// A port that a listener bound to port 0 got comes from the ephemeral
/// range, where any outgoing connection of this busy machine (s2s, c2s,
/// DNS, other tests) may take it as its source port before the server
/// binds it; and these servers are configured with each other's ports
/// before they start. So: ports where the kernel never hands out source
/// ports, never twice in this process, and held until needed.
pub fn reserve_ports(count: usize) -> (Vec<u16>, Vec<std::net::TcpListener>) {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let (low, high) = ephemeral_range();
    let (from, to) = if low > 12_000 {
        (10_000u32, u32::from(low) - 1)
    } else {
        (u32::from(high) + 1, 65_000)
    };
    assert!(from + 1000 < to, "no room for ports outside {low}-{high}");
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ u64::from(unique()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut given = GIVEN.lock().expect("the ports given");
    let mut held = Vec::new();
    for _ in 0..10_000 {
        if held.len() == count {
            break;
        }
        // xorshift64*
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let port = u16::try_from(from + (r >> 33) as u32 % (to - from)).expect("a port");
        if given.contains(&port) {
            continue;
        }
        if let Ok(l) = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            given.push(port);
            held.push((port, l));
        }
    }
    assert_eq!(held.len(), count, "cannot find {count} free ports");
    held.into_iter().unzip()
}

/// A port of 127.0.0.1 where nothing listens and nothing else can: a socket
/// bound to it without listening (connections get refused), held as long
/// as the returned socket lives.
pub fn closed_port() -> (u16, tokio::net::TcpSocket) {
    let (ports, holds) = reserve_ports(1);
    drop(holds);
    let sock = tokio::net::TcpSocket::new_v4().expect("a socket");
    sock.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, ports[0])))
        .expect("binding the reserved port");
    (ports[0], sock)
}

/// Waits until each of `ports` on 127.0.0.1 accepts a TCP connection; an
/// error if `exited` reports the process gone or the limit passes.
fn wait_for_ports(
    ports: &[u16],
    mut exited: impl FnMut() -> Option<String>,
    log: impl Fn() -> String,
) -> Result<(), String> {
    let started = Instant::now();
    for &port in ports {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if let Some(status) = exited() {
                return Err(format!(
                    "the process exited ({status}) before listening on {addr}\n{}",
                    log()
                ));
            }
            if started.elapsed() > STARTUP_LIMIT {
                return Err(format!(
                    "nothing listening on {addr} after {STARTUP_LIMIT:?}\n{}",
                    log()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Sends `signal` to `pid` with `kill(1)`.
fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGTERM, up to 10 s to exit, then SIGKILL.
fn stop_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    if lines.len() > n {
        let _ = writeln!(out, "[… {} earlier lines]", lines.len() - n);
    }
    for l in &lines[lines.len().saturating_sub(n)..] {
        let _ = writeln!(out, "{l}");
    }
    out
}

// ----- certificates --------------------------------------------------------

/// A private certificate authority for one test, in its own directory.
pub struct TestCa {
    /// The directory holding the CA certificate and what it issued.
    pub dir: PathBuf,
    /// The CA certificate (PEM): the trust anchor to configure.
    pub ca_file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA (ECDSA P-256).
    pub fn new() -> TestCa {
        let dir = make_dir("ca");
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "Starling federation test CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Starling");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("the CA certificate");
        let ca_file = dir.join("ca.pem");
        fs::write(&ca_file, cert.pem()).expect("writing the CA certificate");
        TestCa {
            dir,
            ca_file,
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `domain` (SAN DNS = the domain, server and client
    /// authentication) signed by this CA: `(certificate, key)` PEM files.
    pub fn issue(&self, domain: &str) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("a key");
        let mut params =
            CertificateParams::new(vec![domain.to_owned()]).expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, domain);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("signing a certificate");
        let cert_path = self.dir.join(format!("{domain}.crt"));
        let key_path = self.dir.join(format!("{domain}.key"));
        fs::write(&cert_path, cert.pem()).expect("writing a certificate");
        fs::write(&key_path, key.serialize_pem()).expect("writing a key");
        // Readable by a server that runs as another user (Prosody).
        let _ = fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644));
        (cert_path, key_path)
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        remove_dir(&self.dir);
    }
}

// ----- starling ------------------------------------------------------------

/// A `starling serve` with federation, configured through its public
/// fields before [`FedServer::start`].
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
    log: PathBuf,
    /// The reserved ports, held until the server starts.
    holds: Vec<std::net::TcpListener>,
    child: Option<Child>,
}

impl FedServer {
    /// A server for `domain` (not started): a directory, free ports, a
    /// dialback secret, generated certificates, STARTTLS s2s, TLS required.
    pub fn new(domain: &str) -> FedServer {
        let dir = make_dir("starling");
        let (ports, holds) = reserve_ports(3);
        FedServer {
            domain: domain.to_owned(),
            config: dir.join("starling.toml"),
            log: dir.join("starling.log"),
            dir,
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
            holds,
            child: None,
        }
    }

    /// Presents a certificate from `ca` and trusts `ca` for peers (so
    /// that SASL `EXTERNAL` works between servers of the same CA).
    pub fn use_ca(&mut self, ca: &TestCa) -> &mut FedServer {
        self.cert = Some(ca.issue(&self.domain));
        self.client_ca = Some(ca.ca_file.clone());
        self.ca_file = Some(ca.ca_file.clone());
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
        let _ = writeln!(t, "[s2s]\nenabled = true");
        let listen = if self.starttls_listener {
            format!("\"127.0.0.1:{}\"", self.s2s_port)
        } else {
            String::new()
        };
        let _ = writeln!(t, "listen = [{listen}]");
        let listen_tls = if self.direct_tls_listener {
            format!("\"127.0.0.1:{}\"", self.s2s_tls_port)
        } else {
            String::new()
        };
        let _ = writeln!(t, "listen_tls = [{listen_tls}]");
        let _ = writeln!(t, "require_tls = {}", self.require_tls);
        let _ = writeln!(t, "dialback = {}", self.dialback);
        let _ = writeln!(t, "dialback_secret = {:?}", self.dialback_secret);
        if let Some(ca) = &self.ca_file {
            let _ = writeln!(t, "ca_file = {ca:?}");
        }
        if let Some(s) = self.connect_timeout {
            let _ = writeln!(t, "connect_timeout = {s}");
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

    fn write_config(&self) {
        fs::write(&self.config, self.toml()).expect("writing the config");
    }

    /// A `starling` command with `--config` set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(starling_bin());
        c.arg("--config").arg(&self.config);
        c
    }

    /// Writes the config and starts the server; returns once every
    /// configured port accepts connections.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already started");
        self.write_config();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("creating the log file");
        // Free the reserved ports for the server, at the last moment.
        self.holds.clear();
        let mut cmd = self.command();
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("starting starling serve"));
        let mut ports = vec![self.c2s_port];
        if self.starttls_listener {
            ports.push(self.s2s_port);
        }
        if self.direct_tls_listener {
            ports.push(self.s2s_tls_port);
        }
        let child = self.child.as_mut().expect("started");
        let log_path = self.log.clone();
        let result = wait_for_ports(
            &ports,
            || child.try_wait().ok().flatten().map(|s| s.to_string()),
            || fs::read_to_string(&log_path).unwrap_or_default(),
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
            stop_child(&mut c);
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most [`WAIT`]) until a line of the log contains every one
    /// of `parts`; returns that line.
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
    pub fn admin(&self, args: &[&str]) -> Finished {
        let mut cmd = self.command();
        cmd.args(args);
        run_with_limit(&mut cmd, COMMAND_LIMIT).expect("running starling")
    }

    /// Creates `user@domain` with password `pw-user`.
    pub fn add_user(&self, user: &str) {
        let jid = format!("{user}@{}", self.domain);
        let out = self.admin(&["user", "add", &jid, "--password", &format!("pw-{user}")]);
        assert!(out.success(), "user add {jid}: {}", out.describe());
    }

    /// A client for `user@domain` (password `pw-user`) on one of the
    /// [`FedServer::extra_domains`], trusting its generated certificate.
    pub fn client_on(&self, domain: &str, user: &str) -> ClientBuilder {
        let jid: Jid = format!("{user}@{domain}").parse().expect("a JID");
        let ca = self
            .dir
            .join("data")
            .join("certs")
            .join(format!("{domain}.crt"));
        Client::builder(jid, &format!("pw-{user}"))
            .server(&format!("127.0.0.1:{}", self.c2s_port))
            .ca_file(ca)
            .timeout(Duration::from_secs(10))
    }

    /// The bare JID of `user` here.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// A client for `user` (password `pw-user`) on this server's c2s port,
    /// trusting its certificate.
    pub fn client(&self, user: &str) -> ClientBuilder {
        let jid: Jid = self.jid(user).parse().expect("a JID");
        let ca = self.client_ca.clone().unwrap_or_else(|| {
            self.dir
                .join("data")
                .join("certs")
                .join(format!("{}.crt", self.domain))
        });
        Client::builder(jid, &format!("pw-{user}"))
            .server(&format!("127.0.0.1:{}", self.c2s_port))
            .ca_file(ca)
            .timeout(Duration::from_secs(10))
    }

    /// Logs `user` in with `resource`, sends initial presence and waits
    /// until the server has processed it.
    pub async fn online(&self, user: &str, resource: &str) -> Client {
        let c = within(
            &format!("{user}@{} logging in", self.domain),
            self.client(user).resource(resource).connect(),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{user}@{} cannot log in: {e}\n{}",
                self.domain,
                tail(&self.log(), 40)
            )
        });
        within("initial presence", c.send_presence(presence(0)))
            .await
            .expect("sending presence");
        within("a ping after initial presence", c.ping(None))
            .await
            .expect("ping after initial presence");
        c
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
        remove_dir(&self.dir);
    }
}

// ----- DNS -----------------------------------------------------------------

/// DNS record type A.
pub const TYPE_A: u16 = 1;
/// DNS record type SRV.
pub const TYPE_SRV: u16 = 33;

type Records = HashMap<(String, u16), Vec<Vec<u8>>>;

/// A DNS responder on UDP 127.0.0.1 answering from a table: the records
/// of a known name and type; no records (NOERROR) for another type of a
/// known name or for a name above one (an empty non-terminal); NXDOMAIN
/// for other names. Runs in its own thread until
/// dropped.
pub struct Dns {
    /// Where it answers.
    pub addr: SocketAddr,
    records: Arc<Mutex<Records>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A name in DNS wire format.
fn dns_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.trim_end_matches('.').split('.') {
        if l.is_empty() {
            continue;
        }
        v.push(u8::try_from(l.len()).expect("a short label"));
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// The answer to the DNS query `q`, if it is one.
fn dns_answer(q: &[u8], records: &Records) -> Option<Vec<u8>> {
    if q.len() < 12 || q[2] & 0x80 != 0 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    while i < q.len() && q[i] != 0 {
        let l = q[i] as usize;
        if l > 63 || i + 1 + l > q.len() {
            return None;
        }
        labels.push(String::from_utf8_lossy(&q[i + 1..i + 1 + l]).to_ascii_lowercase());
        i += 1 + l;
    }
    let qend = i + 5;
    if qend > q.len() {
        return None;
    }
    let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
    let name = labels.join(".");
    // A name with records, or an empty non-terminal above one (resolvers
    // that minimise query names ask those first): NOERROR.
    let suffix = format!(".{name}");
    let known = records
        .keys()
        .any(|(n, _)| *n == name || n.ends_with(&suffix) || name.is_empty());
    let answers = records.get(&(name, qtype)).cloned().unwrap_or_default();
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]); // id
    r.push(0x84 | (q[2] & 0x01)); // response, authoritative, RD copied
    r.push(if known { 0x80 } else { 0x83 }); // RA; NOERROR or NXDOMAIN
    r.extend_from_slice(&[0, 1]);
    r.extend_from_slice(&u16::try_from(answers.len()).unwrap_or(0).to_be_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    r.extend_from_slice(&q[12..qend]);
    for rdata in answers {
        r.extend_from_slice(&[0xC0, 12]); // the question's name
        r.extend_from_slice(&qtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 5]); // IN, TTL 5 s
        r.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
        r.extend_from_slice(&rdata);
    }
    Some(r)
}

impl Dns {
    /// Starts a responder with no records.
    pub fn start() -> Dns {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a UDP socket");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let addr = sock.local_addr().expect("its address");
        let records = Arc::new(Mutex::new(Records::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (records, stop) = (records.clone(), stop.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let answer = {
                        let records = records.lock().expect("the DNS table");
                        dns_answer(&buf[..n], &records)
                    };
                    if let Some(a) = answer {
                        let _ = sock.send_to(&a, peer);
                    }
                }
            })
        };
        Dns {
            addr,
            records,
            stop,
            thread: Some(thread),
        }
    }

    fn add(&self, name: &str, rtype: u16, rdata: Vec<u8>) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.records
            .lock()
            .expect("the DNS table")
            .entry((name, rtype))
            .or_default()
            .push(rdata);
    }

    /// An SRV record: `name` (e.g. `_xmpp-server._tcp.b.example`) points
    /// to `target:port`.
    pub fn srv(&self, name: &str, priority: u16, weight: u16, port: u16, target: &str) {
        let mut v = Vec::new();
        v.extend_from_slice(&priority.to_be_bytes());
        v.extend_from_slice(&weight.to_be_bytes());
        v.extend_from_slice(&port.to_be_bytes());
        v.extend_from_slice(&dns_name(target));
        self.add(name, TYPE_SRV, v);
    }

    /// An A record.
    pub fn a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, TYPE_A, ip.octets().to_vec());
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ----- Prosody -------------------------------------------------------------

/// The real user id of this process.
fn uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn user_exists(user: &str) -> bool {
    fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(user))
}

/// Why Prosody cannot run here, if it cannot.
fn prosody_unavailable() -> Option<String> {
    let missing: Vec<&str> = ["prosody", "prosodyctl"]
        .into_iter()
        .filter(|p| find_program(p).is_none())
        .collect();
    if !missing.is_empty() {
        return Some(format!("not installed (missing: {})", missing.join(", ")));
    }
    // Prosody's resolver must be libunbound (Debian's `lua-unbound`, which
    // the package recommends): the legacy one reads only /etc/resolv.conf.
    let shebang = find_program("prosody")
        .and_then(|p| fs::read_to_string(p).ok())
        .unwrap_or_default();
    let lua = shebang
        .lines()
        .next()
        .filter(|l| l.starts_with("#!"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("lua5.4")
        .to_owned();
    let mut check = Command::new(&lua);
    check.args(["-e", "require 'lunbound'"]);
    if !run_with_limit(&mut check, COMMAND_LIMIT).is_ok_and(|f| f.success()) {
        return Some(format!(
            "{lua} cannot load `lunbound` (Debian package lua-unbound), needed to point \
             Prosody's resolver at the tests' DNS responder"
        ));
    }
    if uid() == Some(0) {
        if find_program("setpriv").is_none() {
            return Some("`setpriv` is missing (needed to drop root)".to_owned());
        }
        if !user_exists("prosody") {
            return Some("no `prosody` system user".to_owned());
        }
    }
    None
}

/// What a federating Prosody is given.
pub struct ProsodyOptions {
    /// Its virtual host.
    pub domain: String,
    /// Its certificate and key (PEM).
    pub cert: (PathBuf, PathBuf),
    /// The CA that signed `cert` (what clients trust).
    pub client_ca: PathBuf,
    /// Trust anchors for peer certificates (`ssl.cafile`); `None`: the
    /// system's (which do not know the test CA).
    pub cafile: Option<PathBuf>,
    /// The DNS server its resolver asks (libunbound's `forward`).
    pub dns: SocketAddr,
}

/// A Prosody with server-to-server enabled: c2s and s2s (STARTTLS,
/// encryption required, `s2s_secure_auth = false`, dialback loaded) on
/// free loopback ports; other domains are found through DNS, which it asks
/// of [`ProsodyOptions::dns`] only.
///
/// Prosody 0.12 has no static host map; with `lua-unbound` installed (a
/// dependency of Debian's package) its resolver is libunbound, configured
/// by the global `unbound` table: `forward = "127.0.0.1@PORT"` sends every
/// query to our responder, `resolvconf = false` and `hoststxt = false` keep
/// the system's resolver configuration out, and the libunbound options
/// `local-zone: test. transparent` (libunbound answers names under the
/// special-use `test.` with NXDOMAIN itself by default, RFC 6761) and
/// `do-not-query-localhost: no` let the queries reach the responder.
pub struct FedProsody {
    /// Its domain.
    pub domain: String,
    /// Its directory (config, data, certificates, log).
    pub dir: PathBuf,
    /// The c2s STARTTLS port on 127.0.0.1.
    pub c2s_port: u16,
    /// The s2s port on 127.0.0.1.
    pub s2s_port: u16,
    client_ca: PathBuf,
    run_as: Option<&'static str>,
    child: Option<Child>,
}

/// A path that needs no quoting in a Lua string.
fn lua_path(p: &Path) -> String {
    let s = p.to_str().expect("a UTF-8 path");
    assert!(
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)),
        "{s}: unusual characters in the temporary directory (set TMPDIR)"
    );
    s.to_owned()
}

impl FedProsody {
    /// Starts Prosody. `Ok(None)` when it is not installed and this is not
    /// a CI run (the reason is printed); an error in CI.
    pub fn start(opts: &ProsodyOptions) -> Result<Option<FedProsody>, String> {
        if let Some(reason) = prosody_unavailable() {
            let reason = format!("prosody: {reason}");
            if in_ci() {
                return Err(format!(
                    "{reason}; CI=true, so this is a failure (run `cargo xtask peers`)"
                ));
            }
            note(&format!(
                "{reason}; skipping the federation tests against it (`cargo xtask peers` installs it)"
            ));
            return Ok(None);
        }
        let dir = make_dir("prosody");
        let (ports, holds) = reserve_ports(2);
        let mut p = FedProsody {
            domain: opts.domain.clone(),
            c2s_port: ports[0],
            s2s_port: ports[1],
            client_ca: opts.client_ca.clone(),
            run_as: (uid() == Some(0)).then_some("prosody"),
            child: None,
            dir,
        };
        // From here on, dropping `p` cleans up.
        let d = lua_path(&p.dir);
        fs::copy(&opts.cert.0, p.dir.join("server.crt")).map_err(|e| e.to_string())?;
        fs::copy(&opts.cert.1, p.dir.join("server.key")).map_err(|e| e.to_string())?;
        let cafile = match &opts.cafile {
            Some(ca) => {
                fs::copy(ca, p.dir.join("ca.pem")).map_err(|e| e.to_string())?;
                format!("; cafile = \"{d}/ca.pem\"")
            }
            None => String::new(),
        };
        for sub in ["data", "certs"] {
            fs::create_dir(p.dir.join(sub)).map_err(|e| format!("creating {sub}: {e}"))?;
        }
        let config = format!(
            "-- Private configuration of a federating Prosody started by Starling's tests.\n\
             pidfile = \"{d}/prosody.pid\"\n\
             data_path = \"{d}/data\"\n\
             certificates = \"{d}/certs\"\n\
             plugin_paths = {{}}\n\
             admins = {{}}\n\
             log = {{ debug = \"{d}/prosody.log\" }}\n\
             interfaces = {{ \"127.0.0.1\" }}\n\
             local_interfaces = {{ \"127.0.0.1\" }}\n\
             use_ipv6 = false\n\
             c2s_ports = {{ {c2s} }}\n\
             c2s_direct_tls_ports = {{}}\n\
             legacy_ssl_ports = {{}}\n\
             s2s_ports = {{ {s2s} }}\n\
             s2s_direct_tls_ports = {{}}\n\
             c2s_require_encryption = true\n\
             s2s_require_encryption = true\n\
             s2s_secure_auth = false\n\
             s2s_timeout = 20\n\
             allow_registration = false\n\
             authentication = \"internal_hashed\"\n\
             -- Every DNS query goes to the test's responder on loopback, also\n\
             -- those for the special-use `test.` (answered NXDOMAIN by\n\
             -- libunbound itself by default).\n\
             unbound = {{ resolvconf = false; hoststxt = false; forward = \"127.0.0.1@{dns}\";\n\
             \x20 options = {{ [\"local-zone:\"] = \"test. transparent\"; [\"do-not-query-localhost:\"] = \"no\" }} }}\n\
             modules_enabled = {{ \"roster\"; \"saslauth\"; \"tls\"; \"dialback\"; \"disco\"; \"ping\"; \"posix\" }}\n\
             modules_disabled = {{ \"offline\" }}\n\
             ssl = {{ certificate = \"{d}/server.crt\"; key = \"{d}/server.key\"{cafile} }}\n\
             VirtualHost \"{domain}\"\n",
            c2s = p.c2s_port,
            s2s = p.s2s_port,
            dns = opts.dns.port(),
            domain = opts.domain,
        );
        fs::write(p.dir.join("prosody.cfg.lua"), config).map_err(|e| e.to_string())?;
        p.give_directory()?;
        let out = fs::File::create(p.dir.join("stdout.log")).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = p.command("prosody");
        cmd.arg("-F")
            .arg("--config")
            .arg(p.dir.join("prosody.cfg.lua"))
            .stdout(out)
            .stderr(err);
        drop(holds);
        p.child = Some(
            cmd.spawn()
                .map_err(|e| format!("cannot start {cmd:?}: {e}"))?,
        );
        let ports = [p.c2s_port, p.s2s_port];
        let child = p.child.as_mut().expect("started");
        let dir = p.dir.clone();
        wait_for_ports(
            &ports,
            || child.try_wait().ok().flatten().map(|s| s.to_string()),
            || logs_of(&dir),
        )?;
        Ok(Some(p))
    }

    /// A command for one of Prosody's programs, run as `prosody` when the
    /// tests run as root.
    fn command(&self, program: &str) -> Command {
        let program = find_program(program).unwrap_or_else(|| PathBuf::from(program));
        let mut c = match self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", user, "--regid", user, "--init-groups"])
                    .args(["--pdeathsig", "TERM", "--"])
                    .arg(program);
                c
            }
            None => Command::new(program),
        };
        c.current_dir(&self.dir)
            .env("HOME", &self.dir)
            .stdin(Stdio::null());
        c
    }

    fn give_directory(&self) -> Result<(), String> {
        let Some(user) = self.run_as else {
            return Ok(());
        };
        let mut c = Command::new("chown");
        c.args(["-R", &format!("{user}:{user}")]).arg(&self.dir);
        let out = run_with_limit(&mut c, COMMAND_LIMIT)?;
        if out.success() {
            Ok(())
        } else {
            Err(format!("chown: {}", out.describe()))
        }
    }

    /// Creates `user@domain` with password `pw-user`.
    pub fn add_user(&self, user: &str) -> Result<(), String> {
        let mut c = self.command("prosodyctl");
        c.arg("--config")
            .arg(self.dir.join("prosody.cfg.lua"))
            .args(["register", user, &self.domain, &format!("pw-{user}")]);
        let out = run_with_limit(&mut c, COMMAND_LIMIT)?;
        if out.success() {
            Ok(())
        } else {
            Err(format!("prosodyctl register {user}: {}", out.describe()))
        }
    }

    /// A client for `user@domain` (password `pw-user`) on one of the
    /// [`FedServer::extra_domains`], trusting its generated certificate.
    pub fn client_on(&self, domain: &str, user: &str) -> ClientBuilder {
        let jid: Jid = format!("{user}@{domain}").parse().expect("a JID");
        let ca = self
            .dir
            .join("data")
            .join("certs")
            .join(format!("{domain}.crt"));
        Client::builder(jid, &format!("pw-{user}"))
            .server(&format!("127.0.0.1:{}", self.c2s_port))
            .ca_file(ca)
            .timeout(Duration::from_secs(10))
    }

    /// The bare JID of `user` here.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// A client for `user` (password `pw-user`).
    pub fn client(&self, user: &str) -> ClientBuilder {
        let jid: Jid = self.jid(user).parse().expect("a JID");
        Client::builder(jid, &format!("pw-{user}"))
            .server(&format!("127.0.0.1:{}", self.c2s_port))
            .ca_file(&self.client_ca)
            .timeout(Duration::from_secs(10))
    }

    /// Logs `user` in with `resource`, sends initial presence and waits
    /// until the server has processed it.
    pub async fn online(&self, user: &str, resource: &str) -> Client {
        let c = within(
            &format!("{user}@{} logging in", self.domain),
            self.client(user).resource(resource).connect(),
        )
        .await
        .unwrap_or_else(|e| panic!("{user}@{} cannot log in: {e}", self.domain));
        within("initial presence", c.send_presence(presence(0)))
            .await
            .expect("sending presence");
        within("a ping after initial presence", c.ping(None))
            .await
            .expect("ping after initial presence");
        c
    }

    /// Prosody's logs (the tail of each).
    pub fn logs(&self) -> String {
        logs_of(&self.dir)
    }
}

fn logs_of(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["prosody.log", "stdout.log"] {
        let path = dir.join(name);
        let _ = writeln!(out, "==> {} <==", path.display());
        out.push_str(&tail(&fs::read_to_string(&path).unwrap_or_default(), 150));
    }
    out
}

impl Drop for FedProsody {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c);
        }
        if thread::panicking() {
            note(&format!(
                "--- prosody logs ---\n{}--- end of the prosody logs ---",
                self.logs()
            ));
        }
        remove_dir(&self.dir);
    }
}
