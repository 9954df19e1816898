//! The client's stream management and CSI against a scripted server on
//! loopback (the server-side negotiator of `starling-auth`, offering
//! `<sm/>` and `<csi/>`, with a few lines of XEP-0198 on top): acks both
//! ways, `<r/>` on the client's policy, CSI nonzas, an `h` that is too
//! high (XEP-0198 §4), and a server that cannot resume.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use starling_auth::negotiate::{ServerEvent, ServerHooks, ServerNegotiator, ServerSettings};
use starling_auth::sasl::MemoryStore;
use starling_auth::tls::Trust;
use starling_client::{AckPolicy, Client, Event, Events};
use starling_jid::{BareJid, DomainPart, FullJid, Jid};
use starling_stanza::{Message, StanzaError, StanzaErrorCondition};
use starling_testkit::tls::SelfSigned;
use starling_xml::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const DOMAIN: &str = "example.test";
const SM: &str = "urn:xmpp:sm:3";
const LIMIT: Duration = Duration::from_secs(10);

struct Hooks;

impl ServerHooks for Hooks {
    fn serves(&self, d: &DomainPart) -> bool {
        d.as_str() == DOMAIN
    }
    fn bind(&mut self, user: &BareJid, requested: Option<&str>) -> Result<FullJid, StanzaError> {
        user.with_resource_str(requested.unwrap_or("auto"))
            .map_err(|_| StanzaError::new(StanzaErrorCondition::BadRequest))
    }
}

/// What the scripted server saw: each top-level element from the client
/// (`name` of nonzas, `message:BODY` of messages), and how streams ended.
type Seen = mpsc::UnboundedSender<String>;

async fn start() -> (
    String,
    Arc<rustls::RootCertStore>,
    mpsc::UnboundedReceiver<String>,
) {
    let identity = SelfSigned::new(DOMAIN);
    let tls_config = identity.server_config();
    let mut store = MemoryStore::new();
    store.add_user("alice", "alice-pw", 4096).unwrap();
    let store = Arc::new(store);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (seen, seen_rx) = mpsc::unbounded_channel();
    let once = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let mut settings = ServerSettings::new(store.clone());
            settings.extra_features.other = vec![
                Element::new("sm", SM),
                Element::new("csi", "urn:xmpp:csi:0"),
            ];
            tokio::spawn(serve(
                tcp,
                settings,
                tls_config.clone(),
                seen.clone(),
                once.clone(),
            ));
        }
    });
    (addr, identity.roots.clone(), seen_rx)
}

async fn serve(
    tcp: TcpStream,
    settings: ServerSettings,
    tls_config: Arc<rustls::ServerConfig>,
    seen: Seen,
    once: Arc<AtomicBool>,
) {
    let mut neg = ServerNegotiator::new(settings, Hooks, None, Instant::now());
    let mut io: Box<dyn Io> = Box::new(tcp);
    let mut buf = vec![0u8; 8192];
    // Stanzas handled from the client since <enable/>, when enabled.
    let mut handled: Option<u32> = None;
    loop {
        let out = neg.take_output();
        if !out.is_empty() && io.write_all(&out).await.is_err() {
            return;
        }
        let _ = io.flush().await;
        if neg.is_closed() {
            return;
        }
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => neg.eof(),
            Ok(n) => neg.feed(&buf[..n]),
        }
        while let Some(ev) = neg.next_event() {
            match ev {
                ServerEvent::StartTls => {
                    let out = neg.take_output();
                    let _ = io.write_all(&out).await;
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config.clone());
                    let plain = std::mem::replace(&mut io, Box::new(tokio::io::duplex(1).0));
                    let Ok(tls) = acceptor.accept(plain).await else {
                        return;
                    };
                    io = Box::new(tls);
                    neg.tls_established(Vec::new(), None);
                }
                ServerEvent::Stanza(el) if el.ns() == SM => {
                    let _ = seen.send(el.name().to_owned());
                    match el.name() {
                        "enable" => {
                            handled = Some(0);
                            let mut enabled = Element::new("enabled", SM);
                            enabled.set_attr("id", Some("scripted"));
                            enabled.set_attr("resume", Some("true"));
                            neg.send(&enabled);
                            // Two stanzas, then a request: the client must
                            // acknowledge both.
                            for body in ["one", "two"] {
                                let m = Message::chat(DOMAIN.parse::<Jid>().unwrap(), body);
                                neg.send(&m.to_element());
                            }
                            neg.send(&Element::new("r", SM));
                        }
                        "r" => {
                            let mut a = Element::new("a", SM);
                            a.set_attr("h", Some(&handled.unwrap_or(0).to_string()));
                            neg.send(&a);
                        }
                        "a" => {
                            let _ = seen.send(format!("a h={}", el.attr("h").unwrap_or("?")));
                        }
                        _ => {}
                    }
                }
                ServerEvent::Stanza(el) => {
                    let stanza = matches!(el.name(), "message" | "presence" | "iq");
                    if let (Some(h), true) = (handled.as_mut(), stanza) {
                        *h += 1;
                    }
                    let body = el
                        .get_child("body", "jabber:client")
                        .map(|b| b.text())
                        .unwrap_or_default();
                    if el.ns() == "urn:xmpp:csi:0" {
                        let _ = seen.send(format!("csi {}", el.name()));
                    } else if el.name() == "message" {
                        let _ = seen.send(format!("message:{body}"));
                    }
                    // Once only: the client sends it again on its next
                    // session, where it is acknowledged normally.
                    if body == "too-high" && !once.swap(true, Ordering::Relaxed) {
                        let mut a = Element::new("a", SM);
                        a.set_attr("h", Some("1000"));
                        neg.send(&a);
                    }
                }
                ServerEvent::Closed { peer_error } => {
                    let _ = seen.send(match peer_error {
                        Some(e) => format!(
                            "stream error {} {}",
                            e.condition,
                            e.application
                                .map(|a| a.name().to_owned())
                                .unwrap_or_default()
                        ),
                        None => "closed".to_owned(),
                    });
                }
                ServerEvent::Failed(e) => {
                    let _ = seen.send(format!("we failed the stream: {}", e.condition));
                }
                ServerEvent::Bound(_)
                | ServerEvent::Authenticated(_)
                | ServerEvent::Resume { .. } => {}
            }
        }
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Waits until the server saw `what`; returns everything seen before it.
async fn saw(seen: &mut mpsc::UnboundedReceiver<String>, what: &str) -> Vec<String> {
    let mut before = Vec::new();
    loop {
        match tokio::time::timeout(LIMIT, seen.recv()).await {
            Ok(Some(s)) if s == what => return before,
            Ok(Some(s)) => before.push(s),
            _ => panic!("the server never saw {what:?}; it saw {before:?}"),
        }
    }
}

