//! Stanza errors (RFC 6120 §8.3) and parse errors.

use std::fmt;
use std::str::FromStr;

use starling_jid::Jid;
use starling_xml::{Element, names::XML_NS};

use crate::ns;

/// The `type` of a stanza error (RFC 6120 §8.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Retry after providing credentials.
    Auth,
    /// Do not retry (the error cannot be remedied).
    Cancel,
    /// Proceed (the condition was only a warning).
    Continue,
    /// Retry after changing the data sent.
    Modify,
    /// Retry after waiting (the error is temporary).
    Wait,
}

impl ErrorType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Auth => "auth",
            ErrorType::Cancel => "cancel",
            ErrorType::Continue => "continue",
            ErrorType::Modify => "modify",
            ErrorType::Wait => "wait",
        }
    }
}

impl FromStr for ErrorType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Ok(match s {
            "auth" => ErrorType::Auth,
            "cancel" => ErrorType::Cancel,
            "continue" => ErrorType::Continue,
            "modify" => ErrorType::Modify,
            "wait" => ErrorType::Wait,
            _ => return Err(()),
        })
    }
}

/// A defined stanza error condition (RFC 6120 §8.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Condition {
    /// §8.3.3.1
    BadRequest,
    /// §8.3.3.2
    Conflict,
    /// §8.3.3.3
    FeatureNotImplemented,
    /// §8.3.3.4
    Forbidden,
    /// §8.3.3.5: the recipient is gone; optionally its new address (an XMPP URI).
    Gone(Option<String>),
    /// §8.3.3.6
    InternalServerError,
    /// §8.3.3.7
    ItemNotFound,
    /// §8.3.3.8
    JidMalformed,
    /// §8.3.3.9
    NotAcceptable,
    /// §8.3.3.10
    NotAllowed,
    /// §8.3.3.11
    NotAuthorized,
    /// §8.3.3.12
    PolicyViolation,
    /// §8.3.3.13
    RecipientUnavailable,
    /// §8.3.3.14: optionally the alternative address (an XMPP URI).
    Redirect(Option<String>),
    /// §8.3.3.15
    RegistrationRequired,
    /// §8.3.3.16
    RemoteServerNotFound,
    /// §8.3.3.17
    RemoteServerTimeout,
    /// §8.3.3.18
    ResourceConstraint,
    /// §8.3.3.19
    ServiceUnavailable,
    /// §8.3.3.20
    SubscriptionRequired,
    /// §8.3.3.21
    UndefinedCondition,
    /// §8.3.3.22
    UnexpectedRequest,
}

const CONDITIONS: &[(&str, Condition, ErrorType)] = &[
    ("bad-request", Condition::BadRequest, ErrorType::Modify),
    ("conflict", Condition::Conflict, ErrorType::Cancel),
    (
        "feature-not-implemented",
        Condition::FeatureNotImplemented,
        ErrorType::Cancel,
    ),
    ("forbidden", Condition::Forbidden, ErrorType::Auth),
    ("gone", Condition::Gone(None), ErrorType::Cancel),
    (
        "internal-server-error",
        Condition::InternalServerError,
        ErrorType::Cancel,
    ),
    ("item-not-found", Condition::ItemNotFound, ErrorType::Cancel),
    ("jid-malformed", Condition::JidMalformed, ErrorType::Modify),
    (
        "not-acceptable",
        Condition::NotAcceptable,
        ErrorType::Modify,
    ),
    ("not-allowed", Condition::NotAllowed, ErrorType::Cancel),
    ("not-authorized", Condition::NotAuthorized, ErrorType::Auth),
    (
        "policy-violation",
        Condition::PolicyViolation,
        ErrorType::Modify,
    ),
    (
        "recipient-unavailable",
        Condition::RecipientUnavailable,
        ErrorType::Wait,
    ),
    ("redirect", Condition::Redirect(None), ErrorType::Modify),
    (
        "registration-required",
        Condition::RegistrationRequired,
        ErrorType::Auth,
    ),
    (
        "remote-server-not-found",
        Condition::RemoteServerNotFound,
        ErrorType::Cancel,
    ),
    (
        "remote-server-timeout",
        Condition::RemoteServerTimeout,
        ErrorType::Wait,
    ),
    (
        "resource-constraint",
        Condition::ResourceConstraint,
        ErrorType::Wait,
    ),
    (
        "service-unavailable",
        Condition::ServiceUnavailable,
        ErrorType::Cancel,
    ),
    (
        "subscription-required",
        Condition::SubscriptionRequired,
        ErrorType::Auth,
    ),
    (
        "undefined-condition",
        Condition::UndefinedCondition,
        ErrorType::Cancel,
    ),
    (
        "unexpected-request",
        Condition::UnexpectedRequest,
        ErrorType::Wait,
    ),
];

impl Condition {
    fn entry(&self) -> &'static (&'static str, Condition, ErrorType) {
        let probe = match self {
            Condition::Gone(_) => Condition::Gone(None),
            Condition::Redirect(_) => Condition::Redirect(None),
            c => c.clone(),
        };
        CONDITIONS
            .iter()
            .find(|(_, c, _)| *c == probe)
            .unwrap_or(&CONDITIONS[CONDITIONS.len() - 2])
    }

    /// Every defined condition.
    pub fn all() -> Vec<Condition> {
        CONDITIONS.iter().map(|(_, c, _)| c.clone()).collect()
    }

    /// The element name.
    pub fn name(&self) -> &'static str {
        self.entry().0
    }

    /// The error type RFC 6120 §8.3.3 gives with this condition.
    pub fn default_type(&self) -> ErrorType {
        self.entry().2
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
        CONDITIONS
            .iter()
            .find(|(n, _, _)| *n == s)
            .map(|(_, c, _)| c.clone())
            .ok_or(())
    }
}

