//! XEP-0049 Private XML Storage (`jabber:iq:private`).

use starling_xml::Element;

use super::expect;
use crate::error::{Condition, ParseError};
use crate::ns;
use crate::payload::Payload;

/// `<query xmlns='jabber:iq:private'>` with the one element stored or
/// asked for (XEP-0049 §2.3). The stored element is identified by its
/// name and namespace.
///
/// No child or more than one is `bad-request` (the XEP's "Bad Format");
/// a child in `jabber:client`, `jabber:server` or `jabber:iq:private`
/// itself is `not-acceptable` (a reserved namespace).
///
/// ```
/// use starling_stanza::{Payload, PrivateQuery};
///
/// let el = "<query xmlns='jabber:iq:private'>\
///     <exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query>".parse().unwrap();
/// let q = PrivateQuery::from_element(&el).unwrap();
/// assert_eq!(q.key(), ("exodus:prefs", "exodus"));
/// assert_eq!(q.to_element(), el);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateQuery {
    /// The stored element (in a get: the element asked for, usually
    /// empty).
    pub child: Element,
}

impl PrivateQuery {
    /// A query about (or storing) `child`.
    pub fn new(child: Element) -> PrivateQuery {
        PrivateQuery { child }
    }

    /// A get for the element `name` in `ns`.
    pub fn get(name: &str, ns: &str) -> PrivateQuery {
        PrivateQuery::new(Element::new(name, ns))
    }

    /// The storage key: the child's (namespace, name).
    pub fn key(&self) -> (&str, &str) {
        (self.child.ns(), self.child.name())
    }

    /// Whether `namespace` may not be stored (XEP-0049 §2.3).
    pub fn is_reserved(namespace: &str) -> bool {
        matches!(namespace, ns::CLIENT | ns::SERVER | ns::PRIVATE)
    }
}

impl Payload for PrivateQuery {
    const NAME: &'static str = "query";
    const NS: &'static str = ns::PRIVATE;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let mut children = el.children();
        let Some(child) = children.next() else {
            return Err(ParseError::bad_request(
                "<query xmlns='jabber:iq:private'/> without a child element",
            ));
        };
        if children.next().is_some() {
            return Err(ParseError::bad_request(
                "<query xmlns='jabber:iq:private'/> with more than one child element",
            ));
        }
        if PrivateQuery::is_reserved(child.ns()) {
            return Err(ParseError::new(
                Condition::NotAcceptable,
                format!("the namespace {:?} is reserved", child.ns()),
            ));
        }
        Ok(PrivateQuery {
            child: child.clone(),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.append_child(self.child.clone());
        el
    }
}
