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

use std::sync::Arc;

use async_trait::async_trait;
use starling_jid::BareJid;
use starling_stanza::{
    IqType, Payload, PrivateQuery, StanzaError, StanzaErrorCondition as Cond, StanzaKind, ns,
};

use super::vcard::{stored_element, too_big};
use crate::config::PrivateConfig;
use crate::hub::{Hub, storage_error};
use crate::module::{IqOutcome, IqRequest, IqScope, Module, Registrar};
use crate::storage::{Admission, PrivateStore, StorageError};

/// The XEP-0049 module (`[modules.private]`).
pub struct Private {
    store: Arc<dyn PrivateStore>,
    config: PrivateConfig,
}

impl std::fmt::Debug for Private {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Private")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Private {
    /// The module on `store`, with the limits of `config`.
    pub fn new(store: Arc<dyn PrivateStore>, config: PrivateConfig) -> Private {
        Private { store, config }
    }

    async fn get(&self, owner: &BareJid, q: PrivateQuery) -> Result<IqOutcome, StorageError> {
        let (ns, name) = q.key();
        let stored = self.store.private_get(owner, ns, name).await?;
        let answer = match stored {
            Some(xml) => PrivateQuery::new(stored_element(&xml)?),
            None => q,
        };
        Ok(IqOutcome::Result(Some(answer.to_element())))
    }

    async fn set(&self, owner: &BareJid, q: PrivateQuery) -> Result<IqOutcome, StorageError> {
        let xml = q.child.to_xml();
        if xml.len() > self.config.max_bytes {
            let e = too_big("the element", self.config.max_bytes);
            return Ok(IqOutcome::Error(e));
        }
        let (ns, name) = q.key();
        let max = self.config.max_total_bytes;
        match self.store.private_set(owner, ns, name, &xml, max).await? {
            Admission::Stored => Ok(IqOutcome::Result(None)),
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
    }

    async fn iq(&self, _hub: &Hub, req: IqRequest<'_>) -> IqOutcome {
        if !req.from_self {
            return IqOutcome::Error(StanzaError::new(Cond::Forbidden));
        }
        let q = match PrivateQuery::from_element(req.payload) {
            Ok(q) => q,
            Err(e) => return IqOutcome::Error(e.to_stanza_error()),
        };
        let owner = req.to.bare();
        let r = if req.stanza.kind() == StanzaKind::Iq(IqType::Set) {
            self.set(&owner, q).await
        } else {
            self.get(&owner, q).await
        };
        r.unwrap_or_else(|e| IqOutcome::Error(storage_error(&e)))
    }
}

#[cfg(test)]
mod tests;
