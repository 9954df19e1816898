//! XEP-0352 Client State Indication (`urn:xmpp:csi:0`).

use starling_xml::Element;

use super::empty_payload;
use crate::error::{Condition, ParseError};
use crate::ns;

/// The `<csi/>` stream feature: the server supports client state
/// indication (XEP-0352 §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CsiFeature;
empty_payload!(CsiFeature, "csi", ns::CSI);

/// The client's state, sent as the nonza `<active/>` or `<inactive/>`
/// (XEP-0352 §4).
///
/// ```
/// use starling_stanza::CsiState;
/// use starling_xml::Element;
///
/// let el: Element = "<inactive xmlns='urn:xmpp:csi:0'/>".parse().unwrap();
/// assert_eq!(CsiState::from_element(&el).unwrap(), CsiState::Inactive);
/// assert_eq!(CsiState::Inactive.to_element(), el);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CsiState {
    /// `<active/>`: the user is using the client.
    Active,
    /// `<inactive/>`: the user is not; the server may hold back or drop
    /// traffic that is not urgent.
    Inactive,
}

impl CsiState {
    /// Reads `<active/>` or `<inactive/>`; any other element gives
    /// `feature-not-implemented`.
    pub fn from_element(el: &Element) -> Result<CsiState, ParseError> {
        match (el.ns(), el.name()) {
            (ns::CSI, "active") => Ok(CsiState::Active),
            (ns::CSI, "inactive") => Ok(CsiState::Inactive),
            _ => Err(ParseError::new(
                Condition::FeatureNotImplemented,
                format!("<{}/> in {:?} is not a CSI nonza", el.name(), el.ns()),
            )),
        }
    }

    /// The nonza.
    pub fn to_element(self) -> Element {
        let name = match self {
            CsiState::Active => "active",
            CsiState::Inactive => "inactive",
        };
        Element::new(name, ns::CSI)
    }
}

/// `<active/>` alone, as a [`Payload`](crate::Payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CsiActive;
empty_payload!(CsiActive, "active", ns::CSI);

/// `<inactive/>` alone, as a [`Payload`](crate::Payload).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CsiInactive;
empty_payload!(CsiInactive, "inactive", ns::CSI);
