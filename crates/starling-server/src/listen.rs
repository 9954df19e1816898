//! Listeners: binding, the per-address connection limit, and the accept
//! loop shared by client and server listeners.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use starling_stream::{Condition, StreamError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::server::StartError;

/// Open connections per remote address.
#[derive(Default)]
pub(crate) struct PerIp(DashMap<IpAddr, usize>);

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
pub(crate) async fn bind(
    addr: SocketAddr,
    direct: bool,
    who: &str,
) -> Result<TcpListener, StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    info!(addr = %local, kind = if direct { "direct TLS" } else { "STARTTLS" }, "listening for {who}");
    Ok(listener)
}

/// Accepts connections until the stop signal, applying the per-address
/// limit, and runs `serve` for each in its own task.
pub(crate) async fn accept_loop<F, Fut>(
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
