//! XEP-0334 Message Processing Hints (`urn:xmpp:hints`).

use starling_xml::Element;

use crate::error::ParseError;
use crate::ns;
use crate::stanza::Message;

/// A message processing hint (XEP-0334 §4).
///
/// ```
/// use starling_stanza::{Hint, Message};
///
/// let mut m = Message::chat("juliet@capulet.example".parse().unwrap(), "V unir avtug'f pybnx");
/// m.add_hint(Hint::NoStore);
/// assert!(m.has_hint(Hint::NoStore));
/// assert!(!m.has_hint(Hint::Store));
/// assert_eq!(m.hints(), [Hint::NoStore]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hint {
    /// `<no-permanent-store/>`: do not archive the message (it may still be
    /// stored offline).
    NoPermanentStore,
    /// `<no-store/>`: do not store the message at all (neither archive nor
    /// offline storage).
    NoStore,
    /// `<no-copy/>`: do not copy it to other resources (e.g. carbons).
    NoCopy,
    /// `<store/>`: store it even if it would not be by default.
    Store,
}

impl Hint {
    /// Every hint.
    pub const ALL: [Hint; 4] = [
        Hint::NoPermanentStore,
        Hint::NoStore,
        Hint::NoCopy,
        Hint::Store,
    ];

    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            Hint::NoPermanentStore => "no-permanent-store",
            Hint::NoStore => "no-store",
            Hint::NoCopy => "no-copy",
            Hint::Store => "store",
        }
    }

    /// Reads a hint element; an element that is not one (in another
    /// namespace, or an unknown name) gives `feature-not-implemented`.
    pub fn from_element(el: &Element) -> Result<Hint, ParseError> {
        if el.ns() == ns::HINTS {
            if let Some(h) = Hint::ALL.into_iter().find(|h| h.name() == el.name()) {
                return Ok(h);
            }
        }
        Err(ParseError::new(
            crate::Condition::FeatureNotImplemented,
            format!("<{}/> in {:?} is not a processing hint", el.name(), el.ns()),
        ))
    }

    /// The hint's element.
    pub fn to_element(self) -> Element {
        Element::new(self.name(), ns::HINTS)
    }
}

/// The hints among `payloads` (the children of a message), in order.
pub fn hints_in(payloads: &[Element]) -> Vec<Hint> {
    payloads
        .iter()
        .filter_map(|p| Hint::from_element(p).ok())
        .collect()
}

impl Message {
    /// The processing hints (XEP-0334) the message carries, in order.
    pub fn hints(&self) -> Vec<Hint> {
        hints_in(&self.payloads)
    }

    /// Whether the message carries `hint`.
    pub fn has_hint(&self, hint: Hint) -> bool {
        self.payloads.iter().any(|p| p.is(hint.name(), ns::HINTS))
    }

    /// Adds `hint` unless the message already carries it.
    pub fn add_hint(&mut self, hint: Hint) {
        if !self.has_hint(hint) {
            self.payloads.push(hint.to_element());
        }
    }
}
