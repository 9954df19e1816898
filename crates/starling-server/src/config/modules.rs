//! The `[modules.NAME]` sections: one per feature module, each with at
//! least `enabled`. Unknown module names and unknown keys are refused with
//! the file and line, like the rest of the file.

use serde::Deserialize;

use super::ConfigError;
use super::parse::Checker;

/// A module section with only the on/off switch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSwitch {
    enabled: Option<bool>,
}

/// The settings of a module that has only its on/off switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// The module runs (default: true).
    pub enabled: bool,
}

impl Default for Switch {
    fn default() -> Switch {
        Switch { enabled: true }
    }
}

impl Switch {
    fn check(raw: Option<RawSwitch>) -> Switch {
        Switch {
            enabled: raw.and_then(|r| r.enabled).unwrap_or(true),
        }
    }
}

/// `[modules.blocking]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBlocking {
    enabled: Option<bool>,
    max_items: Option<toml::Spanned<u64>>,
}

/// `[modules.blocking]`: XEP-0191 blocking command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockingConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// The most JIDs one account may block (default 1000); a block past
    /// it is refused with `resource-constraint`.
    pub max_items: usize,
}

impl Default for BlockingConfig {
    fn default() -> BlockingConfig {
        BlockingConfig {
            enabled: true,
            max_items: 1000,
        }
    }
}

impl BlockingConfig {
    fn check(raw: Option<RawBlocking>, ck: &Checker<'_>) -> Result<BlockingConfig, ConfigError> {
        let mut c = BlockingConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        if let Some(e) = raw.enabled {
            c.enabled = e;
        }
        if let Some(v) = &raw.max_items {
            c.max_items = usize::try_from(ck.range(v, 1, 100_000, "max_items")?).unwrap_or(100_000);
        }
        Ok(c)
    }
}

/// The `[modules]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModules {
    roster: Option<RawSwitch>,
    presence: Option<RawSwitch>,
    offline: Option<RawSwitch>,
    disco: Option<RawSwitch>,
    ping: Option<RawSwitch>,
    version: Option<RawSwitch>,
    blocking: Option<RawBlocking>,
}

/// The settings of every module (see [`crate::modules`]).
#[derive(Debug, Clone, Default)]
pub struct ModulesConfig {
    /// `[modules.roster]`: RFC 6121 §2 rosters.
    pub roster: Switch,
    /// `[modules.presence]`: RFC 6121 §3–4 subscriptions and presence.
    pub presence: Switch,
    /// `[modules.offline]`: XEP-0160 offline messages.
    pub offline: Switch,
    /// `[modules.disco]`: XEP-0030 service discovery.
    pub disco: Switch,
    /// `[modules.ping]`: XEP-0199 ping.
    pub ping: Switch,
    /// `[modules.version]`: XEP-0092 software version.
    pub version: Switch,
    /// `[modules.blocking]`: XEP-0191 blocking command.
    pub blocking: BlockingConfig,
}

impl ModulesConfig {
    pub(crate) fn check(raw: RawModules, ck: &Checker<'_>) -> Result<ModulesConfig, ConfigError> {
        Ok(ModulesConfig {
            roster: Switch::check(raw.roster),
            presence: Switch::check(raw.presence),
            offline: Switch::check(raw.offline),
            disco: Switch::check(raw.disco),
            ping: Switch::check(raw.ping),
            version: Switch::check(raw.version),
            blocking: BlockingConfig::check(raw.blocking, ck)?,
        })
    }
}
