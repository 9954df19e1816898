//! Typed payloads of XMPP extensions, one module per XEP; everything is
//! re-exported at the crate root.

pub(crate) mod xep0004;
pub(crate) mod xep0049;
pub(crate) mod xep0054;
pub(crate) mod xep0060;
pub(crate) mod xep0084;
pub(crate) mod xep0115;
pub(crate) mod xep0153;
pub(crate) mod xep0172;
pub(crate) mod xep0191;
pub(crate) mod xep0198;
pub(crate) mod xep0280;
pub(crate) mod xep0297;
pub(crate) mod xep0334;
pub(crate) mod xep0352;
pub(crate) mod xep0357;
pub(crate) mod xep0402;

use std::str::FromStr;

use starling_xml::Element;

use crate::error::ParseError;

/// A required attribute, or `bad-request`.
pub(crate) fn required<'a>(el: &'a Element, attr: &str) -> Result<&'a str, ParseError> {
    el.attr(attr)
        .ok_or_else(|| ParseError::bad_request(format!("<{}/> without '{attr}'", el.name())))
}

/// A required JID attribute.
pub(crate) fn req_jid<J>(el: &Element, attr: &str) -> Result<J, ParseError>
where
    J: FromStr,
    J::Err: std::fmt::Display,
{
    required(el, attr)?
        .parse()
        .map_err(|e| ParseError::jid_malformed(attr, e))
}

/// An `xs:unsignedInt` attribute (surrounding white space allowed).
pub(crate) fn opt_u32(el: &Element, attr: &str) -> Result<Option<u32>, ParseError> {
    el.attr(attr).map(|v| parse_u32(attr, v)).transpose()
}

/// A required `xs:unsignedInt` attribute.
pub(crate) fn req_u32(el: &Element, attr: &str) -> Result<u32, ParseError> {
    parse_u32(attr, required(el, attr)?)
}

pub(crate) fn parse_u32(what: &str, v: &str) -> Result<u32, ParseError> {
    let t = v.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::bad_request(format!(
            "'{what}' is not an unsigned integer: {v:?}"
        )));
    }
    t.parse().map_err(|_| {
        ParseError::bad_request(format!("'{what}' is out of range (0 to 2^32-1): {v:?}"))
    })
}

/// An `xs:boolean` (`true`, `false`, `1`, `0`).
pub(crate) fn parse_bool(what: &str, v: &str) -> Result<bool, ParseError> {
    match v.trim() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ParseError::bad_request(format!(
            "'{what}' is not a boolean: {v:?}"
        ))),
    }
}

/// An optional `xs:boolean` attribute; absent is `false`.
pub(crate) fn opt_bool(el: &Element, attr: &str) -> Result<bool, ParseError> {
    el.attr(attr)
        .map(|v| parse_bool(attr, v))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Checks that `el` is `name` in `ns`.
pub(crate) fn expect(el: &Element, name: &str, ns: &str) -> Result<(), ParseError> {
    if el.is(name, ns) {
        Ok(())
    } else {
        Err(ParseError::bad_request(format!(
            "expected <{name} xmlns='{ns}'/>, got <{}/> in {:?}",
            el.name(),
            el.ns()
        )))
    }
}

/// An element with text.
pub(crate) fn text_el(name: &str, ns: &str, text: &str) -> Element {
    let mut e = Element::new(name, ns);
    e.append_text(text);
    e
}

/// Implements [`Payload`](crate::Payload) for an empty element type.
macro_rules! empty_payload {
    ($ty:ident, $name:literal, $ns:expr) => {
        impl $crate::Payload for $ty {
            const NAME: &'static str = $name;
            const NS: &'static str = $ns;
            fn from_element(el: &Element) -> Result<Self, ParseError> {
                $crate::ext::expect(el, Self::NAME, Self::NS)?;
                Ok($ty)
            }
            fn to_element(&self) -> Element {
                Element::new(Self::NAME, Self::NS)
            }
        }
    };
}
pub(crate) use empty_payload;
