//! `[modules.stream_management]`: XEP-0198 stream management.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::parse::Checker;

/// The section as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStreamManagement {
    enabled: Option<bool>,
    resume: Option<bool>,
    resume_timeout: Option<toml::Spanned<u64>>,
    request_every: Option<toml::Spanned<u32>>,
    request_interval: Option<toml::Spanned<u64>>,
    max_unacked: Option<toml::Spanned<usize>>,
    max_unacked_bytes: Option<toml::Spanned<usize>>,
    keep_presence: Option<bool>,
    location: Option<String>,
    journal: Option<bool>,
}

/// XEP-0198 settings (the session loop of `c2s` applies them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamManagementConfig {
    /// Offer stream management (default: true).
    pub enabled: bool,
    /// Let sessions be resumed after their connection broke (default:
    /// true).
    pub resume: bool,
    /// How long a broken session waits for its resumption (default 300 s;
    /// a client's smaller `max` wins).
    pub resume_timeout: Duration,
    /// Ask the client for an acknowledgement (`<r/>`) once this many
    /// stanzas are unacknowledged (default 5).
    pub request_every: u32,
    /// … or once the oldest unacknowledged stanza is this old (default
    /// 30 s).
    pub request_interval: Duration,
    /// Unacknowledged stanzas a session may have (default 5000); beyond
    /// it, or beyond `max_unacked_bytes`, the session is closed (what it
    /// holds is routed again).
    pub max_unacked: usize,
    /// Bytes of unacknowledged stanzas a session may have (default 8 MiB).
    pub max_unacked_bytes: usize,
    /// A session waiting for its resumption stays available to its
    /// contacts (default: true); false broadcasts unavailable presence
    /// when the connection breaks and the previous presence when it is
    /// resumed.
    pub keep_presence: bool,
    /// Where clients should reconnect to resume (`<enabled location/>`),
    /// when not here.
    pub location: Option<String>,
    /// Keep messages from senders with stream management on disk until
    /// their recipient has them (default: true), so that what the server
    /// acknowledged survives a crash. Off, an acknowledged message in a
    /// recipient's queue is lost if the process dies.
    pub journal: bool,
}

impl Default for StreamManagementConfig {
    fn default() -> Self {
        StreamManagementConfig {
            enabled: true,
            resume: true,
            resume_timeout: Duration::from_secs(300),
            request_every: 5,
            request_interval: Duration::from_secs(30),
            max_unacked: 5000,
            max_unacked_bytes: 8 * 1024 * 1024,
            keep_presence: true,
            location: None,
            journal: true,
        }
    }
}

impl StreamManagementConfig {
    pub(crate) fn check(
        raw: Option<RawStreamManagement>,
        ck: &Checker<'_>,
    ) -> Result<StreamManagementConfig, ConfigError> {
        let mut c = StreamManagementConfig::default();
        let Some(raw) = raw else { return Ok(c) };
        c.enabled = raw.enabled.unwrap_or(c.enabled);
        c.resume = raw.resume.unwrap_or(c.resume);
        c.keep_presence = raw.keep_presence.unwrap_or(c.keep_presence);
        c.journal = raw.journal.unwrap_or(c.journal);
        if let Some(v) = &raw.resume_timeout {
            c.resume_timeout = Duration::from_secs(ck.range(v, 1, 86_400, "resume_timeout")?);
        }
        if let Some(v) = &raw.request_every {
            c.request_every = ck.range(v, 1, 100_000, "request_every")?;
        }
        if let Some(v) = &raw.request_interval {
            c.request_interval = Duration::from_secs(ck.range(v, 1, 3600, "request_interval")?);
        }
        if let Some(v) = &raw.max_unacked {
            c.max_unacked = ck.range(v, 1, 1_000_000, "max_unacked")?;
        }
        if let Some(v) = &raw.max_unacked_bytes {
            c.max_unacked_bytes = ck.range(v, 1024, 1 << 30, "max_unacked_bytes")?;
        }
        c.location = raw.location.filter(|l| !l.is_empty());
        Ok(c)
    }
}
