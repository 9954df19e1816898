//! The client and the `starling-client` command-line tool against real XMPP
//! servers: Prosody and ejabberd, each started from a private configuration
//! on 127.0.0.1 with a certificate from a test CA (see
//! `starling_testkit::peers`).
//!
//! One test per server starts it once and runs every check against it in
//! turn, printing each check's result; the test fails if any check failed,
//! and then prints the server's logs. A server that is not installed makes
//! its test print why and pass, unless `CI=true`, where it is a failure
//! (`cargo xtask peers` installs both).
//!
//! ```sh
//! cargo test -p starling-client --test interop -- --nocapture
//! ```

use std::fmt::Display;
use std::future::Future;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use starling_auth::sasl::{Condition as SaslCondition, Mechanism};
use starling_client::{Client, ClientBuilder, Error, Event};
use starling_jid::{BareJid, Jid};
use starling_stanza::{
    DiscoInfo, Iq, LangText, MessageType, ParseError, Payload, Presence, PresenceType, RosterItem,
    StanzaErrorCondition, Subscription, Version,
};
use starling_testkit::peers::{self, Kind, Peer};
use starling_testkit::process::{Running, run_with_limit};
use starling_xml::Element;
use tokio::runtime::Runtime;

/// The client's timeout for connecting and for each request.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one check may take in all.
const CHECK_LIMIT: Duration = Duration::from_secs(30);

/// How long to wait for a stanza that the server should deliver.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn prosody() {
    interop(Kind::Prosody);
}

#[test]
fn ejabberd() {
    interop(Kind::Ejabberd);
}

/// Starts the server and runs every check against it.
fn interop(kind: Kind) {
    let started = Instant::now();
    // The peer is started (and dropped) on this thread: see `peers`.
    let peer = match Peer::start(kind) {
        Ok(Some(peer)) => peer,
        Ok(None) => return,
        Err(error) => panic!("{error}"),
    };
    if let Err(error) = peer.register_test_users() {
        panic!("{error}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut checks = Checks::new(peer.name);

    runtime.block_on(async {
        checks
            .run("STARTTLS (test CA) + SCRAM-SHA-1 + bind", scram_sha1(&peer))
            .await;
        checks.run("SCRAM-SHA-256", scram_sha256(&peer)).await;
        checks
            .run("default mechanism choice", default_mechanisms(&peer))
            .await;
        checks
            .run("certificate refused without the test CA", untrusted(&peer))
            .await;
        checks
            .run("wrong password: not-authorized", wrong_password(&peer))
            .await;
        checks.run("message alice -> bob", message(&peer)).await;
        checks
            .run("directed presence", directed_presence(&peer))
            .await;
        checks.run("roster get/set/push", roster(&peer)).await;
        checks.run("subscription", subscription(&peer)).await;
        checks.run("ping the server", ping(&peer)).await;
        checks
            .run("unsupported iq: error reply", unsupported_iq(&peer))
            .await;
        checks.run("software version", version(&peer)).await;
        checks.run("service discovery", disco(&peer)).await;
        checks.run("clean close", close(&peer)).await;
    });

    checks.run_blocking("cli: send -> listen --json", || cli_send_listen(&peer));
    checks.run_blocking("cli: ping", || cli_ping(&peer));
    checks.run_blocking("cli: roster", || cli_roster(&peer, &runtime));
    checks.run_blocking("cli: presence", || cli_presence(&peer));
    checks.run_blocking("cli: wrong password exits 4", || cli_wrong_password(&peer));
    checks.run_blocking("cli: untrusted certificate exits 3", || {
        cli_untrusted(&peer)
    });
    drop(runtime);

    eprintln!(
        "{}: {} checks in {:.1} s",
        peer.name,
        checks.results.len(),
        started.elapsed().as_secs_f64()
    );
    let failed = checks.failures();
    // Panicking while `peer` is alive makes its `Drop` print the logs.
    assert!(
        failed.is_empty(),
        "{}: {} of {} checks failed:\n{}",
        peer.name,
        failed.len(),
        checks.results.len(),
        failed.join("\n")
    );
}

/// The results of the checks against one server.
struct Checks {
    peer: &'static str,
    results: Vec<(&'static str, Result<(), String>)>,
}

impl Checks {
    fn new(peer: &'static str) -> Checks {
        Checks {
            peer,
            results: Vec::new(),
        }
    }

    fn record(&mut self, name: &'static str, started: Instant, result: Result<(), String>) {
        let secs = started.elapsed().as_secs_f64();
        match &result {
            Ok(()) => eprintln!("{}: {name}: ok ({secs:.2} s)", self.peer),
            Err(error) => eprintln!("{}: {name}: FAILED ({secs:.2} s): {error}", self.peer),
        }
        self.results.push((name, result));
    }

    async fn run(&mut self, name: &'static str, check: impl Future<Output = Result<(), String>>) {
        let started = Instant::now();
        let result = match tokio::time::timeout(CHECK_LIMIT, check).await {
            Ok(result) => result,
            Err(_) => Err(format!("no result within {} s", CHECK_LIMIT.as_secs())),
        };
        self.record(name, started, result);
    }

    fn run_blocking(&mut self, name: &'static str, check: impl FnOnce() -> Result<(), String>) {
        let started = Instant::now();
        let result = check();
        self.record(name, started, result);
    }

    fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|(name, result)| {
                result
                    .as_ref()
                    .err()
                    .map(|error| format!("  {name}: {error}"))
            })
            .collect()
    }
}

/// Returns early with an error message unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err(format!($($message)*));
        }
    };
}

