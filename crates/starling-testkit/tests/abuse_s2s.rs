//! Federation abuse, end to end against the real `starling` binary (issue
//! 14, findings 4 and 5):
//!
//! * local users cannot make the server connect to IP-literal domains or
//!   to loopback/private addresses found in DNS (`[s2s]
//!   allow_private_addresses = false`, the default), and bounces never
//!   carry an address or an OS error;
//! * `<db:result/>` floods do not turn into unbounded outgoing
//!   connections: verifications are capped (in all and per domain), timed
//!   out, and a failing domain is answered from its remembered failure.
//!
//! Everything runs on loopback: "private" targets are 127.0.0.x, where
//! listeners of ours count what connects. Domains are `*.abuse.test`,
//! resolved by the testkit's DNS responder or nowhere.

mod common;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::{FedServerExt, wait_body, wait_for};
use starling_client::{Client, Event};
use starling_stanza::{MessageType, StanzaError, StanzaErrorCondition as Cond};
use starling_stream::{ContentNamespace, Event as StreamEvent, Framer, FramerConfig};
use starling_testkit::dns::Dns;
use starling_testkit::server::FedServer;
use starling_testkit::stanzas::jid;
use starling_testkit::wait::{WAIT, blocking, within};
use starling_xml::{Element, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const A: &str = "a.abuse.test";
const B: &str = "b.abuse.test";
const NS_DIALBACK: &str = "jabber:server:dialback";

// ----- a listener that counts who connects -----------------------------------

#[derive(Default)]
struct Counts {
    /// Connections accepted.
    total: usize,
    /// Open now.
    open: usize,
    /// Most open at once.
    max_open: usize,
    /// Connections per `to` of the stream header they sent.
    by_domain: HashMap<String, usize>,
}

/// A TCP listener that accepts, reads the stream header's `to`, never
/// answers, and holds each connection until the other side closes it.
struct Trap {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    task: tokio::task::JoinHandle<()>,
}

impl Trap {
    async fn bind(addr: SocketAddr) -> std::io::Result<Trap> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let c = counts.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                {
                    let mut n = c.lock().unwrap_or_else(PoisonError::into_inner);
                    n.total += 1;
                    n.open += 1;
                    n.max_open = n.max_open.max(n.open);
                }
                tokio::spawn(hold(tcp, c.clone()));
            }
        });
        Ok(Trap { addr, counts, task })
    }

    fn with<T>(&self, f: impl FnOnce(&Counts) -> T) -> T {
        f(&self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn total(&self) -> usize {
        self.with(|c| c.total)
    }

    /// Waits until at least `n` connections came.
    async fn until_total(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.total() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} connections at the trap within {WAIT:?}, not {n}",
                self.total()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads what the connection sends (noting the header's `to`) until it
/// closes; answers nothing.
async fn hold(mut tcp: TcpStream, counts: Arc<Mutex<Counts>>) {
    let mut seen = Vec::new();
    let mut noted = false;
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !noted {
                    seen.extend_from_slice(&buf[..n]);
                    if let Some(to) = header_to(&seen) {
                        noted = true;
                        let mut c = counts.lock().unwrap_or_else(PoisonError::into_inner);
                        *c.by_domain.entry(to).or_default() += 1;
                    }
                }
            }
        }
    }
    counts.lock().unwrap_or_else(PoisonError::into_inner).open -= 1;
}

/// The `to` of a stream header in `bytes`, once it is complete.
fn header_to(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let start = text.find("<stream:stream")?;
    let header = &text[start..];
    let header = &header[..header.find('>')?];
    let at = header.find(" to=")? + 4;
    let quote = header[at..].chars().next()?;
    let rest = &header[at + 1..];
    Some(rest[..rest.find(quote)?].to_owned())
}

// ----- bounces -------------------------------------------------------------------

/// The error a message to `to` bounced with.
async fn bounce_of(c: &mut Client, to: &str) -> StanzaError {
    within(
        &format!("sending to {to}"),
        c.send_message(jid(to), "are you there?"),
    )
    .await
    .expect("sending");
    let from = jid(to);
    wait_for(c, &format!("a message error from {to}"), |ev| match ev {
        Event::Message(m)
            if m.message_type == MessageType::Error && m.header.from.as_ref() == Some(&from) =>
        {
            Some(m.error.clone().expect("an error element"))
        }
        _ => None,
    })
    .await
}

