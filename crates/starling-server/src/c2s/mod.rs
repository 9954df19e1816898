//! Client connections: one tokio task per connection drives the sans-IO
//! negotiator (STARTTLS, SASL, binding) and then the bound session, with
//! the limits of the configuration. What the client sends goes to
//! [`Hub::client_stanza`](crate::hub::Hub::client_stanza); what is queued
//! for the session passes the modules' delivery filters and is written.

mod backlog;
mod budget;
mod hooks;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use starling_auth::negotiate::{ServerNegotiator, ServerSettings};
use starling_auth::sasl::ChannelBinding;
use starling_auth::tls;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::debug;

use crate::hub::Hub;
use crate::module::Extensions;
use crate::net::Io;
use crate::registry::BACKLOG;
use crate::server::TlsSetup;

use hooks::Hooks;
use session::Conn;

fn channel_bindings(conn: &rustls::ServerConnection, setup: &TlsSetup) -> Vec<ChannelBinding> {
    let mut out = Vec::new();
    if let Some(x) = tls::tls_exporter(conn) {
        out.push(ChannelBinding::tls_exporter(x));
    }
    if let Some(der) = setup.leaf_for(conn.server_name()) {
        if let Ok(cb) = ChannelBinding::tls_server_end_point(der, None) {
            out.push(cb);
        }
    }
    out
}

fn settings(hub: &Hub, setup: &TlsSetup) -> ServerSettings {
    let config = hub.config();
    let mut s = ServerSettings::new(setup.store.clone());
    s.tls_available = true;
    s.tls_required = config.c2s.require_tls;
    s.sasl = setup.sasl.clone();
    s.legacy_session = true;
    let mut limits = starling_xml::Limits::default();
    limits.max_element_bytes = config.limits.max_stanza_size;
    s.limits = limits;
    s.timeout = config.limits.negotiation_timeout;
    s.extra_features = hub.modules().stream_features().clone();
    s
}

/// Serves one accepted connection until it ends.
pub(crate) async fn run(
    hub: Arc<Hub>,
    setup: Arc<TlsSetup>,
    tcp: TcpStream,
    peer: SocketAddr,
    direct_tls: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let id = hub.sessions().next_id();
    let deadline = Instant::now() + hub.config().limits.negotiation_timeout;
    let (mut io, initial_tls) = if direct_tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(setup.direct.clone());
        match tokio::time::timeout_at(deadline.into(), Box::pin(acceptor.accept(tcp))).await {
            Ok(Ok(s)) => {
                let cb = channel_bindings(s.get_ref().1, &setup);
                (Io::ServerTls(Box::new(s)), Some(cb))
            }
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        }
    } else {
        (Io::Plain(tcp), None)
    };
    let hooks = Hooks {
        hub: hub.clone(),
        id,
        bound: None,
    };
    let mut neg = ServerNegotiator::new(settings(&hub, &setup), hooks, initial_tls, Instant::now());
    let mut conn = Conn {
        hub,
        me: None,
        rx: None,
        ext: Extensions::default(),
        peer,
    };
    BACKLOG
        .scope(
            std::cell::RefCell::new(Vec::new()),
            conn.drive(&mut io, &mut neg, &setup, &mut shutdown),
        )
        .await;
    conn.finish(&mut io, &mut neg).await;
    io.shutdown().await;
}