async fn wait_until(cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn event(events: &mut Events, what: &str, pick: impl Fn(&Event) -> bool) -> Event {
    loop {
        match tokio::time::timeout(LIMIT, events.next_event()).await {
            Ok(Some(ev)) if pick(&ev) => return ev,
            Ok(Some(_)) => {}
            _ => panic!("no {what}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_csi_too_high_and_a_server_that_cannot_resume() {
    let (addr, roots, mut seen) = start().await;
    let (alice, mut events) = Client::builder("alice@example.test".parse().unwrap(), "alice-pw")
        .server(&addr)
        .trust(Trust::Roots(roots))
        .timeout(LIMIT)
        .resource("phone")
        .stream_management(true)
        .reconnect(true)
        .reconnect_delay(Duration::from_millis(100))
        .ack_policy(AckPolicy {
            every: 2,
            after: Duration::from_secs(2),
        })
        .connect()
        .await
        .unwrap()
        .split();
    // <enable/>, then the client acknowledges the server's two stanzas.
    saw(&mut seen, "enable").await;
    saw(&mut seen, "a h=2").await;
    let status = alice.sm_status();
    assert!(status.enabled, "{status:?}");
    assert_eq!(status.id.as_deref(), Some("scripted"));
    assert_eq!(status.inbound.0, 2);

    // Every second stanza sent is followed by <r/>, and acknowledged.
    let to: Jid = "bob@example.test".parse().unwrap();
    for body in ["m1", "m2"] {
        alice.send_message(to.clone(), body).await.unwrap();
    }
    let before = saw(&mut seen, "r").await;
    assert_eq!(before, ["message:m1", "message:m2"]);
    wait_until(|| alice.sm_status().unacked == 0).await;
    assert_eq!(alice.sm_status().acked.0, 2);

    // CSI nonzas, not counted as stanzas.
    alice.set_active(false).await.unwrap();
    saw(&mut seen, "csi inactive").await;

    // An ack beyond what was sent ends the stream with undefined-condition
    // and <handled-count-too-high/> (XEP-0198 §4).
    alice.send_message(to.clone(), "too-high").await.unwrap();
    saw(
        &mut seen,
        "stream error undefined-condition handled-count-too-high",
    )
    .await;
    event(&mut events, "Disconnected", |e| {
        matches!(e, Event::Disconnected(Some(_)))
    })
    .await;
    // The counts are broken: a new session, stream management again, and
    // the unacknowledged stanza sent again on it.
    event(&mut events, "Reconnected", |e| {
        matches!(e, Event::Reconnected(_))
    })
    .await;
    saw(&mut seen, "enable").await;
    saw(&mut seen, "message:too-high").await;

    // A server that cannot resume: <resume/> breaks its negotiation, the
    // client gives the resumption up and binds a new session, where what
    // it sent while cut goes out.
    wait_until(|| alice.sm_status().id.is_some()).await;
    alice.drop_connection().await.unwrap();
    alice.send_message(to, "while cut").await.unwrap();
    event(&mut events, "ResumeFailed", |e| {
        matches!(e, Event::ResumeFailed(None))
    })
    .await;
    event(&mut events, "Reconnected", |e| {
        matches!(e, Event::Reconnected(_))
    })
    .await;
    // The inactive state is restored on the new session, and stream
    // management is on again: everything gets acknowledged.
    let before = saw(&mut seen, "message:while cut").await;
    assert!(before.iter().any(|s| s == "csi inactive"), "{before:?}");
    wait_until(|| alice.sm_status().enabled && alice.sm_status().unacked == 0).await;
    alice.close().await.unwrap();
}
