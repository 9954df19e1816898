//! XEP-0191 Blocking Command (`urn:xmpp:blocking`).

use starling_jid::Jid;
use starling_xml::Element;

use super::{empty_payload, expect, req_jid};
use crate::error::ParseError;
use crate::ns;
use crate::payload::Payload;

fn items(el: &Element) -> Result<Vec<Jid>, ParseError> {
    el.children()
        .filter(|c| c.is("item", ns::BLOCKING))
        .map(|c| req_jid(c, "jid"))
        .collect()
}

fn with_items(name: &str, jids: &[Jid]) -> Element {
    let mut el = Element::new(name, ns::BLOCKING);
    for j in jids {
        let mut item = Element::new("item", ns::BLOCKING);
        item.set_attr("jid", Some(j.as_ref()));
        el.append_child(item);
    }
    el
}

/// `<blocklist/>`: empty in the iq get that asks for the block list, with
/// the blocked JIDs in the result (XEP-0191 §3.2).
///
/// ```
/// use starling_stanza::{BlockList, Payload};
///
/// let el = "<blocklist xmlns='urn:xmpp:blocking'>\
///     <item jid='romeo@montague.net'/><item jid='iago@shakespeare.lit/pda'/><item jid='example.org'/>\
///     </blocklist>".parse().unwrap();
/// let list = BlockList::from_element(&el).unwrap();
/// assert_eq!(list.items.len(), 3);
/// assert_eq!(list.to_element(), el);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct BlockList {
    /// The blocked JIDs (bare, full or domain JIDs); empty in a request.
    pub items: Vec<Jid>,
}

impl Payload for BlockList {
    const NAME: &'static str = "blocklist";
    const NS: &'static str = ns::BLOCKING;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(BlockList { items: items(el)? })
    }
    fn to_element(&self) -> Element {
        with_items(Self::NAME, &self.items)
    }
}

/// `<block/>`: block one or more JIDs (XEP-0191 §3.3); sent in an iq set
/// and pushed by the server to the user's resources. At least one item is
/// required (`bad-request` otherwise).
///
/// ```
/// use starling_stanza::{Block, Iq};
///
/// let iq = Iq::set("block1", Block { items: vec!["romeo@montague.net".parse().unwrap()] });
/// assert_eq!(iq.payload_as::<Block>().unwrap().unwrap().items.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Block {
    /// The JIDs to block (at least one).
    pub items: Vec<Jid>,
}

impl Payload for Block {
    const NAME: &'static str = "block";
    const NS: &'static str = ns::BLOCKING;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let items = items(el)?;
        if items.is_empty() {
            return Err(ParseError::bad_request("<block/> without an <item/>"));
        }
        Ok(Block { items })
    }
    fn to_element(&self) -> Element {
        with_items(Self::NAME, &self.items)
    }
}

/// `<unblock/>`: unblock the listed JIDs or, with no item, every JID
/// (XEP-0191 §3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Unblock {
    /// The JIDs to unblock; empty means all.
    pub items: Vec<Jid>,
}

impl Unblock {
    /// Unblock everyone.
    pub fn all() -> Self {
        Unblock { items: Vec::new() }
    }

    /// Whether this unblocks every JID.
    pub fn is_all(&self) -> bool {
        self.items.is_empty()
    }
}

impl Payload for Unblock {
    const NAME: &'static str = "unblock";
    const NS: &'static str = ns::BLOCKING;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(Unblock { items: items(el)? })
    }
    fn to_element(&self) -> Element {
        with_items(Self::NAME, &self.items)
    }
}

/// `<blocked xmlns='urn:xmpp:blocking:errors'/>`: the application error
/// condition, with `not-acceptable`, for a stanza the user sent to a JID
/// they block (XEP-0191 §3.5).
///
/// ```
/// use starling_stanza::{Blocked, Payload, StanzaError, StanzaErrorCondition};
///
/// let err = Blocked::stanza_error();
/// assert_eq!(err.condition, StanzaErrorCondition::NotAcceptable);
/// let app = err.application.as_deref().unwrap();
/// assert!(Blocked::from_element(app).is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Blocked;
empty_payload!(Blocked, "blocked", ns::BLOCKING_ERRORS);

impl Blocked {
    /// The stanza error to answer with: `not-acceptable` (type `cancel`)
    /// with `<blocked/>`.
    pub fn stanza_error() -> crate::StanzaError {
        let mut e = crate::StanzaError::new(crate::Condition::NotAcceptable)
            .with_type(crate::ErrorType::Cancel);
        e.application = Some(Box::new(Blocked.to_element()));
        e
    }
}
