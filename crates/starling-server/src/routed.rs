//! A stanza as the server routes it: checked and parsed once into its
//! [`Envelope`] (kind, type, addresses), with the [`Element`] kept for
//! forwarding unchanged.

use starling_jid::Jid;
use starling_stanza::{
    Envelope, Header, ParseError, PresenceType, StanzaError, StanzaKind, error_reply, ns,
};
use starling_xml::Element;

/// A checked stanza: its envelope, parsed once, and the element.
///
/// The envelope and the element always agree: the addresses can only be
/// changed through [`set_from`](Routed::set_from) and
/// [`set_to`](Routed::set_to), which change both.
///
/// ```
/// use starling_server::routed::Routed;
/// use starling_stanza::{MessageType, StanzaKind};
///
/// let el = "<message xmlns='jabber:client' type='chat' to='juliet@example.com'>\
///           <body>hi</body></message>".parse().unwrap();
/// let mut st = Routed::parse(el).unwrap();
/// assert_eq!(st.kind(), StanzaKind::Message(MessageType::Chat));
/// st.set_from("romeo@example.net/orchard".parse().unwrap());
/// assert_eq!(st.element().attr("from"), Some("romeo@example.net/orchard"));
/// ```
#[derive(Debug, Clone)]
pub struct Routed {
    env: Envelope,
    el: Element,
    journal: Journal,
}

/// Whether a message is kept in the in-flight journal until its recipient
/// has it (messages from senders that get XEP-0198 acknowledgements: the
/// server must not lose what it said it handled, even in a crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Journal {
    /// Not journaled.
    #[default]
    No,
    /// To journal when it is delivered to a local account.
    Wanted,
    /// Journaled under this row.
    Row(i64),
}

impl Routed {
    /// Checks a stanza element. On failure the element comes back with the
    /// error to answer it with.
    pub fn parse(el: Element) -> Result<Routed, Box<(Element, ParseError)>> {
        match Envelope::from_element(&el) {
            Ok(env) => Ok(Routed {
                env,
                el,
                journal: Journal::No,
            }),
            Err(e) => Err(Box::new((el, e))),
        }
    }

    /// Checks a stanza whose sender is known already (a client's session):
    /// its `from` is set to `from` without being parsed again. On failure
    /// the element comes back with `from` set, ready for an error reply.
    pub fn parse_from(mut el: Element, from: &Jid) -> Result<Routed, Box<(Element, ParseError)>> {
        el.set_attr("from", None);
        match Routed::parse(el) {
            Ok(mut st) => {
                st.set_from(from.clone());
                Ok(st)
            }
            Err(bad) => {
                let (mut el, e) = *bad;
                el.set_attr("from", Some(from.as_str()));
                Err(Box::new((el, e)))
            }
        }
    }

    /// A presence the server makes (`from` and `to` set, no content).
    pub fn presence(t: PresenceType, from: &Jid, to: &Jid) -> Routed {
        let mut el = Element::new("presence", ns::CLIENT);
        el.set_attr("type", t.as_str());
        el.set_attr("from", Some(from.as_str()));
        el.set_attr("to", Some(to.as_str()));
        Routed {
            env: Envelope {
                kind: StanzaKind::Presence(t, 0),
                header: Header {
                    to: Some(to.clone()),
                    from: Some(from.clone()),
                    id: None,
                    lang: None,
                },
            },
            el,
            journal: Journal::No,
        }
    }

    /// What the stanza is.
    pub fn kind(&self) -> StanzaKind {
        self.env.kind
    }

    /// The sender.
    pub fn from(&self) -> Option<&Jid> {
        self.env.header.from.as_ref()
    }

    /// The recipient.
    pub fn to(&self) -> Option<&Jid> {
        self.env.header.to.as_ref()
    }

    /// The `id`.
    pub fn id(&self) -> Option<&str> {
        self.env.header.id.as_deref()
    }

    /// Whether and where the message is journaled.
    pub fn journal(&self) -> Journal {
        self.journal
    }

    /// Marks the message for (or as kept in) the in-flight journal.
    pub fn set_journal(&mut self, journal: Journal) {
        self.journal = journal;
    }

    /// The element, as it will be written.
    pub fn element(&self) -> &Element {
        &self.el
    }

    /// The first child element (an iq's payload).
    pub fn payload(&self) -> Option<&Element> {
        self.el.children().next()
    }

    /// Sets the sender.
    pub fn set_from(&mut self, from: Jid) {
        self.el.set_attr("from", Some(from.as_str()));
        self.env.header.from = Some(from);
    }

    /// Sets the recipient.
    pub fn set_to(&mut self, to: Jid) {
        self.el.set_attr("to", Some(to.as_str()));
        self.env.header.to = Some(to);
    }

    /// Removes the recipient (a presence kept as a session's last
    /// broadcast).
    pub fn clear_to(&mut self) {
        self.el.set_attr("to", None);
        self.env.header.to = None;
    }

    /// A copy with other addresses.
    pub fn readdressed(&self, from: &Jid, to: &Jid) -> Routed {
        let mut r = self.clone();
        r.set_from(from.clone());
        r.set_to(to.clone());
        r.journal = Journal::No;
        r
    }

    /// Adds a child element (for example a delay stamp).
    pub fn append_child(&mut self, child: Element) {
        self.el.append_child(child);
    }

    /// Removes the first child with this name and namespace.
    pub fn remove_child(&mut self, name: &str, ns: &str) {
        self.el.remove_child(name, ns);
    }

    /// Renames the content namespace (`jabber:client` ↔ `jabber:server`).
    pub fn rename_namespace(&mut self, from: &str, to: &str) {
        self.el.rename_namespace(from, to);
    }

    /// The error reply to this stanza (RFC 6120 §8.3.1), addressed back to
    /// the sender; `None` for an error or an iq result, which are never
    /// answered, or when the sender is unknown.
    pub fn error_reply(&self, err: &StanzaError) -> Option<Routed> {
        if self.kind().is_error() || self.kind() == StanzaKind::Iq(starling_stanza::IqType::Result)
        {
            return None;
        }
        let include = matches!(self.kind(), StanzaKind::Message(_));
        let reply = error_reply(&self.el, err, include)?;
        reply.attr("to")?;
        Routed::parse(reply).ok()
    }

    /// The result of an iq request, addressed back to the sender, from the
    /// address it was sent to.
    pub fn iq_result(&self, payload: Option<Element>) -> Element {
        let mut r = Element::new("iq", ns::CLIENT);
        r.set_attr("type", Some("result"));
        r.set_attr("id", self.id());
        r.set_attr("to", self.from().map(Jid::as_str));
        r.set_attr("from", self.to().map(Jid::as_str));
        if let Some(p) = payload {
            r.append_child(p);
        }
        r
    }
}
