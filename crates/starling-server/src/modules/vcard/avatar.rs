//! XEP-0398: the vCard photo and the XEP-0084 PEP avatar kept as one.
//!
//! * vCard → PEP (§3.2): a vCard set with an inline photo publishes the
//!   image to `urn:xmpp:avatar:data` (item id: the SHA-1 of the bytes in
//!   hexadecimal, payload `<data>BASE64</data>`), then its
//!   `<metadata><info id bytes type/></metadata>` to
//!   `urn:xmpp:avatar:metadata`; nothing is published when the metadata
//!   node already names that image. A vCard set without a photo, when
//!   the stored one had one, publishes an empty `<metadata/>` (XEP-0084
//!   §4.5, "no avatar").
//! * PEP → vCard (§3.1): done when a vCard is read, not when the client
//!   publishes (this module sees no PEP publish): the current metadata's
//!   first `<info/>` without `url` names the image; when the stored vCard
//!   has no photo or another one, the image is read from the data node,
//!   its SHA-1 checked against the id (§3.1 SHOULD), and put in `PHOTO`.
//! * Presence (§4): an available presence from a client with no
//!   `<x xmlns='vcard-temp:x:update'/>`, or with one without `<photo/>`,
//!   gets the hash of the current avatar (`<photo/>` empty when the
//!   metadata says there is none); a client's own non-empty or empty
//!   `<photo/>` is left alone. Directed presence too.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};
use starling_jid::BareJid;
use starling_stanza::{Item, Payload, Photo, PhotoData, StanzaError, VCardUpdate, ns};
use starling_xml::Element;

use crate::hub::Hub;
use crate::pep::PepAccess;

/// The SHA-1 of `bytes` in lower-case hexadecimal (XEP-0084 item ids,
/// XEP-0153 hashes).
pub(crate) fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The MIME type of an image by its first bytes, for a vCard photo
/// without `TYPE` (XEP-0084 requires a type).
fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => "image/webp",
        _ => "application/octet-stream",
    }
}

/// One avatar image: what both protocols carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Avatar {
    /// SHA-1 of `bytes`, hexadecimal.
    pub(crate) id: String,
    /// MIME type.
    pub(crate) mime_type: String,
    /// The image.
    pub(crate) bytes: Vec<u8>,
}

impl Avatar {
    /// The avatar of an inline vCard photo (a photo by URL has none).
    pub(crate) fn from_photo(photo: &Photo) -> Option<Avatar> {
        let PhotoData::Binval(bytes) = &photo.data else {
            return None;
        };
        let mime_type = photo
            .mime_type
            .clone()
            .unwrap_or_else(|| sniff(bytes).to_owned());
        Some(Avatar {
            id: sha1_hex(bytes),
            mime_type,
            bytes: bytes.clone(),
        })
    }

    /// The vCard photo.
    pub(crate) fn to_photo(&self) -> Photo {
        Photo::binary(&self.mime_type, self.bytes.clone())
    }

    /// The item for `urn:xmpp:avatar:data`.
    pub(crate) fn data_item(&self) -> Item {
        let mut data = Element::new("data", ns::AVATAR_DATA);
        data.append_text(STANDARD.encode(&self.bytes));
        item(&self.id, data)
    }

    /// The item for `urn:xmpp:avatar:metadata`: one `<info/>`.
    pub(crate) fn metadata_item(&self) -> Item {
        let info = Element::builder("info", ns::AVATAR_METADATA)
            .attr("id", &self.id)
            .attr("bytes", &self.bytes.len().to_string())
            .attr("type", &self.mime_type)
            .build();
        let mut metadata = Element::new("metadata", ns::AVATAR_METADATA);
        metadata.append_child(info);
        item(&self.id, metadata)
    }
}

fn item(id: &str, payload: Element) -> Item {
    Item {
        id: Some(id.to_owned()),
        publisher: None,
        payload: Some(payload),
    }
}

/// The empty `<metadata/>` item: no avatar (XEP-0084 §4.5).
pub(crate) fn no_avatar_item() -> Item {
    Item {
        id: Some("current".to_owned()),
        publisher: None,
        payload: Some(Element::new("metadata", ns::AVATAR_METADATA)),
    }
}

/// What a metadata item says: `Some((id, type))` of the first `<info/>`
/// without `url` (§3.1), `None` for no avatar (no such `<info/>`).
pub(crate) fn metadata_info(item: &Item) -> Option<(String, String)> {
    let metadata = item
        .payload
        .as_ref()
        .filter(|p| p.is("metadata", ns::AVATAR_METADATA))?;
    metadata
        .children()
        .filter(|i| i.is("info", ns::AVATAR_METADATA) && i.attr("url").is_none())
        .find_map(|i| {
            let id = i.attr("id")?.to_ascii_lowercase();
            Some((id, i.attr("type").unwrap_or("image/png").to_owned()))
        })
}

/// The image of a data item, when it is base64 and its SHA-1 is `id`.
pub(crate) fn data_bytes(item: &Item, id: &str) -> Option<Vec<u8>> {
    let data = item
        .payload
        .as_ref()
        .filter(|p| p.is("data", ns::AVATAR_DATA))?;
    let compact: Vec<u8> = data
        .text()
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = STANDARD.decode(compact).ok()?;
    (sha1_hex(&bytes) == id).then_some(bytes)
}

