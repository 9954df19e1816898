//! XEP-0280 Message Carbons (`urn:xmpp:carbons:2`).

use starling_xml::Element;

use super::{empty_payload, expect};
use crate::error::ParseError;
use crate::ext::xep0297::Forwarded;
use crate::ns;
use crate::payload::Payload;

/// `<enable/>`: the iq set payload that turns carbons on (XEP-0280 §4).
///
/// ```
/// use starling_stanza::{CarbonsEnable, Iq};
///
/// let iq = Iq::set("enable1", CarbonsEnable);
/// assert!(iq.payload_as::<CarbonsEnable>().unwrap().is_ok());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CarbonsEnable;
empty_payload!(CarbonsEnable, "enable", ns::CARBONS);

/// `<disable/>`: the iq set payload that turns carbons off (XEP-0280 §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CarbonsDisable;
empty_payload!(CarbonsDisable, "disable", ns::CARBONS);

/// `<private/>`: a message child that asks the server not to copy the
/// message (XEP-0280 §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CarbonsPrivate;
empty_payload!(CarbonsPrivate, "private", ns::CARBONS);

fn forwarded_of(el: &Element) -> Result<Forwarded, ParseError> {
    let mut found = el
        .children()
        .filter(|c| c.is(Forwarded::NAME, Forwarded::NS));
    match (found.next(), found.next()) {
        (Some(f), None) => Forwarded::from_element(f),
        (None, _) => Err(ParseError::bad_request(format!(
            "<{}/> without <forwarded/>",
            el.name()
        ))),
        (Some(_), Some(_)) => Err(ParseError::bad_request(format!(
            "<{}/> with more than one <forwarded/>",
            el.name()
        ))),
    }
}

fn wrap(name: &str, f: &Forwarded) -> Element {
    let mut el = Element::new(name, ns::CARBONS);
    el.append_child(f.to_element());
    el
}

/// `<received/>`: the carbon copy of a message another resource of the
/// user received (XEP-0280 §6).
///
/// ```
/// use starling_stanza::{CarbonsReceived, Message, Payload};
/// use starling_xml::Element;
///
/// let el: Element = "<received xmlns='urn:xmpp:carbons:2'>\
///     <forwarded xmlns='urn:xmpp:forward:0'>\
///       <message xmlns='jabber:client' from='juliet@capulet.example/balcony' \
///                to='romeo@montague.example/garden' type='chat'>\
///         <body>What man art thou?</body>\
///       </message>\
///     </forwarded></received>".parse().unwrap();
/// let r = CarbonsReceived::from_element(&el).unwrap();
/// assert_eq!(r.0.message.body(None), Some("What man art thou?"));
/// assert_eq!(CarbonsReceived::from_element(&r.to_element()).unwrap(), r);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CarbonsReceived(pub Forwarded);

impl Payload for CarbonsReceived {
    const NAME: &'static str = "received";
    const NS: &'static str = ns::CARBONS;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        forwarded_of(el).map(CarbonsReceived)
    }
    fn to_element(&self) -> Element {
        wrap(Self::NAME, &self.0)
    }
}

/// `<sent/>`: the carbon copy of a message another resource of the user
/// sent (XEP-0280 §6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CarbonsSent(pub Forwarded);

impl Payload for CarbonsSent {
    const NAME: &'static str = "sent";
    const NS: &'static str = ns::CARBONS;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        forwarded_of(el).map(CarbonsSent)
    }
    fn to_element(&self) -> Element {
        wrap(Self::NAME, &self.0)
    }
}
