//! XEP-0054 vcard-temp: each account's vCard, stored by the account
//! ([`VCardStore`]) and given to anyone who asks its bare JID.
//!
//! * `set` to the account (or without `to`): only the account's own
//!   sessions (`forbidden` otherwise); the vCard is kept as it came, up
//!   to `[modules.vcard] max_bytes` of XML. A bigger one is refused with
//!   `not-acceptable` (type `modify`, with a text giving the limit) and
//!   the stored one is kept. XEP-0054 names no condition for this;
//!   `not-acceptable` is what XEP-0060 §7.1.3.4 uses for a payload that
//!   is too big (Prosody's `mod_vcard_legacy`, which keeps vCards in PEP,
//!   answers a failed store with `undefined-condition` carrying the PEP
//!   error's text; ejabberd's answer was not checked).
//! * `get` to the account: the stored vCard, or an empty `<vCard/>` when
//!   there is none. XEP-0054 §3.1 allows an empty vCard or an error
//!   (`item-not-found`); Prosody's `mod_vcard_legacy` answers an empty
//!   vCard too, which clients fetching a contact's avatar handle without
//!   a special case.
//! * `get` to the server's domain: the server has no vCard of its own;
//!   an empty `<vCard/>`.
//!
//! The server lists `vcard-temp` in its disco#info (XEP-0054 §4).
//!
//! Given the account's PEP nodes ([`PepAccess`]), the module also keeps
//! the vCard photo and the XEP-0084 avatar as one (XEP-0398, in the
//! `avatar` submodule) and lists `urn:xmpp:pep-vcard-conversion:0` on accounts.

mod avatar;

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{
    ErrorType, IqType, Payload, PresenceType, StanzaError, StanzaErrorCondition as Cond,
    StanzaKind, VCard, ns,
};
use starling_xml::Element;
use tracing::warn;

use crate::hub::{Hub, storage_error};
use crate::module::{Flow, Hook, IqOutcome, IqRequest, IqScope, Kinds, Module, Registrar, Session};
use crate::pep::PepAccess;
use crate::routed::Routed;
use crate::storage::{StorageError, VCardStore};
use avatar::Avatar;

/// The XEP-0054 module (`[modules.vcard]`).
pub struct VCards {
    store: Arc<dyn VCardStore>,
    max_bytes: usize,
    pep: Option<Arc<dyn PepAccess>>,
}

impl std::fmt::Debug for VCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VCards")
            .field("max_bytes", &self.max_bytes)
            .field("pep", &self.pep.is_some())
            .finish_non_exhaustive()
    }
}

/// The error for a vCard over `max_bytes`.
pub(crate) fn too_big(what: &str, max_bytes: usize) -> StanzaError {
    StanzaError::new(Cond::NotAcceptable)
        .with_type(ErrorType::Modify)
        .with_text(format!("{what} is larger than {max_bytes} bytes"))
}

/// Reads stored XML back.
pub(crate) fn stored_element(xml: &str) -> Result<Element, StorageError> {
    Element::parse(xml.as_bytes())
        .map_err(|e| StorageError::Corrupt(format!("stored XML does not parse: {e}")))
}

impl VCards {
    /// The module on `store`, keeping vCards of up to `max_bytes` of XML;
    /// with `pep`, converting between vCard photos and PEP avatars
    /// (XEP-0398).
    pub fn new(
        store: Arc<dyn VCardStore>,
        max_bytes: usize,
        pep: Option<Arc<dyn PepAccess>>,
    ) -> VCards {
        VCards {
            store,
            max_bytes,
            pep,
        }
    }

    /// `owner`'s stored vCard, or an empty one.
    async fn load(&self, owner: &BareJid) -> Result<VCard, StorageError> {
        let Some(xml) = self.store.vcard(owner).await? else {
            return Ok(VCard::new());
        };
        VCard::from_element(&stored_element(&xml)?)
            .map_err(|e| StorageError::Corrupt(format!("stored vCard: {e}")))
    }

