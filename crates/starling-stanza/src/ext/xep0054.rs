//! XEP-0054 vcard-temp (`<vCard xmlns='vcard-temp'/>`).
//!
//! The vCard-XML format has dozens of fields; a [`VCard`] keeps the
//! element as it came (every child verbatim) and gives typed access to
//! the fields servers and clients act on: `FN`, `NICKNAME` and `PHOTO`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use starling_xml::Element;

use super::{expect, text_el};
use crate::error::ParseError;
use crate::ns;
use crate::payload::Payload;

/// A vCard (XEP-0054), kept as its element.
///
/// ```
/// use starling_stanza::{Payload, Photo, PhotoData, VCard};
///
/// let el = "<vCard xmlns='vcard-temp'><FN>Juliet Capulet</FN><NICKNAME>JuliC</NICKNAME>\
///     <ORG><ORGNAME>Capulet</ORGNAME></ORG></vCard>".parse().unwrap();
/// let mut card = VCard::from_element(&el).unwrap();
/// assert_eq!(card.full_name().as_deref(), Some("Juliet Capulet"));
/// assert_eq!(card.nickname().as_deref(), Some("JuliC"));
/// card.set_photo(Some(&Photo::binary("image/png", vec![0x89, b'P', b'N', b'G'])));
/// let photo = card.photo().unwrap().unwrap();
/// assert_eq!(photo.data, PhotoData::Binval(vec![0x89, b'P', b'N', b'G']));
/// // The fields it does not model are kept.
/// assert!(card.to_element().to_xml().contains("<ORGNAME>Capulet</ORGNAME>"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VCard {
    el: Element,
}

impl Default for VCard {
    fn default() -> VCard {
        VCard::new()
    }
}

/// The `PHOTO` of a vCard.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Photo {
    /// The `TYPE` (a MIME type such as `image/png`), if given.
    pub mime_type: Option<String>,
    /// The image, inline or by URL.
    pub data: PhotoData,
}

/// Where a vCard's photo is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PhotoData {
    /// `BINVAL`: the image bytes (base64 in the XML).
    Binval(Vec<u8>),
    /// `EXTVAL`: a URL.
    Extval(String),
}

impl Photo {
    /// An inline photo.
    pub fn binary(mime_type: &str, bytes: Vec<u8>) -> Photo {
        Photo {
            mime_type: Some(mime_type.to_owned()),
            data: PhotoData::Binval(bytes),
        }
    }

    /// The `<PHOTO/>` element.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("PHOTO", ns::VCARD);
        if let Some(t) = &self.mime_type {
            el.append_child(text_el("TYPE", ns::VCARD, t));
        }
        match &self.data {
            PhotoData::Binval(b) => {
                el.append_child(text_el("BINVAL", ns::VCARD, &STANDARD.encode(b)));
            }
            PhotoData::Extval(u) => {
                el.append_child(text_el("EXTVAL", ns::VCARD, u));
            }
        }
        el
    }

    /// Reads a `<PHOTO/>`: `Ok(None)` for one with neither `BINVAL` nor
    /// `EXTVAL` (an empty photo, which clients send to remove theirs);
    /// `bad-request` when `BINVAL` is not base64 (white space, which
    /// vCards use to fold lines, is ignored).
    pub fn from_element(el: &Element) -> Result<Option<Photo>, ParseError> {
        let mime_type = child_text(el, "TYPE").filter(|t| !t.is_empty());
        let data = if let Some(b) = el.get_child("BINVAL", ns::VCARD) {
            let compact: Vec<u8> = b
                .text()
                .bytes()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            if compact.is_empty() {
                return Ok(None);
            }
            let bytes = STANDARD
                .decode(&compact)
                .map_err(|e| ParseError::bad_request(format!("<BINVAL/> is not base64: {e}")))?;
            PhotoData::Binval(bytes)
        } else if let Some(u) = child_text(el, "EXTVAL").filter(|u| !u.is_empty()) {
            PhotoData::Extval(u)
        } else {
            return Ok(None);
        };
        Ok(Some(Photo { mime_type, data }))
    }
}

fn child_text(el: &Element, name: &str) -> Option<String> {
    el.get_child(name, ns::VCARD)
        .map(|c| c.text().trim().to_owned())
}

