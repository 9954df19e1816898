//! Reading the TOML file: raw `serde` structures with spans, checked into
//! [`Config`] with file:line errors.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use starling_jid::DomainPart;

use super::modules::{ModulesConfig, RawModules};
use super::{Config, ConfigError, ConflictPolicy, HostConfig, Limits, LogFormat};

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
    modules: Option<RawModules>,
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
    allow_private_addresses: Option<bool>,
    max_verifications: Option<toml::Spanned<u64>>,
    max_verifications_per_domain: Option<toml::Spanned<u64>>,
    verify_timeout: Option<toml::Spanned<u64>>,
    verify_backoff: Option<toml::Spanned<u64>>,
    verify_backoff_max: Option<toml::Spanned<u64>>,
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
    outbound_queue_bytes: Option<toml::Spanned<u64>>,
    write_timeout: Option<toml::Spanned<u64>>,
    max_pending_subscriptions: Option<toml::Spanned<u64>>,
    max_pending_subscriptions_per_domain: Option<toml::Spanned<u64>>,
    max_offline_bytes: Option<toml::Spanned<u64>>,
    max_offline_share: Option<toml::Spanned<u64>>,
    max_unauthenticated_connections: Option<toml::Spanned<u64>>,
    login_free_failures: Option<toml::Spanned<u32>>,
    login_delay_ms: Option<toml::Spanned<u64>>,
    login_max_delay: Option<toml::Spanned<u64>>,
    login_refuse_after: Option<toml::Spanned<u32>>,
    login_failure_decay: Option<toml::Spanned<u64>>,
    login_throttle_entries: Option<toml::Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    backend: Option<toml::Spanned<String>>,
    path: Option<PathBuf>,
    synchronous: Option<toml::Spanned<String>>,
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

pub(crate) struct Checker<'a> {
    text: &'a str,
    path: &'a str,
}

