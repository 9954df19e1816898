//! ejabberd: the client-side [`Peer`] configuration.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::Peer;
use super::daemon::{COMMAND_LIMIT, Daemon};
use crate::dirs::{plain_path, random_token, unique};
use crate::ports::reserve_ports;
use crate::process::run_checked;

/// `ejabberdctl` with the peer's configuration directory.
fn ejabberdctl(daemon: &Daemon) -> Command {
    let mut command = daemon.command("ejabberdctl");
    command.arg("--config-dir").arg(daemon.dir());
    command
}

/// Creates `user@domain` with `ejabberdctl register`. Right after the port
/// opens the node may still be finishing its start: retried for a while.
pub(super) fn register(
    daemon: &Daemon,
    user: &str,
    domain: &str,
    password: &str,
) -> Result<(), String> {
    let deadline = Instant::now() + COMMAND_LIMIT;
    loop {
        let mut command = ejabberdctl(daemon);
        command.args(["register", user, domain, password]);
        match run_checked(&mut command, COMMAND_LIMIT) {
            Ok(_) => return Ok(()),
            Err(error) if Instant::now() >= deadline || error.contains("already registered") => {
                return Err(error);
            }
            Err(_) => thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// The modules of [`Peer::start_pep`]: PEP on `mod_pubsub` (whose `pep`
/// plugin needs `mod_caps` for `+notify`), vCards with their XEP-0153 hash in
/// presence, the XEP-0398 avatar conversion, and private storage (which
/// converts XEP-0048 bookmarks to and from XEP-0402).
const EJABBERD_PEP_MODULES: &str = "  mod_caps: {}\n  \
     mod_pubsub:\n    plugins: [flat, pep]\n  \
     mod_vcard: {}\n  mod_vcard_xupdate: {}\n  mod_avatar: {}\n  mod_private: {}\n";

impl Peer {
    /// Writes ejabberd's configuration and starts it in the foreground.
    pub(super) fn launch_ejabberd(&mut self) -> Result<(), String> {
        let mut reserved = reserve_ports(2);
        let [c2s, dist] = reserved.ports[..] else {
            unreachable!("two ports were asked for");
        };
        self.c2s_port = c2s;
        let dir = plain_path(&self.dir)?;
        for sub in ["spool", "log"] {
            self.daemon.mkdir(sub)?;
        }
        self.daemon
            .write("ejabberd.yml", &self.ejabberd_yml(&dir))?;
        let pid_file = self.dir.join("ejabberd.pid");
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
            pid = plain_path(&pid_file)?,
        );
        self.daemon.write("ejabberdctl.cfg", &ctl)?;
        // Name resolution as usual; without the file Erlang prints an error.
        self.daemon.write("inetrc", "{lookup, [file, native]}.\n")?;
        // The distribution cookie, private to this run (HOME is the directory).
        let cookie = self
            .daemon
            .write(".erlang.cookie", &format!("starling{}", random_token()))?;
        fs::set_permissions(&cookie, fs::Permissions::from_mode(0o400))
            .map_err(|e| format!("{}: {e}", cookie.display()))?;
        self.daemon.set_pid_file(pid_file);
        self.daemon.add_log(self.dir.join("log").join("error.log"));
        self.daemon
            .add_log(self.dir.join("log").join("ejabberd.log"));
        self.daemon.give_directory()?;
        let mut command = ejabberdctl(&self.daemon);
        command.arg("foreground");
        reserved.release();
        self.daemon.spawn(command)
    }

    /// The text of `ejabberd.yml`; `dir` is the directory as plain text.
    fn ejabberd_yml(&self, dir: &str) -> String {
        let mut hosts = format!("  - \"{}\"\n", self.domain);
        let mut host_config = String::new();
        if let Some(domain) = &self.sha256_domain {
            let _ = writeln!(hosts, "  - \"{domain}\"");
            let _ = write!(
                host_config,
                "host_config:\n  \"{domain}\":\n    auth_scram_hash: sha256\n"
            );
        }
        format!(
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
             modules:\n  mod_disco: {{}}\n  mod_ping: {{}}\n  mod_roster: {{}}\n  mod_version: {{}}\n{mobile}{pep}",
            c2s = self.c2s_port,
            mobile = if self.mobile {
                "  mod_stream_mgmt: {resume_timeout: 300}\n  mod_carboncopy: {}\n  \
                 mod_client_state: {}\n  mod_privacy: {}\n  mod_blocking: {}\n"
            } else {
                ""
            },
            pep = if self.pep { EJABBERD_PEP_MODULES } else { "" },
        )
    }
}
