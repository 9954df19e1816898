//! `[modules.caps]`: XEP-0115 entity capabilities.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::parse::Checker;

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCaps {
    enabled: Option<bool>,
    max_entries: Option<toml::Spanned<usize>>,
    max_bytes: Option<toml::Spanned<usize>>,
    max_pending: Option<toml::Spanned<usize>>,
    query_timeout: Option<toml::Spanned<u64>>,
}

/// The settings of the caps module: the bounds of its cache of
/// verification strings and of its outstanding disco#info queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapsConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// Verification strings cached (default 10000); past it, or past
    /// `max_bytes`, the least recently used are dropped.
    pub max_entries: usize,
    /// Estimated bytes of the cached disco#info results (default 8 MiB).
    pub max_bytes: usize,
    /// disco#info queries outstanding at once (default 1000): a new
    /// verification string past it is not queried.
    pub max_pending: usize,
    /// How long a query waits for its answer before another entity with
    /// the same verification string is asked (default 30 s).
    pub query_timeout: Duration,
}

impl Default for CapsConfig {
    fn default() -> CapsConfig {
        CapsConfig {
            enabled: true,
            max_entries: 10_000,
            max_bytes: 8 << 20,
            max_pending: 1000,
            query_timeout: Duration::from_secs(30),
        }
    }
}

impl CapsConfig {
    pub(crate) fn check(raw: Option<RawCaps>, ck: &Checker<'_>) -> Result<CapsConfig, ConfigError> {
        let mut c = CapsConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        c.enabled = raw.enabled.unwrap_or(true);
        if let Some(v) = &raw.max_entries {
            c.max_entries = ck.range(v, 1, 1_000_000, "max_entries")?;
        }
        if let Some(v) = &raw.max_bytes {
            c.max_bytes = ck.range(v, 64 << 10, 1 << 30, "max_bytes")?;
        }
        if let Some(v) = &raw.max_pending {
            c.max_pending = ck.range(v, 1, 100_000, "max_pending")?;
        }
        if let Some(v) = &raw.query_timeout {
            c.query_timeout = Duration::from_secs(ck.range(v, 1, 3600, "query_timeout")?);
        }
        Ok(c)
    }
}
