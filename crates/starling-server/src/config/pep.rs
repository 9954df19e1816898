//! `[modules.pep]`: XEP-0163 personal eventing on a XEP-0060 core.

use serde::Deserialize;

use super::ConfigError;
use super::parse::Checker;

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPep {
    enabled: Option<bool>,
    max_nodes: Option<toml::Spanned<u64>>,
    max_items: Option<toml::Spanned<u64>>,
    max_item_bytes: Option<toml::Spanned<u64>>,
    max_bytes: Option<toml::Spanned<u64>>,
    max_subscriptions: Option<toml::Spanned<u64>>,
}

/// PEP settings: the bounds of each account's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PepConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// Nodes per account (default 256); one more is refused with
    /// `not-allowed` + `<max-nodes-exceeded/>`.
    pub max_nodes: usize,
    /// Items one node keeps at most (default 256): `pubsub#max_items`
    /// may not be set higher, and `max` means this.
    pub max_items: usize,
    /// Bytes of one item's payload (default 128 KiB); bigger is refused
    /// with `not-acceptable` + `<payload-too-big/>`.
    pub max_item_bytes: usize,
    /// Bytes of all items of an account (default 8 MiB); a publish past
    /// it is refused with `resource-constraint` and stores nothing.
    pub max_bytes: usize,
    /// Explicit subscriptions per node (default 1000).
    pub max_subscriptions: usize,
}

impl Default for PepConfig {
    fn default() -> PepConfig {
        PepConfig {
            enabled: true,
            max_nodes: 256,
            max_items: 256,
            max_item_bytes: 128 * 1024,
            max_bytes: 8 * 1024 * 1024,
            max_subscriptions: 1000,
        }
    }
}

impl PepConfig {
    pub(crate) fn check(raw: Option<RawPep>, ck: &Checker<'_>) -> Result<PepConfig, ConfigError> {
        let mut c = PepConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        let size = |v: &toml::Spanned<u64>, min: u64, max: u64, key: &str| {
            ck.range(v, min, max, key)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        if let Some(e) = raw.enabled {
            c.enabled = e;
        }
        if let Some(v) = &raw.max_nodes {
            c.max_nodes = size(v, 1, 100_000, "max_nodes")?;
        }
        if let Some(v) = &raw.max_items {
            c.max_items = size(v, 1, 100_000, "max_items")?;
        }
        if let Some(v) = &raw.max_item_bytes {
            c.max_item_bytes = size(v, 64, 64 << 20, "max_item_bytes")?;
        }
        if let Some(v) = &raw.max_bytes {
            c.max_bytes = size(v, 1024, 1 << 40, "max_bytes")?;
        }
        if let Some(v) = &raw.max_subscriptions {
            c.max_subscriptions = size(v, 1, 1_000_000, "max_subscriptions")?;
        }
        Ok(c)
    }
}
