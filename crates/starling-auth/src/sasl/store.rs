//! What the server knows about accounts: SCRAM credentials and account
//! state.

use std::collections::HashMap;

use starling_jid::{DomainPart, NodePart};

use super::scram::{CredentialError, ScramCredentials, ScramHash};

/// The state of an account, looked up after its credentials have been
/// verified (so that it is revealed only to someone who knows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AccountState {
    /// The account may log in.
    #[default]
    Active,
    /// The account is disabled (`account-disabled`, RFC 6120 §6.5.2).
    Disabled,
    /// The credentials have expired (`credentials-expired`, RFC 6120
    /// §6.5.3).
    CredentialsExpired,
}

/// The credential store could not answer; the exchange fails with
/// `temporary-auth-failure` (RFC 6120 §6.5.11).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credential store unavailable: {0}")]
pub struct StoreError(pub String);

/// The server's view of its accounts.
///
/// User names are localparts prepared with the PRECIS
/// `UsernameCaseMapped` profile (RFC 7622 §3.3; [`NodePart::as_str`]): the
/// server prepares what the client sent before it asks.
///
/// Every lookup names the domain the client authenticates to (the
/// stream's `to`), so that one store can serve several virtual hosts.
///
/// The lookups are synchronous because the SASL exchange is sans-IO; a
/// store backed by a database should answer from a cache, or the caller
/// can run the exchange step on a blocking thread.
///
/// ```
/// use starling_auth::sasl::{AccountState, CredentialStore, ScramCredentials, ScramHash, StoreError};
/// use starling_jid::DomainPart;
///
/// struct OneUser(ScramCredentials);
///
/// impl CredentialStore for OneUser {
///     fn scram(&self, domain: &DomainPart, username: &str, hash: ScramHash) -> Result<Option<ScramCredentials>, StoreError> {
///         let found = domain.as_str() == "capulet.lit" && username == "juliet" && hash == self.0.hash;
///         Ok(found.then(|| self.0.clone()))
///     }
///     fn account_state(&self, _domain: &DomainPart, _username: &str) -> Result<AccountState, StoreError> {
///         Ok(AccountState::Active)
///     }
/// }
///
/// let store = OneUser(ScramCredentials::derive("r0m30", b"0123456789abcdef", 4096, ScramHash::Sha256).unwrap());
/// let capulet = DomainPart::new("capulet.lit").unwrap();
/// assert!(store.scram(&capulet, "juliet", ScramHash::Sha256).unwrap().is_some());
/// assert!(store.scram(&capulet, "juliet", ScramHash::Sha1).unwrap().is_none());
/// ```
pub trait CredentialStore: Send + Sync {
    /// The SCRAM credentials of `username` for `hash`; `None` if there is
    /// no such user or no credentials for that hash. PLAIN is verified
    /// against these too (SHA-256 first, then SHA-1).
    fn scram(
        &self,
        domain: &DomainPart,
        username: &str,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StoreError>;

    /// The state of the account `username`. The default says every account
    /// is active.
    fn account_state(
        &self,
        domain: &DomainPart,
        username: &str,
    ) -> Result<AccountState, StoreError> {
        let _ = (domain, username);
        Ok(AccountState::Active)
    }
}

#[derive(Debug, Clone, Default)]
struct Account {
    sha1: Option<ScramCredentials>,
    sha256: Option<ScramCredentials>,
    state: AccountState,
}

/// A [`CredentialStore`] in memory, for tests, examples and small fixed
/// deployments. Its accounts exist on every domain.
///
/// ```
/// use starling_auth::sasl::{AccountState, CredentialStore, MemoryStore, ScramHash};
/// use starling_jid::DomainPart;
///
/// let mut store = MemoryStore::new();
/// store.add_user("Juliet", "r0m30myr0m30", 4096)?;
/// let capulet = DomainPart::new("capulet.lit").unwrap();
/// // The name is prepared as a localpart.
/// let creds = store.scram(&capulet, "juliet", ScramHash::Sha256).unwrap().unwrap();
/// assert!(creds.verify_password("r0m30myr0m30"));
/// store.set_state("juliet", AccountState::Disabled);
/// assert_eq!(store.account_state(&capulet, "juliet").unwrap(), AccountState::Disabled);
/// # Ok::<(), starling_auth::sasl::CredentialError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    accounts: HashMap<String, Account>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Adds (or replaces) a user with SCRAM-SHA-1 and SCRAM-SHA-256
    /// credentials derived from `password` with fresh random salts.
    pub fn add_user(
        &mut self,
        username: &str,
        password: &str,
        iterations: u32,
    ) -> Result<(), CredentialError> {
        let sha1 = ScramCredentials::generate(password, iterations, ScramHash::Sha1)?;
        let sha256 = ScramCredentials::generate(password, iterations, ScramHash::Sha256)?;
        self.set_credentials(username, sha1)?;
        self.set_credentials(username, sha256)
    }

    /// Sets the credentials of `username` for `credentials.hash`, creating
    /// the account if needed.
    pub fn set_credentials(
        &mut self,
        username: &str,
        credentials: ScramCredentials,
    ) -> Result<(), CredentialError> {
        let name = NodePart::new(username)?;
        let account = self.accounts.entry(name.as_str().to_owned()).or_default();
        match credentials.hash {
            ScramHash::Sha1 => account.sha1 = Some(credentials),
            ScramHash::Sha256 => account.sha256 = Some(credentials),
        }
        Ok(())
    }

    /// Sets the state of an existing account; `false` if there is none.
    pub fn set_state(&mut self, username: &str, state: AccountState) -> bool {
        let Ok(name) = NodePart::new(username) else {
            return false;
        };
        match self.accounts.get_mut(name.as_str()) {
            Some(a) => {
                a.state = state;
                true
            }
            None => false,
        }
    }

    /// Removes an account; `false` if there was none.
    pub fn remove(&mut self, username: &str) -> bool {
        NodePart::new(username).is_ok_and(|name| self.accounts.remove(name.as_str()).is_some())
    }
}

impl CredentialStore for MemoryStore {
    fn scram(
        &self,
        _domain: &DomainPart,
        username: &str,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StoreError> {
        Ok(self.accounts.get(username).and_then(|a| match hash {
            ScramHash::Sha1 => a.sha1.clone(),
            ScramHash::Sha256 => a.sha256.clone(),
        }))
    }

    fn account_state(
        &self,
        _domain: &DomainPart,
        username: &str,
    ) -> Result<AccountState, StoreError> {
        Ok(self
            .accounts
            .get(username)
            .map(|a| a.state)
            .unwrap_or_default())
    }
}