/// A bounce text tells what failed, not where or the OS's words.
fn assert_reveals_nothing(e: &StanzaError, what: &str) {
    let text = e.text.clone().unwrap_or_default();
    let lower = text.to_ascii_lowercase();
    for bad in ["refused", "os error", "127.", "::1", "5269", "resolves"] {
        assert!(
            !lower.contains(bad),
            "{what}: the bounce text {text:?} has {bad:?}"
        );
    }
    assert!(
        !text.chars().any(|c| c.is_ascii_digit()),
        "{what}: the bounce text {text:?} has digits"
    );
}

fn start(s: &mut FedServer, users: &[&str]) {
    blocking(|| {
        s.start();
        for u in users {
            s.add_user(u);
        }
    });
}

/// A message to an IP-literal domain (`x@127.0.0.2`, `x@[::1]`) bounces
/// with `remote-server-not-found` and no connection is attempted (a
/// listener of ours on 127.0.0.2:5269 sees nothing). With
/// `allow_private_addresses = true` and nothing listening there, the
/// bounce still says neither the address nor "Connection refused".
#[tokio::test(flavor = "multi_thread")]
async fn ip_literal_domains_are_refused_and_bounces_reveal_nothing() {
    // 5269 is the port an IP-literal domain is reached on; another process
    // may hold it (then only the bounce is checked).
    let literal = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), 5269));
    let trap = Trap::bind(literal).await.ok();
    let mut a = FedServer::new(A);
    a.allow_private_addresses = false;
    a.connect_timeout = Some(2);
    start(&mut a, &["alice"]);
    let mut alice = a.online("alice", "home").await;

    for to in ["x@127.0.0.2", "x@[::1]"] {
        let e = bounce_of(&mut alice, to).await;
        assert_eq!(e.condition, Cond::RemoteServerNotFound, "{to}: {e:?}");
        assert_reveals_nothing(&e, to);
    }
    a.wait_log(&["s2s stream failed", "is an IP address"]).await;
    if let Some(trap) = &trap {
        // The bounce came after the decision: nothing connected before it.
        assert_eq!(trap.total(), 0, "the server connected to 127.0.0.2:5269");
    } else {
        eprintln!("127.0.0.2:5269 is taken: connection count not checked");
    }
    drop(trap);

    // Allowed, and nothing listens at 127.0.0.2:5269.
    let mut b = FedServer::new(B);
    b.connect_timeout = Some(2);
    start(&mut b, &["bob"]);
    let mut bob = b.online("bob", "home").await;
    let e = bounce_of(&mut bob, "x@127.0.0.2").await;
    assert!(
        matches!(
            e.condition,
            Cond::RemoteServerNotFound | Cond::RemoteServerTimeout
        ),
        "{e:?}"
    );
    assert_reveals_nothing(&e, "x@127.0.0.2, allowed");
    // The detail is in the log instead.
    b.wait_log(&["s2s stream failed", "127.0.0.2:5269"]).await;
}

/// A domain whose SRV and A records point at loopback is refused by
/// default: no connection, `remote-server-not-found`, and the log says
/// why. The same domain with `allow_private_addresses = true` does reach
/// the listener (so the records are right).
#[tokio::test(flavor = "multi_thread")]
async fn domains_resolving_to_loopback_are_refused_by_default() {
    let trap = Trap::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("a listener");
    let dns = Dns::start();
    let inside = "inside.abuse.test";
    dns.srv(
        &format!("_xmpp-server._tcp.{inside}"),
        0,
        0,
        trap.addr.port(),
        &format!("xmpp.{inside}"),
    );
    dns.a(&format!("xmpp.{inside}"), Ipv4Addr::LOCALHOST);
    // No SRV: the domain itself on 5269, resolved to another loopback
    // address.
    dns.a("bare.abuse.test", Ipv4Addr::new(127, 0, 0, 3));

    let mut a = FedServer::new(A);
    a.allow_private_addresses = false;
    a.name_servers = vec![dns.addr];
    a.connect_timeout = Some(2);
    start(&mut a, &["alice"]);
    let mut alice = a.online("alice", "home").await;
    for to in [format!("x@{inside}"), "x@bare.abuse.test".to_owned()] {
        let e = bounce_of(&mut alice, &to).await;
        assert_eq!(e.condition, Cond::RemoteServerNotFound, "{to}: {e:?}");
        assert_reveals_nothing(&e, &to);
    }
    a.wait_log(&["s2s stream failed", inside, "a loopback address"])
        .await;
    assert_eq!(
        trap.total(),
        0,
        "the server connected to a loopback address"
    );

    // The control: allowed, the same records lead to the listener.
    let mut b = FedServer::new(B);
    b.name_servers = vec![dns.addr];
    b.connect_timeout = Some(2);
    start(&mut b, &["bob"]);
    let bob = b.online("bob", "home").await;
    within(
        "sending to inside",
        bob.send_message(jid(&format!("x@{inside}")), "hello"),
    )
    .await
    .expect("sending");
    trap.until_total(1).await;
}

