//! XEP-0297 Stanza Forwarding (`urn:xmpp:forward:0`).

use starling_xml::Element;

use super::expect;
use crate::error::ParseError;
use crate::ns;
use crate::payload::{Delay, Payload};
use crate::stanza::Message;

/// A forwarded message (XEP-0297): the original `<message/>` and, optionally,
/// when it was first sent. Used by Message Carbons (XEP-0280) and Message
/// Archive Management (XEP-0313).
///
/// The inner message is in `jabber:client` (XEP-0297 §3), on input and
/// output, whatever the stream's content namespace; a forwarded stanza in
/// `jabber:server`, and forwarded presence or iq stanzas, are refused
/// (`bad-request`): no protocol Starling implements uses them.
///
/// ```
/// use starling_stanza::{Delay, Forwarded, Message, Payload};
///
/// let f = Forwarded {
///     delay: Some(Delay::from_unix(1_700_000_000, None, None)),
///     message: Message::chat("romeo@example.net".parse().unwrap(), "Neither, fair saint"),
/// };
/// let el = f.to_element();
/// assert!(el.get_child("message", "jabber:client").is_some());
/// assert_eq!(Forwarded::from_element(&el).unwrap(), f);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Forwarded {
    /// When the message was originally sent (XEP-0203).
    pub delay: Option<Delay>,
    /// The forwarded message.
    pub message: Message,
}

impl Payload for Forwarded {
    const NAME: &'static str = "forwarded";
    const NS: &'static str = ns::FORWARD;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let mut delay = None;
        let mut message = None;
        for c in el.children() {
            if c.is(Delay::NAME, Delay::NS) {
                if delay.is_some() {
                    return Err(ParseError::bad_request("<forwarded/> with two <delay/>"));
                }
                delay = Some(Delay::from_element(c)?);
            } else if c.ns() == ns::SERVER {
                return Err(ParseError::bad_request(
                    "a forwarded stanza must be in 'jabber:client'",
                ));
            } else if c.ns() == ns::CLIENT {
                if c.name() != "message" {
                    return Err(ParseError::bad_request(format!(
                        "a forwarded <{}/> is not supported, only <message/>",
                        c.name()
                    )));
                }
                if message.is_some() {
                    return Err(ParseError::bad_request(
                        "<forwarded/> with more than one stanza",
                    ));
                }
                message = Some(Message::from_element(c)?);
            }
        }
        let message =
            message.ok_or_else(|| ParseError::bad_request("<forwarded/> without a <message/>"))?;
        Ok(Forwarded { delay, message })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        if let Some(d) = &self.delay {
            el.append_child(d.to_element());
        }
        el.append_child(self.message.to_element_in(ns::CLIENT));
        el
    }
}
