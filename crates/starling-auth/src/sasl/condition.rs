//! SASL failure conditions (RFC 6120 §6.5) and the `<failure/>` element.

use std::fmt;
use std::str::FromStr;

use starling_stream::ns;
use starling_xml::{Element, names::XML_NS};

/// A SASL failure condition (RFC 6120 §6.5).
///
/// ```
/// use starling_auth::sasl::Condition;
///
/// assert_eq!(Condition::NotAuthorized.as_str(), "not-authorized");
/// assert_eq!("invalid-authzid".parse::<Condition>(), Ok(Condition::InvalidAuthzid));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// §6.5.1: the initiating entity sent `<abort/>`.
    Aborted,
    /// §6.5.2: the account is (temporarily) disabled.
    AccountDisabled,
    /// §6.5.3: the credentials provided have expired.
    CredentialsExpired,
    /// §6.5.4: the mechanism may be used only over a protected (TLS) stream.
    EncryptionRequired,
    /// §6.5.5: the base 64 encoding of the data is incorrect.
    IncorrectEncoding,
    /// §6.5.6: the authorization identity is invalid or may not be used.
    InvalidAuthzid,
    /// §6.5.7: no mechanism was named, or it is not supported.
    InvalidMechanism,
    /// §6.5.8: the request is malformed (for example out of order, or a
    /// mechanism message that breaks its syntax).
    MalformedRequest,
    /// §6.5.9: the mechanism is weaker than server policy permits.
    MechanismTooWeak,
    /// §6.5.10: the credentials are wrong (also used for unknown users).
    NotAuthorized,
    /// §6.5.11: a temporary error on the receiving side; try again later.
    TemporaryAuthFailure,
}

const NAMES: [(&str, Condition); 11] = [
    ("aborted", Condition::Aborted),
    ("account-disabled", Condition::AccountDisabled),
    ("credentials-expired", Condition::CredentialsExpired),
    ("encryption-required", Condition::EncryptionRequired),
    ("incorrect-encoding", Condition::IncorrectEncoding),
    ("invalid-authzid", Condition::InvalidAuthzid),
    ("invalid-mechanism", Condition::InvalidMechanism),
    ("malformed-request", Condition::MalformedRequest),
    ("mechanism-too-weak", Condition::MechanismTooWeak),
    ("not-authorized", Condition::NotAuthorized),
    ("temporary-auth-failure", Condition::TemporaryAuthFailure),
];

impl Condition {
    /// Every condition, in the order of RFC 6120 §6.5.
    pub const ALL: [Condition; 11] = [
        Condition::Aborted,
        Condition::AccountDisabled,
        Condition::CredentialsExpired,
        Condition::EncryptionRequired,
        Condition::IncorrectEncoding,
        Condition::InvalidAuthzid,
        Condition::InvalidMechanism,
        Condition::MalformedRequest,
        Condition::MechanismTooWeak,
        Condition::NotAuthorized,
        Condition::TemporaryAuthFailure,
    ];

    /// The element name of the condition.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("not-authorized", |(n, _)| n)
    }

    /// The condition with element name `name`.
    pub fn from_name(name: &str) -> Option<Condition> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown condition name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SASL failure condition `{0}`")]
pub struct UnknownCondition(pub String);

impl FromStr for Condition {
    type Err = UnknownCondition;

    fn from_str(s: &str) -> Result<Condition, UnknownCondition> {
        Condition::from_name(s).ok_or_else(|| UnknownCondition(s.to_owned()))
    }
}

/// A SASL failure: a [`Condition`] and an optional human-readable text
/// (the `<failure/>` element of RFC 6120 §6.4.5).
///
/// ```
/// use starling_auth::sasl::{Condition, Failure};
///
/// let failure = Failure::new(Condition::NotAuthorized).with_text("Bad password");
/// let el = failure.to_element();
/// assert_eq!(
///     el.to_xml(),
///     "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>\
///      <text>Bad password</text></failure>"
/// );
/// assert_eq!(Failure::from_element(&el), Some(failure));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The defined condition.
    pub condition: Condition,
    /// Descriptive text, not meant to be parsed.
    pub text: Option<String>,
    /// The `xml:lang` of [`text`](Self::text).
    pub lang: Option<String>,
}

impl Failure {
    /// A failure without text.
    pub fn new(condition: Condition) -> Failure {
        Failure {
            condition,
            text: None,
            lang: None,
        }
    }

    /// The same failure with descriptive text.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Failure {
        self.text = Some(text.into());
        self
    }

    /// The `<failure/>` element.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("failure", ns::SASL);
        el.append_child(Element::new(self.condition.as_str(), ns::SASL));
        if let Some(text) = &self.text {
            let mut t = Element::new("text", ns::SASL);
            if let Some(lang) = &self.lang {
                t.set_attr_ns(XML_NS, "lang", Some(lang));
            }
            t.append_text(text.as_str());
            el.append_child(t);
        }
        el
    }

    /// Reads a `<failure/>` element; `None` if `el` is not one.
    ///
    /// A failure whose condition is missing or unknown is read as
    /// [`Condition::NotAuthorized`]: the exchange failed either way, and
    /// RFC 6120 defines no "undefined" SASL condition.
    pub fn from_element(el: &Element) -> Option<Failure> {
        if !el.is("failure", ns::SASL) {
            return None;
        }
        let condition = el
            .children()
            .filter(|c| c.ns() == ns::SASL)
            .find_map(|c| Condition::from_name(c.name()))
            .unwrap_or(Condition::NotAuthorized);
        let text_el = el.get_child("text", ns::SASL);
        Some(Failure {
            condition,
            text: text_el.map(Element::text),
            lang: text_el.and_then(|t| t.lang().map(str::to_owned)),
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SASL failure <{}/>", self.condition)?;
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_round_trips() {
        for c in Condition::ALL {
            assert_eq!(Condition::from_name(c.as_str()), Some(c));
            assert_eq!(c.to_string().parse::<Condition>(), Ok(c));
            let f = Failure::new(c);
            assert_eq!(Failure::from_element(&f.to_element()), Some(f));
        }
        assert!("undefined-condition".parse::<Condition>().is_err());
    }

    #[test]
    fn failure_with_lang_round_trips() {
        let mut f = Failure::new(Condition::AccountDisabled).with_text("Call 212-555-1212");
        f.lang = Some("en".into());
        let xml = f.to_element().to_xml();
        let el: Element = xml.parse().unwrap();
        assert_eq!(Failure::from_element(&el), Some(f));
    }

    #[test]
    fn unknown_or_missing_condition_reads_as_not_authorized() {
        let el: Element = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><bogus/></failure>"
            .parse()
            .unwrap();
        assert_eq!(
            Failure::from_element(&el).unwrap().condition,
            Condition::NotAuthorized
        );
        let el: Element = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
            .parse()
            .unwrap();
        assert_eq!(
            Failure::from_element(&el).unwrap().condition,
            Condition::NotAuthorized
        );
        let el: Element = "<failure xmlns='jabber:client'/>".parse().unwrap();
        assert_eq!(Failure::from_element(&el), None);
    }
}