// ----- dialback floods -------------------------------------------------------------

/// A plaintext `jabber:server` stream of the attacker's, to `B`.
struct Attacker {
    tcp: TcpStream,
    framer: Framer,
    from: String,
}

impl Attacker {
    /// Opens a stream from `from` to `to` and reads the server's header
    /// and features.
    async fn open(port: u16, from: &str, to: &str) -> Attacker {
        let mut tcp = within("connecting", TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("connecting to the s2s port");
        let header = format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' \
             xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='{NS_DIALBACK}' \
             from='{from}' to='{to}' version='1.0'>"
        );
        within("writing the header", tcp.write_all(header.as_bytes()))
            .await
            .expect("writing the header");
        let framer = Framer::new(FramerConfig {
            expected: Some(ContentNamespace::Server),
            limits: Limits::default(),
        });
        let mut a = Attacker {
            tcp,
            framer,
            from: from.to_owned(),
        };
        let mut header = false;
        loop {
            match a.next(WAIT).await {
                Some(StreamEvent::Header(_)) => header = true,
                Some(StreamEvent::Features(_)) if header => return a,
                other => panic!("expected the header and features, got {other:?}"),
            }
        }
    }

    /// The next event within `limit`; `None` on timeout.
    async fn next(&mut self, limit: Duration) -> Option<StreamEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buf = vec![0u8; 16384];
        loop {
            match self.framer.next_event() {
                Ok(Some(StreamEvent::Keepalive)) => continue,
                Ok(Some(ev)) => return Some(ev),
                Ok(None) => {}
                Err(e) => panic!("bad output from the server: {e:?}"),
            }
            match tokio::time::timeout_at(deadline, self.tcp.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => panic!("the server closed the attacker's stream"),
                Ok(Ok(n)) => self.framer.feed(&buf[..n]),
            }
        }
    }

    /// Sends `<db:result/>` with a made-up key.
    async fn db_result(&mut self, to: &str) {
        let el = format!(
            "<db:result from='{}' to='{to}'>0123456789abcdef0123456789abcdef</db:result>",
            self.from
        );
        within("writing db:result", self.tcp.write_all(el.as_bytes()))
            .await
            .expect("writing db:result");
    }

    /// Sends `<db:result/>` and waits until it is answered at once (the
    /// answer) or a verification connects to `trap` (`None`).
    async fn refused_or_started(&mut self, trap: &Trap) -> Option<Option<Cond>> {
        let before = trap.total();
        self.db_result(B).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(a) = self.answer(Duration::from_millis(50)).await {
                return Some(a);
            }
            if trap.total() > before {
                return None;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: neither answered nor verified within {WAIT:?}",
                self.from
            );
        }
    }

    /// The answer to our `<db:result/>` within `limit`: its error
    /// condition (`None`: type='valid'/'invalid' — never expected here).
    async fn answer(&mut self, limit: Duration) -> Option<Option<Cond>> {
        let ev = self.next(limit).await?;
        let StreamEvent::Element(el) = ev else {
            panic!("expected a db:result answer, got {ev:?}")
        };
        assert!(el.is("result", NS_DIALBACK), "not a db:result: {el:?}");
        Some(error_condition(&el))
    }
}

