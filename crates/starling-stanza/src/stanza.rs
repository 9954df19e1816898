//! Message, presence and iq (RFC 6120 §8, RFC 6121 §4–5).

use std::str::FromStr;

use starling_jid::Jid;
use starling_xml::{Element, names::XML_NS};

use crate::error::{Condition, ParseError, StanzaError};
use crate::ns;
use crate::payload::Payload;

/// Text with an optional `xml:lang` (bodies, subjects, statuses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LangText {
    /// The language; `None` means the stanza's (or stream's) default.
    pub lang: Option<String>,
    /// The text.
    pub text: String,
}

impl LangText {
    /// Text in the default language.
    pub fn new(text: impl Into<String>) -> Self {
        LangText {
            lang: None,
            text: text.into(),
        }
    }
}

/// The attributes every stanza has (RFC 6120 §8.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Header {
    /// `to`.
    pub to: Option<Jid>,
    /// `from`.
    pub from: Option<Jid>,
    /// `id`.
    pub id: Option<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
}

fn parse_jid_attr(el: &Element, attr: &str) -> Result<Option<Jid>, ParseError> {
    match el.attr(attr) {
        None => Ok(None),
        Some(s) => Jid::from_str(s)
            .map(Some)
            .map_err(|e| ParseError::jid_malformed(attr, e)),
    }
}

impl Header {
    pub(crate) fn parse(el: &Element) -> Result<Header, ParseError> {
        Ok(Header {
            to: parse_jid_attr(el, "to")?,
            from: parse_jid_attr(el, "from")?,
            id: el.attr("id").map(str::to_owned),
            lang: el.lang().map(str::to_owned),
        })
    }

    fn write(&self, el: &mut Element) {
        if let Some(v) = &self.from {
            el.set_attr("from", Some(v.as_ref()));
        }
        if let Some(v) = &self.to {
            el.set_attr("to", Some(v.as_ref()));
        }
        if let Some(v) = &self.id {
            el.set_attr("id", Some(v));
        }
        if let Some(v) = &self.lang {
            el.set_attr_ns(XML_NS, "lang", Some(v));
        }
    }
}

fn lang_texts(el: &Element, name: &str, ns: &str, what: &str) -> Result<Vec<LangText>, ParseError> {
    let mut out: Vec<LangText> = Vec::new();
    for c in el.children().filter(|c| c.is(name, ns)) {
        if c.children().next().is_some() {
            return Err(ParseError::bad_request(format!(
                "<{name}/> must contain only text"
            )));
        }
        let lang = c.lang().map(str::to_owned);
        if out.iter().any(|t| t.lang == lang) {
            // RFC 6121 §5.2.3, §5.2.4, §4.7.2.2: one per language.
            return Err(ParseError::bad_request(format!(
                "two {what} elements with the same xml:lang"
            )));
        }
        out.push(LangText {
            lang,
            text: c.text(),
        });
    }
    Ok(out)
}

fn write_texts(el: &mut Element, name: &str, ns: &str, texts: &[LangText]) {
    for t in texts {
        let mut c = Element::new(name, ns);
        if let Some(l) = &t.lang {
            c.set_attr_ns(XML_NS, "lang", Some(l));
        }
        c.append_text(t.text.as_str());
        el.append_child(c);
    }
}

fn pick<'a>(texts: &'a [LangText], lang: Option<&str>) -> Option<&'a str> {
    lang.and_then(|l| texts.iter().find(|t| t.lang.as_deref() == Some(l)))
        .or_else(|| texts.iter().find(|t| t.lang.is_none()))
        .or(texts.first())
        .map(|t| t.text.as_str())
}

fn payloads_of<P: Payload>(children: &[Element]) -> Option<Result<P, ParseError>> {
    children
        .iter()
        .find(|c| c.is(P::NAME, P::NS))
        .map(P::from_element)
}

/// Message types (RFC 6121 §5.2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// One-to-one chat.
    Chat,
    /// An error reply.
    Error,
    /// Multi-user chat.
    Groupchat,
    /// An alert or notification with no reply expected; never stored offline.
    Headline,
    /// A standalone message (the default).
    #[default]
    Normal,
}

impl MessageType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Error => "error",
            MessageType::Groupchat => "groupchat",
            MessageType::Headline => "headline",
            MessageType::Normal => "normal",
        }
    }
}

