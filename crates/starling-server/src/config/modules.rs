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
        })
    }
}
