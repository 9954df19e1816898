//! XEP-0172 User Nickname (`http://jabber.org/protocol/nick`).

use starling_xml::Element;

use super::{expect, text_el};
use crate::error::ParseError;
use crate::ns;
use crate::payload::Payload;

/// `<nick xmlns='http://jabber.org/protocol/nick'>`: the nickname a user
/// asserts, in subscription requests and messages to people not yet in
/// their roster (XEP-0172 §4).
///
/// ```
/// use starling_stanza::{Nick, Payload, Presence, PresenceType};
///
/// let mut p = Presence::new(PresenceType::Subscribe);
/// p.payloads.push(Nick("Romeo".into()).to_element());
/// assert_eq!(p.payload::<Nick>().unwrap().unwrap(), Nick("Romeo".into()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Nick(pub String);

impl Payload for Nick {
    const NAME: &'static str = "nick";
    const NS: &'static str = ns::NICK;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(Nick(el.text()))
    }
    fn to_element(&self) -> Element {
        text_el(Self::NAME, Self::NS, &self.0)
    }
}