impl FromStr for MessageType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "chat" => MessageType::Chat,
            "error" => MessageType::Error,
            "groupchat" => MessageType::Groupchat,
            "headline" => MessageType::Headline,
            "normal" => MessageType::Normal,
            _ => {
                return Err(ParseError::bad_request(format!(
                    "unknown message type {s:?}"
                )));
            }
        })
    }
}

/// A `<thread/>` (RFC 6121 §5.2.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Thread {
    /// The thread id.
    pub id: String,
    /// The parent thread.
    pub parent: Option<String>,
}

/// A message stanza.
///
/// ```
/// use starling_stanza::{Message, MessageType};
///
/// let m = Message::chat("juliet@example.com".parse().unwrap(), "Wherefore art thou, Romeo?");
/// let el = m.to_element();
/// assert_eq!(el.attr("type"), Some("chat"));
/// let back = Message::from_element(&el).unwrap();
/// assert_eq!(back.body(None), Some("Wherefore art thou, Romeo?"));
/// assert_eq!(back, m);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Message {
    /// Addresses, id and language.
    pub header: Header,
    /// The type.
    pub message_type: MessageType,
    /// Bodies, one per language.
    pub bodies: Vec<LangText>,
    /// Subjects, one per language.
    pub subjects: Vec<LangText>,
    /// The thread.
    pub thread: Option<Thread>,
    /// The error, for type `error`.
    pub error: Option<StanzaError>,
    /// Every other child, unchanged, in order.
    pub payloads: Vec<Element>,
}

impl Message {
    /// A chat message with one body.
    pub fn chat(to: Jid, body: impl Into<String>) -> Self {
        Message {
            header: Header {
                to: Some(to),
                ..Header::default()
            },
            message_type: MessageType::Chat,
            bodies: vec![LangText::new(body)],
            ..Message::default()
        }
    }

    /// The body for `lang`, else the default-language body, else any.
    pub fn body(&self, lang: Option<&str>) -> Option<&str> {
        pick(&self.bodies, lang)
    }

    /// The subject for `lang`, else the default one, else any.
    pub fn subject(&self, lang: Option<&str>) -> Option<&str> {
        pick(&self.subjects, lang)
    }

    /// The first payload of type `P`, parsed.
    pub fn payload<P: Payload>(&self) -> Option<Result<P, ParseError>> {
        payloads_of(&self.payloads)
    }

    /// Reads a `<message/>` element (in `jabber:client` or `jabber:server`).
    pub fn from_element(el: &Element) -> Result<Message, ParseError> {
        let header = Header::parse(el)?;
        let message_type = match el.attr("type") {
            None => MessageType::Normal,
            Some(t) => t.parse()?,
        };
        let content = el.ns();
        let bodies = lang_texts(el, "body", content, "<body/>")?;
        let subjects = lang_texts(el, "subject", content, "<subject/>")?;
        let mut thread = None;
        let mut error = None;
        let mut payloads = Vec::new();
        for c in el.children() {
            if c.ns() == content {
                match c.name() {
                    "body" | "subject" => continue,
                    "thread" => {
                        if thread.is_some() {
                            return Err(ParseError::bad_request("more than one <thread/>"));
                        }
                        thread = Some(Thread {
                            id: c.text(),
                            parent: c.attr("parent").map(str::to_owned),
                        });
                        continue;
                    }
                    "error" if message_type == MessageType::Error && error.is_none() => {
                        error = StanzaError::from_element(c);
                        continue;
                    }
                    _ => {}
                }
            }
            payloads.push(c.clone());
        }
        Ok(Message {
            header,
            message_type,
            bodies,
            subjects,
            thread,
            error,
            payloads,
        })
    }

    /// The `<message/>` element in `jabber:client`.
    pub fn to_element(&self) -> Element {
        self.to_element_in(ns::CLIENT)
    }

    /// The `<message/>` element in the given content namespace.
    pub fn to_element_in(&self, content: &str) -> Element {
        let mut el = Element::new("message", content);
        self.header.write(&mut el);
        if self.message_type != MessageType::Normal {
            el.set_attr("type", Some(self.message_type.as_str()));
        }
        write_texts(&mut el, "subject", content, &self.subjects);
        write_texts(&mut el, "body", content, &self.bodies);
        if let Some(t) = &self.thread {
            let mut c = Element::new("thread", content);
            if let Some(p) = &t.parent {
                c.set_attr("parent", Some(p));
            }
            c.append_text(t.id.as_str());
            el.append_child(c);
        }
        // The error goes first, so that a payload that happens to be named
        // <error/> is not read back as the error.
        if let Some(e) = &self.error {
            el.append_child(e.to_element_in(content));
        }
        for p in &self.payloads {
            el.append_child(p.clone());
        }
        el
    }
}

