//! The configuration: one TOML file, every key optional, every key
//! documented in `docs/configuration.md`. Unknown keys and bad values are
//! refused with the file, line and reason.
//!
//! ```
//! use starling_server::config::Config;
//!
//! let config = Config::from_toml_str("[[hosts]]\ndomain = \"example.org\"\n", "inline").unwrap();
//! assert_eq!(config.hosts[0].domain.as_str(), "example.org");
//! assert_eq!(config.limits.max_stanza_size, 256 * 1024);
//!
//! let err = Config::from_toml_str("[limits]\nmax_stanza_sise = 1\n", "inline").unwrap_err();
//! assert!(err.to_string().starts_with("inline:2:"));
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use starling_jid::DomainPart;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("{path}:{line}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// The line (1-based); 0 when the problem has no single place.
        line: usize,
        /// Why.
        reason: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database, generated certificates and other state live.
    pub data_dir: PathBuf,
    /// The served domains.
    pub hosts: Vec<HostConfig>,
    /// Client connections.
    pub c2s: C2sConfig,
    /// Server-to-server connections (federation).
    pub s2s: S2sConfig,
    /// Limits.
    pub limits: Limits,
    /// Storage.
    pub storage: StorageConfig,
    /// Logging.
    pub log: LogConfig,
}

/// One served domain (virtual host).
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The domain.
    pub domain: DomainPart,
    /// PEM certificate chain; `None`: the generated one in the data
    /// directory.
    pub certificate: Option<PathBuf>,
    /// PEM private key (with `certificate`).
    pub key: Option<PathBuf>,
}

/// What to do when a client binds a resource that is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    /// The new session wins; the old one gets a `conflict` stream error.
    Replace,
    /// The bind request fails with `conflict`.
    Refuse,
}

/// Client-to-server settings.
#[derive(Debug, Clone)]
pub struct C2sConfig {
    /// STARTTLS listeners.
    pub listen: Vec<SocketAddr>,
    /// Direct TLS listeners (XEP-0368).
    pub listen_tls: Vec<SocketAddr>,
    /// TLS before authentication.
    pub require_tls: bool,
    /// Resource conflicts.
    pub resource_conflict: ConflictPolicy,
    /// PBKDF2 iterations for new credentials.
    pub scram_iterations: u32,
}

/// Server-to-server settings (federation).
#[derive(Debug, Clone)]
pub struct S2sConfig {
    /// Federation on or off. Off: stanzas for other domains bounce with
    /// `remote-server-not-found` and no s2s listener runs.
    pub enabled: bool,
    /// STARTTLS s2s listeners.
    pub listen: Vec<SocketAddr>,
    /// Direct TLS s2s listeners (XEP-0368, ALPN `xmpp-server`).
    pub listen_tls: Vec<SocketAddr>,
    /// TLS on every s2s stream.
    pub require_tls: bool,
    /// Dialback (XEP-0220) when a certificate does not verify; `false`
    /// accepts and makes only certificate-authenticated (SASL EXTERNAL)
    /// streams.
    pub dialback: bool,
    /// The dialback secret; `None`: generated in the data directory.
    pub dialback_secret: Option<String>,
    /// Extra trust anchors (PEM) for peer certificates, besides the
    /// Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Domains whose server is at a fixed address (no DNS).
    pub host_map: Vec<(DomainPart, String)>,
    /// Time to connect and authenticate an outgoing stream.
    pub connect_timeout: Duration,
    /// An s2s stream with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Stanzas queued per remote domain while its stream is set up.
    pub queue: usize,
    /// DNS servers to use instead of the system's (tests).
    pub name_servers: Vec<SocketAddr>,
}

impl Default for S2sConfig {
    fn default() -> S2sConfig {
        S2sConfig {
            enabled: false,
            listen: vec![SocketAddr::from(([0, 0, 0, 0], 5269))],
            listen_tls: Vec::new(),
            require_tls: true,
            dialback: true,
            dialback_secret: None,
            ca_file: None,
            host_map: Vec::new(),
            connect_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(600),
            queue: 1000,
            name_servers: Vec::new(),
        }
    }
}