/// The condition of a dialback error answer.
fn error_condition(el: &Element) -> Option<Cond> {
    if el.attr("type") != Some("error") {
        return None;
    }
    let e = el.children().find(|c| c.name() == "error")?;
    StanzaError::from_element(e).map(|e| e.condition)
}

/// An attacker floods B's s2s port with `<db:result/>` for domains whose
/// "authoritative server" (found through SRV) is a listener that accepts
/// and never answers. With `max_verifications = 3`,
/// `max_verifications_per_domain = 1`: repeated requests for one domain
/// make one connection (the others are refused at once with
/// `resource-constraint`), many domains make at most 3 at a time, each
/// started verification is answered with `remote-server-timeout` after
/// `verify_timeout`, and then the failing domain is answered from its
/// remembered failure (`remote-server-not-found`) without connecting
/// again. Local users are unaffected meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn dialback_floods_make_a_bounded_number_of_connections() {
    const CAP: usize = 3;
    const DOMAINS: usize = 8;
    let trap = Trap::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("a listener");
    let dns = Dns::start();
    let same = "same.evil.abuse.test".to_owned();
    let many: Vec<String> = (0..DOMAINS)
        .map(|i| format!("e{i}.evil.abuse.test"))
        .collect();
    for d in std::iter::once(&same).chain(&many) {
        let srv = format!("_xmpp-server._tcp.{d}");
        dns.srv(&srv, 0, 0, trap.addr.port(), "trap.evil.abuse.test");
    }
    dns.a("trap.evil.abuse.test", Ipv4Addr::LOCALHOST);

    let mut b = FedServer::new(B);
    b.require_tls = false;
    b.name_servers = vec![dns.addr];
    b.s2s_extra = vec![
        format!("max_verifications = {CAP}"),
        "max_verifications_per_domain = 1".into(),
        "verify_timeout = 8".into(),
        "verify_backoff = 120".into(),
        "verify_backoff_max = 600".into(),
    ];
    start(&mut b, &["alice", "bob"]);

    // One domain, four streams: one verification.
    let mut first = Attacker::open(b.s2s_port, &same, B).await;
    first.db_result(B).await;
    trap.until_total(1).await;
    let mut refused = Vec::new();
    for _ in 0..3 {
        let mut s = Attacker::open(b.s2s_port, &same, B).await;
        s.db_result(B).await;
        refused.push(s.answer(WAIT).await);
    }
    // Many domains: at most the cap at once (one slot is taken).
    let mut started = Vec::new();
    for d in &many {
        let mut s = Attacker::open(b.s2s_port, d, B).await;
        match s.refused_or_started(&trap).await {
            Some(a) => refused.push(Some(a)),
            None => started.push(s),
        }
    }
    assert!(
        refused
            .iter()
            .all(|a| *a == Some(Some(Cond::ResourceConstraint))),
        "refused requests: {refused:?}"
    );
    assert_eq!(started.len(), CAP - 1, "verifications left running");

    // Local users are not affected meanwhile.
    let alice = b.online("alice", "home").await;
    let mut bob = b.online("bob", "home").await;
    within(
        "alice sending to bob",
        alice.send_message(jid(&b.jid("bob")), "still here"),
    )
    .await
    .expect("sending");
    wait_body(&mut bob, "still here").await;

    // Every started verification is answered after the timeout.
    for s in std::iter::once(&mut first).chain(started.iter_mut()) {
        let a = s.answer(WAIT).await;
        assert_eq!(
            a,
            Some(Some(Cond::RemoteServerTimeout)),
            "a timed-out verification"
        );
    }
    // The failing domain is answered from memory now.
    let mut again = Attacker::open(b.s2s_port, &same, B).await;
    again.db_result(B).await;
    assert_eq!(
        again.answer(WAIT).await,
        Some(Some(Cond::RemoteServerNotFound)),
        "a request for a domain that just failed"
    );
    trap.with(|c| {
        assert!(c.max_open <= CAP, "{} verifications at once", c.max_open);
        assert_eq!(c.total, CAP, "connections made: {:?}", c.by_domain);
        assert_eq!(
            c.by_domain.get(&same),
            Some(&1),
            "connections for one domain: {:?}",
            c.by_domain
        );
    });
}
