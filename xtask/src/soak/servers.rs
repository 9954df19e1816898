//! The soak's servers, both the release `starling` on loopback: the one
//! under test (`localhost`: the users, the never-reader, the
//! brute-forcer's victim) and, for the subscription flood, a second one
//! (`remote.soak.test`: the flooding accounts). Each reaches the other's
//! s2s port through `[s2s.hosts]`; TLS is required and the generated
//! self-signed certificates authenticate by dialback.
//!
//! Limits are the server's defaults but for `max_connections_per_ip`
//! (every client comes from 127.0.0.1). Outgoing s2s to a loopback address
//! needs `[s2s] allow_private_addresses = true` on servers that have that
//! key; [`private_addresses_key`] asks the binary (`check-config`) whether
//! it knows it, and it is written only then.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use starling_testkit::process::run_with_limit;

use crate::load::servers::{self, Account, Server, StarlingSetup};
use crate::util::Result;

/// The domain of the second server.
pub(crate) const REMOTE_DOMAIN: &str = "remote.soak.test";

/// The key that lets outgoing s2s connect to loopback.
const PRIVATE_KEY: &str = "allow_private_addresses";

/// One server's ports on 127.0.0.1, and its peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    /// Clients (STARTTLS).
    pub(crate) c2s: u16,
    /// Other servers (STARTTLS).
    pub(crate) s2s: u16,
    /// The peer's s2s port.
    pub(crate) peer_s2s: u16,
}

/// What a soak server's configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SoakConfig<'a> {
    /// Its data directory.
    pub(crate) data: &'a Path,
    /// Its domain.
    pub(crate) domain: &'a str,
    /// The peer's domain.
    pub(crate) peer: &'a str,
    /// Its ports.
    pub(crate) ports: Ports,
    /// `limits.max_connections_per_ip`.
    pub(crate) connections: usize,
    /// Whether to write `s2s.allow_private_addresses = true`.
    pub(crate) private_addresses: bool,
}

impl SoakConfig<'_> {
    /// The configuration file's text.
    pub(crate) fn toml(&self) -> String {
        let mut t = String::from(
            "# cargo xtask soak: loopback only, the default limits but for the\n\
             # connections per IP address (every client comes from 127.0.0.1).\n",
        );
        let _ = writeln!(t, "data_dir = {:?}", self.data.display().to_string());
        let _ = writeln!(t, "[[hosts]]\ndomain = {:?}", self.domain);
        let _ = writeln!(
            t,
            "[c2s]\nlisten = [\"127.0.0.1:{}\"]\nlisten_tls = []\nrequire_tls = true\nscram_iterations = 4096",
            self.ports.c2s
        );
        let _ = writeln!(
            t,
            "[s2s]\nenabled = true\nlisten = [\"127.0.0.1:{}\"]\nlisten_tls = []\nrequire_tls = true\ndialback = true",
            self.ports.s2s
        );
        if self.private_addresses {
            let _ = writeln!(t, "{PRIVATE_KEY} = true");
        }
        let _ = writeln!(
            t,
            "[s2s.hosts]\n{:?} = \"127.0.0.1:{}\"",
            self.peer, self.ports.peer_s2s
        );
        let _ = writeln!(
            t,
            "[limits]\nmax_connections_per_ip = {}\n[log]\nlevel = \"warn\"",
            self.connections
        );
        t
    }
}

/// Whether `binary` knows `[s2s] allow_private_addresses` (its
/// `check-config` accepts a file with it). `dir` is a scratch directory.
pub(crate) fn private_addresses_key(binary: &Path, dir: &Path) -> Result<bool> {
    let config = dir.join("probe.toml");
    let text = format!(
        "data_dir = {:?}\n[s2s]\nenabled = true\nlisten = []\n{PRIVATE_KEY} = true\n",
        dir.join("probe-data").display().to_string()
    );
    fs::write(&config, text).map_err(|e| format!("writing {}: {e}", config.display()))?;
    let mut command = std::process::Command::new(binary);
    command.arg("--config").arg(&config).arg("check-config");
    let finished = run_with_limit(&mut command, Duration::from_secs(60))?;
    if finished.success() {
        return Ok(true);
    }
    if finished.stderr.contains(PRIVATE_KEY) || finished.stdout.contains(PRIVATE_KEY) {
        return Ok(false);
    }
    bail!(
        "`starling check-config` failed on a probe: {}",
        finished.describe()
    )
}

/// A started server, stopped when dropped (by PID, bounded in time).
#[derive(Debug)]
pub(crate) struct Running(Option<Server>);

impl Running {
    /// The server.
    pub(crate) fn server(&self) -> &Server {
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("stopped only once"))
    }

    /// Stops it (SIGTERM, SIGKILL after 20 s) and removes its directory.
    pub(crate) fn stop(mut self) -> Result<()> {
        self.0.take().map_or(Ok(()), Server::stop)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(server) = self.0.take() {
            let _ = server.stop();
        }
    }
}

/// Starts a soak server named `name` serving `config.domain` with
/// `accounts`.
pub(crate) fn start(
    name: &'static str,
    binary: &Path,
    config: &SoakConfig<'_>,
    dir: std::path::PathBuf,
    accounts: &[Account],
) -> Result<Running> {
    let setup = StarlingSetup {
        name,
        binary,
        dir,
        domain: config.domain,
        port: config.ports.c2s,
        config: config.toml(),
    };
    servers::launch_starling(setup, accounts).map(|server| Running(Some(server)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_text() {
        let data = Path::new("/tmp/x/data");
        let mut config = SoakConfig {
            data,
            domain: "localhost",
            peer: REMOTE_DOMAIN,
            ports: Ports {
                c2s: 1000,
                s2s: 1001,
                peer_s2s: 2001,
            },
            connections: 350,
            private_addresses: false,
        };
        let text = config.toml();
        for line in [
            "data_dir = \"/tmp/x/data\"",
            "domain = \"localhost\"",
            "listen = [\"127.0.0.1:1000\"]",
            "listen = [\"127.0.0.1:1001\"]",
            "\"remote.soak.test\" = \"127.0.0.1:2001\"",
            "max_connections_per_ip = 350",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(!text.contains(PRIVATE_KEY));
        config.private_addresses = true;
        let text = config.toml();
        let s2s = text.find("[s2s]\n").unwrap();
        let key = text.find("allow_private_addresses = true").unwrap();
        let hosts = text.find("[s2s.hosts]").unwrap();
        assert!(s2s < key && key < hosts, "{text}");
    }
}
