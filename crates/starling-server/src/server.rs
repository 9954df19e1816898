//! Starting and stopping the server: certificates, listeners, the
//! per-address connection limit, and graceful shutdown.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use rustls::pki_types::CertificateDer;
use starling_auth::sasl::{
    AccountState, CredentialStore, ScramCredentials, ScramHash, ServerConfig as SaslConfig,
    StoreError,
};
use starling_auth::tls::{self, ServerTlsBuilder};
use starling_jid::{BareJid, DomainPart, NodePart};
use starling_stream::{Condition, Features, StreamError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::core::Core;
use crate::s2s::S2s;
use crate::storage::{SqliteStorage, Storage};

/// How often the server looks for account changes made by the admin
/// commands.
const ACCOUNT_POLL: Duration = Duration::from_secs(2);

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file or directory could not be used.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A certificate or key could not be loaded or made.
    #[error("TLS setup: {0}")]
    Tls(#[from] tls::TlsError),
    /// The database could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// SCRAM credentials from the storage backend.
struct StorageCredentials(Arc<dyn Storage>);

impl CredentialStore for StorageCredentials {
    fn scram(
        &self,
        domain: &DomainPart,
        username: &str,
        hash: ScramHash,
    ) -> Result<Option<ScramCredentials>, StoreError> {
        let Ok(node) = NodePart::new(username) else {
            return Ok(None);
        };
        let jid = BareJid::from_parts(Some(&node), domain);
        self.0
            .credentials(&jid, hash)
            .map_err(|e| StoreError(e.to_string()))
    }

    fn account_state(
        &self,
        domain: &DomainPart,
        username: &str,
    ) -> Result<AccountState, StoreError> {
        let _ = (domain, username);
        Ok(AccountState::Active)
    }
}

/// TLS configurations and what every connection shares.
pub(crate) struct TlsSetup {
    /// For STARTTLS.
    pub(crate) starttls: Arc<rustls::ServerConfig>,
    /// For direct TLS (ALPN `xmpp-client`).
    pub(crate) direct: Arc<rustls::ServerConfig>,
    /// Leaf certificate per domain (for `tls-server-end-point`).
    leaves: HashMap<String, CertificateDer<'static>>,
    default_leaf: Option<CertificateDer<'static>>,
    /// SASL policy.
    pub(crate) sasl: Arc<SaslConfig>,
    /// Credentials.
    pub(crate) store: Arc<dyn CredentialStore>,
    /// Extra post-authentication features.
    pub(crate) features: Features,
}

impl TlsSetup {
    /// The DER leaf certificate presented for `sni`.
    pub(crate) fn leaf_for(&self, sni: Option<&str>) -> Option<&[u8]> {
        sni.and_then(|s| self.leaves.get(&s.to_ascii_lowercase()))
            .or(self.default_leaf.as_ref())
            .map(|c| c.as_ref())
    }
}

/// The certificate and key files of every host: configured, or generated
/// into `<data_dir>/certs` on first start.
pub fn certificate_files(
    config: &Config,
) -> Result<Vec<(DomainPart, PathBuf, PathBuf)>, StartError> {
    let dir = config.data_dir.join("certs");
    let mut out = Vec::new();
    for h in &config.hosts {
        let (c, k) = match (&h.certificate, &h.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => tls::ensure_self_signed(h.domain.as_str(), &dir)?,
        };
        out.push((h.domain.clone(), c, k));
    }
    Ok(out)
}

/// A secret kept in the data directory across restarts (made on first use).
fn persistent_secret(dir: &Path) -> Result<[u8; 32], StartError> {
    let path = dir.join("secret.key");
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(s) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(s);
        }
    }
    let mut s = [0u8; 32];
    getrandom::fill(&mut s).map_err(|e| StartError::Io {
        path: path.clone(),
        source: std::io::Error::other(e.to_string()),
    })?;
    std::fs::write(&path, s).map_err(|source| StartError::Io {
        path: path.clone(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(s)
}

/// Creates the data directory and opens the database.
pub fn open_storage(config: &Config) -> Result<Arc<SqliteStorage>, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
        path: config.data_dir.clone(),
        source,
    })?;
    Ok(Arc::new(SqliteStorage::open(&config.database_path())?))
}

