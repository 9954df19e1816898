//! Listeners: binding, the admission limits (open connections per source
//! address or IPv6 /64, unauthenticated client connections server-wide),
//! and the accept loop shared by client and server listeners.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use starling_stream::{Condition, StreamError};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::server::StartError;
use crate::throttle::source_prefix;

/// Open connections per source: an IPv4 address, or an IPv6 /64 (see
/// [`source_prefix`]).
#[derive(Default)]
pub(crate) struct PerIp(DashMap<IpAddr, usize>);

struct IpGuard {
    map: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpGuard> {
        let ip = source_prefix(ip);
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

/// The client connections that have not authenticated yet, server-wide,
/// and their cap.
#[derive(Debug)]
pub(crate) struct Unauthenticated {
    open: AtomicUsize,
    max: usize,
}

/// One unauthenticated connection's place in [`Unauthenticated`]: given
/// back when dropped (authenticated, or closed).
#[derive(Debug)]
pub(crate) struct UnauthGuard(Arc<Unauthenticated>);

impl Unauthenticated {
    /// At most `max` at once.
    pub(crate) fn new(max: usize) -> Arc<Unauthenticated> {
        Arc::new(Unauthenticated {
            open: AtomicUsize::new(0),
            max,
        })
    }

    /// A place, unless `max` are taken.
    pub(crate) fn acquire(self: &Arc<Self>) -> Option<UnauthGuard> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| UnauthGuard(self.clone()))
    }

    /// Places taken.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for UnauthGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a listener admits: the per-address limit and, for client
/// listeners, the cap on unauthenticated connections.
#[derive(Clone)]
pub(crate) struct Admission {
    /// Open connections per source.
    pub(crate) per_ip: Arc<PerIp>,
    /// The limit per source.
    pub(crate) max_per_ip: usize,
    /// The server-wide unauthenticated connections (client listeners).
    pub(crate) unauthenticated: Option<Arc<Unauthenticated>>,
    /// A direct TLS listener: a refused connection is closed without a
    /// word (a stream error in the clear means nothing to a TLS client).
    pub(crate) direct_tls: bool,
}

/// An admitted connection.
pub(crate) struct Accepted {
    /// The connection.
    pub(crate) tcp: TcpStream,
    /// Its remote address.
    pub(crate) peer: SocketAddr,
    /// Its place among the unauthenticated connections, to drop once it
    /// authenticates (client listeners).
    pub(crate) unauthenticated: Option<UnauthGuard>,
}

/// Refuses a connection with a `<policy-violation/>` stream error, or,
/// on a direct TLS port, by closing it.
async fn refuse(mut tcp: TcpStream, direct_tls: bool, why: &str) {
    if !direct_tls {
        // RFC 6120 §4.9.1.1: a stream header first, then the error.
        let error = StreamError::new(Condition::PolicyViolation)
            .with_text(why)
            .to_element()
            .to_xml();
        let out = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' id='{}' version='1.0'>{error}</stream:stream>",
            starling_stream::random_id()
        );
        let out = out.as_bytes();
        let _ = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(out)).await;
    }
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

/// Admits `tcp` from `peer`, or refuses it (in its own task).
fn admit(admission: &Admission, tcp: TcpStream, peer: SocketAddr) -> Option<(Accepted, IpGuard)> {
    let direct = admission.direct_tls;
    let Some(guard) = admission.per_ip.acquire(peer.ip(), admission.max_per_ip) else {
        warn!(%peer, "connection limit for this address reached");
        tokio::spawn(refuse(
            tcp,
            direct,
            "too many connections from your address",
        ));
        return None;
    };
    let unauthenticated = match &admission.unauthenticated {
        None => None,
        Some(u) => match u.acquire() {
            Some(g) => Some(g),
            None => {
                debug!(%peer, open = u.open(), "too many unauthenticated connections");
                tokio::spawn(refuse(tcp, direct, "the server is busy, try again later"));
                return None;
            }
        },
    };
    let accepted = Accepted {
        tcp,
        peer,
        unauthenticated,
    };
    Some((accepted, guard))
}

/// Accepts connections until the stop signal, applying the admission
/// limits, and runs `serve` for each in its own task.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    admission: Admission,
    mut stop_rx: watch::Receiver<bool>,
    serve: F,
) where
    F: Fn(Accepted, watch::Receiver<bool>) -> Fut,
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
        let Some((accepted, guard)) = admit(&admission, tcp, peer) else {
            continue;
        };
        let work = serve(accepted, stop_rx.clone());
        tokio::spawn(async move {
            work.await;
            drop(guard);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unauthenticated_cap_holds_and_places_come_back() {
        let u = Unauthenticated::new(3);
        let held: Vec<_> = (0..3).map(|_| u.acquire().unwrap()).collect();
        assert!(u.acquire().is_none());
        assert_eq!(u.open(), 3);
        drop(held);
        assert_eq!(u.open(), 0);
        let again = u.acquire();
        assert!(again.is_some());
        assert_eq!(u.open(), 1);
    }

    #[test]
    fn an_ipv6_slash_64_shares_one_per_address_count() {
        let map = Arc::new(PerIp::default());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let g1 = map.acquire(a, 2).unwrap();
        let g2 = map.acquire(b, 2).unwrap();
        assert!(map.acquire(a, 2).is_none());
        assert!(map.acquire(other, 2).is_some());
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let _v4 = map.acquire(v4, 1).unwrap();
        assert!(map.acquire("127.0.0.2".parse().unwrap(), 1).is_some());
        assert!(map.acquire(v4, 1).is_none());
        drop((g1, g2));
        assert!(map.acquire(b, 2).is_some());
        assert!(!map.0.contains_key(&source_prefix(a)));
    }
}
