//! What applications keep in PEP: bookmarks (XEP-0402) and the user's
//! avatar (XEP-0084).

use sha1::{Digest, Sha1};
use starling_jid::{BareJid, Jid};
use starling_stanza::{
    AvatarData, AvatarInfo, AvatarMetadata, Conference, Item, Payload, StanzaErrorCondition, ns,
};

use crate::client::ClientHandle;
use crate::error::Error;

/// The bookmarks in the items of the `urn:xmpp:bookmarks:1` node: each
/// item's id is the room's JID and its payload a `<conference/>`; items
/// that are neither (another client's mistake) are skipped.
pub(crate) fn bookmarks_of(items: Vec<Item>) -> Vec<(BareJid, Conference)> {
    items
        .into_iter()
        .filter_map(|i| {
            let room = i.id?.parse::<BareJid>().ok()?;
            let payload = i.payload?;
            let conf = payload
                .is(Conference::NAME, Conference::NS)
                .then(|| Conference::from_element(&payload).ok())??;
            Some((room, conf))
        })
        .collect()
}

/// The SHA-1 of `bytes` in lower-case hex: an avatar's id (XEP-0084 §4.1).
pub fn avatar_id(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The metadata describing one avatar image.
pub(crate) fn avatar_info(
    bytes: &[u8],
    mime: &str,
    width: u16,
    height: u16,
) -> Result<AvatarInfo, Error> {
    let size = u32::try_from(bytes.len())
        .map_err(|_| Error::Invalid("an avatar above 4 GiB".to_owned()))?;
    Ok(AvatarInfo {
        bytes: size,
        id: avatar_id(bytes),
        mime: mime.to_owned(),
        width: Some(width),
        height: Some(height),
        url: None,
    })
}

fn not_found(e: &Error) -> bool {
    e.stanza_error()
        .is_some_and(|s| s.condition == StanzaErrorCondition::ItemNotFound)
}

impl ClientHandle {
    /// The account's bookmarks (XEP-0402 §3.1): room JID and conference;
    /// empty when the node does not exist yet.
    pub async fn bookmarks(&self) -> Result<Vec<(BareJid, Conference)>, Error> {
        match self.items(None, ns::BOOKMARKS2, None).await {
            Ok(items) => Ok(bookmarks_of(items)),
            Err(e) if not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Adds or replaces the bookmark of `room` (XEP-0402 §3.2), with the
    /// publish options of §4 (persistent, `max` items, never sent on its
    /// own, `whitelist` access).
    pub async fn add_bookmark(&self, room: BareJid, conference: &Conference) -> Result<(), Error> {
        let item = Item::new(Some(room.to_string()), conference.to_element());
        self.publish(ns::BOOKMARKS2, item, Some(Conference::publish_options()))
            .await
            .map(|_| ())
    }

    /// Removes the bookmark of `room` (XEP-0402 §3.3), notifying the
    /// account's other clients.
    pub async fn remove_bookmark(&self, room: BareJid) -> Result<(), Error> {
        self.retract(None, ns::BOOKMARKS2, room.as_str()).await
    }

    /// Publishes the user's avatar (XEP-0084 §4.1, §4.2): the image to
    /// `urn:xmpp:avatar:data`, then its metadata to
    /// `urn:xmpp:avatar:metadata`, both under the image's SHA-1 (hex),
    /// which is returned. Contacts that declared
    /// `urn:xmpp:avatar:metadata+notify` are told.
    pub async fn set_avatar(
        &self,
        bytes: &[u8],
        mime: &str,
        width: u16,
        height: u16,
    ) -> Result<String, Error> {
        let info = avatar_info(bytes, mime, width, height)?;
        let id = info.id.clone();
        let data = Item::new(Some(id.clone()), AvatarData(bytes.to_vec()).to_element());
        self.publish(ns::AVATAR_DATA, data, None).await?;
        let meta = AvatarMetadata { infos: vec![info] };
        let item = Item::new(Some(id.clone()), meta.to_element());
        self.publish(ns::AVATAR_METADATA, item, None).await?;
        Ok(id)
    }

    /// Tells contacts the user has no avatar (XEP-0084 §4.4): empty
    /// metadata.
    pub async fn disable_avatar(&self) -> Result<(), Error> {
        let item = Item::new(None, AvatarMetadata::default().to_element());
        self.publish(ns::AVATAR_METADATA, item, None)
            .await
            .map(|_| ())
    }

    /// The avatar metadata of `jid` (none: the own account), `None` when
    /// it has none.
    pub async fn avatar_metadata(&self, jid: Option<Jid>) -> Result<Option<AvatarMetadata>, Error> {
        let items = match self.items(jid, ns::AVATAR_METADATA, Some(1)).await {
            Ok(items) => items,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        items
            .into_iter()
            .find_map(|i| i.payload)
            .map(|p| AvatarMetadata::from_element(&p))
            .transpose()
            .map_err(|e| Error::Invalid(format!("avatar metadata: {e}")))
    }

    /// The avatar image `id` of `jid` (none: the own account), `None`
    /// when there is no such item (XEP-0084 §4.3).
    pub async fn avatar_data(&self, jid: Option<Jid>, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let item = self.item(jid, ns::AVATAR_DATA, id).await?;
        item.and_then(|i| i.payload)
            .map(|p| AvatarData::from_element(&p).map(|d| d.0))
            .transpose()
            .map_err(|e| Error::Invalid(format!("avatar data: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use starling_xml::Element;

    use super::*;

    #[test]
    fn avatar_ids_are_sha1_hex() {
        // FIPS 180 test vector.
        assert_eq!(
            avatar_id(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        let info = avatar_info(b"abc", "image/png", 64, 32).expect("info");
        assert_eq!(info.bytes, 3);
        assert_eq!(info.id, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!((info.width, info.height), (Some(64), Some(32)));
    }

    #[test]
    fn bookmarks_from_items() {
        let conf = |xml: &str| -> Element { xml.parse().expect("xml") };
        let items = vec![
            Item::new(
                Some("theplay@conference.shakespeare.lit".into()),
                conf(
                    "<conference xmlns='urn:xmpp:bookmarks:1' name='The Play' autojoin='true'><nick>JC</nick></conference>",
                ),
            ),
            // Not a room JID, no payload, a foreign payload, a bad payload: skipped.
            Item::new(
                Some("not a jid@".into()),
                conf("<conference xmlns='urn:xmpp:bookmarks:1'/>"),
            ),
            Item::with_id("orchard@conference.shakespeare.lit"),
            Item::new(
                Some("a@b.example".into()),
                conf("<storage xmlns='storage:bookmarks'/>"),
            ),
            Item::new(
                Some("c@d.example".into()),
                conf("<conference xmlns='urn:xmpp:bookmarks:1' autojoin='x'/>"),
            ),
        ];
        let got = bookmarks_of(items);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.as_str(), "theplay@conference.shakespeare.lit");
        assert!(got[0].1.autojoin);
        assert_eq!(got[0].1.nick.as_deref(), Some("JC"));
    }
}
