//! XEP-0054 vcard-temp: each account's vCard, stored by the account
//! ([`VCardStore`]) and given to anyone who asks its bare JID.
//!
//! * `set` to the account (or without `to`): only the account's own
//!   sessions (`forbidden` otherwise); the vCard is kept as it came, up
//!   to `[modules.vcard] max_bytes` of XML. A bigger one is refused with
//!   `not-acceptable` (type `modify`, with a text giving the limit) and
//!   the stored one is kept: XEP-0054 names no condition for this, and
//!   `not-acceptable` is what XEP-0060 §7.1.3.4 uses for a payload that
//!   is too big, which vCards stored in PEP (Prosody's `mod_vcard_legacy`)
//!   run into.
//! * `get` to the account: the stored vCard, or an empty `<vCard/>` when
//!   there is none. XEP-0054 §3.1 allows an empty vCard or an error
//!   (`item-not-found`); the empty result is what ejabberd answers and
//!   what clients fetching a contact's avatar handle without a special
//!   case.
//! * `get` to the server's domain: the server has no vCard of its own;
//!   an empty `<vCard/>`.
//!
//! The server lists `vcard-temp` in its disco#info (XEP-0054 §4).

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{
    ErrorType, IqType, Payload, StanzaError, StanzaErrorCondition as Cond, StanzaKind, VCard, ns,
};
use starling_xml::Element;

use crate::hub::{Hub, storage_error};
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};
use crate::storage::{StorageError, VCardStore};

/// The XEP-0054 module (`[modules.vcard]`).
pub struct VCards {
    store: Arc<dyn VCardStore>,
    max_bytes: usize,
}

impl std::fmt::Debug for VCards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VCards")
            .field("max_bytes", &self.max_bytes)
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
    /// The module on `store`, keeping vCards of up to `max_bytes` of XML.
    pub fn new(store: Arc<dyn VCardStore>, max_bytes: usize) -> VCards {
        VCards { store, max_bytes }
    }

    /// `owner`'s stored vCard, or an empty one.
    async fn load(&self, owner: &BareJid) -> Result<VCard, StorageError> {
        let Some(xml) = self.store.vcard(owner).await? else {
            return Ok(VCard::new());
        };
        VCard::from_element(&stored_element(&xml)?)
            .map_err(|e| StorageError::Corrupt(format!("stored vCard: {e}")))
    }

    async fn set(&self, owner: &BareJid, payload: &Element) -> Result<IqOutcome, StorageError> {
        let card = match VCard::from_element(payload) {
            Ok(c) => c,
            Err(e) => return Ok(IqOutcome::Error(e.to_stanza_error())),
        };
        let xml = card.element().to_xml();
        if xml.len() > self.max_bytes {
            return Ok(IqOutcome::Error(too_big("the vCard", self.max_bytes)));
        }
        self.store.set_vcard(owner, &xml).await?;
        Ok(IqOutcome::Result(None))
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
    }

    async fn iq(&self, _hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        let set = req.stanza.kind() == StanzaKind::Iq(IqType::Set);
        if req.to.node().is_none() {
            return IqOutcome::Result(Some(VCard::new().to_element()));
        }
        let owner = req.to.bare();
        let r = if set {
            if !req.from_self {
                return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
            }
            self.set(&owner, req.payload).await
        } else {
            self.load(&owner)
                .await
                .map(|c| IqOutcome::Result(Some(c.to_element())))
        };
        r.unwrap_or_else(|e| IqOutcome::Error(storage_error(&e)))
    }
}

#[cfg(test)]
mod tests;
