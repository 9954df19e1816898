//! The `[modules.NAME]` sections: one per feature module, each with at
//! least `enabled`. Unknown module names and unknown keys are refused with
//! the file and line, like the rest of the file.

use serde::Deserialize;

use super::ConfigError;
use super::parse::Checker;
use super::stream_management::{RawStreamManagement, StreamManagementConfig};

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
    stream_management: Option<RawStreamManagement>,
    carbons: Option<RawSwitch>,
    csi: Option<RawCsi>,
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
    /// `[modules.stream_management]`: XEP-0198 stream management.
    pub stream_management: StreamManagementConfig,
    /// `[modules.carbons]`: XEP-0280 message carbons.
    pub carbons: Switch,
    /// `[modules.csi]`: XEP-0352 client state indication.
    pub csi: CsiConfig,
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
            stream_management: StreamManagementConfig::check(raw.stream_management, ck)?,
            carbons: Switch::check(raw.carbons),
            csi: CsiConfig::check(raw.csi, ck)?,
        })
    }
}

/// `[modules.csi]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCsi {
    enabled: Option<bool>,
    max_held: Option<toml::Spanned<u64>>,
    max_held_bytes: Option<toml::Spanned<u64>>,
}

/// The settings of XEP-0352 client state indication (`[modules.csi]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsiConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// Stanzas held back for an inactive session before all are written
    /// (default 64).
    pub max_held: usize,
    /// Bytes of stanzas held back for an inactive session before all are
    /// written (default 64 KiB).
    pub max_held_bytes: usize,
}

impl Default for CsiConfig {
    fn default() -> CsiConfig {
        CsiConfig {
            enabled: true,
            max_held: 64,
            max_held_bytes: 64 * 1024,
        }
    }
}

impl CsiConfig {
    fn check(raw: Option<RawCsi>, ck: &Checker<'_>) -> Result<CsiConfig, ConfigError> {
        let mut c = CsiConfig::default();
        let Some(r) = raw else { return Ok(c) };
        c.enabled = r.enabled.unwrap_or(true);
        if let Some(v) = &r.max_held {
            c.max_held = ck.range(v, 1, 10_000, "max_held")? as usize;
        }
        if let Some(v) = &r.max_held_bytes {
            c.max_held_bytes = ck.range(v, 1024, 16 << 20, "max_held_bytes")? as usize;
        }
        Ok(c)
    }
}