/// Resource limits (see `docs/configuration.md`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest stanza, in bytes.
    pub max_stanza_size: usize,
    /// Sustained read rate per connection, bytes per second.
    pub read_rate: u64,
    /// Time allowed for TLS, SASL and binding.
    pub negotiation_timeout: Duration,
    /// A bound session that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Failed authentication attempts before the stream is closed.
    pub max_auth_failures: u32,
    /// Sessions per account.
    pub max_resources_per_account: usize,
    /// Open connections per remote IP address.
    pub max_connections_per_ip: usize,
    /// Offline messages stored per account.
    pub max_offline_messages: usize,
    /// Stanzas queued for one session before it is dropped as too slow.
    pub outbound_queue: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_stanza_size: 256 * 1024,
            read_rate: 256 * 1024,
            negotiation_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(900),
            max_auth_failures: 3,
            max_resources_per_account: 10,
            max_connections_per_ip: 100,
            max_offline_messages: 1000,
            outbound_queue: 1000,
        }
    }
}

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The database file (absolute, or resolved against the data
    /// directory).
    pub path: PathBuf,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `tracing` filter directives (`info`, `info,starling_server=debug`).
    pub level: String,
    /// The format.
    pub format: LogFormat,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data_dir: PathBuf::from("./starling-data"),
            hosts: vec![HostConfig {
                domain: DomainPart::new("localhost").expect("a valid domain"),
                certificate: None,
                key: None,
            }],
            c2s: C2sConfig {
                listen: vec![SocketAddr::from(([127, 0, 0, 1], 5222))],
                listen_tls: vec![SocketAddr::from(([127, 0, 0, 1], 5223))],
                require_tls: true,
                resource_conflict: ConflictPolicy::Replace,
                scram_iterations: 4096,
            },
            s2s: S2sConfig::default(),
            limits: Limits::default(),
            storage: StorageConfig {
                path: PathBuf::from("starling.db"),
            },
            log: LogConfig {
                level: "info".to_owned(),
                format: LogFormat::Human,
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    hosts: Option<Vec<RawHost>>,
    c2s: Option<RawC2s>,
    s2s: Option<RawS2s>,
    limits: Option<RawLimits>,
    storage: Option<RawStorage>,
    log: Option<RawLog>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    domain: toml::Spanned<String>,
    certificate: Option<PathBuf>,
    key: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawC2s {
    listen: Option<Vec<SocketAddr>>,
    listen_tls: Option<Vec<SocketAddr>>,
    require_tls: Option<toml::Spanned<bool>>,
    resource_conflict: Option<ConflictPolicy>,
    scram_iterations: Option<toml::Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS2s {
    enabled: Option<bool>,
    listen: Option<Vec<SocketAddr>>,
    listen_tls: Option<Vec<SocketAddr>>,
    require_tls: Option<bool>,
    dialback: Option<bool>,
    dialback_secret: Option<toml::Spanned<String>>,
    ca_file: Option<PathBuf>,
    hosts: Option<std::collections::BTreeMap<String, toml::Spanned<String>>>,
    connect_timeout: Option<toml::Spanned<u64>>,
    idle_timeout: Option<toml::Spanned<u64>>,
    queue: Option<toml::Spanned<u64>>,
    name_servers: Option<Vec<SocketAddr>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_stanza_size: Option<toml::Spanned<u64>>,
    read_rate: Option<toml::Spanned<u64>>,
    negotiation_timeout: Option<toml::Spanned<u64>>,
    idle_timeout: Option<toml::Spanned<u64>>,
    max_auth_failures: Option<toml::Spanned<u32>>,
    max_resources_per_account: Option<toml::Spanned<u64>>,
    max_connections_per_ip: Option<toml::Spanned<u64>>,
    max_offline_messages: Option<u64>,
    outbound_queue: Option<toml::Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    backend: Option<toml::Spanned<String>>,
    path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<toml::Spanned<String>>,
    format: Option<LogFormat>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Checker<'a> {
    text: &'a str,
    path: &'a str,
}

impl Checker<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        reason: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.to_owned(),
            line: line_of(self.text, span.start),
            reason: reason.into(),
        })
    }

    fn range<T: Copy + PartialOrd + std::fmt::Display>(
        &self,
        v: &toml::Spanned<T>,
        min: T,
        max: T,
        key: &str,
    ) -> Result<T, ConfigError> {
        let x = *v.get_ref();
        if x < min || x > max {
            return self.err(
                v.span(),
                format!("{key} must be between {min} and {max}, not {x}"),
            );
        }
        Ok(x)
    }
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses and checks config text; `path` names it in errors.
    pub fn from_toml_str(text: &str, path: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            line: e.span().map_or(0, |s| line_of(text, s.start)),
            reason: e.message().trim().to_owned(),
        })?;
        let ck = Checker { text, path };
        let mut config = Config::default();
        if let Some(d) = raw.data_dir {
            config.data_dir = d;
        }
        if let Some(hosts) = raw.hosts {
            if hosts.is_empty() {
                return Err(ConfigError::Invalid {
                    path: path.to_owned(),
                    line: 0,
                    reason: "at least one [[hosts]] entry is needed".to_owned(),
                });
            }
            config.hosts.clear();
            for h in hosts {
                let domain = DomainPart::new(h.domain.get_ref()).or_else(|e| {
                    ck.err(
                        h.domain.span(),
                        format!("invalid domain {:?}: {e}", h.domain.get_ref()),
                    )
                })?;
                if config.hosts.iter().any(|x| x.domain == domain) {
                    return ck.err(h.domain.span(), format!("domain {domain} is listed twice"));
                }
                if h.certificate.is_some() != h.key.is_some() {
                    return ck.err(
                        h.domain.span(),
                        "certificate and key must be given together",
                    );
                }
                config.hosts.push(HostConfig {
                    domain,
                    certificate: h.certificate,
                    key: h.key,
                });
            }
        }
        if let Some(c) = raw.c2s {
            if let Some(l) = c.listen {
                config.c2s.listen = l;
            }
            if let Some(l) = c.listen_tls {
                config.c2s.listen_tls = l;
            }
            if let Some(p) = c.resource_conflict {
                config.c2s.resource_conflict = p;
            }
            if let Some(i) = &c.scram_iterations {
                config.c2s.scram_iterations = ck.range(i, 4096, 10_000_000, "scram_iterations")?;
            }
            if let Some(r) = &c.require_tls {
                config.c2s.require_tls = *r.get_ref();
                if !config.c2s.require_tls
                    && !config.c2s.listen.iter().all(|a| a.ip().is_loopback())
                {
                    return ck.err(
                        r.span(),
                        "require_tls = false is allowed only when every c2s listener is on loopback",
                    );
                }
            }
        }
        if let Some(r) = raw.s2s {
            let c = &mut config.s2s;
            if let Some(v) = r.enabled {
                c.enabled = v;
            }
            if let Some(v) = r.listen {
                c.listen = v;
            }
            if let Some(v) = r.listen_tls {
                c.listen_tls = v;
            }
            if let Some(v) = r.require_tls {
                c.require_tls = v;
            }
            if let Some(v) = r.dialback {
                c.dialback = v;
            }
            if let Some(v) = r.dialback_secret {
                if v.get_ref().len() < 16 {
                    return ck.err(v.span(), "dialback_secret must be at least 16 characters");
                }
                c.dialback_secret = Some(v.into_inner());
            }
            if let Some(v) = r.ca_file {
                c.ca_file = Some(v);
            }
            if let Some(hosts) = r.hosts {
                for (domain, addr) in hosts {
                    let d = DomainPart::new(&domain).or_else(|e| {
                        ck.err(addr.span(), format!("invalid domain {domain:?}: {e}"))
                    })?;
                    let a = addr.get_ref();
                    let ok = a
                        .rsplit_once(':')
                        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                    if !ok {
                        return ck.err(addr.span(), format!("{a:?} is not HOST:PORT"));
                    }
                    c.host_map.push((d, a.clone()));
                }
            }
            if let Some(v) = &r.connect_timeout {
                c.connect_timeout = Duration::from_secs(ck.range(v, 1, 600, "connect_timeout")?);
            }
            if let Some(v) = &r.idle_timeout {
                c.idle_timeout = Duration::from_secs(ck.range(v, 1, 7 * 86400, "idle_timeout")?);
            }
            if let Some(v) = &r.queue {
                c.queue = ck.range(v, 1, 1 << 20, "queue")? as usize;
            }
            if let Some(v) = r.name_servers {
                c.name_servers = v;
            }
        }
        if let Some(l) = raw.limits {
            let lim = &mut config.limits;
            let usize_max = usize::MAX as u64;
            if let Some(v) = &l.max_stanza_size {
                lim.max_stanza_size =
                    ck.range(v, 1024, 64 * 1024 * 1024, "max_stanza_size")? as usize;
            }
            if let Some(v) = &l.read_rate {
                lim.read_rate = ck.range(v, 1024, u64::MAX / 4, "read_rate")?;
            }
            if let Some(v) = &l.negotiation_timeout {
                lim.negotiation_timeout =
                    Duration::from_secs(ck.range(v, 1, 3600, "negotiation_timeout")?);
            }
            if let Some(v) = &l.idle_timeout {
                lim.idle_timeout =
                    Duration::from_secs(ck.range(v, 1, 7 * 86400, "idle_timeout")?);
            }
            if let Some(v) = &l.max_auth_failures {
                lim.max_auth_failures = ck.range(v, 1, 100, "max_auth_failures")?;
            }
            if let Some(v) = &l.max_resources_per_account {
                lim.max_resources_per_account =
                    ck.range(v, 1, 10_000, "max_resources_per_account")? as usize;
            }
            if let Some(v) = &l.max_connections_per_ip {
                lim.max_connections_per_ip =
                    ck.range(v, 1, usize_max.min(1 << 32), "max_connections_per_ip")? as usize;
            }
            if let Some(v) = l.max_offline_messages {
                lim.max_offline_messages = usize::try_from(v).unwrap_or(usize::MAX);
            }
            if let Some(v) = &l.outbound_queue {
                lim.outbound_queue = ck.range(v, 16, 1 << 20, "outbound_queue")? as usize;
            }
        }
        if let Some(s) = raw.storage {
            if let Some(b) = &s.backend {
                if b.get_ref() != "sqlite" {
                    return ck.err(
                        b.span(),
                        format!(
                            "unknown storage backend {:?} (known: \"sqlite\")",
                            b.get_ref()
                        ),
                    );
                }
            }
            if let Some(p) = s.path {
                config.storage.path = p;
            }
        }
        if let Some(l) = raw.log {
            if let Some(level) = &l.level {
                if let Err(e) = tracing_subscriber::EnvFilter::try_new(level.get_ref()) {
                    return ck.err(level.span(), format!("invalid log level: {e}"));
                }
                config.log.level = level.get_ref().clone();
            }
            if let Some(f) = l.format {
                config.log.format = f;
            }
        }
        Ok(config)
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join(&self.storage.path)
    }

    /// Whether `domain` is served.
    pub fn serves(&self, domain: &str) -> bool {
        self.hosts.iter().any(|h| h.domain.as_str() == domain)
    }

    /// Replaces the served domains (command-line `--domain`).
    pub fn set_domains(&mut self, domains: &[DomainPart]) {
        if domains.is_empty() {
            return;
        }
        self.hosts = domains
            .iter()
            .map(|d| {
                self.hosts
                    .iter()
                    .find(|h| &h.domain == d)
                    .cloned()
                    .unwrap_or(HostConfig {
                        domain: d.clone(),
                        certificate: None,
                        key: None,
                    })
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::from_toml_str("", "x").unwrap();
        assert_eq!(c.hosts.len(), 1);
        assert_eq!(c.c2s.listen[0].port(), 5222);
        assert_eq!(c.c2s.listen_tls[0].port(), 5223);
        assert!(c.c2s.require_tls);
        assert_eq!(
            c.database_path(),
            PathBuf::from("./starling-data/starling.db")
        );
    }

    #[test]
    fn full_file() {
        let text = r#"
data_dir = "/var/lib/starling"
[[hosts]]
domain = "example.org"
certificate = "/etc/x.crt"
key = "/etc/x.key"
[[hosts]]
domain = "Example.NET"
[c2s]
listen = ["0.0.0.0:5222"]
listen_tls = []
resource_conflict = "refuse"
scram_iterations = 10000
[limits]
max_stanza_size = 10000
read_rate = 2048
negotiation_timeout = 5
idle_timeout = 60
max_auth_failures = 2
max_resources_per_account = 3
max_connections_per_ip = 7
max_offline_messages = 0
outbound_queue = 64
[storage]
backend = "sqlite"
path = "/tmp/x.db"
[s2s]
enabled = true
listen = ["127.0.0.1:5269"]
listen_tls = ["127.0.0.1:5270"]
dialback = false
dialback_secret = "0123456789abcdef0123"
ca_file = "/etc/ca.pem"
connect_timeout = 5
idle_timeout = 60
queue = 10
name_servers = ["127.0.0.1:5353"]
[s2s.hosts]
"example.com" = "127.0.0.1:15269"
[log]
level = "debug,starling_server=trace"
format = "json"
"#;
        let c = Config::from_toml_str(text, "f").unwrap();
        assert_eq!(c.hosts[1].domain.as_str(), "example.net");
        assert!(c.c2s.listen_tls.is_empty());
        assert_eq!(c.c2s.resource_conflict, ConflictPolicy::Refuse);
        assert_eq!(c.limits.max_resources_per_account, 3);
        assert_eq!(c.limits.negotiation_timeout, Duration::from_secs(5));
        assert_eq!(c.limits.max_offline_messages, 0);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.database_path(), PathBuf::from("/tmp/x.db"));
        assert!(c.s2s.enabled && !c.s2s.dialback);
        assert_eq!(c.s2s.host_map[0].0.as_str(), "example.com");
        assert_eq!(c.s2s.host_map[0].1, "127.0.0.1:15269");
        assert_eq!(c.s2s.queue, 10);
    }

    fn err(text: &str) -> (usize, String) {
        match Config::from_toml_str(text, "f").unwrap_err() {
            ConfigError::Invalid { line, reason, .. } => (line, reason),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(err("\n\n[c2s]\nlisten_tsl = []\n").0, 4);
        assert!(err("[c2s]\nlisten = [\"nope\"]\n").1.contains("invalid"));
        let (line, reason) = err("[limits]\n\nmax_stanza_size = 1\n");
        assert_eq!(line, 3);
        assert!(reason.contains("between"), "{reason}");
        assert_eq!(err("[[hosts]]\ndomain = \"a b\"\n").0, 2);
        assert_eq!(err("[storage]\nbackend = \"postgres\"\n").0, 2);
        assert_eq!(err("[log]\nformat = \"xml\"\n").0, 2);
        assert_eq!(err("[c2s]\nresource_conflict = \"maybe\"\n").0, 2);
        assert_eq!(err("x = 1\n").0, 1);
        assert!(
            err("[c2s]\nlisten = [\"0.0.0.0:5222\"]\nrequire_tls = false\n")
                .1
                .contains("loopback")
        );
        assert!(Config::from_toml_str("[c2s]\nrequire_tls = false\n", "f").is_ok());
        assert_eq!(
            err("[[hosts]]\ndomain = \"a\"\n[[hosts]]\ndomain = \"A\"\n").0,
            4
        );
        assert!(
            err("[[hosts]]\ndomain = \"a\"\nkey = \"k\"\n")
                .1
                .contains("together")
        );
        assert_eq!(err("[s2s]\n[s2s.hosts]\n\"x.org\" = \"nope\"\n").0, 3);
        assert_eq!(err("[s2s]\ndialback_secret = \"short\"\n").0, 2);
    }
}