/// A host's certificate: domain, chain, rustls key, key file.
pub(crate) type Identity = (
    DomainPart,
    Vec<CertificateDer<'static>>,
    Arc<rustls::sign::CertifiedKey>,
    PathBuf,
);

fn tls_setup(
    config: &Config,
    storage: Arc<dyn Storage>,
) -> Result<(TlsSetup, Vec<Identity>), StartError> {
    let mut starttls = ServerTlsBuilder::new();
    let mut direct = ServerTlsBuilder::new().alpn(tls::ALPN_XMPP_CLIENT);
    let mut leaves = HashMap::new();
    let mut default_leaf = None;
    let mut identities = Vec::new();
    for (domain, cert, key) in certificate_files(config)? {
        let chain = tls::load_certs(&cert)?;
        if let Some(leaf) = chain.first() {
            leaves.insert(domain.as_str().to_owned(), leaf.clone());
            if default_leaf.is_none() {
                default_leaf = Some(leaf.clone());
            }
        }
        let ck = tls::load_certified_key(&cert, &key)?;
        starttls = starttls.domain(domain.as_str(), ck.clone());
        direct = direct.domain(domain.as_str(), ck.clone());
        identities.push((domain, chain, ck, key));
    }
    let sasl = SaslConfig {
        scram_iterations: config.c2s.scram_iterations,
        max_attempts: config.limits.max_auth_failures,
        fake_salt_secret: persistent_secret(&config.data_dir)?,
        ..SaslConfig::default()
    };
    let features = Features {
        roster_ver: true,
        pre_approval: true,
        ..Features::default()
    };
    let setup = TlsSetup {
        starttls: starttls.build()?,
        direct: direct.build()?,
        leaves,
        default_leaf,
        sasl: Arc::new(sasl),
        store: Arc::new(StorageCredentials(storage)),
        features,
    };
    Ok((setup, identities))
}

/// Open connections per remote address.
#[derive(Default)]
struct PerIp(DashMap<IpAddr, usize>);

struct IpGuard {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpGuard> {
        let mut n = self.0.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpGuard {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        if let Some(mut n) = self.map.0.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
        }
        self.map.0.remove_if(&self.ip, |_, n| *n == 0);
    }
}

/// Refuses a connection over the per-address limit with a stream error.
async fn refuse(mut tcp: TcpStream) {
    // RFC 6120 §4.9.1.1: a stream header first, then the error.
    let error = StreamError::new(Condition::PolicyViolation)
        .with_text("too many connections from your address")
        .to_element()
        .to_xml();
    let out = format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' id='{}' version='1.0'>{error}</stream:stream>",
        starling_stream::random_id()
    );
    let out = out.as_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(out)).await;
    let _ = tcp.shutdown().await;
}

/// Binds a listener and says so in the log.
async fn bind(addr: SocketAddr, direct: bool, who: &str) -> Result<TcpListener, StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    info!(addr = %local, kind = if direct { "direct TLS" } else { "STARTTLS" }, "listening for {who}");
    Ok(listener)
}

/// Accepts connections until the stop signal, applying the per-address
/// limit, and runs `serve` for each in its own task.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    per_ip: Arc<PerIp>,
    max: usize,
    mut stop_rx: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            _ = stop_rx.changed() => return,
            a = listener.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(guard) = per_ip.acquire(peer.ip(), max) else {
            warn!(%peer, "connection limit for this address reached");
            tokio::spawn(refuse(tcp));
            continue;
        };
        let work = serve(tcp, peer, stop_rx.clone());
        tokio::spawn(async move {
            work.await;
            drop(guard);
        });
    }
}