impl VCard {
    /// An empty vCard (`<vCard xmlns='vcard-temp'/>`).
    pub fn new() -> VCard {
        VCard {
            el: Element::new("vCard", ns::VCARD),
        }
    }

    /// The element, as stored and sent.
    pub fn element(&self) -> &Element {
        &self.el
    }

    /// Whether the vCard has no field.
    pub fn is_empty(&self) -> bool {
        self.el.children().next().is_none()
    }

    /// `FN`, the formatted name.
    pub fn full_name(&self) -> Option<String> {
        child_text(&self.el, "FN")
    }

    /// `NICKNAME`.
    pub fn nickname(&self) -> Option<String> {
        child_text(&self.el, "NICKNAME")
    }

    /// `PHOTO`: `Ok(None)` when there is none or it is empty;
    /// `bad-request` when its `BINVAL` is not base64.
    pub fn photo(&self) -> Result<Option<Photo>, ParseError> {
        match self.el.get_child("PHOTO", ns::VCARD) {
            Some(p) => Photo::from_element(p),
            None => Ok(None),
        }
    }

    /// Replaces the text field `name` (`FN`, `NICKNAME`, …), or removes
    /// it with `None`.
    pub fn set_text(&mut self, name: &str, value: Option<&str>) {
        while self.el.remove_child(name, ns::VCARD).is_some() {}
        if let Some(v) = value {
            self.el.append_child(text_el(name, ns::VCARD, v));
        }
    }

    /// Replaces the `PHOTO`, or removes it with `None`.
    pub fn set_photo(&mut self, photo: Option<&Photo>) {
        while self.el.remove_child("PHOTO", ns::VCARD).is_some() {}
        if let Some(p) = photo {
            self.el.append_child(p.to_element());
        }
    }

    /// This vCard with `FN` set.
    pub fn with_full_name(mut self, name: &str) -> VCard {
        self.set_text("FN", Some(name));
        self
    }

    /// This vCard with `PHOTO` set.
    pub fn with_photo(mut self, photo: &Photo) -> VCard {
        self.set_photo(Some(photo));
        self
    }
}

impl Payload for VCard {
    const NAME: &'static str = "vCard";
    const NS: &'static str = ns::VCARD;
    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        Ok(VCard { el: el.clone() })
    }
    fn to_element(&self) -> Element {
        self.el.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(xml: &str) -> VCard {
        VCard::from_element(&xml.parse().unwrap()).unwrap()
    }

    #[test]
    fn photo_forms() {
        let table: &[(&str, Result<Option<Photo>, ()>)] = &[
            ("<vCard xmlns='vcard-temp'/>", Ok(None)),
            ("<vCard xmlns='vcard-temp'><PHOTO/></vCard>", Ok(None)),
            (
                "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>\n  AAEC\n  Aw==\n</BINVAL></PHOTO></vCard>",
                Ok(Some(Photo::binary("image/png", vec![0, 1, 2, 3]))),
            ),
            (
                "<vCard xmlns='vcard-temp'><PHOTO><EXTVAL>https://x.lit/a.png</EXTVAL></PHOTO></vCard>",
                Ok(Some(Photo {
                    mime_type: None,
                    data: PhotoData::Extval("https://x.lit/a.png".into()),
                })),
            ),
            (
                "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>!!notbase64</BINVAL></PHOTO></vCard>",
                Err(()),
            ),
            (
                "<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL> </BINVAL></PHOTO></vCard>",
                Ok(None),
            ),
        ];
        for (xml, want) in table {
            let got = card(xml).photo().map_err(|_| ());
            assert_eq!(&got, want, "{xml}");
        }
    }

    #[test]
    fn setters_replace_fields() {
        let mut c = card("<vCard xmlns='vcard-temp'><FN>a</FN><FN>b</FN><TEL/></vCard>");
        c.set_text("FN", Some("c"));
        assert_eq!(c.full_name().as_deref(), Some("c"));
        c.set_text("FN", None);
        assert_eq!(c.full_name(), None);
        assert!(!c.is_empty());
        let p = Photo::binary("image/jpeg", b"jpeg".to_vec());
        let c = c.with_photo(&p).with_full_name("Juliet");
        assert_eq!(c.photo().unwrap(), Some(p));
        assert!(VCard::new().is_empty());
        assert!(VCard::from_element(&"<vcard xmlns='vcard-temp'/>".parse().unwrap()).is_err());
    }
}
