//! The SASL elements of RFC 6120 §6.4 and the base 64 encoding of their
//! data.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use starling_stream::ns;
use starling_xml::{Element, Node};

use super::condition::{Condition, Failure};

/// One SASL element of RFC 6120 §6.4, with its data decoded.
///
/// Data is carried as base 64 (RFC 4648 §4, with padding) in the element's
/// character data. The encoding is strict: whitespace, a missing or wrong
/// padding and non-zero trailing bits are [`WireError::Base64`]
/// (`incorrect-encoding`).
///
/// Zero-length data is written as it must be (RFC 6120 §6.4.2, §6.3.10):
/// an `<auth/>` with an empty initial response and a `<success/>` with
/// empty additional data contain a single `=`, which tells them apart from
/// the element without data. `<challenge/>` and `<response/>` make no such
/// distinction; zero-length data is written as an empty element, and `=` is
/// read as zero-length data there too.
///
/// ```
/// use starling_auth::sasl::SaslMessage;
///
/// let auth = SaslMessage::Auth {
///     mechanism: "PLAIN".into(),
///     initial_response: Some(b"\0juliet\0r0m30myr0m30".to_vec()),
/// };
/// let el = auth.to_element();
/// assert_eq!(
///     el.to_xml(),
///     "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>"
/// );
/// assert_eq!(SaslMessage::from_element(&el).unwrap(), auth);
///
/// // An empty initial response is not the same as none.
/// let empty = SaslMessage::Auth { mechanism: "EXTERNAL".into(), initial_response: Some(Vec::new()) };
/// assert_eq!(empty.to_element().text(), "=");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslMessage {
    /// `<auth mechanism='…'/>`, from the initiating entity (§6.4.2).
    Auth {
        /// The mechanism name, as sent.
        mechanism: String,
        /// The initial response: `None` when the element is empty,
        /// `Some` (possibly empty) otherwise.
        initial_response: Option<Vec<u8>>,
    },
    /// `<challenge/>`, from the receiving entity (§6.4.3).
    Challenge(Vec<u8>),
    /// `<response/>`, from the initiating entity (§6.4.3).
    Response(Vec<u8>),
    /// `<success/>`, from the receiving entity, with optional additional
    /// data (§6.3.10, §6.4.6).
    Success(Option<Vec<u8>>),
    /// `<failure/>`, from the receiving entity (§6.4.5).
    Failure(Failure),
    /// `<abort/>`, from the initiating entity (§6.4.4).
    Abort,
}

