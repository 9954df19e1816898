//! XEP-0084 User Avatar: the image (`urn:xmpp:avatar:data`) and what it
//! is (`urn:xmpp:avatar:metadata`), each published to the PEP node of the
//! same name with the image's SHA-1 (hex) as item id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use starling_xml::Element;

use super::{expect, parse_u32, required};
use crate::error::ParseError;
use crate::ns;
use crate::payload::Payload;

/// `<data xmlns='urn:xmpp:avatar:data'>BASE64</data>`: the image bytes
/// (XEP-0084 §4.1). White space in the Base64 text is ignored.
///
/// ```
/// use starling_stanza::{AvatarData, Payload};
///
/// let d = AvatarData(vec![0x89, b'P', b'N', b'G']);
/// assert_eq!(d.to_element().text(), "iVBORw==");
/// assert_eq!(AvatarData::from_element(&d.to_element()).unwrap(), d);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AvatarData(pub Vec<u8>);

impl Payload for AvatarData {
    const NAME: &'static str = "data";
    const NS: &'static str = ns::AVATAR_DATA;

    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let text: String = el
            .text()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        STANDARD
            .decode(text.as_bytes())
            .map(AvatarData)
            .map_err(|e| ParseError::bad_request(format!("avatar data is not Base64: {e}")))
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        el.append_text(STANDARD.encode(&self.0));
        el
    }
}

/// One `<info/>` of the metadata: one version of the avatar (§4.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AvatarInfo {
    /// The image's size in bytes.
    pub bytes: u32,
    /// The SHA-1 of the image, hex (also the data item's id).
    pub id: String,
    /// The MIME type (`type`), e.g. `image/png`.
    pub mime: String,
    /// Width in pixels.
    pub width: Option<u16>,
    /// Height in pixels.
    pub height: Option<u16>,
    /// Where to fetch the image instead of the data node (`url`).
    pub url: Option<String>,
}

/// `<metadata xmlns='urn:xmpp:avatar:metadata'>` with the `<info/>` of
/// each available version; empty means "no avatar" (§4.2, §4.4).
///
/// ```
/// use starling_stanza::{AvatarMetadata, Payload};
///
/// let el = "<metadata xmlns='urn:xmpp:avatar:metadata'>\
///     <info bytes='12345' width='64' height='64' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png'/>\
///     </metadata>".parse().unwrap();
/// let m = AvatarMetadata::from_element(&el).unwrap();
/// assert_eq!(m.infos[0].bytes, 12345);
/// assert_eq!(AvatarMetadata::from_element(&m.to_element()).unwrap(), m);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AvatarMetadata {
    /// The versions; empty disables the avatar.
    pub infos: Vec<AvatarInfo>,
}

fn opt_u16(el: &Element, attr: &str) -> Result<Option<u16>, ParseError> {
    el.attr(attr)
        .map(|v| {
            let n = parse_u32(attr, v)?;
            u16::try_from(n)
                .map_err(|_| ParseError::bad_request(format!("'{attr}' is above 65535: {v:?}")))
        })
        .transpose()
}

impl Payload for AvatarMetadata {
    const NAME: &'static str = "metadata";
    const NS: &'static str = ns::AVATAR_METADATA;

    fn from_element(el: &Element) -> Result<Self, ParseError> {
        expect(el, Self::NAME, Self::NS)?;
        let infos = el
            .children()
            .filter(|c| c.is("info", Self::NS))
            .map(|i| {
                Ok(AvatarInfo {
                    bytes: parse_u32("bytes", required(i, "bytes")?)?,
                    id: required(i, "id")?.to_owned(),
                    mime: required(i, "type")?.to_owned(),
                    width: opt_u16(i, "width")?,
                    height: opt_u16(i, "height")?,
                    url: i.attr("url").map(str::to_owned),
                })
            })
            .collect::<Result<_, ParseError>>()?;
        Ok(AvatarMetadata { infos })
    }

    fn to_element(&self) -> Element {
        let mut el = Element::new(Self::NAME, Self::NS);
        for i in &self.infos {
            let mut e = Element::new("info", Self::NS);
            e.set_attr("bytes", Some(&i.bytes.to_string()));
            e.set_attr("id", Some(&i.id));
            e.set_attr("type", Some(&i.mime));
            if let Some(w) = i.width {
                e.set_attr("width", Some(&w.to_string()));
            }
            if let Some(h) = i.height {
                e.set_attr("height", Some(&h.to_string()));
            }
            if let Some(u) = &i.url {
                e.set_attr("url", Some(u));
            }
            el.append_child(e);
        }
        el
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_round_trips_and_rejects_bad_base64() {
        for bytes in [vec![], vec![0u8], (0..=255u8).collect::<Vec<_>>()] {
            let d = AvatarData(bytes);
            let back = Element::parse(d.to_element().to_xml().as_bytes()).expect("bytes");
            assert_eq!(AvatarData::from_element(&back).expect("parses"), d);
        }
        let wrapped: Element = "<data xmlns='urn:xmpp:avatar:data'>iVBO\n  Rw==</data>"
            .parse()
            .expect("xml");
        assert_eq!(
            AvatarData::from_element(&wrapped).expect("parses").0,
            [0x89, b'P', b'N', b'G']
        );
        let bad: Element = "<data xmlns='urn:xmpp:avatar:data'>not base64!</data>"
            .parse()
            .expect("xml");
        assert!(AvatarData::from_element(&bad).is_err());
    }

    #[test]
    fn metadata_examples_and_invalid_input() {
        let table: &[(&str, bool)] = &[
            ("<metadata xmlns='urn:xmpp:avatar:metadata'/>", true),
            (
                "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='12345' width='64' height='64' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png'/><info bytes='23456' id='e279f80c38f99c1e7e53e262b440993b2f7eea57' type='image/png' url='http://avatars.example.org/happy.png'/></metadata>",
                true,
            ),
            (
                "<metadata xmlns='urn:xmpp:avatar:metadata'><info id='a' type='image/png'/></metadata>",
                false,
            ),
            (
                "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='1' type='image/png'/></metadata>",
                false,
            ),
            (
                "<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='1' id='a' type='image/png' width='70000'/></metadata>",
                false,
            ),
        ];
        for (xml, ok) in table {
            let el: Element = xml.parse().expect("xml");
            match AvatarMetadata::from_element(&el) {
                Ok(m) => {
                    assert!(ok, "{xml}");
                    let back = Element::parse(m.to_element().to_xml().as_bytes()).expect("bytes");
                    assert_eq!(AvatarMetadata::from_element(&back).expect("parses"), m);
                }
                Err(e) => assert!(!ok, "{xml}: {e}"),
            }
        }
    }
}
