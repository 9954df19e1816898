//! The client against a small server on loopback built from the server-side
//! negotiator of `starling-auth` (over tokio and rustls), and SRV discovery
//! against a DNS responder on loopback. No real DNS, no external network.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ServerEvent, ServerHooks, ServerNegotiator, ServerSettings};
use starling_auth::sasl::{Condition as SaslCondition, MemoryStore};
use starling_auth::tls::{self, Trust};
use starling_client::{Client, Error, Event};
use starling_jid::{BareJid, DomainPart, FullJid, Jid};
use starling_stanza::{
    Iq, IqKind, Ping, Roster, RosterItem, Stanza, StanzaError, StanzaErrorCondition,
};
use starling_testkit::dns::Dns;
use starling_testkit::tls::SelfSigned;
use starling_xml::Element;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const DOMAIN: &str = "example.test";

struct Hooks;

impl ServerHooks for Hooks {
    fn serves(&self, d: &DomainPart) -> bool {
        d.as_str() == DOMAIN
    }
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        if requested == Some("taken") {
            return Err(StanzaError::new(StanzaErrorCondition::Conflict));
        }
        user.with_resource_str(requested.unwrap_or("auto"))
            .map_err(|_| StanzaError::new(StanzaErrorCondition::BadRequest))
    }
}

type Sessions = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Element>>>>;

struct TestServer {
    addr: SocketAddr,
    /// The direct TLS (XEP-0368) port.
    direct_addr: SocketAddr,
    roots: Arc<rustls::RootCertStore>,
    /// What the server observed: the client's answer to its ping.
    observed: Arc<Mutex<Vec<String>>>,
}

async fn start_server() -> TestServer {
    let identity = SelfSigned::new(DOMAIN);
    let tls_config = identity.server_config();
    let mut store = MemoryStore::new();
    store.add_user("alice", "alice-pw", 4096).unwrap();
    store.add_user("bob", "bob-pw", 4096).unwrap();
    let store = Arc::new(store);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sessions: Sessions = Arc::default();
    let (tls_config_direct, store_direct, sessions_direct) =
        (tls_config.clone(), store.clone(), sessions.clone());
    let observed = Arc::new(Mutex::new(Vec::new()));
    let obs = observed.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let settings = ServerSettings::new(store.clone());
            tokio::spawn(serve(
                Box::new(tcp),
                None,
                settings,
                tls_config.clone(),
                sessions.clone(),
                obs.clone(),
            ));
        }
    });
    // A direct TLS listener (XEP-0368): TLS first, with ALPN.
    let direct = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let direct_addr = direct.local_addr().unwrap();
    let mut direct_config = (*tls_config_direct).clone();
    direct_config.alpn_protocols = vec![tls::ALPN_XMPP_CLIENT.to_vec()];
    let direct_config = Arc::new(direct_config);
    let (store2, sessions2, obs2) = (store_direct, sessions_direct, observed.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = direct.accept().await else {
                return;
            };
            let acceptor = tokio_rustls::TlsAcceptor::from(direct_config.clone());
            let (store, sessions, obs, cfg) = (
                store2.clone(),
                sessions2.clone(),
                obs2.clone(),
                direct_config.clone(),
            );
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                assert_eq!(tls.get_ref().1.alpn_protocol(), Some(tls::ALPN_XMPP_CLIENT));
                let cb: Vec<_> = tls::tls_exporter(tls.get_ref().1)
                    .map(starling_auth::sasl::ChannelBinding::tls_exporter)
                    .into_iter()
                    .collect();
                serve(
                    Box::new(tls),
                    Some(cb),
                    ServerSettings::new(store),
                    cfg,
                    sessions,
                    obs,
                )
                .await;
            });
        }
    });
    TestServer {
        addr,
        direct_addr,
        roots: identity.roots.clone(),
        observed,
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn serve(
    mut io: Box<dyn Io>,
    initial_tls: Option<Vec<starling_auth::sasl::ChannelBinding>>,
    settings: ServerSettings,
    tls_config: Arc<rustls::ServerConfig>,
    sessions: Sessions,
    observed: Arc<Mutex<Vec<String>>>,
) {
    let mut neg = ServerNegotiator::new(settings, Hooks, initial_tls, Instant::now());
    let mut buf = vec![0u8; 8192];
    let (tx, mut rx) = mpsc::unbounded_channel::<Element>();
    let mut me: Option<FullJid> = None;
    loop {
        let out = neg.take_output();
        if !out.is_empty() && io.write_all(&out).await.is_err() {
            break;
        }
        let _ = io.flush().await;
        if neg.is_closed() {
            break;
        }
        tokio::select! {
            r = io.read(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => neg.eof(),
                    Ok(n) => neg.feed(&buf[..n]),
                }
            }
            Some(el) = rx.recv() => neg.send(&el),
        }
        while let Some(ev) = neg.next_event() {
            match ev {
                ServerEvent::StartTls => {
                    let out = neg.take_output();
                    io.write_all(&out).await.unwrap();
                    // `io` is the plain TCP stream here; rebuild it as TLS.
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config.clone());
                    let plain = std::mem::replace(&mut io, Box::new(tokio::io::duplex(1).0));
                    let tls = match acceptor.accept(plain).await {
                        Ok(t) => t,
                        Err(_) => return,
                    };
                    let cb: Vec<_> = tls::tls_exporter(tls.get_ref().1)
                        .map(starling_auth::sasl::ChannelBinding::tls_exporter)
                        .into_iter()
                        .collect();
                    io = Box::new(tls);
                    neg.tls_established(cb, None);
                }
                ServerEvent::Bound(jid) => {
                    sessions
                        .lock()
                        .unwrap()
                        .insert(jid.bare().to_string(), tx.clone());
                    // Ask the client something it must answer by itself.
                    let ping = Iq::get("srv-ping", Ping)
                        .with_from(Jid::from(jid.domain_part()))
                        .with_to(Jid::from(jid.clone()));
                    neg.send(&ping.to_element());
                    me = Some(jid);
                }
                ServerEvent::Stanza(el) => {
                    let Some(me) = &me else { continue };
                    // A test hook: drop the connection abruptly.
                    if el
                        .get_child("body", "jabber:client")
                        .is_some_and(|b| b.text() == "drop-me")
                    {
                        sessions.lock().unwrap().remove(&me.bare().to_string());
                        return;
                    }
                    route(&mut neg, &sessions, me, el, &observed);
                }
                ServerEvent::Closed { .. } | ServerEvent::Failed(_) => {}
                ServerEvent::Authenticated(_) | ServerEvent::Resume { .. } => {}
            }
        }
    }
    if let Some(me) = me {
        sessions.lock().unwrap().remove(&me.bare().to_string());
    }
}

