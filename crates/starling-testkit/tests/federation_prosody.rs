//! Federation with a real Prosody (Debian's `prosody` package, 0.12):
//! Starling serves `s.fed.test`, Prosody `p.fed.test`, both on loopback,
//! and users on each side exchange messages, subscribe to each other and
//! see each other's presence over real server-to-server streams.
//!
//! How each server finds the other, with domains that resolve nowhere:
//!
//! * Starling → Prosody: `[s2s.hosts]` maps `p.fed.test` to Prosody's s2s
//!   port.
//! * Prosody → Starling: Prosody has no static host map, so it resolves
//!   `_xmpp-server._tcp.s.fed.test` like any domain — through a DNS
//!   responder of the test on UDP loopback. Debian's Prosody uses
//!   libunbound (`lua-unbound`) as its resolver, configured by the global
//!   `unbound` option: `forward = "127.0.0.1@PORT"` sends every query to
//!   that responder, and `resolvconf = false`, `hoststxt = false` keep the
//!   system's configuration out. No fixed port (5269), no `/etc/hosts`.
//!
//! Two set-ups: certificates of one test CA trusted by both servers (SASL
//! EXTERNAL in both directions), and untrusted certificates with dialback
//! in both directions (XEP-0220; `s2s_secure_auth = false` on Prosody's
//! side).
//!
//! When Prosody is not installed the tests print why and pass, unless
//! `CI=true`: then they fail (`cargo xtask peers` installs it).

mod common;

use common::{FedProsodyExt, FedServerExt, befriend, wait_body, wait_for};
use starling_client::{Client, Event};
use starling_jid::Jid;
use starling_stanza::{PresenceType, Subscription};
use starling_testkit::dns::Dns;
use starling_testkit::peers::prosody::{FedProsody, ProsodyOptions};
use starling_testkit::server::FedServer;
use starling_testkit::stanzas::jid;
use starling_testkit::tls::TestCa;
use starling_testkit::wait::{blocking, within};

const S: &str = "s.fed.test";
const P: &str = "p.fed.test";

fn is_presence(ev: &Event, from: &Jid, t: PresenceType) -> bool {
    matches!(ev, Event::Presence(p) if p.presence_type == t && p.header.from.as_ref() == Some(from))
}

async fn wait_presence(c: &mut Client, from: &Jid, t: PresenceType, what: &str) {
    wait_for(c, what, |ev| is_presence(ev, from, t).then_some(())).await;
}

/// Starts Starling and Prosody (`None` when Prosody is not installed
/// outside CI), with `alice@s.fed.test` and `bob@p.fed.test`.
fn start(with_ca: bool, ca: &TestCa, dns: &Dns) -> Option<(FedServer, FedProsody)> {
    let mut s = FedServer::new(S);
    if with_ca {
        s.use_ca(ca);
    }
    let opts = ProsodyOptions {
        domain: P.to_owned(),
        cert: ca.issue(P),
        client_ca: ca.ca_file(),
        cafile: with_ca.then(|| ca.ca_file()),
        dns: dns.addr,
    };
    let p = blocking(|| FedProsody::start(&opts)).unwrap_or_else(|e| panic!("{e}"))?;
    s.map(P, p.s2s_port);
    dns.srv(
        &format!("_xmpp-server._tcp.{S}"),
        0,
        0,
        s.s2s_port,
        &format!("xmpp.{S}"),
    );
    dns.a(&format!("xmpp.{S}"), std::net::Ipv4Addr::LOCALHOST);
    blocking(|| {
        s.start();
        s.add_user("alice");
        p.add_user("bob").unwrap_or_else(|e| panic!("{e}"));
    });
    Some((s, p))
}

