//! The `[modules.NAME]` sections: one per feature module, each with at
//! least `enabled`. Unknown module names and unknown keys are refused with
//! the file and line, like the rest of the file.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::caps::{CapsConfig, RawCaps};
use super::parse::Checker;
use super::pep::{PepConfig, RawPep};
use super::profiles::{PrivateConfig, RawPrivate, RawVCard, VCardConfig};
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
    ping: Option<RawPing>,
    version: Option<RawSwitch>,
    stream_management: Option<RawStreamManagement>,
    carbons: Option<RawSwitch>,
    csi: Option<RawCsi>,
    push: Option<RawPush>,
    blocking: Option<RawBlocking>,
    pep: Option<RawPep>,
    caps: Option<RawCaps>,
    vcard: Option<RawVCard>,
    private: Option<RawPrivate>,
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
    /// `[modules.ping]`: XEP-0199 ping, and server-initiated keepalive
    /// pings.
    pub ping: PingConfig,
    /// `[modules.version]`: XEP-0092 software version.
    pub version: Switch,
    /// `[modules.stream_management]`: XEP-0198 stream management.
    pub stream_management: StreamManagementConfig,
    /// `[modules.carbons]`: XEP-0280 message carbons.
    pub carbons: Switch,
    /// `[modules.csi]`: XEP-0352 client state indication.
    pub csi: CsiConfig,
    /// `[modules.push]`: XEP-0357 push notifications.
    pub push: PushConfig,
    /// `[modules.blocking]`: XEP-0191 blocking command.
    pub blocking: BlockingConfig,
    /// `[modules.pep]`: XEP-0163 personal eventing (XEP-0060 core).
    pub pep: PepConfig,
    /// `[modules.caps]`: XEP-0115 entity capabilities.
    pub caps: CapsConfig,
    /// `[modules.vcard]`: XEP-0054 vcard-temp.
    pub vcard: VCardConfig,
    /// `[modules.private]`: XEP-0049 private XML storage.
    pub private: PrivateConfig,
}

impl ModulesConfig {
    pub(crate) fn check(raw: RawModules, ck: &Checker<'_>) -> Result<ModulesConfig, ConfigError> {
        Ok(ModulesConfig {
            roster: Switch::check(raw.roster),
            presence: Switch::check(raw.presence),
            offline: Switch::check(raw.offline),
            disco: Switch::check(raw.disco),
            ping: PingConfig::check(raw.ping, ck)?,
            version: Switch::check(raw.version),
            stream_management: StreamManagementConfig::check(raw.stream_management, ck)?,
            carbons: Switch::check(raw.carbons),
            csi: CsiConfig::check(raw.csi, ck)?,
            push: PushConfig::check(raw.push, ck)?,
            blocking: BlockingConfig::check(raw.blocking, ck)?,
            pep: PepConfig::check(raw.pep, ck)?,
            caps: CapsConfig::check(raw.caps, ck)?,
            vcard: VCardConfig::check(raw.vcard, ck)?,
            private: PrivateConfig::check(raw.private, ck)?,
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

/// `[modules.ping]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPing {
    enabled: Option<bool>,
    keepalive_interval: Option<Spanned<u64>>,
    keepalive_timeout: Option<Spanned<u64>>,
}

/// The settings of the ping module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// A c2s session that sent nothing for this long is pinged by the
    /// server (`keepalive_interval`, seconds, default 300; 0 turns the
    /// keepalive off).
    pub keepalive_interval: Option<Duration>,
    /// How long the server waits for the answer to its ping before it
    /// closes the session with `connection-timeout` (`keepalive_timeout`,
    /// seconds, default 60).
    pub keepalive_timeout: Duration,
}

impl Default for PingConfig {
    fn default() -> PingConfig {
        PingConfig {
            enabled: true,
            keepalive_interval: Some(Duration::from_secs(300)),
            keepalive_timeout: Duration::from_secs(60),
        }
    }
}

impl PingConfig {
    fn check(raw: Option<RawPing>, ck: &Checker<'_>) -> Result<PingConfig, ConfigError> {
        let mut c = PingConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        c.enabled = raw.enabled.unwrap_or(true);
        if let Some(v) = &raw.keepalive_interval {
            let secs = ck.range(v, 0, 7 * 86400, "keepalive_interval")?;
            c.keepalive_interval = (secs > 0).then(|| Duration::from_secs(secs));
        }
        if let Some(v) = &raw.keepalive_timeout {
            c.keepalive_timeout = Duration::from_secs(ck.range(v, 1, 3600, "keepalive_timeout")?);
        }
        Ok(c)
    }
}

/// `[modules.push]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPush {
    enabled: Option<bool>,
    max_registrations: Option<Spanned<u64>>,
    min_interval: Option<Spanned<u64>>,
    include_body: Option<bool>,
}

/// The settings of the push module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// Registrations per account (`max_registrations`, default 20).
    pub max_registrations: usize,
    /// At most one notification per registration in this time
    /// (`min_interval`, seconds, default 10); messages in between are
    /// counted into the next one.
    pub min_interval: Duration,
    /// Put the last message's body in notifications (`include_body`,
    /// default false: the app server and the push service see only the
    /// count and the sender).
    pub include_body: bool,
}

impl Default for PushConfig {
    fn default() -> PushConfig {
        PushConfig {
            enabled: true,
            max_registrations: 20,
            min_interval: Duration::from_secs(10),
            include_body: false,
        }
    }
}

impl PushConfig {
    fn check(raw: Option<RawPush>, ck: &Checker<'_>) -> Result<PushConfig, ConfigError> {
        let mut c = PushConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        c.enabled = raw.enabled.unwrap_or(true);
        c.include_body = raw.include_body.unwrap_or(false);
        if let Some(v) = &raw.max_registrations {
            c.max_registrations = ck.range(v, 1, 1000, "max_registrations")? as usize;
        }
        if let Some(v) = &raw.min_interval {
            c.min_interval = Duration::from_secs(ck.range(v, 0, 86400, "min_interval")?);
        }
        Ok(c)
    }
}