impl Checker<'_> {
    pub(crate) fn err<T>(
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

    pub(crate) fn range<T: Copy + PartialOrd + std::fmt::Display>(
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

    fn apply_hosts(&self, config: &mut Config, hosts: Vec<RawHost>) -> Result<(), ConfigError> {
        if hosts.is_empty() {
            return Err(ConfigError::Invalid {
                path: self.path.to_owned(),
                line: 0,
                reason: "at least one [[hosts]] entry is needed".to_owned(),
            });
        }
        config.hosts.clear();
        for h in hosts {
            let domain = DomainPart::new(h.domain.get_ref()).or_else(|e| {
                self.err(
                    h.domain.span(),
                    format!("invalid domain {:?}: {e}", h.domain.get_ref()),
                )
            })?;
            if config.hosts.iter().any(|x| x.domain == domain) {
                return self.err(h.domain.span(), format!("domain {domain} is listed twice"));
            }
            if h.certificate.is_some() != h.key.is_some() {
                return self.err(
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
        Ok(())
    }

    fn apply_c2s(&self, config: &mut Config, c: RawC2s) -> Result<(), ConfigError> {
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
            config.c2s.scram_iterations = self.range(i, 4096, 10_000_000, "scram_iterations")?;
        }
        if let Some(r) = &c.require_tls {
            config.c2s.require_tls = *r.get_ref();
            if !config.c2s.require_tls && !config.c2s.listen.iter().all(|a| a.ip().is_loopback()) {
                return self.err(
                    r.span(),
                    "require_tls = false is allowed only when every c2s listener is on loopback",
                );
            }
        }
        Ok(())
    }

    fn apply_s2s(&self, config: &mut Config, r: RawS2s) -> Result<(), ConfigError> {
        let c = &mut config.s2s;
        self.apply_s2s_abuse(c, &r)?;
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
                return self.err(v.span(), "dialback_secret must be at least 16 characters");
            }
            c.dialback_secret = Some(v.into_inner());
        }
        if let Some(v) = r.ca_file {
            c.ca_file = Some(v);
        }
        if let Some(hosts) = r.hosts {
            for (domain, addr) in hosts {
                let d = DomainPart::new(&domain).or_else(|e| {
                    self.err(addr.span(), format!("invalid domain {domain:?}: {e}"))
                })?;
                let a = addr.get_ref();
                let ok = a
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !ok {
                    return self.err(addr.span(), format!("{a:?} is not HOST:PORT"));
                }
                c.host_map.push((d, a.clone()));
            }
        }
        if let Some(v) = &r.connect_timeout {
            c.connect_timeout = Duration::from_secs(self.range(v, 1, 600, "connect_timeout")?);
        }
        if let Some(v) = &r.idle_timeout {
            c.idle_timeout = Duration::from_secs(self.range(v, 1, 7 * 86400, "idle_timeout")?);
        }
        if let Some(v) = &r.queue {
            c.queue = self.range(v, 1, 1 << 20, "queue")? as usize;
        }
        if let Some(v) = r.name_servers {
            c.name_servers = v;
        }
        Ok(())
    }

    /// The `[s2s]` keys against abuse: the address policy and the limits
    /// of dialback verifications.
    fn apply_s2s_abuse(&self, c: &mut super::S2sConfig, r: &RawS2s) -> Result<(), ConfigError> {
        if let Some(v) = r.allow_private_addresses {
            c.allow_private_addresses = v;
        }
        if let Some(v) = &r.max_verifications {
            c.max_verifications = self.range(v, 1, 100_000, "max_verifications")? as usize;
        }
        if let Some(v) = &r.max_verifications_per_domain {
            c.max_verifications_per_domain =
                self.range(v, 1, 10_000, "max_verifications_per_domain")? as usize;
        }
        if let Some(v) = &r.verify_timeout {
            c.verify_timeout = Duration::from_secs(self.range(v, 1, 600, "verify_timeout")?);
        }
        if let Some(v) = &r.verify_backoff {
            c.verify_backoff = Duration::from_secs(self.range(v, 1, 3600, "verify_backoff")?);
        }
        if let Some(v) = &r.verify_backoff_max {
            c.verify_backoff_max =
                Duration::from_secs(self.range(v, 1, 86_400, "verify_backoff_max")?);
        }
        let span = r.verify_backoff_max.as_ref().or(r.verify_backoff.as_ref());
        if let Some(v) = span.filter(|_| c.verify_backoff_max < c.verify_backoff) {
            return self.err(
                v.span(),
                "verify_backoff_max must be at least verify_backoff",
            );
        }
        Ok(())
    }

    fn apply_limits(&self, config: &mut Config, l: RawLimits) -> Result<(), ConfigError> {
        let lim = &mut config.limits;
        let usize_max = usize::MAX as u64;
        if let Some(v) = &l.max_stanza_size {
            lim.max_stanza_size =
                self.range(v, 1024, 64 * 1024 * 1024, "max_stanza_size")? as usize;
        }
        if let Some(v) = &l.read_rate {
            lim.read_rate = self.range(v, 1024, u64::MAX / 4, "read_rate")?;
        }
        if let Some(v) = &l.negotiation_timeout {
            lim.negotiation_timeout =
                Duration::from_secs(self.range(v, 1, 3600, "negotiation_timeout")?);
        }
        if let Some(v) = &l.idle_timeout {
            lim.idle_timeout = Duration::from_secs(self.range(v, 1, 7 * 86400, "idle_timeout")?);
        }
        if let Some(v) = &l.max_auth_failures {
            lim.max_auth_failures = self.range(v, 1, 100, "max_auth_failures")?;
        }
        if let Some(v) = &l.max_resources_per_account {
            lim.max_resources_per_account =
                self.range(v, 1, 10_000, "max_resources_per_account")? as usize;
        }
        if let Some(v) = &l.max_connections_per_ip {
            lim.max_connections_per_ip =
                self.range(v, 1, usize_max.min(1 << 32), "max_connections_per_ip")? as usize;
        }
        if let Some(v) = l.max_offline_messages {
            lim.max_offline_messages = usize::try_from(v).unwrap_or(usize::MAX);
        }
        if let Some(v) = &l.outbound_queue {
            lim.outbound_queue = self.range(v, 16, 1 << 20, "outbound_queue")? as usize;
        }
        if let Some(v) = &l.outbound_queue_bytes {
            lim.outbound_queue_bytes =
                self.range(v, 64 * 1024, 1 << 30, "outbound_queue_bytes")? as usize;
        }
        if let Some(v) = &l.write_timeout {
            lim.write_timeout = Duration::from_secs(self.range(v, 1, 3600, "write_timeout")?);
        }
        if let Some(v) = &l.max_unauthenticated_connections {
            lim.max_unauthenticated_connections =
                self.range(v, 1, 1 << 24, "max_unauthenticated_connections")? as usize;
        }
        self.apply_storage_limits(lim, &l)?;
        self.apply_login_limits(config, &l)
    }

    /// The limits on what others can store for an account.
    fn apply_storage_limits(&self, lim: &mut Limits, l: &RawLimits) -> Result<(), ConfigError> {
        if let Some(v) = &l.max_pending_subscriptions {
            lim.max_pending_subscriptions =
                self.range(v, 1, 100_000, "max_pending_subscriptions")? as usize;
        }
        if let Some(v) = &l.max_pending_subscriptions_per_domain {
            lim.max_pending_subscriptions_per_domain =
                self.range(v, 1, 100_000, "max_pending_subscriptions_per_domain")? as usize;
        }
        if let Some(v) = &l.max_offline_bytes {
            lim.max_offline_bytes = self.range(v, 1024, 1 << 40, "max_offline_bytes")?;
        }
        if let Some(v) = &l.max_offline_share {
            lim.max_offline_share = self.range(v, 1, 100, "max_offline_share")? as u8;
        }
        Ok(())
    }

    /// The login throttling keys of `[limits]`.
    fn apply_login_limits(&self, config: &mut Config, l: &RawLimits) -> Result<(), ConfigError> {
        let lim = &mut config.limits;
        if let Some(v) = &l.login_free_failures {
            lim.login_free_failures = self.range(v, 0, 100, "login_free_failures")?;
        }
        if let Some(v) = &l.login_delay_ms {
            lim.login_delay = Duration::from_millis(self.range(v, 0, 60_000, "login_delay_ms")?);
        }
        if let Some(v) = &l.login_max_delay {
            lim.login_max_delay = Duration::from_secs(self.range(v, 1, 300, "login_max_delay")?);
        }
        if let Some(v) = &l.login_refuse_after {
            lim.login_refuse_after = self.range(v, 1, 1000, "login_refuse_after")?;
        }
        if let Some(v) = &l.login_failure_decay {
            lim.login_failure_decay =
                Duration::from_secs(self.range(v, 1, 86_400, "login_failure_decay")?);
        }
        if let Some(v) = &l.login_throttle_entries {
            lim.login_throttle_entries =
                self.range(v, 16, 10_000_000, "login_throttle_entries")? as usize;
        }
        Ok(())
    }

    fn apply_storage(&self, config: &mut Config, s: RawStorage) -> Result<(), ConfigError> {
        if let Some(b) = &s.backend {
            if b.get_ref() != "sqlite" {
                return self.err(
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
        if let Some(v) = &s.synchronous {
            match crate::storage::Synchronous::parse(v.get_ref()) {
                Some(mode) => config.storage.synchronous = mode,
                None => {
                    return self.err(
                        v.span(),
                        format!(
                            "unknown synchronous mode {:?} (known: \"normal\", \"full\")",
                            v.get_ref()
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn apply_log(&self, config: &mut Config, l: RawLog) -> Result<(), ConfigError> {
        if let Some(level) = &l.level {
            if let Err(e) = tracing_subscriber::EnvFilter::try_new(level.get_ref()) {
                return self.err(level.span(), format!("invalid log level: {e}"));
            }
            config.log.level = level.get_ref().clone();
        }
        if let Some(f) = l.format {
            config.log.format = f;
        }
        Ok(())
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
            ck.apply_hosts(&mut config, hosts)?;
        }
        if let Some(c) = raw.c2s {
            ck.apply_c2s(&mut config, c)?;
        }
        if let Some(r) = raw.s2s {
            ck.apply_s2s(&mut config, r)?;
        }
        if let Some(l) = raw.limits {
            ck.apply_limits(&mut config, l)?;
        }
        if let Some(s) = raw.storage {
            ck.apply_storage(&mut config, s)?;
        }
        if let Some(l) = raw.log {
            ck.apply_log(&mut config, l)?;
        }
        if let Some(m) = raw.modules {
            config.modules = ModulesConfig::check(m, &ck)?;
        }
        Ok(config)
    }
}