/// Prefixes an error with what was being done.
fn doing<E: Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |error| format!("{what}: {error}")
}

fn jid(text: &str) -> Result<Jid, String> {
    Jid::new(text).map_err(|e| format!("{text}: {e}"))
}

fn bare(text: &str) -> Result<BareJid, String> {
    BareJid::new(text).map_err(|e| format!("{text}: {e}"))
}

/// A client for `user@domain` on the peer: explicit address, only the test
/// CA trusted, STARTTLS required (the default).
fn builder(peer: &Peer, user: &str, domain: &str, password: &str) -> Result<ClientBuilder, String> {
    Ok(Client::builder(jid(&format!("{user}@{domain}"))?, password)
        .server(&peer.address())
        .ca_file(&peer.ca_file)
        .timeout(CLIENT_TIMEOUT))
}

/// The mechanisms of the feature checks: SCRAM without channel binding, so
/// that what those checks test does not depend on the `-PLUS` variants,
/// which "default mechanism choice" covers.
const FEATURE_MECHANISMS: [Mechanism; 2] = [Mechanism::ScramSha256, Mechanism::ScramSha1];

/// A client for one of the test accounts on the peer's main domain.
fn account(peer: &Peer, user: &str) -> Result<ClientBuilder, String> {
    Ok(builder(peer, user, &peer.domain, peers::password(user))?
        .mechanisms(FEATURE_MECHANISMS.to_vec()))
}

/// Connects a test account with its resource set to `resource`.
async fn connect(peer: &Peer, user: &str, resource: &str) -> Result<Client, String> {
    account(peer, user)?
        .resource(resource)
        .connect()
        .await
        .map_err(|e| format!("connecting {user}: {e}"))
}

/// Connects a test account and makes it available: its initial presence
/// has been handled by the server when this returns (a ping round trip on
/// the same stream follows it).
async fn connect_available(peer: &Peer, user: &str, resource: &str) -> Result<Client, String> {
    let client = connect(peer, user, resource).await?;
    client
        .send_presence(Presence::new(PresenceType::Available))
        .await
        .map_err(doing("initial presence"))?;
    client
        .ping(None)
        .await
        .map_err(doing("ping after presence"))?;
    Ok(client)
}

/// Waits for the first event that `wanted` accepts, skipping others; the
/// skipped ones are listed in the error if none comes.
async fn wait_for<T>(
    client: &mut Client,
    what: &str,
    mut wanted: impl FnMut(&Event) -> Option<T>,
) -> Result<T, String> {
    let deadline = tokio::time::Instant::now() + DELIVERY_LIMIT;
    let mut skipped = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, client.next_event()).await {
            Ok(Some(event)) => match wanted(&event) {
                Some(found) => return Ok(found),
                None => skipped.push(format!("{event:?}")),
            },
            Ok(None) => {
                return Err(format!(
                    "session ended while waiting for {what}; received: {skipped:?}"
                ));
            }
            Err(_) => {
                return Err(format!(
                    "no {what} within {} s; received: {skipped:?}",
                    DELIVERY_LIMIT.as_secs()
                ));
            }
        }
    }
}

async fn close_all(clients: &[&Client]) -> Result<(), String> {
    for client in clients {
        client.close().await.map_err(doing("close"))?;
    }
    Ok(())
}

