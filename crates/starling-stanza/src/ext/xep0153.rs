//! XEP-0153 vCard-Based Avatars (`vcard-temp:x:update`).

use starling_xml::Element;

use super::{expect, text_el};
use crate::error::ParseError;
use crate::ns;
use crate::payload::Payload;

/// `<x xmlns='vcard-temp:x:update'/>` in presence: the SHA-1 of the
/// avatar in the sender's vCard (XEP-0153 §3.2).
///
/// `photo` is `None` when there is no `<photo/>` (the client is not
/// ready to advertise an avatar), `Some(None)` for an empty `<photo/>`
/// (no avatar), and `Some(Some(hash))` with the 40 hexadecimal digits of
/// the hash, in lower case. Anything else in `<photo/>` is `bad-request`.
///
/// ```
/// use starling_stanza::{Payload, VCardUpdate};
///
/// let el = "<x xmlns='vcard-temp:x:update'><photo>01B87FCD030B72895FF8E88DB57EC525450F000D</photo></x>".parse().unwrap();
/// let u = VCardUpdate::from_element(&el).unwrap();
/// assert_eq!(u.photo, Some(Some("01b87fcd030b72895ff8e88db57ec525450f000d".to_owned())));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VCardUpdate {
    /// See the type's docs.
    pub photo: Option<Option<String>>,
}

impl VCardUpdate {
    /// An update advertising the avatar with this hash (`None`: no
    /// avatar).
    pub fn with_hash(hash: Option<&str>) -> VCardUpdate {
        VCardUpdate {
            photo: Some(hash.map(str::to_ascii_lowercase)),
        }
    }
}

impl Payload for VCardUpdate {
    const NAME: &'static str = "x";
    const NS: &'static str = ns::VCARD_UPDATE;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let Some(p) = el.get_child("photo", ns::VCARD_UPDATE) else {
            return Ok(VCardUpdate { photo: None });
        };
        let text = p.text();
        let hash = text.trim();
        if hash.is_empty() {
            return Ok(VCardUpdate { photo: Some(None) });
        }
        if hash.len() != 40 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseError::bad_request(format!(
                "<photo/> is not a SHA-1 in hexadecimal: {hash:?}"
            )));
        }
        Ok(VCardUpdate {
            photo: Some(Some(hash.to_ascii_lowercase())),
        })
    }
    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        match &self.photo {
            None => {}
            Some(None) => {
                el.append_child(Element::new("photo", ns::VCARD_UPDATE));
            }
            Some(Some(h)) => {
                el.append_child(text_el("photo", ns::VCARD_UPDATE, h));
            }
        }
        el
    }
}