fn route(
    neg: &mut ServerNegotiator<Hooks>,
    sessions: &Sessions,
    me: &FullJid,
    mut el: Element,
    observed: &Arc<Mutex<Vec<String>>>,
) {
    el.set_attr("from", Some(me.as_str()));
    let stanza = match Stanza::from_element(&el) {
        Ok(s) => s,
        Err(_) => return,
    };
    match stanza {
        Stanza::Iq(iq)
            if iq
                .header
                .to
                .as_ref()
                .is_none_or(|t| t.as_str() == DOMAIN || t.as_str() == me.bare().as_str()) =>
        {
            match &iq.kind {
                IqKind::Get(p) if p.is("ping", "urn:xmpp:ping") => {
                    neg.send(&iq.result(None).to_element())
                }
                IqKind::Get(p) if p.is("query", "jabber:iq:roster") => {
                    let mut item = RosterItem::new("bob@example.test".parse().unwrap());
                    item.name = Some("Bob".into());
                    let roster = Roster {
                        ver: Some("1".into()),
                        items: vec![item],
                    };
                    neg.send(
                        &iq.result(Some(starling_stanza::Payload::to_element(&roster)))
                            .to_element(),
                    );
                }
                IqKind::Result(_) | IqKind::Error { .. } => {
                    observed.lock().unwrap().push(format!(
                        "{} {}",
                        iq.id(),
                        el.attr("type").unwrap_or("")
                    ));
                }
                _ => {
                    let e = StanzaError::new(StanzaErrorCondition::ServiceUnavailable);
                    neg.send(&iq.error_reply(e).to_element());
                }
            }
        }
        other => {
            let Some(to) = other.header().to.as_ref() else {
                return;
            };
            let target = sessions
                .lock()
                .unwrap()
                .get(&to.bare().to_string())
                .cloned();
            match target {
                Some(t) => {
                    let _ = t.send(el);
                }
                None => {
                    if let Some(reply) = starling_stanza::error_reply(
                        &el,
                        &StanzaError::new(StanzaErrorCondition::ServiceUnavailable),
                        false,
                    ) {
                        neg.send(&reply);
                    }
                }
            }
        }
    }
}