async fn scram_sha1(peer: &Peer) -> Result<(), String> {
    let client = builder(peer, "alice", &peer.domain, peers::password("alice"))?
        .mechanisms(vec![Mechanism::ScramSha1])
        .resource("interop")
        .connect()
        .await
        .map_err(doing("connect"))?;
    let bound = client.jid().clone();
    ensure!(
        bound.bare().as_str() == peer.jid("alice"),
        "bound {bound}, expected alice's bare JID"
    );
    // The server may replace the resource (RFC 6120 §7.6.2.1); these keep it.
    ensure!(
        bound.resource() == "interop",
        "bound {bound}, expected the resource `interop`"
    );
    client.close().await.map_err(doing("close"))
}

async fn scram_sha256(peer: &Peer) -> Result<(), String> {
    let Some(domain) = &peer.sha256_domain else {
        return Ok(());
    };
    let client = builder(peer, "alice", domain, peers::password("alice"))?
        .mechanisms(vec![Mechanism::ScramSha256])
        .connect()
        .await
        .map_err(doing("connect"))?;
    ensure!(
        client.jid().bare().as_str() == format!("alice@{domain}"),
        "bound {}",
        client.jid()
    );
    client.close().await.map_err(doing("close"))
}

/// What a user gets without choosing: the strongest mechanism both sides
/// have (with channel binding when the server offers a `-PLUS` one).
async fn default_mechanisms(peer: &Peer) -> Result<(), String> {
    let client = builder(peer, "alice", &peer.domain, peers::password("alice"))?
        .connect()
        .await
        .map_err(doing("connect"))?;
    client.ping(None).await.map_err(doing("ping"))?;
    client.close().await.map_err(doing("close"))?;
    if let Some(domain) = &peer.sha256_domain {
        let client = builder(peer, "alice", domain, peers::password("alice"))?
            .connect()
            .await
            .map_err(doing("connect to the SHA-256 domain"))?;
        client.close().await.map_err(doing("close"))?;
    }
    Ok(())
}

/// The certificate is really verified: without the test CA (the default
/// trust is the public roots) the handshake fails.
async fn untrusted(peer: &Peer) -> Result<(), String> {
    let result = Client::builder(jid(&peer.jid("alice"))?, peers::password("alice"))
        .server(&peer.address())
        .timeout(CLIENT_TIMEOUT)
        .connect()
        .await;
    match result {
        Err(Error::Tls(_)) => Ok(()),
        Err(other) => Err(format!("expected a TLS error, got {other:?}")),
        Ok(client) => {
            let _ = client.close().await;
            Err("connected although the certificate's CA is not trusted".to_owned())
        }
    }
}

async fn wrong_password(peer: &Peer) -> Result<(), String> {
    for (user, mechanism) in [
        ("alice", Mechanism::ScramSha1),
        ("alice", Mechanism::Plain),
        // An unknown account fails the same way (RFC 6120 §6.5.10).
        ("nobody", Mechanism::ScramSha1),
    ] {
        let result = builder(peer, user, &peer.domain, "not-the-password")?
            .mechanisms(vec![mechanism])
            .connect()
            .await;
        match result {
            Err(Error::Auth(failure)) if failure.condition == SaslCondition::NotAuthorized => {}
            Err(other) => {
                return Err(format!(
                    "{user} with {}: expected not-authorized, got {other:?}",
                    mechanism.as_str()
                ));
            }
            Ok(client) => {
                let _ = client.close().await;
                return Err(format!(
                    "{user} with {}: logged in with a wrong password",
                    mechanism.as_str()
                ));
            }
        }
    }
    Ok(())
}

async fn message(peer: &Peer) -> Result<(), String> {
    let mut bob = connect_available(peer, "bob", "message").await?;
    let alice = connect(peer, "alice", "message").await?;
    let alice_jid = Jid::from(alice.jid().clone());
    // To the bare JID (routed to bob's available resource), then to the
    // full JID.
    for (to, body) in [
        (jid(&peer.jid("bob"))?, format!("to bare {}", peer.name)),
        (
            Jid::from(bob.jid().clone()),
            format!("to full {}", peer.name),
        ),
    ] {
        alice
            .send_message(to.clone(), &body)
            .await
            .map_err(doing("send"))?;
        let message = wait_for(&mut bob, "the message", |event| match event {
            Event::Message(m) if m.body(None) == Some(body.as_str()) => Some(m.clone()),
            _ => None,
        })
        .await
        .map_err(|e| format!("to {to}: {e}"))?;
        ensure!(
            message.header.from.as_ref() == Some(&alice_jid),
            "to {to}: from {:?}, expected {alice_jid}",
            message.header.from
        );
        ensure!(
            message.message_type == MessageType::Chat,
            "to {to}: type {:?}, expected chat",
            message.message_type
        );
    }
    close_all(&[&alice, &bob]).await
}

