//! XEP-0357 push registrations: which app servers (and nodes on them) an
//! account asked its server to notify, with the publish options to send
//! along. [`PushStore`] is the asynchronous interface the push module
//! uses; [`blocking::Push`](Push) is its twin for blocking backends, run
//! on the storage executor by [`super::blocking::OnPool`].
//!
//! A registration is identified by (app server JID, node): enabling the
//! same pair again replaces it (new publish options, new resource) and is
//! always accepted; a new pair is refused once the account has
//! `max` registrations ([`PushFull`]).

use async_trait::async_trait;
use starling_jid::{BareJid, Jid};

use super::blocking::OnPool;
use super::{Admission, StorageError};

/// One push registration of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// The app server (XEP-0357 "jid").
    pub app_server: Jid,
    /// The node on the app server.
    pub node: String,
    /// The XEP-0004 publish-options form the client gave, serialized
    /// verbatim (sent back with each notification).
    pub publish_options: Option<String>,
    /// The resource of the session that enabled it, for the log and for
    /// a later per-device policy.
    pub resource: Option<String>,
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushFull {
    /// The cap that was reached.
    pub max: usize,
}

/// Push registrations (asynchronous; see the [module docs](self)).
#[async_trait]
pub trait PushStore: Send + Sync + 'static {
    /// Stores `reg` for `owner`, replacing the registration with the same
    /// (app server, node); a new one is refused when `owner` already has
    /// `max`. The check and the insert are one transaction.
    async fn push_enable(
        &self,
        owner: &BareJid,
        reg: &PushRegistration,
        max: usize,
    ) -> Result<Admission<PushFull>, StorageError>;

    /// Removes the registrations of `owner` for `app_server` and `node`,
    /// or every node of `app_server` when `node` is `None`; returns how
    /// many were removed.
    async fn push_disable(
        &self,
        owner: &BareJid,
        app_server: &Jid,
        node: Option<&str>,
    ) -> Result<usize, StorageError>;

    /// The registrations of `owner`, oldest first.
    async fn push_registrations(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<PushRegistration>, StorageError>;
}

/// The blocking twin of [`PushStore`].
pub trait Push: Send + Sync + 'static {
    /// See [`PushStore::push_enable`].
    fn push_enable(
        &self,
        owner: &BareJid,
        reg: &PushRegistration,
        max: usize,
    ) -> Result<Admission<PushFull>, StorageError>;

    /// See [`PushStore::push_disable`].
    fn push_disable(
        &self,
        owner: &BareJid,
        app_server: &Jid,
        node: Option<&str>,
    ) -> Result<usize, StorageError>;

    /// See [`PushStore::push_registrations`].
    fn push_registrations(&self, owner: &BareJid) -> Result<Vec<PushRegistration>, StorageError>;
}

#[async_trait]
impl<B: Push> PushStore for OnPool<B> {
    async fn push_enable(
        &self,
        owner: &BareJid,
        reg: &PushRegistration,
        max: usize,
    ) -> Result<Admission<PushFull>, StorageError> {
        let (owner, reg) = (owner.clone(), reg.clone());
        self.call(move |b| b.push_enable(&owner, &reg, max)).await
    }

    async fn push_disable(
        &self,
        owner: &BareJid,
        app_server: &Jid,
        node: Option<&str>,
    ) -> Result<usize, StorageError> {
        let (owner, app_server) = (owner.clone(), app_server.clone());
        let node = node.map(str::to_owned);
        self.call(move |b| b.push_disable(&owner, &app_server, node.as_deref()))
            .await
    }

    async fn push_registrations(
        &self,
        owner: &BareJid,
    ) -> Result<Vec<PushRegistration>, StorageError> {
        let owner = owner.clone();
        self.call(move |b| b.push_registrations(&owner)).await
    }
}