/// A stanza error: the `<error/>` child of a stanza of type `error`.
///
/// ```
/// use starling_stanza::{ErrorType, StanzaError, StanzaErrorCondition};
///
/// let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
/// assert_eq!(e.error_type, ErrorType::Cancel);
/// let el = e.to_element();
/// assert_eq!(StanzaError::from_element(&el).unwrap(), e);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("stanza error {condition} ({})", error_type.as_str())]
pub struct StanzaError {
    /// The error type.
    pub error_type: ErrorType,
    /// The defined condition.
    pub condition: Condition,
    /// The entity that generated the error (`by`).
    pub by: Option<Jid>,
    /// Descriptive text.
    pub text: Option<String>,
    /// Language of the text.
    pub lang: Option<String>,
    /// An application-specific condition element.
    pub application: Option<Box<Element>>,
}

impl StanzaError {
    /// An error with the condition's default type.
    pub fn new(condition: Condition) -> Self {
        StanzaError {
            error_type: condition.default_type(),
            condition,
            by: None,
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

    /// Sets the type.
    #[must_use]
    pub fn with_type(mut self, t: ErrorType) -> Self {
        self.error_type = t;
        self
    }

    /// The `<error/>` element in namespace `content_ns` (`jabber:client` or
    /// `jabber:server`).
    pub fn to_element_in(&self, content_ns: &str) -> Element {
        let mut el = Element::new("error", content_ns);
        el.set_attr("type", Some(self.error_type.as_str()));
        if let Some(by) = &self.by {
            el.set_attr("by", Some(by.as_ref()));
        }
        let mut cond = Element::new(self.condition.name(), ns::STANZAS);
        if let Condition::Gone(Some(u)) | Condition::Redirect(Some(u)) = &self.condition {
            cond.append_text(u.as_str());
        }
        el.append_child(cond);
        if let Some(t) = &self.text {
            let mut text = Element::new("text", ns::STANZAS);
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

    /// The `<error/>` element in `jabber:client`.
    pub fn to_element(&self) -> Element {
        self.to_element_in(ns::CLIENT)
    }

    /// Reads an `<error/>` element. A missing or unknown condition is read
    /// as `undefined-condition`; a missing or unknown type as the
    /// condition's default.
    pub fn from_element(el: &Element) -> Option<StanzaError> {
        if el.name() != "error" {
            return None;
        }
        let mut condition = None;
        let mut text = None;
        let mut lang = None;
        let mut application = None;
        for c in el.children() {
            if c.ns() == ns::STANZAS {
                if c.name() == "text" {
                    text = Some(c.text());
                    lang = c.lang().map(str::to_owned);
                } else if condition.is_none() {
                    let t = c.text();
                    let uri = (!t.trim().is_empty()).then(|| t.trim().to_owned());
                    condition = Some(match c.name() {
                        "gone" => Condition::Gone(uri),
                        "redirect" => Condition::Redirect(uri),
                        n => n.parse().unwrap_or(Condition::UndefinedCondition),
                    });
                }
            } else if application.is_none() {
                application = Some(Box::new(c.clone()));
            }
        }
        let condition = condition.unwrap_or(Condition::UndefinedCondition);
        let error_type = el
            .attr("type")
            .and_then(|t| t.parse().ok())
            .unwrap_or(condition.default_type());
        let by = el.attr("by").and_then(|b| b.parse().ok());
        Some(StanzaError {
            error_type,
            condition,
            by,
            text,
            lang,
            application,
        })
    }
}

/// Why an element is not a valid stanza or payload; [`condition`](Self::condition)
/// is the stanza error that answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{condition}: {reason}")]
pub struct ParseError {
    /// The stanza error condition to answer with.
    pub condition: Condition,
    /// What was wrong.
    pub reason: String,
    /// An application-specific condition element to put in the stanza
    /// error (for example XEP-0060's `<nodeid-required/>`); see
    /// [`with_application`](Self::with_application).
    pub application: Option<Box<Element>>,
}

impl ParseError {
    /// An error with a condition and a reason, and no application
    /// condition.
    pub fn new(condition: Condition, reason: impl Into<String>) -> Self {
        ParseError {
            condition,
            reason: reason.into(),
            application: None,
        }
    }

    pub(crate) fn bad_request(reason: impl Into<String>) -> Self {
        ParseError::new(Condition::BadRequest, reason)
    }

    pub(crate) fn jid_malformed(attr: &str, err: impl fmt::Display) -> Self {
        ParseError::new(
            Condition::JidMalformed,
            format!("'{attr}' is not a valid JID: {err}"),
        )
    }

    /// Adds the application-specific condition element that
    /// [`to_stanza_error`](Self::to_stanza_error) puts in the error.
    #[must_use]
    pub fn with_application(mut self, element: Element) -> Self {
        self.application = Some(Box::new(element));
        self
    }

    /// The stanza error to send back (with the application condition,
    /// if any).
    pub fn to_stanza_error(&self) -> StanzaError {
        let mut e = StanzaError::new(self.condition.clone()).with_text(self.reason.clone());
        e.application = self.application.clone();
        e
    }
}