/// Presence types (RFC 6121 §4.7.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PresenceType {
    /// No `type`: the sender is available.
    #[default]
    Available,
    /// An error reply.
    Error,
    /// A request for the recipient's current presence (sent by servers).
    Probe,
    /// A subscription request.
    Subscribe,
    /// Approval of a subscription request.
    Subscribed,
    /// The sender is no longer available.
    Unavailable,
    /// Cancelling the sender's subscription to the recipient.
    Unsubscribe,
    /// Cancelling the recipient's subscription to the sender (or denying a request).
    Unsubscribed,
}

impl PresenceType {
    /// The attribute value (`None` for available).
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            PresenceType::Available => return None,
            PresenceType::Error => "error",
            PresenceType::Probe => "probe",
            PresenceType::Subscribe => "subscribe",
            PresenceType::Subscribed => "subscribed",
            PresenceType::Unavailable => "unavailable",
            PresenceType::Unsubscribe => "unsubscribe",
            PresenceType::Unsubscribed => "unsubscribed",
        })
    }

    /// Whether this is a subscription-management type.
    pub fn is_subscription(self) -> bool {
        matches!(
            self,
            PresenceType::Subscribe
                | PresenceType::Subscribed
                | PresenceType::Unsubscribe
                | PresenceType::Unsubscribed
        )
    }
}

impl FromStr for PresenceType {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "error" => PresenceType::Error,
            "probe" => PresenceType::Probe,
            "subscribe" => PresenceType::Subscribe,
            "subscribed" => PresenceType::Subscribed,
            "unavailable" => PresenceType::Unavailable,
            "unsubscribe" => PresenceType::Unsubscribe,
            "unsubscribed" => PresenceType::Unsubscribed,
            _ => {
                return Err(ParseError::bad_request(format!(
                    "unknown presence type {s:?}"
                )));
            }
        })
    }
}

/// The `<show/>` of available presence (RFC 6121 §4.7.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Show {
    /// Temporarily away.
    Away,
    /// Free for chat.
    Chat,
    /// Do not disturb.
    Dnd,
    /// Extended away.
    Xa,
}

impl Show {
    /// The element text.
    pub fn as_str(self) -> &'static str {
        match self {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        }
    }
}

impl FromStr for Show {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Ok(match s {
            "away" => Show::Away,
            "chat" => Show::Chat,
            "dnd" => Show::Dnd,
            "xa" => Show::Xa,
            _ => return Err(ParseError::bad_request(format!("unknown show value {s:?}"))),
        })
    }
}

/// A presence stanza.
///
/// ```
/// use starling_stanza::{Presence, PresenceType, Show};
///
/// let el = "<presence xmlns='jabber:client'><show>dnd</show><priority>-1</priority></presence>"
///     .parse()
///     .unwrap();
/// let p = Presence::from_element(&el).unwrap();
/// assert_eq!(p.presence_type, PresenceType::Available);
/// assert_eq!(p.show, Some(Show::Dnd));
/// assert_eq!(p.priority, -1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Presence {
    /// Addresses, id and language.
    pub header: Header,
    /// The type.
    pub presence_type: PresenceType,
    /// Availability sub-state.
    pub show: Option<Show>,
    /// Status texts, one per language.
    pub statuses: Vec<LangText>,
    /// Priority, −128 to 127 (RFC 6121 §4.7.2.3); 0 when absent.
    pub priority: i8,
    /// The error, for type `error`.
    pub error: Option<StanzaError>,
    /// Every other child, unchanged, in order.
    pub payloads: Vec<Element>,
}

impl Presence {
    /// Presence of the given type and nothing else.
    pub fn new(presence_type: PresenceType) -> Self {
        Presence {
            presence_type,
            ..Presence::default()
        }
    }

    /// The status for `lang`, else the default one, else any.
    pub fn status(&self, lang: Option<&str>) -> Option<&str> {
        pick(&self.statuses, lang)
    }

    /// The first payload of type `P`, parsed.
    pub fn payload<P: Payload>(&self) -> Option<Result<P, ParseError>> {
        payloads_of(&self.payloads)
    }