async fn directed_presence(peer: &Peer) -> Result<(), String> {
    let mut bob = connect_available(peer, "bob", "presence").await?;
    let alice = connect(peer, "alice", "presence").await?;
    let mut presence = Presence::new(PresenceType::Available);
    presence.header.to = Some(Jid::from(bob.jid().clone()));
    presence.statuses.push(LangText::new("directed"));
    alice.send_presence(presence).await.map_err(doing("send"))?;
    let alice_jid = Jid::from(alice.jid().clone());
    let received = wait_for(&mut bob, "alice's presence", |event| match event {
        Event::Presence(p) if p.header.from.as_ref() == Some(&alice_jid) => Some(p.clone()),
        _ => None,
    })
    .await?;
    ensure!(
        received.presence_type == PresenceType::Available
            && received.status(None) == Some("directed"),
        "received {received:?}"
    );
    close_all(&[&alice, &bob]).await
}

async fn roster(peer: &Peer) -> Result<(), String> {
    let mut alice = connect(peer, "alice", "roster").await?;
    // Asking for the roster makes this resource "interested" in pushes.
    alice.roster().await.map_err(doing("roster get"))?;
    let carol = bare(&peer.jid("carol"))?;
    let mut item = RosterItem::new(carol.clone());
    item.name = Some("Carol".to_owned());
    item.groups = vec!["Friends".to_owned()];
    alice.roster_set(item).await.map_err(doing("roster set"))?;
    let pushed = wait_for(&mut alice, "a roster push", |event| match event {
        Event::RosterPush(r) => r.items.iter().find(|i| i.jid == carol).cloned(),
        _ => None,
    })
    .await?;
    ensure!(
        pushed.name.as_deref() == Some("Carol"),
        "pushed item {pushed:?}"
    );
    let roster = alice.roster().await.map_err(doing("roster get"))?;
    let Some(stored) = roster.items.iter().find(|i| i.jid == carol) else {
        return Err(format!("carol missing from the roster: {roster:?}"));
    };
    ensure!(
        stored.name.as_deref() == Some("Carol")
            && stored.groups == ["Friends"]
            && stored.subscription == Subscription::None,
        "stored item {stored:?}"
    );
    alice.close().await.map_err(doing("close"))
}

/// RFC 6121 §3.1: alice asks bob for his presence, bob approves, alice's
/// roster shows the subscription and she receives his presence.
async fn subscription(peer: &Peer) -> Result<(), String> {
    let mut bob = connect_available(peer, "bob", "subscription").await?;
    let mut alice = connect_available(peer, "alice", "subscription").await?;
    alice.roster().await.map_err(doing("alice's roster"))?;
    let alice_bare = bare(&peer.jid("alice"))?;
    let bob_bare = bare(&peer.jid("bob"))?;

    alice
        .subscribe(bob_bare.clone())
        .await
        .map_err(doing("subscribe"))?;
    let from_alice = Jid::from(alice_bare.clone());
    wait_for(&mut bob, "the subscription request", |event| match event {
        Event::Presence(p)
            if p.presence_type == PresenceType::Subscribe
                && p.header.from.as_ref() == Some(&from_alice) =>
        {
            Some(())
        }
        _ => None,
    })
    .await?;
    bob.approve(alice_bare).await.map_err(doing("approve"))?;

    // Alice gets a roster push (subscription `to`) and bob's presence, in
    // either order.
    let (mut pushed, mut available) = (false, false);
    while !(pushed && available) {
        let what = if pushed {
            "bob's presence"
        } else {
            "the roster push"
        };
        let event = wait_for(&mut alice, what, |event| match event {
            Event::RosterPush(r)
                if r.items
                    .iter()
                    .any(|i| i.jid == bob_bare && i.subscription == Subscription::To) =>
            {
                Some(true)
            }
            Event::Presence(p)
                if p.presence_type == PresenceType::Available
                    && p.header.from.as_ref().is_some_and(|f| f.bare() == bob_bare) =>
            {
                Some(false)
            }
            _ => None,
        })
        .await?;
        if event {
            pushed = true;
        } else {
            available = true;
        }
    }
    close_all(&[&alice, &bob]).await
}

