//! Client connections: one tokio task per connection runs the sans-IO
//! negotiator (STARTTLS, SASL, binding) and then the bound session on the
//! shared [`Driver`](starling_net::Driver), with the limits of the
//! configuration. What the client sends goes to
//! [`Hub::client_stanza`](crate::hub::Hub::client_stanza); what is queued
//! for the session passes the modules' delivery filters and is written.
//! SASL steps (credential lookups, PBKDF2 for PLAIN) run on blocking
//! threads; their outcomes feed the login throttle (`login.rs`), whose
//! delays the session task waits out before answering.

mod backlog;
mod hooks;
mod keepalive;
mod login;
mod managed;
mod resume;
mod session;
mod sm;

pub(crate) use resume::Resumptions;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use starling_auth::negotiate::{ServerNegotiator, ServerSettings};
use starling_net::{Driver, TlsInfo, Transport};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::debug;

use crate::hub::Hub;
use crate::listen::Accepted;
use crate::module::Extensions;
use crate::registry::BACKLOG;
use crate::server::TlsSetup;
use crate::throttle::LoginThrottle;

use hooks::Hooks;
use session::Conn;

/// The driver of a client connection.
type C2sDriver = Driver<ServerNegotiator<Hooks>>;

/// The channel bindings a TLS connection offers SASL `-PLUS`.
fn channel_bindings(info: &TlsInfo, setup: &TlsSetup) -> Vec<starling_auth::ChannelBinding> {
    info.server_bindings(setup.leaf_for(info.server_name.as_deref()))
}

fn settings(hub: &Hub, setup: &TlsSetup) -> ServerSettings {
    let config = hub.config();
    let mut s = ServerSettings::new(setup.store.clone());
    s.tls_available = true;
    s.tls_required = config.c2s.require_tls;
    s.sasl = setup.sasl.clone();
    s.legacy_session = true;
    s.offload_sasl = true;
    // Every outcome passes the session, for the login throttle.
    s.offload_light_sasl = true;
    let mut limits = starling_xml::Limits::default();
    limits.max_element_bytes = config.limits.max_stanza_size;
    s.limits = limits;
    s.timeout = config.limits.negotiation_timeout;
    s.extra_features = hub.modules().stream_features().clone();
    s.stream_management = config.modules.stream_management.enabled;
    s
}

/// The connection, TLS at once on a direct TLS listener (XEP-0368).
async fn transport(
    tcp: TcpStream,
    setup: &TlsSetup,
    direct_tls: bool,
    deadline: Instant,
    peer: SocketAddr,
) -> Option<(Transport, Option<Vec<starling_auth::ChannelBinding>>)> {
    if !direct_tls {
        return Some((Transport::new(tcp), None));
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(setup.direct.clone());
    let accept = Box::pin(Transport::accept(tcp, &acceptor));
    match tokio::time::timeout_at(deadline.into(), accept).await {
        Ok(Ok((t, info))) => Some((t, Some(channel_bindings(&info, setup)))),
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// What every client connection shares.
pub(crate) struct Shared {
    /// The server's state.
    pub(crate) hub: Arc<Hub>,
    /// TLS and SASL settings.
    pub(crate) setup: Arc<TlsSetup>,
    /// Failed logins per source and account.
    pub(crate) throttle: Arc<Mutex<LoginThrottle>>,
}

/// Serves one accepted connection until it ends.
pub(crate) async fn run(
    shared: Shared,
    accepted: Accepted,
    direct_tls: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let Shared {
        hub,
        setup,
        throttle,
    } = shared;
    let Accepted {
        tcp,
        peer,
        unauthenticated,
    } = accepted;
    let _ = tcp.set_nodelay(true);
    let id = hub.sessions().next_id();
    let limits = hub.config().limits;
    let deadline = Instant::now() + limits.negotiation_timeout;
    let Some((transport, initial_tls)) = transport(tcp, &setup, direct_tls, deadline, peer).await
    else {
        return;
    };
    let hooks = Hooks {
        hub: hub.clone(),
        id,
        bound: None,
        sm: None,
    };
    let neg = ServerNegotiator::new(settings(&hub, &setup), hooks, initial_tls, Instant::now());
    let mut driver = Driver::new(transport, neg);
    driver.set_read_rate(Some((
        limits.read_rate,
        limits.max_stanza_size.saturating_mul(2),
    )));
    driver.set_idle_timeout(Some(limits.idle_timeout));
    driver.set_write_timeout(Some(limits.write_timeout));
    let mut conn = Conn {
        hub,
        me: None,
        rx: None,
        unwritten: std::collections::VecDeque::new(),
        ext: Extensions::default(),
        sasl: None,
        peer,
        login: login::Login::new(throttle, unauthenticated, peer),
        takeover_rx: None,
        keepalive: None,
        handover: None,
        pending: std::collections::VecDeque::new(),
        withdrawn: None,
        final_close: false,
    };
    let session = async {
        conn.drive(&mut driver, &setup, &mut shutdown).await;
        conn.finish(&mut driver, &mut shutdown).await;
    };
    BACKLOG
        .scope(std::cell::RefCell::new(Vec::new()), session)
        .await;
    let _ = driver.shutdown().await;
}
