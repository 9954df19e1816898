//! `[modules.vcard]` and `[modules.private]`: the size bounds of what
//! an account stores about itself (XEP-0054 vCards, XEP-0049 private XML).

use serde::Deserialize;
use toml::Spanned;

use super::ConfigError;
use super::parse::Checker;

/// `[modules.vcard]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVCard {
    enabled: Option<bool>,
    max_bytes: Option<Spanned<u64>>,
}

/// `[modules.vcard]`: XEP-0054 vcard-temp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VCardConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// The largest vCard stored, in bytes of XML (default 64 KiB); a
    /// bigger one is refused with `not-acceptable` and the stored one is
    /// kept.
    pub max_bytes: usize,
}

impl Default for VCardConfig {
    fn default() -> VCardConfig {
        VCardConfig {
            enabled: true,
            max_bytes: 64 * 1024,
        }
    }
}

impl VCardConfig {
    pub(super) fn check(
        raw: Option<RawVCard>,
        ck: &Checker<'_>,
    ) -> Result<VCardConfig, ConfigError> {
        let mut c = VCardConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        c.enabled = raw.enabled.unwrap_or(true);
        if let Some(v) = &raw.max_bytes {
            c.max_bytes =
                usize::try_from(ck.range(v, 1024, 16 << 20, "max_bytes")?).unwrap_or(16 << 20);
        }
        Ok(c)
    }
}

/// `[modules.private]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPrivate {
    enabled: Option<bool>,
    max_bytes: Option<Spanned<u64>>,
    max_total_bytes: Option<Spanned<u64>>,
}

/// `[modules.private]`: XEP-0049 private XML storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrivateConfig {
    /// The module runs (default: true).
    pub enabled: bool,
    /// The largest element stored, in bytes of XML (default 64 KiB).
    pub max_bytes: usize,
    /// The most bytes of XML one account stores in all (default 1 MiB).
    pub max_total_bytes: usize,
}

impl Default for PrivateConfig {
    fn default() -> PrivateConfig {
        PrivateConfig {
            enabled: true,
            max_bytes: 64 * 1024,
            max_total_bytes: 1 << 20,
        }
    }
}

impl PrivateConfig {
    pub(super) fn check(
        raw: Option<RawPrivate>,
        ck: &Checker<'_>,
    ) -> Result<PrivateConfig, ConfigError> {
        let mut c = PrivateConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        c.enabled = raw.enabled.unwrap_or(true);
        if let Some(v) = &raw.max_bytes {
            c.max_bytes =
                usize::try_from(ck.range(v, 1024, 16 << 20, "max_bytes")?).unwrap_or(16 << 20);
        }
        if let Some(v) = &raw.max_total_bytes {
            c.max_total_bytes =
                usize::try_from(ck.range(v, 1024, 1 << 30, "max_total_bytes")?).unwrap_or(1 << 30);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn defaults_and_bounds() {
        let c = Config::from_toml_str("", "t").unwrap();
        assert_eq!(c.modules.vcard.max_bytes, 65536);
        assert_eq!(c.modules.private.max_total_bytes, 1 << 20);
        let table: &[(&str, bool)] = &[
            ("[modules.vcard]\nmax_bytes = 2048\n", true),
            ("[modules.vcard]\nmax_bytes = 10\n", false),
            ("[modules.vcard]\nmax_items = 10\n", false),
            (
                "[modules.private]\nenabled = false\nmax_bytes = 4096\nmax_total_bytes = 8192\n",
                true,
            ),
            ("[modules.private]\nmax_total_bytes = 0\n", false),
        ];
        for (toml, ok) in table {
            assert_eq!(Config::from_toml_str(toml, "t").is_ok(), *ok, "{toml}");
        }
        let c = Config::from_toml_str(table[3].0, "t").unwrap();
        assert!(!c.modules.private.enabled);
        assert_eq!(c.modules.private.max_total_bytes, 8192);
    }
}