/// Messages both ways, a mutual subscription, presence both ways
/// (available after approval, unavailable on logout, probes answered at
/// login).
async fn talk(s: &FedServer, p: &FedProsody) {
    let mut alice = s.online("alice", "home").await;
    let mut bob = p.online("bob", "work").await;
    let alice_full = jid(&format!("{}/home", s.jid("alice")));

    // Messages, each to the other's bare JID.
    within(
        "alice sending to bob",
        alice.send_message(jid(&p.jid("bob")), "from starling to prosody"),
    )
    .await
    .expect("sending");
    let m = wait_body(&mut bob, "from starling to prosody").await;
    assert_eq!(m.header.from.as_ref(), Some(&alice_full));
    within(
        "bob sending to alice",
        bob.send_message(jid(&s.jid("alice")), "from prosody to starling"),
    )
    .await
    .expect("sending");
    let m = wait_body(&mut alice, "from prosody to starling").await;
    assert_eq!(
        m.header.from.as_ref().map(ToString::to_string),
        Some(format!("{}/work", p.jid("bob")))
    );
    // An iq each way: each pings the other server.
    within("alice pinging prosody", alice.ping(Some(jid(P))))
        .await
        .unwrap_or_else(|e| panic!("an iq from Starling's user to {P} failed: {e}"));
    within("bob pinging starling", bob.ping(Some(jid(S))))
        .await
        .unwrap_or_else(|e| panic!("an iq from Prosody's user to {S} failed: {e}"));

    // Mutual subscription (RFC 6121 §3.1), ending with 'both' on both
    // sides.
    befriend(&mut alice, &mut bob).await;
    for (c, other) in [(&alice, p.jid("bob")), (&bob, s.jid("alice"))] {
        let r = within("roster", c.roster()).await.expect("roster");
        let item = r
            .items
            .iter()
            .find(|i| i.jid.as_str() == other)
            .unwrap_or_else(|| panic!("{other} missing from {}'s roster: {r:?}", c.jid()));
        assert_eq!(item.subscription, Subscription::Both, "{r:?}");
    }

    // bob logs out and in again: alice sees it; Prosody's probe is
    // answered by Starling with alice's presence.
    let bob_work = jid(&format!("{}/work", p.jid("bob")));
    within("bob closing", bob.close()).await.expect("close");
    drop(bob);
    wait_presence(
        &mut alice,
        &bob_work,
        PresenceType::Unavailable,
        "bob's unavailable presence",
    )
    .await;
    let mut bob = p.online("bob", "again").await;
    let bob_again = jid(&format!("{}/again", p.jid("bob")));
    wait_presence(
        &mut alice,
        &bob_again,
        PresenceType::Available,
        "bob's presence after his login",
    )
    .await;
    wait_presence(
        &mut bob,
        &alice_full,
        PresenceType::Available,
        "alice's presence, Starling's answer to the probe",
    )
    .await;

    // alice logs out and in again: bob sees it; Starling's probe is
    // answered by Prosody.
    within("alice closing", alice.close()).await.expect("close");
    drop(alice);
    wait_presence(
        &mut bob,
        &alice_full,
        PresenceType::Unavailable,
        "alice's unavailable presence",
    )
    .await;
    let mut alice = s.online("alice", "back").await;
    let alice_back = jid(&format!("{}/back", s.jid("alice")));
    wait_presence(
        &mut bob,
        &alice_back,
        PresenceType::Available,
        "alice's presence after her login",
    )
    .await;
    wait_presence(
        &mut alice,
        &bob_again,
        PresenceType::Available,
        "bob's presence, Prosody's answer to the probe",
    )
    .await;
    let _ = within("closing", alice.close()).await;
    let _ = within("closing", bob.close()).await;
}

/// Both servers trust the test CA, so each verifies the other's
/// certificate: both streams (Starling → Prosody and Prosody → Starling)
/// authenticate with SASL EXTERNAL (RFC 6120 §6.3.4, XEP-0178), Starling
/// being the SASL client on one and the SASL server on the other.
#[tokio::test(flavor = "multi_thread")]
async fn prosody_with_trusted_certificates() {
    let ca = TestCa::new();
    let dns = Dns::start();
    let Some((s, p)) = start(true, &ca, &dns) else {
        return;
    };
    talk(&s, &p).await;
    s.wait_log(&[
        "s2s stream ready",
        &format!("remote={P}"),
        "method=External",
    ])
    .await;
    s.wait_log(&[
        "incoming s2s stream authenticated",
        &format!("from={P}"),
        "method=External",
    ])
    .await;
    drop(p);
}

/// Neither server trusts the other's certificate: dialback both ways —
/// Prosody verifies Starling's key with Starling's authoritative server
/// (`<db:verify/>` answered by Starling), Starling verifies Prosody's with
/// Prosody's.
#[tokio::test(flavor = "multi_thread")]
async fn prosody_with_dialback() {
    let ca = TestCa::new();
    let dns = Dns::start();
    let Some((s, p)) = start(false, &ca, &dns) else {
        return;
    };
    talk(&s, &p).await;
    s.wait_log(&[
        "s2s stream ready",
        &format!("remote={P}"),
        "method=Dialback",
    ])
    .await;
    s.wait_log(&[
        "incoming s2s stream authenticated",
        &format!("from={P}"),
        "method=Dialback",
    ])
    .await;
    s.wait_log(&[
        "answered a dialback verification",
        &format!("from={P}"),
        "valid=true",
    ])
    .await;
    drop(p);
}