/// An element that is not a well-formed SASL element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The element is not in the SASL namespace: not for this layer.
    #[error("<{name}/> in namespace `{ns}` is not a SASL element")]
    NotSasl {
        /// Local name.
        name: String,
        /// Namespace name.
        ns: String,
    },
    /// An element of the SASL namespace that RFC 6120 §6.4 does not define.
    #[error("<{0}/> is not a SASL negotiation element")]
    UnknownElement(String),
    /// `<auth/>` without a (non-empty) `mechanism` attribute.
    #[error("<auth/> names no mechanism")]
    MissingMechanism,
    /// The character data is not strict base 64.
    #[error("the data of <{0}/> is not valid base 64")]
    Base64(&'static str),
    /// The element has child elements where only character data belongs.
    #[error("<{0}/> must contain character data only")]
    ChildElement(&'static str),
}

impl WireError {
    /// The failure condition to answer this error with.
    pub fn condition(&self) -> Condition {
        match self {
            WireError::MissingMechanism => Condition::InvalidMechanism,
            WireError::Base64(_) => Condition::IncorrectEncoding,
            WireError::NotSasl { .. }
            | WireError::UnknownElement(_)
            | WireError::ChildElement(_) => Condition::MalformedRequest,
        }
    }
}

/// Encodes data as base 64 (standard alphabet, padded).
pub(crate) fn encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes strict base 64.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// The character data of an element that may hold only character data.
fn text_only(el: &Element, name: &'static str) -> Result<String, WireError> {
    if el.nodes().iter().any(|n| matches!(n, Node::Element(_))) {
        return Err(WireError::ChildElement(name));
    }
    Ok(el.text())
}

/// Data that may be absent (`<auth/>`, `<success/>`): empty text is none,
/// `=` is zero-length data.
fn optional_data(el: &Element, name: &'static str) -> Result<Option<Vec<u8>>, WireError> {
    let text = text_only(el, name)?;
    match text.as_str() {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        t => decode(t).map(Some).ok_or(WireError::Base64(name)),
    }
}

/// Data that is always present (`<challenge/>`, `<response/>`).
fn data(el: &Element, name: &'static str) -> Result<Vec<u8>, WireError> {
    Ok(optional_data(el, name)?.unwrap_or_default())
}

fn data_element(name: &str, data: Option<&[u8]>, empty_as_equals: bool) -> Element {
    let mut el = Element::new(name, ns::SASL);
    match data {
        None => {}
        Some([]) if empty_as_equals => el.append_text("="),
        Some(d) => el.append_text(encode(d)),
    }
    el
}

impl SaslMessage {
    /// Reads a SASL element.
    pub fn from_element(el: &Element) -> Result<SaslMessage, WireError> {
        if el.ns() != ns::SASL {
            return Err(WireError::NotSasl {
                name: el.name().to_owned(),
                ns: el.ns().to_owned(),
            });
        }
        Ok(match el.name() {
            "auth" => {
                let mechanism = el.attr("mechanism").unwrap_or_default();
                if mechanism.is_empty() {
                    return Err(WireError::MissingMechanism);
                }
                SaslMessage::Auth {
                    mechanism: mechanism.to_owned(),
                    initial_response: optional_data(el, "auth")?,
                }
            }
            "challenge" => SaslMessage::Challenge(data(el, "challenge")?),
            "response" => SaslMessage::Response(data(el, "response")?),
            "success" => SaslMessage::Success(optional_data(el, "success")?),
            "failure" => match Failure::from_element(el) {
                Some(f) => SaslMessage::Failure(f),
                None => return Err(WireError::UnknownElement("failure".into())),
            },
            "abort" => SaslMessage::Abort,
            other => return Err(WireError::UnknownElement(other.to_owned())),
        })
    }

    /// The element, in the SASL namespace.
    pub fn to_element(&self) -> Element {
        match self {
            SaslMessage::Auth {
                mechanism,
                initial_response,
            } => {
                let mut el = data_element("auth", initial_response.as_deref(), true);
                el.set_attr("mechanism", Some(mechanism));
                el
            }
            SaslMessage::Challenge(d) => data_element("challenge", Some(d), false),
            SaslMessage::Response(d) => data_element("response", Some(d), false),
            SaslMessage::Success(d) => data_element("success", d.as_deref(), true),
            SaslMessage::Failure(f) => f.to_element(),
            SaslMessage::Abort => Element::new("abort", ns::SASL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Result<SaslMessage, WireError> {
        SaslMessage::from_element(&xml.parse::<Element>().unwrap())
    }

    const NS: &str = "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'";

    #[test]
    fn auth_with_and_without_initial_response() {
        assert_eq!(
            parse(&format!("<auth {NS} mechanism='EXTERNAL'/>")),
            Ok(SaslMessage::Auth {
                mechanism: "EXTERNAL".into(),
                initial_response: None
            })
        );
        assert_eq!(
            parse(&format!("<auth {NS} mechanism='EXTERNAL'>=</auth>")),
            Ok(SaslMessage::Auth {
                mechanism: "EXTERNAL".into(),
                initial_response: Some(vec![])
            })
        );
        assert_eq!(
            parse(&format!("<auth {NS}>AA==</auth>")),
            Err(WireError::MissingMechanism)
        );
        assert_eq!(
            parse(&format!("<auth {NS} mechanism=''>AA==</auth>")),
            Err(WireError::MissingMechanism)
        );
    }

    #[test]
    fn strict_base64() {
        for bad in [
            "AA=", "AA", "A", "AB==", "AA==\n", " AA==", "AA ==", "!!!!", "AA==AA==",
        ] {
            let r = parse(&format!("<response {NS}>{bad}</response>"));
            assert_eq!(r, Err(WireError::Base64("response")), "{bad:?}");
            assert_eq!(r.unwrap_err().condition(), Condition::IncorrectEncoding);
        }
        assert_eq!(
            parse(&format!("<response {NS}>AA==</response>")),
            Ok(SaslMessage::Response(vec![0]))
        );
    }

    #[test]
    fn empty_data() {
        assert_eq!(
            parse(&format!("<response {NS}/>")),
            Ok(SaslMessage::Response(vec![]))
        );
        assert_eq!(
            parse(&format!("<response {NS}>=</response>")),
            Ok(SaslMessage::Response(vec![]))
        );
        assert_eq!(
            parse(&format!("<success {NS}/>")),
            Ok(SaslMessage::Success(None))
        );
        assert_eq!(
            parse(&format!("<success {NS}>=</success>")),
            Ok(SaslMessage::Success(Some(vec![])))
        );
        assert_eq!(SaslMessage::Challenge(vec![]).to_element().text(), "");
        assert_eq!(SaslMessage::Success(Some(vec![])).to_element().text(), "=");
        assert_eq!(SaslMessage::Success(None).to_element().text(), "");
    }

    #[test]
    fn not_sasl_and_unknown() {
        assert!(matches!(
            parse("<auth xmlns='jabber:client' mechanism='PLAIN'/>"),
            Err(WireError::NotSasl { .. })
        ));
        assert_eq!(
            parse(&format!("<mechanisms {NS}/>")),
            Err(WireError::UnknownElement("mechanisms".into()))
        );
        assert_eq!(
            parse(&format!("<response {NS}><x/></response>")),
            Err(WireError::ChildElement("response"))
        );
        assert_eq!(parse(&format!("<abort {NS}/>")), Ok(SaslMessage::Abort));
    }

    #[test]
    fn round_trips() {
        let msgs = [
            SaslMessage::Auth {
                mechanism: "SCRAM-SHA-1".into(),
                initial_response: Some(b"n,,n=user,r=abc".to_vec()),
            },
            SaslMessage::Challenge(b"r=abc,s=QSXCR+Q6sek8bf92,i=4096".to_vec()),
            SaslMessage::Response(vec![0, 1, 2, 255]),
            SaslMessage::Success(Some(b"v=xyz".to_vec())),
            SaslMessage::Failure(Failure::new(Condition::Aborted)),
            SaslMessage::Abort,
        ];
        for m in msgs {
            let xml = m.to_element().to_xml();
            assert_eq!(parse(&xml), Ok(m));
        }
    }
}