    /// Reads a `<presence/>` element.
    pub fn from_element(el: &Element) -> Result<Presence, ParseError> {
        let header = Header::parse(el)?;
        let presence_type = match el.attr("type") {
            None => PresenceType::Available,
            Some(t) => t.parse()?,
        };
        let content = el.ns();
        let statuses = lang_texts(el, "status", content, "<status/>")?;
        let mut show = None;
        let mut priority = None;
        let mut error = None;
        let mut payloads = Vec::new();
        for c in el.children() {
            if c.ns() == content {
                match c.name() {
                    "status" => continue,
                    "show" => {
                        if show.is_some() {
                            return Err(ParseError::bad_request("more than one <show/>"));
                        }
                        show = Some(c.text().trim().parse()?);
                        continue;
                    }
                    "priority" => {
                        if priority.is_some() {
                            return Err(ParseError::bad_request("more than one <priority/>"));
                        }
                        let t = c.text();
                        let v: i8 = t.trim().parse().map_err(|_| {
                            ParseError::bad_request(format!(
                                "priority {t:?} is not an integer from -128 to 127"
                            ))
                        })?;
                        priority = Some(v);
                        continue;
                    }
                    "error" if presence_type == PresenceType::Error && error.is_none() => {
                        error = StanzaError::from_element(c);
                        continue;
                    }
                    _ => {}
                }
            }
            payloads.push(c.clone());
        }
        Ok(Presence {
            header,
            presence_type,
            show,
            statuses,
            priority: priority.unwrap_or(0),
            error,
            payloads,
        })
    }

    /// The `<presence/>` element in `jabber:client`.
    pub fn to_element(&self) -> Element {
        self.to_element_in(ns::CLIENT)
    }

    /// The `<presence/>` element in the given content namespace.
    pub fn to_element_in(&self, content: &str) -> Element {
        let mut el = Element::new("presence", content);
        self.header.write(&mut el);
        if let Some(t) = self.presence_type.as_str() {
            el.set_attr("type", Some(t));
        }
        if let Some(s) = self.show {
            let mut c = Element::new("show", content);
            c.append_text(s.as_str());
            el.append_child(c);
        }
        write_texts(&mut el, "status", content, &self.statuses);
        if self.priority != 0 {
            let mut c = Element::new("priority", content);
            c.append_text(self.priority.to_string());
            el.append_child(c);
        }
        // The error goes first, so that a payload that happens to be named
        // <error/> is not read back as the error.
        if let Some(e) = &self.error {
            el.append_child(e.to_element_in(content));
        }
        for p in &self.payloads {
            el.append_child(p.clone());
        }
        el
    }
}

/// The type and content of an iq (RFC 6120 §8.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IqKind {
    /// A request for information, with exactly one payload.
    Get(Element),
    /// A request to change something, with exactly one payload.
    Set(Element),
    /// A successful answer, with zero or one payload.
    Result(Option<Element>),
    /// An error answer, with the error and optionally the request's payload.
    Error {
        /// The error.
        error: StanzaError,
        /// The original payload, if included.
        payload: Option<Element>,
    },
}

/// An iq stanza.
///
/// ```
/// use starling_stanza::{Iq, IqKind, Ping};
///
/// let ping = Iq::get("p1", Ping).with_to("example.com".parse().unwrap());
/// let el = ping.to_element();
/// let back = Iq::from_element(&el).unwrap();
/// assert!(matches!(back.kind, IqKind::Get(ref p) if p.is("ping", "urn:xmpp:ping")));
/// let pong = back.result(None);
/// assert_eq!(pong.to_element().attr("type"), Some("result"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iq {
    /// Addresses, id (always set for iq) and language.
    pub header: Header,
    /// Type and payload.
    pub kind: IqKind,
}

impl Iq {
    /// A `get` request.
    pub fn get(id: impl Into<String>, payload: impl Payload) -> Self {
        Iq {
            header: Header {
                id: Some(id.into()),
                ..Header::default()
            },
            kind: IqKind::Get(payload.to_element()),
        }
    }

    /// A `set` request.
    pub fn set(id: impl Into<String>, payload: impl Payload) -> Self {
        Iq {
            header: Header {
                id: Some(id.into()),
                ..Header::default()
            },
            kind: IqKind::Set(payload.to_element()),
        }
    }

    /// Sets `to`.
    #[must_use]
    pub fn with_to(mut self, to: Jid) -> Self {
        self.header.to = Some(to);
        self
    }

    /// Sets `from`.
    #[must_use]
    pub fn with_from(mut self, from: Jid) -> Self {
        self.header.from = Some(from);
        self
    }

