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
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use starling_jid::DomainPart;

mod caps;
mod modules;
mod parse;
mod pep;
mod profiles;
mod stream_management;
#[cfg(test)]
mod tests;

pub use caps::CapsConfig;
pub use modules::{BlockingConfig, CsiConfig, ModulesConfig, PingConfig, PushConfig, Switch};
pub use pep::PepConfig;
pub use profiles::{PrivateConfig, VCardConfig};
pub use stream_management::StreamManagementConfig;

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
    /// The feature modules (`[modules.NAME]`).
    pub modules: ModulesConfig,
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
    /// Outgoing connections to IP-literal domains and to loopback,
    /// private, link-local and other non-public addresses found in DNS
    /// (off: refused; `[s2s.hosts]` is not checked).
    pub allow_private_addresses: bool,
    /// Dialback verifications running at once, in all.
    pub max_verifications: usize,
    /// Dialback verifications running at once for one remote domain.
    pub max_verifications_per_domain: usize,
    /// Time for one dialback verification (connect, TLS, answer).
    pub verify_timeout: Duration,
    /// After a failed verification, new ones for that domain are refused
    /// for this long, doubling with each further failure…
    pub verify_backoff: Duration,
    /// …up to this long.
    pub verify_backoff_max: Duration,
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
            allow_private_addresses: false,
            max_verifications: 100,
            max_verifications_per_domain: 4,
            verify_timeout: Duration::from_secs(30),
            verify_backoff: Duration::from_secs(5),
            verify_backoff_max: Duration::from_secs(300),
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
    /// Open connections per remote address: an IPv4 address, or an IPv6
    /// /64.
    pub max_connections_per_ip: usize,
    /// Offline messages stored per account.
    pub max_offline_messages: usize,
    /// Stanzas queued for one session before it is dropped as too slow.
    pub outbound_queue: usize,
    /// Bytes of stanzas queued for one session (the same rule).
    pub outbound_queue_bytes: usize,
    /// A write to a client that makes no progress for this long ends the
    /// session.
    pub write_timeout: Duration,
    /// Inbound subscription requests pending per account.
    pub max_pending_subscriptions: usize,
    /// Inbound subscription requests pending per account from one domain.
    pub max_pending_subscriptions_per_domain: usize,
    /// Bytes of offline messages stored per account.
    pub max_offline_bytes: u64,
    /// Percentage of the offline quotas (messages and bytes) one sender
    /// may use.
    pub max_offline_share: u8,
    /// Client connections not yet authenticated, server-wide; more are
    /// closed at once.
    pub max_unauthenticated_connections: usize,
    /// Failed logins per source address (or /64) or account answered
    /// without delay.
    pub login_free_failures: u32,
    /// The first delay before a `<failure/>` past the free ones; it
    /// doubles with each further failure.
    pub login_delay: Duration,
    /// The longest delay before a `<failure/>`.
    pub login_max_delay: Duration,
    /// Recent failed logins after which a source is refused
    /// (`temporary-auth-failure`) without checking its credentials.
    pub login_refuse_after: u32,
    /// One failed login of a source or account is forgotten per this
    /// much time.
    pub login_failure_decay: Duration,
    /// Sources, and accounts, whose failures are remembered (each).
    pub login_throttle_entries: usize,
}

impl Limits {
    /// The size of one session's queue.
    pub fn queue(&self) -> crate::registry::QueueLimits {
        crate::registry::QueueLimits {
            bytes: self.outbound_queue_bytes,
            count: self.outbound_queue,
        }
    }

    /// The caps on pending subscription requests.
    pub fn subscription_requests(&self) -> crate::storage::RequestLimits {
        crate::storage::RequestLimits {
            max_pending: self.max_pending_subscriptions,
            max_per_domain: self.max_pending_subscriptions_per_domain,
        }
    }

    /// The offline message quota.
    pub fn offline_quota(&self) -> crate::storage::OfflineQuota {
        crate::storage::OfflineQuota {
            max_messages: self.max_offline_messages,
            max_bytes: self.max_offline_bytes,
            share_percent: self.max_offline_share,
        }
    }
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
            outbound_queue_bytes: 4 * 1024 * 1024,
            write_timeout: Duration::from_secs(60),
            max_pending_subscriptions: 100,
            max_pending_subscriptions_per_domain: 20,
            max_offline_bytes: 4 * 1024 * 1024,
            max_offline_share: 25,
            max_unauthenticated_connections: 1000,
            login_free_failures: 3,
            login_delay: Duration::from_secs(1),
            login_max_delay: Duration::from_secs(8),
            login_refuse_after: 10,
            login_failure_decay: Duration::from_secs(60),
            login_throttle_entries: 10_000,
        }
    }
}

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The database file (absolute, or resolved against the data
    /// directory).
    pub path: PathBuf,
    /// How hard a commit waits for the disk.
    pub synchronous: crate::storage::Synchronous,
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
                synchronous: crate::storage::Synchronous::Normal,
            },
            log: LogConfig {
                level: "info".to_owned(),
                format: LogFormat::Human,
            },
            modules: ModulesConfig::default(),
        }
    }
}

impl Config {
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
