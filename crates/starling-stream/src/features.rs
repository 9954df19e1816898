//! Stream features (RFC 6120 §4.3.2).

use starling_xml::Element;

use crate::ns;

/// The STARTTLS feature (RFC 6120 §5.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartTls {
    /// Whether the receiving entity requires TLS (`<required/>`).
    pub required: bool,
}

/// The legacy session feature (RFC 3921; RFC 6121 keeps it optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// Whether the feature carries `<optional/>` (a client may skip it).
    pub optional: bool,
}

/// A `<stream:features/>` element, typed.
///
/// Features the model does not know stay in [`Features::other`] unchanged,
/// in order.
///
/// ```
/// use starling_stream::{Features, StartTls};
///
/// let f = Features {
///     starttls: Some(StartTls { required: true }),
///     ..Features::default()
/// };
/// let el = f.to_element();
/// assert_eq!(Features::from_element(&el), f);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// STARTTLS.
    pub starttls: Option<StartTls>,
    /// SASL mechanisms offered, in the order offered (empty: SASL not offered).
    pub mechanisms: Vec<String>,
    /// Resource binding is offered.
    pub bind: bool,
    /// The legacy session feature.
    pub session: Option<Session>,
    /// Roster versioning (RFC 6121 §2.6).
    pub roster_ver: bool,
    /// Subscription pre-approval (RFC 6121 §3.4).
    pub pre_approval: bool,
    /// Dialback (XEP-0220 `urn:xmpp:features:dialback`).
    pub dialback: bool,
    /// Every other feature element, unchanged.
    pub other: Vec<Element>,
}

impl Features {
    /// Whether nothing at all is offered (negotiation is complete).
    pub fn is_empty(&self) -> bool {
        *self == Features::default()
    }

    /// Whether a mandatory-to-negotiate feature is offered: STARTTLS with
    /// `<required/>`, SASL, or bind.
    pub fn has_mandatory(&self) -> bool {
        self.starttls.is_some_and(|s| s.required) || !self.mechanisms.is_empty() || self.bind
    }

    /// Reads a `<stream:features/>` element.
    pub fn from_element(el: &Element) -> Features {
        let mut f = Features::default();
        for c in el.children() {
            match (c.ns(), c.name()) {
                (ns::TLS, "starttls") => {
                    f.starttls = Some(StartTls {
                        required: c.has_child("required", ns::TLS),
                    });
                }
                (ns::SASL, "mechanisms") => {
                    f.mechanisms = c
                        .children()
                        .filter(|m| m.is("mechanism", ns::SASL))
                        .map(|m| m.text().trim().to_owned())
                        .filter(|m| !m.is_empty())
                        .collect();
                }
                (ns::BIND, "bind") => f.bind = true,
                (ns::SESSION, "session") => {
                    f.session = Some(Session {
                        optional: c.has_child("optional", ns::SESSION),
                    })
                }
                (ns::ROSTER_VER, "ver") => f.roster_ver = true,
                (ns::PRE_APPROVAL, "sub") => f.pre_approval = true,
                (ns::DIALBACK_FEATURE, "dialback") => f.dialback = true,
                _ => f.other.push(c.clone()),
            }
        }
        f
    }

    /// The `<stream:features/>` element.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("features", ns::STREAM);
        if let Some(s) = self.starttls {
            let mut t = Element::new("starttls", ns::TLS);
            if s.required {
                t.append_child(Element::new("required", ns::TLS));
            }
            el.append_child(t);
        }
        if !self.mechanisms.is_empty() {
            let mut m = Element::new("mechanisms", ns::SASL);
            for mech in &self.mechanisms {
                let mut e = Element::new("mechanism", ns::SASL);
                e.append_text(mech.as_str());
                m.append_child(e);
            }
            el.append_child(m);
        }
        if self.bind {
            el.append_child(Element::new("bind", ns::BIND));
        }
        if let Some(s) = self.session {
            let mut e = Element::new("session", ns::SESSION);
            if s.optional {
                e.append_child(Element::new("optional", ns::SESSION));
            }
            el.append_child(e);
        }
        if self.roster_ver {
            el.append_child(Element::new("ver", ns::ROSTER_VER));
        }
        if self.pre_approval {
            el.append_child(Element::new("sub", ns::PRE_APPROVAL));
        }
        if self.dialback {
            el.append_child(Element::new("dialback", ns::DIALBACK_FEATURE));
        }
        for o in &self.other {
            el.append_child(o.clone());
        }
        el
    }
}