    /// The id.
    pub fn id(&self) -> &str {
        self.header.id.as_deref().unwrap_or("")
    }

    /// Whether this is a request (`get` or `set`).
    pub fn is_request(&self) -> bool {
        matches!(self.kind, IqKind::Get(_) | IqKind::Set(_))
    }

    /// The request payload (`get`/`set`) or result payload.
    pub fn payload(&self) -> Option<&Element> {
        match &self.kind {
            IqKind::Get(p) | IqKind::Set(p) => Some(p),
            IqKind::Result(p) => p.as_ref(),
            IqKind::Error { payload, .. } => payload.as_ref(),
        }
    }

    /// The payload parsed as `P`, if it is one.
    pub fn payload_as<P: Payload>(&self) -> Option<Result<P, ParseError>> {
        self.payload()
            .filter(|p| p.is(P::NAME, P::NS))
            .map(P::from_element)
    }

    /// The `result` answer to this request: addresses swapped, same id.
    pub fn result(&self, payload: Option<Element>) -> Iq {
        Iq {
            header: reply_header(&self.header),
            kind: IqKind::Result(payload),
        }
    }

    /// The `error` answer to this request (without the original payload).
    pub fn error_reply(&self, error: StanzaError) -> Iq {
        Iq {
            header: reply_header(&self.header),
            kind: IqKind::Error {
                error,
                payload: None,
            },
        }
    }

    /// Reads an `<iq/>` element, enforcing the `id` and payload rules of
    /// RFC 6120 §8.2.3.
    pub fn from_element(el: &Element) -> Result<Iq, ParseError> {
        let header = Header::parse(el)?;
        if header.id.as_deref().is_none_or(str::is_empty) {
            return Err(ParseError::bad_request("an iq must have an 'id'"));
        }
        let content = el.ns();
        if el
            .nodes()
            .iter()
            .any(|n| matches!(n, starling_xml::Node::Text(t) if !t.trim().is_empty()))
        {
            return Err(ParseError::bad_request("an iq must not contain text"));
        }
        let kind = match el.attr("type") {
            Some(t @ ("get" | "set")) => {
                let mut children = el.children();
                let (Some(p), None) = (children.next(), children.next()) else {
                    return Err(ParseError::bad_request(format!(
                        "an iq of type '{t}' must have exactly one child"
                    )));
                };
                if t == "get" {
                    IqKind::Get(p.clone())
                } else {
                    IqKind::Set(p.clone())
                }
            }
            Some("result") => {
                let mut children = el.children();
                let first = children.next().cloned();
                if children.next().is_some() {
                    return Err(ParseError::bad_request(
                        "an iq of type 'result' must have at most one child",
                    ));
                }
                IqKind::Result(first)
            }
            Some("error") => {
                let error = el
                    .get_child("error", content)
                    .and_then(StanzaError::from_element)
                    .ok_or_else(|| {
                        ParseError::bad_request("an iq of type 'error' must have an <error/>")
                    })?;
                let payload = el.children().find(|c| !c.is("error", content)).cloned();
                IqKind::Error { error, payload }
            }
            Some(other) => {
                return Err(ParseError::bad_request(format!(
                    "unknown iq type {other:?}"
                )));
            }
            None => return Err(ParseError::bad_request("an iq must have a 'type'")),
        };
        Ok(Iq { header, kind })
    }

    /// The `<iq/>` element in `jabber:client`.
    pub fn to_element(&self) -> Element {
        self.to_element_in(ns::CLIENT)
    }

    /// The `<iq/>` element in the given content namespace.
    pub fn to_element_in(&self, content: &str) -> Element {
        let mut el = Element::new("iq", content);
        self.header.write(&mut el);
        let t = match &self.kind {
            IqKind::Get(p) => {
                el.append_child(p.clone());
                "get"
            }
            IqKind::Set(p) => {
                el.append_child(p.clone());
                "set"
            }
            IqKind::Result(p) => {
                if let Some(p) = p {
                    el.append_child(p.clone());
                }
                "result"
            }
            IqKind::Error { error, payload } => {
                if let Some(p) = payload {
                    el.append_child(p.clone());
                }
                el.append_child(error.to_element_in(content));
                "error"
            }
        };
        el.set_attr("type", Some(t));
        el
    }
}

fn reply_header(h: &Header) -> Header {
    Header {
        to: h.from.clone(),
        from: h.to.clone(),
        id: h.id.clone(),
        lang: None,
    }
}