async fn ping(peer: &Peer) -> Result<(), String> {
    let alice = connect(peer, "alice", "ping").await?;
    alice.ping(None).await.map_err(doing("ping"))?;
    alice.close().await.map_err(doing("close"))
}

/// A payload in a namespace no server knows.
struct Unknown;

impl Payload for Unknown {
    const NAME: &'static str = "query";
    const NS: &'static str = "urn:example:starling:interop:unknown";
    fn from_element(_el: &Element) -> Result<Self, ParseError> {
        Ok(Unknown)
    }
    fn to_element(&self) -> Element {
        Element::new(Self::NAME, Self::NS)
    }
}

async fn unsupported_iq(peer: &Peer) -> Result<(), String> {
    let alice = connect(peer, "alice", "unknown").await?;
    let request = Iq::get(alice.new_id(), Unknown).with_to(jid(&peer.domain)?);
    match alice.request(request).await {
        Err(Error::Stanza(error))
            if matches!(
                error.condition,
                StanzaErrorCondition::ServiceUnavailable
                    | StanzaErrorCondition::FeatureNotImplemented
            ) => {}
        Err(other) => {
            return Err(format!(
                "expected service-unavailable or feature-not-implemented, got {other:?}"
            ));
        }
        Ok(reply) => return Err(format!("expected an error, got {reply:?}")),
    }
    alice.close().await.map_err(doing("close"))
}

async fn version(peer: &Peer) -> Result<(), String> {
    let alice = connect(peer, "alice", "version").await?;
    let request = Iq::get(alice.new_id(), Version::default()).with_to(jid(&peer.domain)?);
    let reply = alice.request(request).await.map_err(doing("request"))?;
    let version = match reply.payload_as::<Version>() {
        Some(Ok(version)) => version,
        other => return Err(format!("no version in the reply: {other:?}")),
    };
    let name = version.name.clone().unwrap_or_default();
    ensure!(
        name.to_lowercase().contains(peer.name),
        "software name {name:?}, expected {}",
        peer.name
    );
    eprintln!(
        "{}: the server says it is {name} {}",
        peer.name,
        version.version.unwrap_or_default()
    );
    alice.close().await.map_err(doing("close"))
}

async fn disco(peer: &Peer) -> Result<(), String> {
    let alice = connect(peer, "alice", "disco").await?;
    let request = Iq::get(alice.new_id(), DiscoInfo::default()).with_to(jid(&peer.domain)?);
    let reply = alice.request(request).await.map_err(doing("request"))?;
    let info = match reply.payload_as::<DiscoInfo>() {
        Some(Ok(info)) => info,
        other => return Err(format!("no disco#info in the reply: {other:?}")),
    };
    ensure!(
        info.identities
            .iter()
            .any(|i| i.category == "server" && i.identity_type == "im"),
        "identities {:?}",
        info.identities
    );
    for feature in [
        "http://jabber.org/protocol/disco#info",
        "urn:xmpp:ping",
        "jabber:iq:version",
    ] {
        ensure!(
            info.features.iter().any(|f| f == feature),
            "feature {feature} missing from {:?}",
            info.features
        );
    }
    alice.close().await.map_err(doing("close"))
}

async fn close(peer: &Peer) -> Result<(), String> {
    let mut alice = connect(peer, "alice", "close").await?;
    alice.close().await.map_err(doing("close"))?;
    // The session ends: the event stream finishes (after a `Disconnected`
    // without a stream error, if any) and requests fail.
    let deadline = tokio::time::Instant::now() + DELIVERY_LIMIT;
    loop {
        match tokio::time::timeout_at(deadline, alice.next_event()).await {
            Ok(None) => break,
            Ok(Some(Event::Disconnected(None))) => {}
            Ok(Some(Event::Disconnected(Some(error)))) => {
                return Err(format!("the server ended with a stream error: {error:?}"));
            }
            Ok(Some(_)) => {}
            Err(_) => return Err("the session did not end after close".to_owned()),
        }
    }
    match alice.ping(None).await {
        Err(Error::Closed) => Ok(()),
        other => Err(format!("ping after close: expected Closed, got {other:?}")),
    }
}

// ---- the command-line tool ----

/// How long one run of the command-line tool may take.
const CLI_LIMIT: Duration = Duration::from_secs(30);

