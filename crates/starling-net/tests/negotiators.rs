//! The real negotiators through two drivers over an in-memory pipe:
//! STARTTLS on both sides, SCRAM-SHA-256-PLUS with the channel binding the
//! transport exported, binding, a stanza each way, the close — with the
//! server's SASL steps run inline or on blocking threads.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::tls_configs;
use starling_auth::MemoryStore;
use starling_auth::negotiate::{
    ClientEvent, ClientNegotiator, ClientSettings, SaslDone, ServerEvent, ServerHooks,
    ServerNegotiator, ServerSettings,
};
use starling_auth::sasl::{ClientConfig, Mechanism};
use starling_auth::tls;
use starling_jid::{BareJid, DomainPart, FullJid};
use starling_net::{Driver, Transport, Wake};
use starling_stanza::StanzaError;
use starling_xml::Element;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

struct Hooks;

impl ServerHooks for Hooks {
    fn serves(&self, domain: &DomainPart) -> bool {
        domain.as_str() == "localhost"
    }
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        Ok(user.with_resource_str(requested.unwrap_or("r")).unwrap())
    }
}

fn message(to: &str, body: &str) -> Element {
    let mut m = Element::new("message", "jabber:client");
    m.set_attr("to", Some(to));
    let mut b = Element::new("body", "jabber:client");
    b.append_text(body);
    m.append_child(b);
    m
}

/// The server's loop; returns its events.
async fn serve(
    mut d: Driver<ServerNegotiator<Hooks>, DuplexStream>,
    acceptor: TlsAcceptor,
    leaf: Vec<u8>,
) -> Vec<ServerEvent> {
    let mut seen = Vec::new();
    let mut job: Option<JoinHandle<SaslDone>> = None;
    loop {
        while let Some(ev) = d.machine_mut().next_event() {
            match &ev {
                ServerEvent::StartTls => {
                    let info = d.accept_tls(&acceptor).await.unwrap();
                    let bindings = info.server_bindings(Some(&leaf));
                    d.machine_mut().tls_established(bindings, None);
                }
                ServerEvent::Stanza(el) => {
                    let body = el.get_child("body", "jabber:client").unwrap().text();
                    d.machine_mut()
                        .send(&message("juliet@localhost/r", &format!("re: {body}")));
                }
                _ => {}
            }
            seen.push(ev);
        }
        if let Some(j) = d.machine_mut().take_sasl_job() {
            job = Some(tokio::task::spawn_blocking(move || j.run()));
        }
        d.flush().await.unwrap();
        if d.machine().is_closed() {
            d.shutdown().await.unwrap();
            return seen;
        }
        let running = async {
            match &mut job {
                Some(j) => j.await.unwrap(),
                None => std::future::pending().await,
            }
        };
        if let Wake::Other(done) = d.wait(running).await {
            job = None;
            d.machine_mut().sasl_done(done);
        }
    }
}

/// The client's loop; returns its events.
async fn connect(
    mut d: Driver<ClientNegotiator, DuplexStream>,
    connector: TlsConnector,
) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    loop {
        while let Some(ev) = d.machine_mut().next_event() {
            match &ev {
                ClientEvent::StartTls => {
                    let name = tls::server_name("localhost").unwrap();
                    let info = d.connect_tls(&connector, name).await.unwrap();
                    d.machine_mut().tls_established(info.exporter_binding());
                }
                ClientEvent::Bound(_) => d.machine_mut().send(&message("localhost", "hello")),
                ClientEvent::Stanza(_) => d.machine_mut().close(),
                _ => {}
            }
            seen.push(ev);
        }
        d.flush().await.unwrap();
        if let Wake::Eof(_) = d.wait(std::future::pending::<()>()).await {
            while let Some(ev) = d.machine_mut().next_event() {
                seen.push(ev);
            }
            return seen;
        }
    }
}

async fn session(offload: bool) -> (Vec<ClientEvent>, Vec<ServerEvent>) {
    let (server_cfg, client_cfg, leaf) = tls_configs();
    let (a, b) = tokio::io::duplex(16 * 1024);
    let now = Instant::now();
    let mut store = MemoryStore::new();
    store.add_user("juliet", "r0m30myr0m30", 4096).unwrap();
    let mut settings = ServerSettings::new(Arc::new(store));
    settings.offload_sasl = offload;
    let server = ServerNegotiator::new(settings, Hooks, None, now);
    let sasl = ClientConfig::password("juliet", "r0m30myr0m30");
    let jid = "juliet@localhost/r".parse().unwrap();
    let mut client = ClientNegotiator::new(ClientSettings::new(jid), sasl, None, now);
    client.start();
    tokio::join!(
        connect(
            Driver::new(Transport::new(b), client),
            TlsConnector::from(client_cfg)
        ),
        serve(
            Driver::new(Transport::new(a), server),
            TlsAcceptor::from(server_cfg),
            leaf
        ),
    )
}

fn check(client: &[ClientEvent], server: &[ServerEvent]) {
    assert_eq!(client.first(), Some(&ClientEvent::StartTls), "{client:?}");
    assert!(
        client
            .iter()
            .any(|e| matches!(e, ClientEvent::Bound(j) if j.as_str() == "juliet@localhost/r"))
    );
    assert!(client.iter().any(|e| matches!(e, ClientEvent::Stanza(m)
        if m.get_child("body", "jabber:client").is_some_and(|b| b.text() == "re: hello"))));
    assert!(
        matches!(client.last(), Some(ClientEvent::Closed { error: None })),
        "{client:?}"
    );
    let Some(ServerEvent::Authenticated(a)) = server
        .iter()
        .find(|e| matches!(e, ServerEvent::Authenticated(_)))
    else {
        panic!("{server:?}")
    };
    // The channel binding went from the transport through both machines.
    assert_eq!(a.mechanism, Mechanism::ScramSha256Plus);
    assert!(matches!(
        server.last(),
        Some(ServerEvent::Closed { peer_error: None })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_scram_plus_and_a_stanza_each_way() {
    let (client, server) = session(false).await;
    check(&client, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_with_sasl_on_blocking_threads() {
    let (client, server) = session(true).await;
    check(&client, &server);
}