/// What the account's metadata node says: `None` when there is no node
/// (or it cannot be read), `Some(None)` for "no avatar", else the id
/// and type of the image.
pub(crate) async fn current_info(
    hub: &Hub,
    pep: &dyn PepAccess,
    owner: &BareJid,
) -> Option<Option<(String, String)>> {
    let items = pep
        .items(hub, owner, ns::AVATAR_METADATA, Some(1))
        .await
        .ok()?;
    Some(items.first().and_then(metadata_info))
}

/// The image the metadata names, read from the data node.
pub(crate) async fn fetch(
    hub: &Hub,
    pep: &dyn PepAccess,
    owner: &BareJid,
    id: &str,
    mime_type: &str,
) -> Option<Avatar> {
    let items = pep.items(hub, owner, ns::AVATAR_DATA, None).await.ok()?;
    let found = items.iter().find(|i| i.id.as_deref() == Some(id))?;
    Some(Avatar {
        id: id.to_owned(),
        mime_type: mime_type.to_owned(),
        bytes: data_bytes(found, id)?,
    })
}

/// Publishes `avatar` (data, then metadata) unless the metadata already
/// names it.
pub(crate) async fn publish(
    hub: &Hub,
    pep: &dyn PepAccess,
    owner: &BareJid,
    avatar: &Avatar,
) -> Result<(), StanzaError> {
    if let Some(Some((id, _))) = current_info(hub, pep, owner).await {
        if id == avatar.id {
            return Ok(());
        }
    }
    pep.publish(hub, owner, ns::AVATAR_DATA, avatar.data_item(), None)
        .await?;
    pep.publish(
        hub,
        owner,
        ns::AVATAR_METADATA,
        avatar.metadata_item(),
        None,
    )
    .await?;
    Ok(())
}

/// Whether the server adds the avatar hash to this available presence
/// (§4): no `<x xmlns='vcard-temp:x:update'/>`, or one without
/// `<photo/>`.
pub(crate) fn wants_hash(presence: &Element) -> bool {
    match presence.get_child("x", ns::VCARD_UPDATE) {
        None => true,
        Some(x) => !x.has_child("photo", ns::VCARD_UPDATE),
    }
}

/// The `<x/>` the server adds for `hash` (`None`: no avatar).
pub(crate) fn update_element(hash: Option<&str>) -> Element {
    VCardUpdate::with_hash(hash).to_element()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_presence_gets_the_hash() {
        let table: &[(&str, bool)] = &[
            ("<presence xmlns='jabber:client'/>", true),
            (
                "<presence xmlns='jabber:client'><x xmlns='vcard-temp:x:update'/></presence>",
                true,
            ),
            (
                "<presence xmlns='jabber:client'><x xmlns='vcard-temp:x:update'><photo/></x></presence>",
                false,
            ),
            (
                "<presence xmlns='jabber:client'><x xmlns='vcard-temp:x:update'><photo>abc</photo></x></presence>",
                false,
            ),
            (
                "<presence xmlns='jabber:client'><x xmlns='other'><photo/></x></presence>",
                true,
            ),
        ];
        for (xml, want) in table {
            assert_eq!(wants_hash(&xml.parse().unwrap()), *want, "{xml}");
        }
    }

    #[test]
    fn items_of_an_avatar_and_back() {
        let png = vec![0x89, b'P', b'N', b'G', 0, 1, 2];
        let a = Avatar::from_photo(&Photo {
            mime_type: None,
            data: PhotoData::Binval(png.clone()),
        })
        .unwrap();
        assert_eq!(a.mime_type, "image/png");
        assert_eq!(a.id, sha1_hex(&png));
        assert_eq!(a.id.len(), 40);
        let meta = a.metadata_item();
        assert_eq!(
            metadata_info(&meta),
            Some((a.id.clone(), "image/png".into()))
        );
        let info = meta.payload.as_ref().unwrap().children().next().unwrap();
        assert_eq!(info.attr("bytes"), Some("7"));
        assert_eq!(data_bytes(&a.data_item(), &a.id), Some(png));
        // A data item whose hash is not its id is not taken.
        assert_eq!(data_bytes(&a.data_item(), &"0".repeat(40)), None);
        assert_eq!(metadata_info(&no_avatar_item()), None);
        let ext = Photo {
            mime_type: None,
            data: PhotoData::Extval("https://x.example/a.png".into()),
        };
        assert_eq!(Avatar::from_photo(&ext), None);
        // An <info/> with a URL is skipped for the one without.
        let mut m = Element::new("metadata", ns::AVATAR_METADATA);
        m.append_child(
            Element::builder("info", ns::AVATAR_METADATA)
                .attr("id", "AA")
                .attr("url", "https://x.example/a")
                .build(),
        );
        m.append_child(
            Element::builder("info", ns::AVATAR_METADATA)
                .attr("id", "BB")
                .attr("type", "image/jpeg")
                .build(),
        );
        let it = item("BB", m);
        assert_eq!(metadata_info(&it), Some(("bb".into(), "image/jpeg".into())));
        for (bytes, t) in [
            (&b"\xff\xd8\xff\xe0"[..], "image/jpeg"),
            (b"GIF89a", "image/gif"),
            (b"RIFF\0\0\0\0WEBPVP8", "image/webp"),
            (b"??", "application/octet-stream"),
        ] {
            assert_eq!(sniff(bytes), t);
        }
        let x = VCardUpdate::from_element(&update_element(Some(&"AB".repeat(20)))).unwrap();
        assert_eq!(x.photo, Some(Some("ab".repeat(20))));
    }
}