/// Any of the three stanza kinds.
///
/// ```
/// use starling_stanza::Stanza;
///
/// let el = "<message xmlns='jabber:client' to='a@b'><body>x</body></message>".parse().unwrap();
/// assert!(matches!(Stanza::from_element(&el).unwrap(), Stanza::Message(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stanza {
    /// `<message/>`.
    Message(Message),
    /// `<presence/>`.
    Presence(Presence),
    /// `<iq/>`.
    Iq(Iq),
}

/// Whether an element is a stanza: `message`, `presence` or `iq` in a
/// content namespace.
pub fn is_stanza(el: &Element) -> bool {
    matches!(el.ns(), ns::CLIENT | ns::SERVER) && matches!(el.name(), "message" | "presence" | "iq")
}

impl Stanza {
    /// Reads a stanza. An element that is not a stanza gives a
    /// [`ParseError`] with the condition `feature-not-implemented`; on a
    /// stream, answer it with the stream error `unsupported-stanza-type`
    /// instead (RFC 6120 §4.9.3.24).
    pub fn from_element(el: &Element) -> Result<Stanza, ParseError> {
        if !matches!(el.ns(), ns::CLIENT | ns::SERVER) {
            return Err(not_a_stanza(el));
        }
        match el.name() {
            "message" => Message::from_element(el).map(Stanza::Message),
            "presence" => Presence::from_element(el).map(Stanza::Presence),
            "iq" => Iq::from_element(el).map(Stanza::Iq),
            _ => Err(not_a_stanza(el)),
        }
    }

    /// The element in `jabber:client`.
    pub fn to_element(&self) -> Element {
        self.to_element_in(ns::CLIENT)
    }

    /// The element in the given content namespace.
    pub fn to_element_in(&self, content: &str) -> Element {
        match self {
            Stanza::Message(m) => m.to_element_in(content),
            Stanza::Presence(p) => p.to_element_in(content),
            Stanza::Iq(i) => i.to_element_in(content),
        }
    }

    /// The common attributes.
    pub fn header(&self) -> &Header {
        match self {
            Stanza::Message(m) => &m.header,
            Stanza::Presence(p) => &p.header,
            Stanza::Iq(i) => &i.header,
        }
    }

    /// The common attributes, mutably.
    pub fn header_mut(&mut self) -> &mut Header {
        match self {
            Stanza::Message(m) => &mut m.header,
            Stanza::Presence(p) => &mut p.header,
            Stanza::Iq(i) => &mut i.header,
        }
    }
}

pub(crate) fn not_a_stanza(el: &Element) -> ParseError {
    ParseError::new(
        Condition::FeatureNotImplemented,
        format!("<{}/> in {:?} is not a stanza", el.name(), el.ns()),
    )
}

/// Builds the error reply to a stanza element (RFC 6120 §8.3.1): same
/// element name and id, `to` and `from` swapped, `type='error'`, the
/// `<error/>` child, and the original children if `include_original`.
///
/// Returns `None` for a stanza of type `error`, which must never be
/// answered with an error (RFC 6120 §8.3.1).
///
/// ```
/// use starling_stanza::{StanzaError, StanzaErrorCondition, error_reply};
///
/// let req = "<iq xmlns='jabber:client' type='get' id='7' from='a@b/c' to='b'><q xmlns='urn:x'/></iq>"
///     .parse()
///     .unwrap();
/// let reply = error_reply(&req, &StanzaError::new(StanzaErrorCondition::ServiceUnavailable), false).unwrap();
/// assert_eq!(reply.attr("to"), Some("a@b/c"));
/// assert_eq!(reply.attr("from"), Some("b"));
/// assert_eq!(reply.attr("id"), Some("7"));
/// assert_eq!(reply.attr("type"), Some("error"));
/// ```
pub fn error_reply(
    stanza: &Element,
    error: &StanzaError,
    include_original: bool,
) -> Option<Element> {
    if stanza.attr("type") == Some("error") {
        return None;
    }
    let mut el = Element::new(stanza.name(), stanza.ns());
    if let Some(f) = stanza.attr("to") {
        el.set_attr("from", Some(f));
    }
    if let Some(t) = stanza.attr("from") {
        el.set_attr("to", Some(t));
    }
    if let Some(id) = stanza.attr("id") {
        el.set_attr("id", Some(id));
    }
    el.set_attr("type", Some("error"));
    if include_original {
        for c in stanza.children() {
            el.append_child(c.clone());
        }
    }
    el.append_child(error.to_element_in(stanza.ns()));
    Some(el)
}
