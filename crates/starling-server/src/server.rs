//! Starting and stopping the server: storage, modules, listeners, and
//! graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use starling_auth::tls;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::data_dir;
use crate::hub::Hub;
use crate::listen::{Admission, PerIp, Unauthenticated, accept_loop, bind};
use crate::s2s::S2s;
use crate::storage::{SqliteStorage, StorageError, Stores};
use crate::throttle::{LoginThrottle, Policy};

pub(crate) use crate::tls_setup::TlsSetup;
pub use crate::tls_setup::{certificate_files, certificate_files_exist};

/// How often the server looks for accounts removed by another process
/// without a word on the admin socket (a safety net: `starling user
/// remove` and `passwd` tell the server at once through the socket).
const ACCOUNT_POLL: Duration = Duration::from_secs(30);

/// Storage calls in flight at once on the SQLite backend: its writer and
/// its pool of readers.
const SQLITE_IN_FLIGHT: usize = 5;

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
    /// The data directory or a file in it is missing, unusable or open to
    /// other users.
    #[error(transparent)]
    DataDir(#[from] crate::data_dir::DataDirError),
    /// Another server runs on the data directory.
    #[error(transparent)]
    AdminSocket(#[from] crate::admin_socket::BindError),
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

/// Creates the data directory (mode 0700) and opens the database, whose
/// files are private (0600) from their creation: the database file is
/// created before SQLite opens it, and SQLite gives its `-wal` and `-shm`
/// files the database file's mode. Refuses a data directory, database or
/// secret file that other users can open (see [`crate::data_dir`]).
pub fn open_storage(config: &Config) -> Result<Arc<SqliteStorage>, StartError> {
    data_dir::prepare(config)?;
    let path = config.database_path();
    data_dir::ensure_private_file(&path)?;
    let db = SqliteStorage::open_with(&path, config.storage.synchronous)?;
    for f in data_dir::database_files(&path) {
        data_dir::make_private(&f)?;
    }
    Ok(Arc::new(db))
}

/// The stores of `config`'s storage backend (SQLite).
pub fn open_stores(config: &Config) -> Result<Stores, StartError> {
    Ok(Stores::sqlite(open_storage(config)?, SQLITE_IN_FLIGHT))
}

/// A running server: call [`RunningServer::shutdown`] to stop it.
pub struct RunningServer {
    hub: Arc<Hub>,
    stop: watch::Sender<bool>,
    /// The bound addresses: (c2s STARTTLS, c2s direct TLS, s2s).
    pub addresses: (Vec<SocketAddr>, Vec<SocketAddr>, Vec<SocketAddr>),
    tasks: tokio::task::JoinSet<()>,
    /// The admin socket's path, removed at shutdown.
    admin_socket: Option<PathBuf>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

/// Starts the server of `config` on its own storage (inside a tokio
/// runtime).
pub async fn start(config: Config) -> Result<RunningServer, StartError> {
    // Opening the database (and migrating it) blocks: not on a worker.
    let for_open = config.clone();
    let stores = tokio::task::spawn_blocking(move || open_stores(&for_open))
        .await
        .map_err(|e| StartError::Storage(StorageError::Backend(e.to_string())))??;
    start_with(config, stores).await
}

/// Starts the server of `config` on the given stores (embedding, other
/// backends, tests).
pub async fn start_with(config: Config, stores: Stores) -> Result<RunningServer, StartError> {
    data_dir::prepare(&config)?;
    let config = Arc::new(config);
    let (setup, identities) = crate::tls_setup::tls_setup(&config, stores.credentials.clone())?;
    let setup = Arc::new(setup);
    let (stop, stop_rx) = watch::channel(false);
    let s2s = if config.s2s.enabled {
        Some(S2s::new(config.clone(), &identities, stop_rx.clone())?)
    } else {
        None
    };
    // Messages in flight when the server last stopped without delivering
    // them (a crash) become offline messages.
    let recovered = stores.offline.offline_recover().await?;
    if recovered > 0 {
        tracing::info!(
            messages = recovered,
            "messages in flight at the last stop kept as offline messages"
        );
    }
    let modules = crate::modules::build(&config, &stores, s2s.clone());
    let hub = Arc::new(Hub::new(config.clone(), stores, modules));
    if let Some(s2s) = &s2s {
        s2s.attach(Arc::downgrade(&hub));
    }
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(poll_account_changes(hub.clone(), stop_rx.clone()));
    let admin_socket = listen_admin(&hub, &stop_rx, &mut tasks)?;
    let per_ip = Arc::new(PerIp::default());
    let addresses = listen_all(&hub, &setup, s2s, &per_ip, &stop_rx, &mut tasks).await?;
    Ok(RunningServer {
        hub,
        stop,
        addresses,
        tasks,
        admin_socket,
    })
}

/// Serves the admin socket of the data directory. Another server on the
/// same directory stops the start; a socket that cannot be made (such as
/// a path longer than a socket address allows) is logged, and the admin
/// commands then reach the sessions through the slower safety net only.
fn listen_admin(
    hub: &Arc<Hub>,
    stop_rx: &watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<Option<PathBuf>, StartError> {
    let path = crate::admin_socket::socket_path(&hub.config().data_dir);
    match crate::admin_socket::bind(&path) {
        Ok(socket) => {
            tasks.spawn(crate::admin_socket::serve(
                socket,
                hub.clone(),
                stop_rx.clone(),
            ));
            Ok(Some(path))
        }
        Err(e @ crate::admin_socket::BindError::InUse(_)) => Err(e.into()),
        Err(e) => {
            warn!(error = %e, "no admin socket: `starling user passwd/remove` cannot end sessions at once");
            Ok(None)
        }
    }
}

/// Admin commands change the database from another process: notice
/// removed accounts and close their sessions.
async fn poll_account_changes(hub: Arc<Hub>, mut stop_rx: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(ACCOUNT_POLL);
    loop {
        tokio::select! {
            _ = stop_rx.changed() => return,
            _ = tick.tick() => {}
        }
        if matches!(hub.stores().accounts.changed_elsewhere().await, Ok(true)) {
            hub.revoke_removed_accounts().await;
        }
    }
}

type Addresses = (Vec<SocketAddr>, Vec<SocketAddr>, Vec<SocketAddr>);

/// Binds every configured listener and starts its accept loop.
async fn listen_all(
    hub: &Arc<Hub>,
    setup: &Arc<TlsSetup>,
    s2s: Option<Arc<S2s>>,
    per_ip: &Arc<PerIp>,
    stop_rx: &watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> Result<Addresses, StartError> {
    let config = hub.config();
    let max_per_ip = config.limits.max_connections_per_ip;
    let unauthenticated = Unauthenticated::new(config.limits.max_unauthenticated_connections);
    let throttle = Arc::new(std::sync::Mutex::new(LoginThrottle::new(
        Policy::from_limits(&config.limits),
    )));
    let mut addresses = (Vec::new(), Vec::new(), Vec::new());
    let c2s = config.c2s.listen.iter().map(|a| (*a, false));
    for (addr, direct) in c2s.chain(config.c2s.listen_tls.iter().map(|a| (*a, true))) {
        let listener = bind(addr, direct, "clients").await?;
        let local = listener.local_addr().unwrap_or(addr);
        if direct {
            addresses.1.push(local);
        } else {
            addresses.0.push(local);
        }
        let (hub, setup, throttle) = (hub.clone(), setup.clone(), throttle.clone());
        let serve = move |accepted, stop| {
            let shared = crate::c2s::Shared {
                hub: hub.clone(),
                setup: setup.clone(),
                throttle: throttle.clone(),
            };
            crate::c2s::run(shared, accepted, direct, stop)
        };
        let admission = Admission {
            per_ip: per_ip.clone(),
            max_per_ip,
            unauthenticated: Some(unauthenticated.clone()),
            direct_tls: direct,
        };
        tasks.spawn(accept_loop(listener, admission, stop_rx.clone(), serve));
    }
    let Some(s2s) = s2s else {
        return Ok(addresses);
    };
    let s2s_listen = config.s2s.listen.iter().map(|a| (*a, false));
    for (addr, direct) in s2s_listen.chain(config.s2s.listen_tls.iter().map(|a| (*a, true))) {
        let listener = bind(addr, direct, "servers").await?;
        addresses.2.push(listener.local_addr().unwrap_or(addr));
        let s2s = s2s.clone();
        let serve =
            move |a: crate::listen::Accepted, _stop| s2s.clone().inbound(a.tcp, a.peer, direct);
        let admission = Admission {
            per_ip: per_ip.clone(),
            max_per_ip,
            unauthenticated: None,
            direct_tls: direct,
        };
        tasks.spawn(accept_loop(listener, admission, stop_rx.clone(), serve));
    }
    Ok(addresses)
}

impl RunningServer {
    /// Number of bound sessions.
    pub fn sessions(&self) -> usize {
        self.hub.sessions().len()
    }

    /// Stops accepting, sends `<system-shutdown/>` to every session and
    /// waits (up to `grace`) for them to end.
    pub async fn shutdown(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        self.tasks.shutdown().await;
        if let Some(p) = &self.admin_socket {
            let _ = std::fs::remove_file(p);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.hub.sessions().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.hub.sessions().len();
        if left > 0 {
            error!(
                sessions = left,
                "sessions still open at the end of the shutdown grace period"
            );
        }
        info!("stopped");
    }
}
