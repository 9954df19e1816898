//! XEP-0049 private XML storage: each account keeps elements for itself
//! on the server, one per (namespace, element name)
//! ([`PrivateStore`]).
//!
//! Only the account's own sessions get and set (`forbidden` otherwise,
//! the condition XEP-0049 §2.3 prefers). A query with no child element or
//! more than one is `bad-request` ("Bad Format"); a child in
//! `jabber:client`, `jabber:server` or `jabber:iq:private` is
//! `not-acceptable`. A get of an element never stored is answered with
//! the element as it was asked for (§2.3, "Client Retrieves Private
//! Data"). An element over `[modules.private] max_bytes` of XML, or one
//! that would take the account over `max_total_bytes`, is refused with
//! `not-acceptable` and a text saying which limit.
//!
//! The server lists `jabber:iq:private` in its disco#info, as Prosody
//! does (XEP-0049 defines no feature of its own).
//!
//! Given the account's PEP nodes ([`PepAccess`]), XEP-0048 bookmarks
//! (`storage:bookmarks`) are also kept in step with PEP native bookmarks
//! (XEP-0402 §5, in the `bookmarks` submodule) and accounts list
//! `urn:xmpp:bookmarks:1#compat`.

mod bookmarks;

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{
    IqType, Payload, PrivateQuery, StanzaError, StanzaErrorCondition as Cond, StanzaKind, ns,
};

use starling_xml::Element;
use tracing::warn;

use super::vcard::{stored_element, too_big};
use crate::config::PrivateConfig;
use crate::hub::{Hub, storage_error};
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};
use crate::pep::PepAccess;
use crate::storage::{Admission, PrivateStore, StorageError};

/// The XEP-0049 module (`[modules.private]`).
pub struct Private {
    store: Arc<dyn PrivateStore>,
    config: PrivateConfig,
    pep: Option<Arc<dyn PepAccess>>,
}

impl std::fmt::Debug for Private {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Private")
            .field("config", &self.config)
            .field("pep", &self.pep.is_some())
            .finish_non_exhaustive()
    }
}

impl Private {
    /// The module on `store`, with the limits of `config`; with `pep`,
    /// converting XEP-0048 bookmarks to and from PEP (XEP-0402 §5).
    pub fn new(
        store: Arc<dyn PrivateStore>,
        config: PrivateConfig,
        pep: Option<Arc<dyn PepAccess>>,
    ) -> Private {
        Private { store, config, pep }
    }

    /// The PEP service, for a query about XEP-0048 bookmarks.
    fn bookmarks_pep(&self, q: &PrivateQuery) -> Option<&dyn PepAccess> {
        let pep = self.pep.as_deref()?;
        (q.key() == (ns::BOOKMARKS, "storage")).then_some(pep)
    }

    async fn get(
        &self,
        hub: &Hub,
        owner: &BareJid,
        q: PrivateQuery,
    ) -> Result<IqOutcome, StorageError> {
        let (ns, name) = q.key();
        let stored = match self.store.private_get(owner, ns, name).await? {
            Some(xml) => Some(stored_element(&xml)?),
            None => None,
        };
        let from_pep = match self.bookmarks_pep(&q) {
            Some(pep) => bookmarks::read(hub, pep, owner, stored.as_ref()).await,
            None => None,
        };
        let child: Element = from_pep.or(stored).unwrap_or(q.child);
        Ok(IqOutcome::Result(Some(
            PrivateQuery::new(child).to_element(),
        )))
    }

    async fn set(
        &self,
        hub: &Hub,
        owner: &BareJid,
        q: PrivateQuery,
    ) -> Result<IqOutcome, StorageError> {
        let xml = q.child.to_xml();
        if xml.len() > self.config.max_bytes {
            let e = too_big("the element", self.config.max_bytes);
            return Ok(IqOutcome::Error(e));
        }
        let (ns, name) = q.key();
        let max = self.config.max_total_bytes;
        match self.store.private_set(owner, ns, name, &xml, max).await? {
            Admission::Stored => {
                if let Some(pep) = self.bookmarks_pep(&q) {
                    if let Err(e) = bookmarks::sync(hub, pep, owner, &q.child).await {
                        // Stored; the conversion is the server's business.
                        warn!(account = %owner, error = ?e, "converting bookmarks to PEP failed");
                    }
                }
                Ok(IqOutcome::Result(None))
            }
            Admission::Refused(full) => Ok(IqOutcome::Error(too_big(
                "the account's private storage with this element",
                full.max_total_bytes,
            ))),
        }
    }
}

#[async_trait]
impl Module for Private {
    fn name(&self) -> &'static str {
        "private"
    }

    fn register(&self, r: &mut Registrar) {
        r.iq(IqScope::Account, IqType::Get, ns::PRIVATE, "query");
        r.iq(IqScope::Account, IqType::Set, ns::PRIVATE, "query");
        r.disco_feature(ns::PRIVATE);
        if self.pep.is_some() {
            r.account_feature(ns::BOOKMARKS2_COMPAT);
        }
    }

    async fn iq(&self, hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        if !req.from_self {
            return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
        }
        let q = match PrivateQuery::from_element(req.payload) {
            Ok(q) => q,
            Err(e) => return IqOutcome::Error(e.to_stanza_error()),
        };
        let owner = req.to.bare();
        let r = if req.stanza.kind() == StanzaKind::Iq(IqType::Set) {
            self.set(hub, &owner, q).await
        } else {
            self.get(hub, &owner, q).await
        };
        r.unwrap_or_else(|e| IqOutcome::Error(storage_error(&e)))
    }
}

#[cfg(test)]
mod tests;
