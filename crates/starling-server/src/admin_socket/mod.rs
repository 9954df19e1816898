//! The admin socket: how `starling user passwd` and `starling user remove`
//! tell the running server to end an account's sessions at once.
//!
//! The server listens on the Unix domain socket `DATA_DIR/admin.sock`
//! (see [`socket_path`]) and answers the line protocol of [`protocol`].
//! Only the server's own user (and root) can use it: the data directory is
//! `0700`, the socket `0600`, and the server checks the peer's user id
//! (`SO_PEERCRED`) on every connection. A command that finds no server
//! listening changes the database only, which is enough: no session is
//! open when no server runs.
//!
//! [`notify`] is the client side, blocking, for the command line.

pub mod protocol;
#[cfg(test)]
mod tests;

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use starling_jid::BareJid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tracing::{info, warn};

use crate::hub::Hub;
use protocol::{EndReason, ProtocolError, Reply, Request};

/// The socket's file name in the data directory.
pub const SOCKET_NAME: &str = "admin.sock";

/// Connections served at once; more are closed unanswered.
const MAX_CONNECTIONS: usize = 8;

/// Requests answered on one connection.
const MAX_REQUESTS: u64 = 64;

/// How long the server waits for a request line, and the command line for
/// the reply.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The admin socket of a data directory.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// The socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another server answers on it: it serves the same data directory.
    #[error(
        "{}: another starling server is running on this data directory",
        .0.display()
    )]
    InUse(PathBuf),
    /// Binding or setting its mode failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A bound admin socket.
#[derive(Debug)]
pub(crate) struct AdminSocket {
    listener: UnixListener,
    /// The user id that owns the socket (the server's).
    owner: u32,
}

/// Binds `path` (inside a tokio runtime): a stale socket file left by a
/// server that died is replaced; one a server still answers on is
/// [`BindError::InUse`]. The socket is made `0600` (the `0700` data
/// directory already keeps other users out).
pub(crate) fn bind(path: &Path) -> Result<AdminSocket, BindError> {
    let io = |source| BindError::Io {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(BindError::InUse(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let owner = std::fs::metadata(path).map_err(io)?.uid();
    Ok(AdminSocket { listener, owner })
}

/// Accepts connections until `stop`.
pub(crate) async fn serve(socket: AdminSocket, hub: Arc<Hub>, mut stop: watch::Receiver<bool>) {
    let busy = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = stop.changed() => return,
            r = socket.listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    warn!(error = %e, "admin socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = busy.clone().try_acquire_owned() else {
            warn!("admin socket: too many connections, one closed");
            continue;
        };
        let hub = hub.clone();
        let owner = socket.owner;
        tokio::spawn(async move {
            connection(stream, owner, &hub).await;
            drop(permit);
        });
    }
}

/// Answers the requests of one connection until it ends, stays silent for
/// [`TIMEOUT`], sends a line that is too long or [`MAX_REQUESTS`] requests.
async fn connection(stream: UnixStream, owner: u32, hub: &Hub) {
    match stream.peer_cred() {
        Ok(c) if protocol::peer_allowed(c.uid(), owner) => {}
        Ok(c) => {
            warn!(
                uid = c.uid(),
                "admin socket: connection from another user refused"
            );
            return;
        }
        Err(e) => {
            warn!(error = %e, "admin socket: unknown peer, connection refused");
            return;
        }
    }
    let (r, mut w) = stream.into_split();
    let limit = MAX_REQUESTS * (protocol::MAX_LINE as u64 + 2);
    let mut lines = tokio::io::BufReader::new(r.take(limit));
    for _ in 0..MAX_REQUESTS {
        let mut line = String::new();
        match tokio::time::timeout(TIMEOUT, lines.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
        let too_long = line.len() > protocol::MAX_LINE + 2;
        let reply = match protocol::parse_request(&line) {
            Ok(Request::EndSessions { account, reason }) => {
                Reply::Ended(end_sessions(hub, &account, reason))
            }
            Err(e) => Reply::Error(e.to_string()),
        };
        if w.write_all(reply.to_line().as_bytes()).await.is_err() || too_long {
            return;
        }
    }
}

/// Asks every session of `account` to close with the stream error of
/// `reason`; returns how many there were.
pub(crate) fn end_sessions(hub: &Hub, account: &BareJid, reason: EndReason) -> usize {
    let sessions = hub.sessions().sessions(account);
    for s in &sessions {
        s.request_close(reason.stream_error());
    }
    info!(
        account = %account,
        reason = reason.as_str(),
        sessions = sessions.len(),
        "admin socket: sessions ended"
    );
    sessions.len()
}

/// What [`notify`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    /// The server ended this many sessions.
    Ended(usize),
    /// No server listens on the data directory (no socket file, or nobody
    /// accepts on it): there are no sessions to end.
    NotRunning,
}

/// The running server could not be told.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// Connecting, writing or reading failed (or timed out).
    #[error("{}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The reply was not understood.
    #[error("{}: {error}", path.display())]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What was wrong.
        error: ProtocolError,
    },
    /// The server refused the request.
    #[error("{}: the server answered: {why}", path.display())]
    Refused {
        /// The socket path.
        path: PathBuf,
        /// Its answer.
        why: String,
    },
}

/// Sends `request` to the server running on `data_dir` and waits (up to
/// [`TIMEOUT`]) for its reply. Blocking: for the command line.
pub fn notify(data_dir: &Path, request: &Request) -> Result<Notified, NotifyError> {
    let path = socket_path(data_dir);
    let io = |source| NotifyError::Io {
        path: path.clone(),
        source,
    };
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
            return Ok(Notified::NotRunning);
        }
        Err(e) => return Err(io(e)),
    };
    stream.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    stream.write_all(request.to_line().as_bytes()).map_err(io)?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).map_err(io)?;
    match protocol::parse_reply(&line) {
        Ok(Reply::Ended(n)) => Ok(Notified::Ended(n)),
        Ok(Reply::Error(why)) => Err(NotifyError::Refused { path, why }),
        Err(error) => Err(NotifyError::Protocol { path, error }),
    }
}