/// `starling-client` for a test account on the peer, the password in
/// `STARLING_PASSWORD`.
fn cli(peer: &Peer, user: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starling-client"));
    command
        .arg("--jid")
        .arg(peer.jid(user))
        .arg("--server")
        .arg(peer.address())
        .arg("--ca")
        .arg(&peer.ca_file)
        .args(["--connect-timeout", "10"])
        .env("STARLING_PASSWORD", peers::password(user));
    command
}

fn cli_send_listen(peer: &Peer) -> Result<(), String> {
    let text = format!("hello from the command line ({})", peer.name);
    let mut listen = Running::spawn(cli(peer, "bob").args([
        "listen",
        "--count",
        "1",
        "--json",
        "--timeout",
        "20",
    ]))?;
    // `listen` is ready once the server has its presence, which cannot be
    // seen from here: send until it has received one message (a message
    // sent before that is refused by the server, not stored).
    let deadline = Instant::now() + Duration::from_secs(25);
    while !listen.has_exited() && Instant::now() < deadline {
        let mut send = cli(peer, "alice");
        send.env_remove("STARLING_PASSWORD")
            .args(["--password", peers::password("alice")])
            .args(["send", &peer.jid("bob"), &text]);
        let sent = run_with_limit(&mut send, CLI_LIMIT)?;
        ensure!(sent.success(), "send: {}", sent.describe());
        for _ in 0..20 {
            if listen.has_exited() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    let listened = listen.finish(Duration::from_secs(5));
    ensure!(listened.success(), "listen: {}", listened.describe());
    let lines: Vec<&str> = listened.stdout.lines().collect();
    ensure!(lines.len() == 1, "listen printed {lines:?}");
    let value: serde_json::Value =
        serde_json::from_str(lines[0]).map_err(|e| format!("{}: {e}", lines[0]))?;
    let from = value["from"].as_str().unwrap_or_default();
    ensure!(
        from.starts_with(&format!("{}/", peer.jid("alice"))),
        "from {from:?} in {value}"
    );
    ensure!(value["body"] == text.as_str(), "body in {value}");
    ensure!(value["type"] == "chat", "type in {value}");
    Ok(())
}

fn cli_ping(peer: &Peer) -> Result<(), String> {
    let out = run_with_limit(cli(peer, "alice").arg("ping"), CLI_LIMIT)?;
    ensure!(
        out.success() && out.stdout.contains("pong"),
        "{}",
        out.describe()
    );
    Ok(())
}

fn cli_roster(peer: &Peer, runtime: &Runtime) -> Result<(), String> {
    // Make sure the roster has a known item, whatever the checks before did.
    runtime.block_on(async {
        let alice = connect(peer, "alice", "cli-roster").await?;
        let mut item = RosterItem::new(bare(&peer.jid("carol"))?);
        item.name = Some("Carol".to_owned());
        item.groups = vec!["Friends".to_owned()];
        alice.roster_set(item).await.map_err(doing("roster set"))?;
        alice.close().await.map_err(doing("close"))
    })?;
    let out = run_with_limit(cli(peer, "alice").arg("roster"), CLI_LIMIT)?;
    ensure!(out.success(), "{}", out.describe());
    let expected = format!("{}\tCarol\tnone\tFriends", peer.jid("carol"));
    ensure!(
        out.stdout.lines().any(|line| line == expected),
        "no line {expected:?} in:\n{}",
        out.stdout
    );
    Ok(())
}

fn cli_presence(peer: &Peer) -> Result<(), String> {
    let out = run_with_limit(
        cli(peer, "alice").args(["presence", "--show", "away", "--status", "in a test"]),
        CLI_LIMIT,
    )?;
    ensure!(out.success(), "{}", out.describe());
    Ok(())
}

fn cli_wrong_password(peer: &Peer) -> Result<(), String> {
    let out = run_with_limit(
        cli(peer, "alice")
            .env("STARLING_PASSWORD", "not-the-password")
            .arg("ping"),
        CLI_LIMIT,
    )?;
    ensure!(
        out.code() == Some(4),
        "expected exit code 4: {}",
        out.describe()
    );
    Ok(())
}

fn cli_untrusted(peer: &Peer) -> Result<(), String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starling-client"));
    command
        .arg("--jid")
        .arg(peer.jid("alice"))
        .arg("--server")
        .arg(peer.address())
        .args(["--connect-timeout", "10", "ping"])
        .env("STARLING_PASSWORD", peers::password("alice"));
    let out = run_with_limit(&mut command, CLI_LIMIT)?;
    ensure!(
        out.code() == Some(3),
        "expected exit code 3: {}",
        out.describe()
    );
    Ok(())
}
