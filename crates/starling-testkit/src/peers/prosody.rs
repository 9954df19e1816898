//! Prosody: the client-side [`Peer`] configuration, and
//! [`FedProsody`], a Prosody with server-to-server enabled.

use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use super::daemon::{COMMAND_LIMIT, Daemon};
use super::{INSTALL_HINT, Kind, Peer, STARTUP_LIMIT};
use crate::dirs::plain_path;
use crate::host::{find_program, missing};
use crate::ports::reserve_ports;
use crate::process::run_checked;
use crate::server::Login;

/// Creates `user@domain` with `prosodyctl register`.
pub(super) fn register(
    daemon: &Daemon,
    user: &str,
    domain: &str,
    password: &str,
) -> Result<(), String> {
    let mut command = daemon.command("prosodyctl");
    command
        .arg("--config")
        .arg(daemon.dir().join("prosody.cfg.lua"))
        .args(["register", user, domain, password]);
    run_checked(&mut command, COMMAND_LIMIT).map(|_| ())
}

impl Peer {
    /// Writes Prosody's configuration and starts it in the foreground.
    pub(super) fn launch_prosody(&mut self) -> Result<(), String> {
        let mut reserved = reserve_ports(1);
        self.c2s_port = reserved.ports[0];
        let dir = plain_path(&self.dir)?;
        let mut hosts = format!("VirtualHost \"{}\"\n", self.domain);
        if let Some(domain) = &self.sha256_domain {
            let _ = write!(
                hosts,
                "VirtualHost \"{domain}\"\n    password_hash = \"SHA-256\"\n"
            );
        }
        self.daemon.mkdir("data")?;
        let mobile = if self.mobile {
            " \"smacks\"; \"carbons\"; \"csi_simple\"; \"blocklist\";"
        } else {
            ""
        };
        let pep = if self.pep {
            " \"pep\"; \"vcard_legacy\"; \"private\"; \"bookmarks\";"
        } else {
            ""
        };
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
             -- stream management (unless mobile), no PEP (unless pep), no offline storage, no s2s.\n\
             modules_enabled = {{ \"roster\"; \"saslauth\"; \"tls\"; \"disco\"; \"ping\"; \"version\"; \"posix\";{mobile}{pep} }}\n\
             modules_disabled = {{ \"s2s\"; \"offline\" }}\n\
             ssl = {{ certificate = \"{dir}/server.crt\"; key = \"{dir}/server.key\" }}\n\
             {hosts}",
            port = self.c2s_port,
        );
        let config_path = self.daemon.write("prosody.cfg.lua", &config)?;
        // Prosody also looks for certificates in this directory by name.
        self.daemon.mkdir("certs")?;
        self.daemon.set_pid_file(self.dir.join("prosody.pid"));
        self.daemon.add_log(self.dir.join("prosody.log"));
        self.daemon.give_directory()?;
        let mut command = self.daemon.command("prosody");
        command.arg("-F").arg("--config").arg(&config_path);
        reserved.release();
        self.daemon.spawn(command)
    }
}

/// Why a federating Prosody cannot run here, if it cannot.
fn federation_unavailable() -> Option<String> {
    if let Some(reason) = Kind::Prosody.unavailable() {
        return Some(reason);
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
    if run_checked(&mut check, COMMAND_LIMIT).is_err() {
        return Some(format!(
            "{lua} cannot load `lunbound` (Debian package lua-unbound), needed to point \
             Prosody's resolver at the tests' DNS responder"
        ));
    }
    None
}

/// What a federating Prosody is given.
#[derive(Debug, Clone)]
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
/// reserved loopback ports; other domains are found through DNS, which it
/// asks of [`ProsodyOptions::dns`] only (see [`crate::dns::Dns`]).
///
/// Prosody 0.12 has no static host map; with `lua-unbound` installed (a
/// dependency of Debian's package) its resolver is libunbound, configured
/// by the global `unbound` table: `forward = "127.0.0.1@PORT"` sends every
/// query to our responder, `resolvconf = false` and `hoststxt = false` keep
/// the system's resolver configuration out, and the libunbound options
/// `local-zone: test. transparent` (libunbound answers names under the
/// special-use `test.` with NXDOMAIN itself by default, RFC 6761) and
/// `do-not-query-localhost: no` let the queries reach the responder.
#[derive(Debug)]
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
    daemon: Daemon,
}

impl FedProsody {
    /// Starts Prosody. `Ok(None)` when it cannot run here and this is not a
    /// CI run (the reason is printed).
    ///
    /// # Errors
    ///
    /// When it does not start, or cannot run here and `CI=true`.
    pub fn start(opts: &ProsodyOptions) -> Result<Option<FedProsody>, String> {
        if let Some(reason) = federation_unavailable() {
            return missing("prosody (federation)", &reason, INSTALL_HINT);
        }
        let daemon = Daemon::new("prosody", "prosody")?;
        let mut reserved = reserve_ports(2);
        let mut p = FedProsody {
            domain: opts.domain.clone(),
            dir: daemon.dir().to_owned(),
            c2s_port: reserved.ports[0],
            s2s_port: reserved.ports[1],
            client_ca: opts.client_ca.clone(),
            daemon,
        };
        // From here on, dropping `p` cleans up.
        let config = p.config(opts)?;
        let config_path = p.daemon.write("prosody.cfg.lua", &config)?;
        p.daemon.set_pid_file(p.dir.join("prosody.pid"));
        p.daemon.add_log(p.dir.join("prosody.log"));
        p.daemon.give_directory()?;
        let mut command = p.daemon.command("prosody");
        command.arg("-F").arg("--config").arg(config_path);
        reserved.release();
        p.daemon.spawn(command)?;
        let ports = [p.c2s_port, p.s2s_port];
        p.daemon.wait_for_ports(&ports, STARTUP_LIMIT)?;
        Ok(Some(p))
    }

