//! Stream errors (RFC 6120 §4.9).

use std::fmt;
use std::str::FromStr;

use starling_xml::{Element, ErrorKind, names::XML_NS};

use crate::ns;

/// A defined stream error condition (RFC 6120 §4.9.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Condition {
    /// §4.9.3.1: XML that cannot be processed.
    BadFormat,
    /// §4.9.3.2: an unsupported or missing namespace prefix.
    BadNamespacePrefix,
    /// §4.9.3.3: a new stream conflicts with this one.
    Conflict,
    /// §4.9.3.4: nothing has been received for too long.
    ConnectionTimeout,
    /// §4.9.3.5: the `to` domain is no longer served.
    HostGone,
    /// §4.9.3.6: the `to` domain is not served.
    HostUnknown,
    /// §4.9.3.7: a stanza lacks a `to` or `from` where it is required.
    ImproperAddressing,
    /// §4.9.3.8: the server is misconfigured or failed.
    InternalServerError,
    /// §4.9.3.9: the `from` address is not allowed on this stream.
    InvalidFrom,
    /// §4.9.3.10: a stream or content namespace other than the expected ones.
    InvalidNamespace,
    /// §4.9.3.11: XML that is well-formed but invalid.
    InvalidXml,
    /// §4.9.3.12: data sent before the stream was authenticated.
    NotAuthorized,
    /// §4.9.3.13: XML that is not well-formed.
    NotWellFormed,
    /// §4.9.3.14: a local policy was violated (for example a size limit).
    PolicyViolation,
    /// §4.9.3.15: a remote server needed for the stream could not be reached.
    RemoteConnectionFailed,
    /// §4.9.3.16: the stream must be reset (for example after a security change).
    Reset,
    /// §4.9.3.17: the server lacks resources for the stream.
    ResourceConstraint,
    /// §4.9.3.18: restricted XML (comments, PIs, DTDs, entity references).
    RestrictedXml,
    /// §4.9.3.19: connect to another host instead (`host`, `host:port` or `[v6]:port`).
    SeeOtherHost(String),
    /// §4.9.3.20: the server is shutting down.
    SystemShutdown,
    /// §4.9.3.21: no defined condition applies (an application condition should be included).
    UndefinedCondition,
    /// §4.9.3.22: an encoding other than UTF-8, or broken UTF-8.
    UnsupportedEncoding,
    /// §4.9.3.23: a mandatory feature is not supported by the receiver.
    UnsupportedFeature,
    /// §4.9.3.24: a top-level child the server does not understand.
    UnsupportedStanzaType,
    /// §4.9.3.25: an unsupported stream version.
    UnsupportedVersion,
}

const NAMES: &[(&str, Condition)] = &[
    ("bad-format", Condition::BadFormat),
    ("bad-namespace-prefix", Condition::BadNamespacePrefix),
    ("conflict", Condition::Conflict),
    ("connection-timeout", Condition::ConnectionTimeout),
    ("host-gone", Condition::HostGone),
    ("host-unknown", Condition::HostUnknown),
    ("improper-addressing", Condition::ImproperAddressing),
    ("internal-server-error", Condition::InternalServerError),
    ("invalid-from", Condition::InvalidFrom),
    ("invalid-namespace", Condition::InvalidNamespace),
    ("invalid-xml", Condition::InvalidXml),
    ("not-authorized", Condition::NotAuthorized),
    ("not-well-formed", Condition::NotWellFormed),
    ("policy-violation", Condition::PolicyViolation),
    (
        "remote-connection-failed",
        Condition::RemoteConnectionFailed,
    ),
    ("reset", Condition::Reset),
    ("resource-constraint", Condition::ResourceConstraint),
    ("restricted-xml", Condition::RestrictedXml),
    ("system-shutdown", Condition::SystemShutdown),
    ("undefined-condition", Condition::UndefinedCondition),
    ("unsupported-encoding", Condition::UnsupportedEncoding),
    ("unsupported-feature", Condition::UnsupportedFeature),
    ("unsupported-stanza-type", Condition::UnsupportedStanzaType),
    ("unsupported-version", Condition::UnsupportedVersion),
];

impl Condition {
    /// Every condition, `see-other-host` with an empty host.
    pub fn all() -> Vec<Condition> {
        let mut v: Vec<Condition> = NAMES.iter().map(|(_, c)| c.clone()).collect();
        v.push(Condition::SeeOtherHost(String::new()));
        v
    }

