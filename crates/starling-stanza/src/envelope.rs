//! The routing view of a stanza: its kind, type and addresses, checked with
//! the rules of [`Stanza::from_element`](crate::Stanza::from_element) but
//! without copying its content.

use starling_xml::{Element, Node};

use crate::error::ParseError;
use crate::ns;
use crate::stanza::{Header, MessageType, PresenceType, Show};

/// The type of an iq (RFC 6120 §8.2.3), without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IqType {
    /// `get`: a request for information.
    Get,
    /// `set`: a request to change something.
    Set,
    /// `result`: a successful answer.
    Result,
    /// `error`: an error answer.
    Error,
}

impl IqType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    /// Whether this is a request (`get` or `set`), which must be answered.
    pub fn is_request(self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

/// What a stanza is: the element and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StanzaKind {
    /// `<message/>` of this type.
    Message(MessageType),
    /// `<presence/>` of this type, with its priority (0 when absent).
    Presence(PresenceType, i8),
    /// `<iq/>` of this type.
    Iq(IqType),
}

impl StanzaKind {
    /// The element name: `message`, `presence` or `iq`.
    pub fn name(self) -> &'static str {
        match self {
            StanzaKind::Message(_) => "message",
            StanzaKind::Presence(..) => "presence",
            StanzaKind::Iq(_) => "iq",
        }
    }

    /// Whether the stanza is of type `error` (never answered with an error,
    /// RFC 6120 §8.3.1).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            StanzaKind::Message(MessageType::Error)
                | StanzaKind::Presence(PresenceType::Error, _)
                | StanzaKind::Iq(IqType::Error)
        )
    }
}

/// A stanza's kind and header, parsed once for routing.
///
/// [`Envelope::from_element`] accepts exactly the elements that
/// [`Stanza::from_element`](crate::Stanza::from_element) accepts and fails
/// with the same condition, but reads only what routing needs: the
/// addresses (each JID parsed once), the id, the language, the type and a
/// presence priority. Bodies and payloads stay in the element, which a
/// server forwards as it came.
///
/// ```
/// use starling_stanza::{Envelope, MessageType, StanzaKind};
///
/// let el = "<message xmlns='jabber:client' type='chat' to='juliet@example.com/balcony'>\
///           <body>Art thou not Romeo?</body></message>".parse().unwrap();
/// let env = Envelope::from_element(&el).unwrap();
/// assert_eq!(env.kind, StanzaKind::Message(MessageType::Chat));
/// assert_eq!(env.header.to.unwrap().resource(), Some("balcony"));
///
/// let bad = "<presence xmlns='jabber:client'><priority>300</priority></presence>".parse().unwrap();
/// assert!(Envelope::from_element(&bad).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// What the stanza is.
    pub kind: StanzaKind,
    /// Addresses, id and language.
    pub header: Header,
}

impl Envelope {
    /// Reads and checks a stanza element (in `jabber:client` or
    /// `jabber:server`). An element that is not a stanza fails with
    /// `feature-not-implemented`, as [`Stanza::from_element`] does.
    ///
    /// [`Stanza::from_element`]: crate::Stanza::from_element
    pub fn from_element(el: &Element) -> Result<Envelope, ParseError> {
        if !matches!(el.ns(), ns::CLIENT | ns::SERVER) {
            return Err(crate::stanza::not_a_stanza(el));
        }
        let kind = match el.name() {
            "message" => {
                let header = Header::parse(el)?;
                return Ok(Envelope {
                    kind: StanzaKind::Message(check_message(el)?),
                    header,
                });
            }
            "presence" => {
                let header = Header::parse(el)?;
                let (t, prio) = check_presence(el)?;
                return Ok(Envelope {
                    kind: StanzaKind::Presence(t, prio),
                    header,
                });
            }
            "iq" => "iq",
            _ => return Err(crate::stanza::not_a_stanza(el)),
        };
        debug_assert_eq!(kind, "iq");
        let header = Header::parse(el)?;
        if header.id.as_deref().is_none_or(str::is_empty) {
            return Err(ParseError::bad_request("an iq must have an 'id'"));
        }
        Ok(Envelope {
            kind: StanzaKind::Iq(check_iq(el)?),
            header,
        })
    }