    /// Copies the certificates into the directory and returns the
    /// configuration file's text.
    fn config(&self, opts: &ProsodyOptions) -> Result<String, String> {
        let d = plain_path(&self.dir)?;
        let copy = |from: &PathBuf, name: &str| {
            fs::copy(from, self.dir.join(name))
                .map(|_| ())
                .map_err(|e| format!("copying {}: {e}", from.display()))
        };
        copy(&opts.cert.0, "server.crt")?;
        copy(&opts.cert.1, "server.key")?;
        let cafile = match &opts.cafile {
            Some(ca) => {
                copy(ca, "ca.pem")?;
                format!("; cafile = \"{d}/ca.pem\"")
            }
            None => String::new(),
        };
        for sub in ["data", "certs"] {
            self.daemon.mkdir(sub)?;
        }
        Ok(format!(
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
            c2s = self.c2s_port,
            s2s = self.s2s_port,
            dns = opts.dns.port(),
            domain = opts.domain,
        ))
    }

    /// Creates `user@domain` with password `pw-user`.
    ///
    /// # Errors
    ///
    /// When `prosodyctl` fails.
    pub fn add_user(&self, user: &str) -> Result<(), String> {
        register(&self.daemon, user, &self.domain, &format!("pw-{user}"))
            .map_err(|e| format!("prosodyctl register {user}: {e}"))
    }

    /// The bare JID of `user` here.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{}", self.domain)
    }

    /// How `user` (password `pw-user`) logs in, trusting the CA of
    /// Prosody's certificate.
    pub fn login(&self, user: &str) -> Login {
        Login::new(
            &self.jid(user),
            &format!("pw-{user}"),
            self.c2s_port,
            self.client_ca.clone(),
        )
    }

    /// Prosody's logs (the tail of each).
    pub fn logs(&self) -> String {
        self.daemon.log_tail()
    }
}