    /// The element name of the condition.
    pub fn name(&self) -> &'static str {
        match self {
            Condition::SeeOtherHost(_) => "see-other-host",
            c => NAMES
                .iter()
                .find(|(_, x)| x == c)
                .map_or("undefined-condition", |(n, _)| n),
        }
    }

    /// The condition that answers a tokenizer error (RFC 6120 §4.9.3, §11).
    pub fn for_xml_error(kind: &ErrorKind) -> Condition {
        match kind {
            ErrorKind::InvalidUtf8 | ErrorKind::UnsupportedEncoding(_) => {
                Condition::UnsupportedEncoding
            }
            ErrorKind::RestrictedXml(_) => Condition::RestrictedXml,
            ErrorKind::UndeclaredPrefix(_) => Condition::BadNamespacePrefix,
            ErrorKind::InvalidNamespaceDecl => Condition::InvalidNamespace,
            ErrorKind::LimitExceeded(_) => Condition::PolicyViolation,
            _ => Condition::NotWellFormed,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Condition {
    type Err = ();
    fn from_str(s: &str) -> Result<Condition, ()> {
        NAMES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, c)| c.clone())
            .ok_or(())
    }
}

/// A stream error: condition, optional human-readable text and an optional
/// application-specific condition element (RFC 6120 §4.9.2).
///
/// ```
/// use starling_stream::{Condition, StreamError};
///
/// let e = StreamError::new(Condition::PolicyViolation).with_text("stanza too large");
/// let el = e.to_element();
/// assert_eq!(StreamError::from_element(&el).unwrap(), e);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream error {condition}{}", text.as_ref().map(|t| format!(": {t}")).unwrap_or_default())]
pub struct StreamError {
    /// The defined condition.
    pub condition: Condition,
    /// Descriptive text (`<text/>`), not for display to end users as a rule.
    pub text: Option<String>,
    /// The `xml:lang` of the text.
    pub lang: Option<String>,
    /// An application-specific condition element.
    pub application: Option<Box<Element>>,
}

impl StreamError {
    /// An error with only a condition.
    pub fn new(condition: Condition) -> Self {
        StreamError {
            condition,
            text: None,
            lang: None,
            application: None,
        }
    }

    /// Adds descriptive text.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The `<stream:error/>` element.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("error", ns::STREAM);
        let mut cond = Element::new(self.condition.name(), ns::STREAM_ERRORS);
        if let Condition::SeeOtherHost(h) = &self.condition {
            cond.append_text(h.as_str());
        }
        el.append_child(cond);
        if let Some(t) = &self.text {
            let mut text = Element::new("text", ns::STREAM_ERRORS);
            if let Some(l) = &self.lang {
                text.set_attr_ns(XML_NS, "lang", Some(l));
            }
            text.append_text(t.as_str());
            el.append_child(text);
        }
        if let Some(a) = &self.application {
            el.append_child((**a).clone());
        }
        el
    }

    /// Reads a `<stream:error/>` element. An unknown condition is read as
    /// `undefined-condition` (RFC 6120 §4.9.3.21 allows no other).
    pub fn from_element(el: &Element) -> Option<StreamError> {
        if !el.is("error", ns::STREAM) {
            return None;
        }
        let mut err = StreamError::new(Condition::UndefinedCondition);
        let mut found = false;
        for c in el.children() {
            if c.ns() == ns::STREAM_ERRORS {
                if c.name() == "text" {
                    err.text = Some(c.text());
                    err.lang = c.lang().map(str::to_owned);
                } else if !found {
                    found = true;
                    err.condition = if c.name() == "see-other-host" {
                        Condition::SeeOtherHost(c.text())
                    } else {
                        c.name().parse().unwrap_or(Condition::UndefinedCondition)
                    };
                }
            } else if err.application.is_none() {
                err.application = Some(Box::new(c.clone()));
            }
        }
        Some(err)
    }
}

/// Why the framer stopped: the stream error to send to the peer, and the
/// tokenizer error behind it if there was one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct FramingError {
    /// The stream error that answers the problem.
    pub error: StreamError,
    /// The XML error that caused it, if any.
    pub xml: Option<Box<starling_xml::Error>>,
}

impl FramingError {
    pub(crate) fn new(condition: Condition, text: impl Into<String>) -> Self {
        FramingError {
            error: StreamError::new(condition).with_text(text),
            xml: None,
        }
    }

    /// The condition to send.
    pub fn condition(&self) -> &Condition {
        &self.error.condition
    }
}

impl From<starling_xml::Error> for FramingError {
    fn from(e: starling_xml::Error) -> Self {
        FramingError {
            error: StreamError::new(Condition::for_xml_error(&e.kind)).with_text(e.to_string()),
            xml: Some(Box::new(e)),
        }
    }
}