    /// The element name: `message`, `presence` or `iq`.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// Text-only children `name` with at most one per `xml:lang`.
fn check_texts(el: &Element, name: &str, content: &str, what: &str) -> Result<(), ParseError> {
    let mut langs: Vec<Option<&str>> = Vec::new();
    for c in el.children().filter(|c| c.is(name, content)) {
        if c.children().next().is_some() {
            return Err(ParseError::bad_request(format!(
                "<{name}/> must contain only text"
            )));
        }
        let lang = c.lang();
        if langs.contains(&lang) {
            return Err(ParseError::bad_request(format!(
                "two {what} elements with the same xml:lang"
            )));
        }
        langs.push(lang);
    }
    Ok(())
}

fn check_message(el: &Element) -> Result<MessageType, ParseError> {
    let t = match el.attr("type") {
        None => MessageType::Normal,
        Some(t) => t.parse()?,
    };
    let content = el.ns();
    check_texts(el, "body", content, "<body/>")?;
    check_texts(el, "subject", content, "<subject/>")?;
    if el
        .children()
        .filter(|c| c.is("thread", content))
        .nth(1)
        .is_some()
    {
        return Err(ParseError::bad_request("more than one <thread/>"));
    }
    Ok(t)
}

fn check_presence(el: &Element) -> Result<(PresenceType, i8), ParseError> {
    let t = match el.attr("type") {
        None => PresenceType::Available,
        Some(t) => t.parse()?,
    };
    let content = el.ns();
    check_texts(el, "status", content, "<status/>")?;
    let (mut show, mut priority) = (false, None);
    for c in el.children().filter(|c| c.ns() == content) {
        match c.name() {
            "show" => {
                if show {
                    return Err(ParseError::bad_request("more than one <show/>"));
                }
                show = true;
                c.text().trim().parse::<Show>()?;
            }
            "priority" => {
                if priority.is_some() {
                    return Err(ParseError::bad_request("more than one <priority/>"));
                }
                let text = c.text();
                priority = Some(text.trim().parse::<i8>().map_err(|_| {
                    ParseError::bad_request(format!(
                        "priority {text:?} is not an integer from -128 to 127"
                    ))
                })?);
            }
            _ => {}
        }
    }
    Ok((t, priority.unwrap_or(0)))
}

fn check_iq(el: &Element) -> Result<IqType, ParseError> {
    let content = el.ns();
    if el
        .nodes()
        .iter()
        .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    {
        return Err(ParseError::bad_request("an iq must not contain text"));
    }
    let children = el.children().count();
    match el.attr("type") {
        Some(t @ ("get" | "set")) => {
            if children != 1 {
                return Err(ParseError::bad_request(format!(
                    "an iq of type '{t}' must have exactly one child"
                )));
            }
            Ok(if t == "get" { IqType::Get } else { IqType::Set })
        }
        Some("result") => {
            if children > 1 {
                return Err(ParseError::bad_request(
                    "an iq of type 'result' must have at most one child",
                ));
            }
            Ok(IqType::Result)
        }
        Some("error") => {
            let ok = el
                .get_child("error", content)
                .and_then(crate::StanzaError::from_element)
                .is_some();
            if !ok {
                return Err(ParseError::bad_request(
                    "an iq of type 'error' must have an <error/>",
                ));
            }
            Ok(IqType::Error)
        }
        Some(other) => Err(ParseError::bad_request(format!(
            "unknown iq type {other:?}"
        ))),
        None => Err(ParseError::bad_request("an iq must have a 'type'")),
    }
}
