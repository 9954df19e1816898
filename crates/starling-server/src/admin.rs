//! Account administration on the server's storage (the `starling user`
//! commands). Safe while the server runs: SQLite serializes the writers.
//!
//! ```
//! use starling_server::admin;
//! use starling_server::config::Config;
//! use starling_server::storage::SqliteStorage;
//!
//! let db = SqliteStorage::open_in_memory().unwrap();
//! let config = Config::default(); // serves "localhost"
//! admin::add_user(&db, &config, "juliet@localhost", "r0m30").unwrap();
//! assert!(admin::add_user(&db, &config, "juliet@example.org", "x").is_err()); // not served
//! assert_eq!(admin::list_users(&db, None).unwrap()[0].as_str(), "juliet@localhost");
//! ```

use starling_auth::sasl::{CredentialError, ScramCredentials, ScramHash};
use starling_jid::{BareJid, DomainPart};

use crate::config::Config;
use crate::storage::blocking::Accounts;
use crate::storage::{StorageError, Stores};

/// An administration command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Not a valid bare JID with a localpart.
    #[error("invalid account address {0:?}: {1}")]
    BadJid(String, String),
    /// The domain is not one the configuration serves.
    #[error("{0} is not served by this server (check [[hosts]] or --domain)")]
    NotServed(String),
    /// The password is not acceptable.
    #[error("unusable password: {0}")]
    Password(#[from] CredentialError),
    /// The password is empty.
    #[error("the password is empty")]
    EmptyPassword,
    /// Storage failed (or the account exists / does not exist).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Parses an account address and checks that its domain is served.
pub fn account(config: &Config, jid: &str) -> Result<BareJid, AdminError> {
    let bare = BareJid::new(jid).map_err(|e| AdminError::BadJid(jid.to_owned(), e.to_string()))?;
    if bare.node().is_none() {
        return Err(AdminError::BadJid(
            jid.to_owned(),
            "an account needs a localpart (user@domain)".to_owned(),
        ));
    }
    if !config.serves(bare.domain()) {
        return Err(AdminError::NotServed(bare.domain().to_owned()));
    }
    Ok(bare)
}

/// SCRAM-SHA-1 and SCRAM-SHA-256 credentials for a password.
pub fn credentials(config: &Config, password: &str) -> Result<Vec<ScramCredentials>, AdminError> {
    if password.is_empty() {
        return Err(AdminError::EmptyPassword);
    }
    let n = config.c2s.scram_iterations;
    Ok(vec![
        ScramCredentials::generate(password, n, ScramHash::Sha1)?,
        ScramCredentials::generate(password, n, ScramHash::Sha256)?,
    ])
}

/// Creates an account.
pub fn add_user(
    db: &dyn Accounts,
    config: &Config,
    jid: &str,
    password: &str,
) -> Result<BareJid, AdminError> {
    let bare = account(config, jid)?;
    let creds = credentials(config, password)?;
    db.create_account(&bare, &creds)?;
    Ok(bare)
}

/// Changes an account's password.
pub fn set_password(
    db: &dyn Accounts,
    config: &Config,
    jid: &str,
    password: &str,
) -> Result<BareJid, AdminError> {
    let bare = account(config, jid)?;
    let creds = credentials(config, password)?;
    db.set_credentials(&bare, &creds)?;
    Ok(bare)
}

/// Deletes an account and everything stored for it.
pub fn remove_user(db: &dyn Accounts, config: &Config, jid: &str) -> Result<BareJid, AdminError> {
    let bare = account(config, jid)?;
    if !db.remove_account(&bare)? {
        return Err(StorageError::NoAccount(bare).into());
    }
    Ok(bare)
}

/// The accounts of one domain, or of all.
pub fn list_users(
    db: &dyn Accounts,
    domain: Option<&DomainPart>,
) -> Result<Vec<BareJid>, AdminError> {
    Ok(db.list_accounts(domain)?)
}

/// Creates an account from async code: the password hashing (PBKDF2) runs
/// on a blocking thread, and the account is stored through `stores`.
pub async fn create_account(
    stores: &Stores,
    config: &Config,
    jid: &str,
    password: &str,
) -> Result<BareJid, AdminError> {
    let bare = account(config, jid)?;
    let (config2, password) = (config.clone(), password.to_owned());
    let creds = tokio::task::spawn_blocking(move || credentials(&config2, &password))
        .await
        .map_err(|e| StorageError::Backend(format!("hashing the password failed: {e}")))??;
    stores.accounts.create_account(&bare, &creds).await?;
    Ok(bare)
}