/// A running server: call [`RunningServer::shutdown`] to stop it.
pub struct RunningServer {
    core: Arc<Core>,
    stop: watch::Sender<bool>,
    /// The bound addresses: (c2s STARTTLS, c2s direct TLS, s2s).
    pub addresses: (Vec<SocketAddr>, Vec<SocketAddr>, Vec<SocketAddr>),
    tasks: tokio::task::JoinSet<()>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

/// Starts the listeners of `config` (inside a tokio runtime).
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    let storage = open_storage(&config)?;
    let storage: Arc<dyn Storage> = storage;
    let (setup, identities) = tls_setup(&config, storage.clone())?;
    let setup = Arc::new(setup);
    let core = Arc::new(Core::new(config, storage));
    let (stop, stop_rx) = watch::channel(false);
    let s2s = if core.config.s2s.enabled {
        let s = Arc::new(S2s::new(
            Arc::downgrade(&core),
            &core.config,
            &identities,
            stop_rx.clone(),
        )?);
        let _ = core.s2s.set(s.clone());
        Some(s)
    } else {
        None
    };
    let mut tasks = tokio::task::JoinSet::new();
    // Admin commands change the database from another process: notice
    // removed accounts and close their sessions.
    {
        let (core, mut stop_rx) = (core.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(ACCOUNT_POLL);
            loop {
                tokio::select! {
                    _ = stop_rx.changed() => return,
                    _ = tick.tick() => {}
                }
                if matches!(core.storage.changed_elsewhere(), Ok(true)) {
                    core.revoke_removed_accounts();
                }
            }
        });
    }
    let per_ip = Arc::new(PerIp::default());
    let mut addresses = (Vec::new(), Vec::new(), Vec::new());
    let c2s_listeners = core
        .config
        .c2s
        .listen
        .iter()
        .map(|a| (*a, false))
        .chain(core.config.c2s.listen_tls.iter().map(|a| (*a, true)));
    for (addr, direct) in c2s_listeners {
        let listener = bind(addr, direct, "clients").await?;
        let local = listener.local_addr().unwrap_or(addr);
        if direct {
            addresses.1.push(local);
        } else {
            addresses.0.push(local);
        }
        let (core2, setup) = (core.clone(), setup.clone());
        tasks.spawn(accept_loop(
            listener,
            per_ip.clone(),
            core.config.limits.max_connections_per_ip,
            stop_rx.clone(),
            move |tcp, peer, stop| {
                crate::session::run(core2.clone(), setup.clone(), tcp, peer, direct, stop)
            },
        ));
    }
    if let Some(s2s) = s2s {
        let s2s_listeners = core
            .config
            .s2s
            .listen
            .iter()
            .map(|a| (*a, false))
            .chain(core.config.s2s.listen_tls.iter().map(|a| (*a, true)));
        for (addr, direct) in s2s_listeners {
            let listener = bind(addr, direct, "servers").await?;
            addresses.2.push(listener.local_addr().unwrap_or(addr));
            let s2s = s2s.clone();
            tasks.spawn(accept_loop(
                listener,
                per_ip.clone(),
                core.config.limits.max_connections_per_ip,
                stop_rx.clone(),
                move |tcp, peer, _stop| s2s.clone().inbound(tcp, peer, direct),
            ));
        }
    }
    Ok(RunningServer {
        core,
        stop,
        addresses,
        tasks,
    })
}

impl RunningServer {
    /// Number of bound sessions.
    pub fn sessions(&self) -> usize {
        self.core.registry.len()
    }

    /// Stops accepting, sends `<system-shutdown/>` to every session and
    /// waits (up to `grace`) for them to end.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        self.tasks.shutdown().await;
        let deadline = tokio::time::Instant::now() + grace;
        while !self.core.registry.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.core.registry.len();
        if left > 0 {
            error!(
                sessions = left,
                "sessions still open at the end of the shutdown grace period"
            );
        }
        info!("stopped");
    }
}

/// Checks what `check-config` can check without starting: configured
/// certificate and key files load and match. Generated certificates are
/// not created here.
pub fn certificate_files_exist(config: &Config) -> Result<(), String> {
    for h in &config.hosts {
        if let (Some(c), Some(k)) = (&h.certificate, &h.key) {
            tls::load_certified_key(c, k).map_err(|e| format!("host {}: {e}", h.domain))?;
        }
    }
    Ok(())
}