fn client(server: &TestServer, user: &str, pw: &str) -> starling_client::ClientBuilder {
    Client::builder(format!("{user}@{DOMAIN}").parse().unwrap(), pw)
        .server(&server.addr.to_string())
        .trust(Trust::Roots(server.roots.clone()))
        .timeout(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_message_request_and_close() {
    let server = start_server().await;
    let mut alice = client(&server, "alice", "alice-pw")
        .resource("desk")
        .connect()
        .await
        .unwrap();
    let mut bob = client(&server, "bob", "bob-pw").connect().await.unwrap();
    assert_eq!(alice.jid().as_str(), "alice@example.test/desk");
    assert_eq!(bob.jid().as_str(), "bob@example.test/auto");

    // A message from alice reaches bob with alice's full JID as `from`.
    alice
        .send_message("bob@example.test".parse().unwrap(), "hello bob")
        .await
        .unwrap();
    let got = loop {
        match tokio::time::timeout(Duration::from_secs(10), bob.next_event())
            .await
            .unwrap()
        {
            Some(Event::Message(m)) => break m,
            Some(_) => continue,
            None => panic!("bob's session ended"),
        }
    };
    assert_eq!(got.body(None), Some("hello bob"));
    assert_eq!(
        got.header.from.as_ref().unwrap().as_str(),
        "alice@example.test/desk"
    );

    // Requests: ping, roster, and an error answer.
    alice.ping(None).await.unwrap();
    let roster = alice.roster().await.unwrap();
    assert_eq!(roster.items[0].jid.as_str(), "bob@example.test");
    let unknown =
        Iq::get("q1", starling_stanza::Version::default()).with_to(DOMAIN.parse().unwrap());
    match alice.request(unknown).await {
        Err(Error::Stanza(e)) => assert_eq!(e.condition, StanzaErrorCondition::ServiceUnavailable),
        other => panic!("{other:?}"),
    }
    // A message to nobody bounces with an error message.
    alice
        .send_message("carol@example.test".parse().unwrap(), "anyone?")
        .await
        .unwrap();
    let bounced = loop {
        match tokio::time::timeout(Duration::from_secs(10), alice.next_event())
            .await
            .unwrap()
        {
            Some(Event::Message(m)) => break m,
            Some(_) => continue,
            None => panic!("alice's session ended"),
        }
    };
    assert_eq!(
        bounced.error.unwrap().condition,
        StanzaErrorCondition::ServiceUnavailable
    );

    // The server's ping to each client was answered by the client itself.
    let observed = server.observed.lock().unwrap().clone();
    assert!(
        observed.iter().filter(|o| *o == "srv-ping result").count() >= 1,
        "{observed:?}"
    );

    alice.close().await.unwrap();
    assert_eq!(alice.next_event().await, Some(Event::Disconnected(None)));
    bob.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_failures() {
    let server = start_server().await;
    match client(&server, "alice", "wrong").connect().await {
        Err(Error::Auth(f)) => assert_eq!(f.condition, SaslCondition::NotAuthorized),
        other => panic!("{other:?}"),
    }
    match client(&server, "alice", "alice-pw")
        .resource("taken")
        .connect()
        .await
    {
        Err(Error::BindConflict(e)) => assert_eq!(e.condition, StanzaErrorCondition::Conflict),
        other => panic!("{other:?}"),
    }
    // The certificate is for example.test: trusting nothing fails TLS.
    let empty = Arc::new(rustls::RootCertStore::empty());
    match client(&server, "alice", "alice-pw")
        .trust(Trust::Roots(empty))
        .connect()
        .await
    {
        Err(Error::Tls(_)) => {}
        other => panic!("{other:?}"),
    }
    // Nobody listening: a connection error.
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    match Client::builder("alice@example.test".parse().unwrap(), "x")
        .server(&format!("127.0.0.1:{port}"))
        .timeout(Duration::from_secs(5))
        .connect()
        .await
    {
        Err(Error::Connect(_)) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_discovery_on_a_loopback_dns_server() {
    let server = start_server().await;
    // Closed port for the preferred record: the client must fall back to
    // the second one.
    let dead = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let dns = Dns::start();
    let srv_name = "_xmpp-client._tcp.example.test";
    dns.srv(srv_name, 10, 0, dead_port, "down.example.test");
    dns.srv(srv_name, 20, 0, server.addr.port(), "xmpp.example.test");
    dns.a("down.example.test", Ipv4Addr::LOCALHOST);
    dns.a("xmpp.example.test", Ipv4Addr::LOCALHOST);

    let resolver = starling_client::discovery::resolver(Some(&[dns.addr])).unwrap();
    let targets = starling_client::discovery::discover(&resolver, DOMAIN)
        .await
        .unwrap();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0].host, "down.example.test");
    assert_eq!(targets[1].port, server.addr.port());
    assert!(targets.iter().all(|t| !t.direct_tls));

    let client = Client::builder("alice@example.test".parse().unwrap(), "alice-pw")
        .name_servers(vec![dns.addr])
        .trust(Trust::Roots(server.roots.clone()))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    assert_eq!(client.jid().domain(), DOMAIN);
    client.close().await.unwrap();

    // "." as the only target: no service.
    let dns = Dns::start();
    dns.srv("_xmpp-client._tcp.noservice.test", 0, 0, 0, ".");
    let resolver = starling_client::discovery::resolver(Some(&[dns.addr])).unwrap();
    assert!(matches!(
        starling_client::discovery::discover(&resolver, "noservice.test").await,
        Err(Error::NoService(_))
    ));
    // No SRV records at all: the domain itself on 5222.
    let resolver = starling_client::discovery::resolver(Some(&[dns.addr])).unwrap();
    let t = starling_client::discovery::discover(&resolver, "plain.test")
        .await
        .unwrap();
    assert_eq!(
        (t[0].host.as_str(), t[0].port, t[0].direct_tls),
        ("plain.test", 5222, false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_connection_drops() {
    let server = start_server().await;
    let mut alice = client(&server, "alice", "alice-pw")
        .reconnect(true)
        .connect()
        .await
        .unwrap();
    alice
        .send_message("alice@example.test".parse().unwrap(), "drop-me")
        .await
        .unwrap();
    let mut saw_disconnect = false;
    let reconnected = loop {
        match tokio::time::timeout(Duration::from_secs(20), alice.next_event())
            .await
            .unwrap()
        {
            Some(Event::Disconnected(None)) => saw_disconnect = true,
            Some(Event::Reconnected(jid)) => break jid,
            Some(_) => {}
            None => panic!("the session ended instead of reconnecting"),
        }
    };
    assert!(saw_disconnect);
    assert_eq!(reconnected.bare().as_str(), "alice@example.test");
    // The new session works.
    alice.ping(None).await.unwrap();
    alice.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_tls_with_alpn() {
    let server = start_server().await;
    let client = Client::builder(format!("alice@{DOMAIN}").parse().unwrap(), "alice-pw")
        .server(&server.direct_addr.to_string())
        .direct_tls(true)
        .trust(Trust::Roots(server.roots.clone()))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    client.ping(None).await.unwrap();
    client.close().await.unwrap();
}

/// The split handle: one task waits for events while clones of the handle
/// send from others; against a server without stream management or CSI,
/// those features stay off and say so, and a dropped connection gives a
/// new session (no resumption) where the stanzas sent meanwhile go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_handle_and_absent_mobile_features() {
    let server = start_server().await;
    let (alice, mut alice_events) = client(&server, "alice", "alice-pw")
        .resource("phone")
        .stream_management(true)
        .reconnect(true)
        .reconnect_delay(Duration::from_millis(200))
        .connect()
        .await
        .unwrap()
        .split();
    let (bob, mut bob_events) = client(&server, "bob", "bob-pw")
        .connect()
        .await
        .unwrap()
        .split();
    let sm = alice.sm_status();
    assert!(!sm.enabled && sm.id.is_none(), "{sm:?}");
    assert!(matches!(
        alice.set_active(false).await,
        Err(Error::Unsupported("urn:xmpp:csi:0"))
    ));

    // Three senders at once, each a clone of the handle.
    let senders: Vec<_> = (0..3)
        .map(|i| {
            let h = alice.clone();
            tokio::spawn(async move {
                h.send_message(
                    "bob@example.test".parse().unwrap(),
                    &format!("from task {i}"),
                )
                .await
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap().unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(10), bob_events.next_event())
            .await
            .unwrap()
        {
            Some(Event::Message(m)) => got.push(m.body(None).unwrap_or_default().to_owned()),
            Some(_) => {}
            None => panic!("bob's session ended"),
        }
    }
    got.sort();
    assert_eq!(got, ["from task 0", "from task 1", "from task 2"]);

    // Cut, send while cut, and get a new session (not a resumption).
    alice.drop_connection().await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), alice_events.next_event())
            .await
            .unwrap()
        {
            Some(Event::Disconnected(None)) => break,
            Some(_) => {}
            None => panic!("alice's session ended"),
        }
    }
    alice
        .send_message("bob@example.test".parse().unwrap(), "while cut")
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), alice_events.next_event())
            .await
            .unwrap()
        {
            Some(Event::Reconnected(jid)) => {
                assert_eq!(jid.as_str(), "alice@example.test/phone");
                break;
            }
            Some(Event::Resumed(_) | Event::ResumeFailed(_)) => {
                panic!("no stream management here: nothing to resume")
            }
            Some(_) => {}
            None => panic!("alice's session ended"),
        }
    }
    let late = loop {
        match tokio::time::timeout(Duration::from_secs(10), bob_events.next_event())
            .await
            .unwrap()
        {
            Some(Event::Message(m)) => break m,
            Some(_) => {}
            None => panic!("bob's session ended"),
        }
    };
    assert_eq!(late.body(None), Some("while cut"));
    assert_eq!(alice.current_jid().as_str(), "alice@example.test/phone");
    alice.close().await.unwrap();
    bob.close().await.unwrap();
}