    async fn set(
        &self,
        hub: &Hub,
        owner: &BareJid,
        payload: &Element,
    ) -> Result<IqOutcome, StorageError> {
        let card = match VCard::from_element(payload) {
            Ok(c) => c,
            Err(e) => return Ok(IqOutcome::Error(e.to_stanza_error())),
        };
        let xml = card.element().to_xml();
        if xml.len() > self.max_bytes {
            return Ok(IqOutcome::Error(too_big("the vCard", self.max_bytes)));
        }
        let Some(pep) = &self.pep else {
            self.store.set_vcard(owner, &xml).await?;
            return Ok(IqOutcome::Result(None));
        };
        // A stored vCard that does not read back counts as one without a
        // photo: the user is replacing it.
        let old = match self.load(owner).await {
            Ok(card) => Some(card),
            Err(StorageError::Corrupt(_)) => None,
            Err(e) => return Err(e),
        };
        let had_photo = matches!(old.map(|c| c.photo()), Some(Ok(Some(_))));
        self.store.set_vcard(owner, &xml).await?;
        let published = match card.photo() {
            Ok(Some(photo)) => match Avatar::from_photo(&photo) {
                Some(a) => avatar::publish(hub, pep.as_ref(), owner, &a).await,
                None => Ok(()),
            },
            Ok(None) if had_photo => pep
                .publish(
                    hub,
                    owner,
                    ns::AVATAR_METADATA,
                    avatar::no_avatar_item(),
                    None,
                )
                .await
                .map(drop),
            // No photo before or now, or one that is not base64.
            _ => Ok(()),
        };
        if let Err(e) = published {
            // The vCard is stored; the conversion is the server's own
            // business and its failure is not the client's.
            warn!(account = %owner, error = ?e, "publishing the vCard avatar to PEP failed");
        }
        Ok(IqOutcome::Result(None))
    }

    /// `owner`'s vCard as read by anyone: with PEP, its photo is the
    /// current PEP avatar (XEP-0398 §3.1).
    async fn read(&self, hub: &Hub, owner: &BareJid) -> Result<VCard, StorageError> {
        let mut card = self.load(owner).await?;
        let Some(pep) = &self.pep else {
            return Ok(card);
        };
        let Some(Some((id, mime_type))) = avatar::current_info(hub, pep.as_ref(), owner).await
        else {
            return Ok(card);
        };
        let same = card
            .photo()
            .ok()
            .flatten()
            .and_then(|p| Avatar::from_photo(&p))
            .is_some_and(|a| a.id == id);
        if !same {
            if let Some(a) = avatar::fetch(hub, pep.as_ref(), owner, &id, &mime_type).await {
                card.set_photo(Some(&a.to_photo()));
            }
        }
        Ok(card)
    }

    /// The hash to add to `st`, an available presence from `owner`'s
    /// client, if any (XEP-0398 §4).
    async fn with_hash(
        &self,
        hub: &Hub,
        pep: &dyn PepAccess,
        owner: &BareJid,
        mut st: Routed,
    ) -> Routed {
        if !avatar::wants_hash(st.element()) {
            return st;
        }
        let Some(info) = avatar::current_info(hub, pep, owner).await else {
            return st;
        };
        st.remove_child("x", ns::VCARD_UPDATE);
        st.append_child(avatar::update_element(
            info.as_ref().map(|(id, _)| id.as_str()),
        ));
        st
    }
}

#[async_trait]
impl Module for VCards {
    fn name(&self) -> &'static str {
        "vcard"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Account, IqType::Get, ns::VCARD, "vCard");
        r.iq(IqScope::Account, IqType::Set, ns::VCARD, "vCard");
        r.iq(IqScope::Server, IqType::Get, ns::VCARD, "vCard");
        r.disco_feature(ns::VCARD);
        if self.pep.is_some() {
            r.account_feature(ns::PEP_VCARD_CONVERSION);
            r.hook_for(Hook::ClientStanza, Kinds::PRESENCE);
        }
    }

    async fn client_stanza(&self, hub: &Hub, session: &mut Session<'_>, st: Routed) -> Flow {
        let Some(pep) = &self.pep else {
            return Flow::Continue(st);
        };
        if !matches!(st.kind(), StanzaKind::Presence(PresenceType::Available, _)) {
            return Flow::Continue(st);
        }
        let owner = session.jid().bare();
        Flow::Continue(self.with_hash(hub, pep.as_ref(), &owner, st).await)
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        let set = req.stanza.kind() == StanzaKind::Iq(IqType::Set);
        if req.to.node().is_none() {
            return IqOutcome::Result(Some(VCard::new().to_element()));
        }
        let owner = req.to.bare();
        let r = if set {
            if !req.from_self {
                return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
            }
            self.set(hub, &owner, req.payload).await
        } else {
            self.read(hub, &owner)
                .await
                .map(|c| IqOutcome::Result(Some(c.to_element())))
        };
        r.unwrap_or_else(|e| IqOutcome::Error(storage_error(&e)))
    }
}

#[cfg(test)]
mod tests;
