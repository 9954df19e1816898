//! Connection and login abuse against the real `starling` binary: password
//! guessing across reconnects from one address and from many (login
//! throttling per source and per account), and a flood of connections that
//! never authenticate (the server-wide cap on unauthenticated
//! connections). Several client addresses are loopback addresses
//! (127.0.0.2, 127.0.0.10, …) bound as the source of the connection; the
//! server listens on 127.0.0.1 only.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::ServerExt;
use starling_stream::Condition;
use starling_testkit::raw::{Got, NS_SASL, Raw, base64, header};
use starling_testkit::server::{Options, Server};

/// How long a server may take to end a stream it must end.
const END: Duration = Duration::from_secs(30);

/// The throttle of these tests: two free failures, then 300 ms doubling
/// up to 1 s; refused after five; nothing forgotten during a test.
const THROTTLE: &str = "[limits]\nlogin_free_failures = 2\nlogin_delay_ms = 300\n\
                        login_max_delay = 1\nlogin_refuse_after = 5\nlogin_failure_decay = 3600\n";

/// The least delay before the `n`-th failure of a key (1-based) under
/// [`THROTTLE`].
fn min_delay(n: u32) -> Duration {
    match n {
        0..=2 => Duration::ZERO,
        3 => Duration::from_millis(300),
        4 => Duration::from_millis(600),
        _ => Duration::from_millis(1000),
    }
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// One SASL PLAIN attempt on a new connection from `source`: the failure
/// condition (or "success"), and how long the answer took.
async fn attempt(
    server: &Server,
    source: IpAddr,
    user: &str,
    password: &str,
) -> (String, Duration) {
    let ca = server.cert_file("localhost");
    let (mut raw, _) = Raw::secure_from(source, server.c2s_port, "localhost", &ca).await;
    let start = Instant::now();
    let got = raw.auth_plain(user, password).await;
    let took = start.elapsed();
    let condition = match got {
        Got::Element(e) if e.is("success", NS_SASL) => "success".to_owned(),
        Got::Element(e) if e.is("failure", NS_SASL) => e
            .children()
            .next()
            .map_or_else(|| "none".to_owned(), |c| c.name().to_owned()),
        other => panic!("{user} from {source}: unexpected {other:?}"),
    };
    let _ = raw.send_str("</stream:stream>").await;
    (condition, took)
}

/// Guesses `user`'s password `n` times from `source`, a new connection
/// each time (so the per-stream limit of `max_auth_failures` never
/// applies).
async fn guesses(server: &Server, source: IpAddr, user: &str, n: u32) -> Vec<(String, Duration)> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.push(attempt(server, source, user, &format!("guess-{i}")).await);
    }
    out
}

/// A SCRAM login (from 127.0.0.1) that binds and answers a ping.
async fn owner_logs_in(server: &Server, user: &str) {
    let ca = server.cert_file("localhost");
    let mut raw = Raw::login(
        server.c2s_port,
        &ca,
        &format!("{user}@localhost"),
        &format!("pw-{user}"),
        Some("owner"),
    )
    .await;
    raw.send_str("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await
        .expect("ping");
    let e = raw.element().await;
    assert_eq!(e.attr("type"), Some("result"), "{e}");
}

/// Finding 8: repeated failed logins from one address, each on a new
/// connection, get `<not-authorized/>` after growing delays, then
/// `<temporary-auth-failure/>` (RFC 6120 §6.5.11) without the password
/// being checked — the right password too. Meanwhile the owner logs in
/// from another address. A non-existent account gets the same answers
/// after the same delays.
#[tokio::test(flavor = "multi_thread")]
async fn guessing_from_one_address_is_delayed_then_refused() {
    let mut server = Server::start_with(Options {
        extra_toml: THROTTLE.into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let mut answers = Vec::new();
    for (source, user) in [(loopback(2), "alice"), (loopback(3), "nobody")] {
        let got = guesses(&server, source, user, 7).await;
        for (i, (condition, took)) in got.iter().enumerate() {
            let n = u32::try_from(i + 1).unwrap();
            let want = if n <= 5 {
                "not-authorized"
            } else {
                "temporary-auth-failure"
            };
            assert_eq!(condition, want, "{user}, attempt {n}: {got:?}");
            assert!(
                *took >= min_delay(n.min(5)),
                "{user}, attempt {n} answered after {took:?}: {got:?}"
            );
        }
        answers.push(got.into_iter().map(|(c, _)| c).collect::<Vec<_>>());
        // Refused whatever the password: the right one is not checked.
        if user == "alice" {
            let (condition, _) = attempt(&server, source, "alice", "pw-alice").await;
            assert_eq!(condition, "temporary-auth-failure");
        }
    }
    // An existing and a non-existent account are answered alike.
    assert_eq!(answers[0], answers[1]);
    // The owner, from an address that never failed, is not locked out.
    owner_logs_in(&server, "alice").await;
    server.assert_still_serving("alice").await;
}

/// Finding 8, per account: one guess each from many addresses raises the
/// account's count, so their failures wait longer and longer and an
/// address that has failed is refused for that account; a fresh address
/// is delayed, never refused, and the owner (who never failed) logs in.
#[tokio::test(flavor = "multi_thread")]
async fn guessing_from_many_addresses_slows_the_account_not_its_owner() {
    let mut server = Server::start_with(Options {
        extra_toml: THROTTLE.into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    for (i, last) in (10..=16).enumerate() {
        let n = u32::try_from(i + 1).unwrap();
        let (condition, took) = attempt(&server, loopback(last), "alice", "guess").await;
        assert_eq!(condition, "not-authorized", "address {last}");
        assert!(
            took >= min_delay(n),
            "the account's failure {n} (from 127.0.0.{last}) answered after {took:?}"
        );
    }
    // An address that failed once is now refused for this account.
    let (condition, _) = attempt(&server, loopback(10), "alice", "pw-alice").await;
    assert_eq!(condition, "temporary-auth-failure");
    // The owner logs in from an address that never failed…
    owner_logs_in(&server, "alice").await;
    // …and a fresh address's wrong guess is delayed, not refused.
    let (condition, took) = attempt(&server, loopback(20), "alice", "guess").await;
    assert_eq!(condition, "not-authorized");
    assert!(took >= min_delay(5), "answered after {took:?}");
    server.assert_still_serving("alice").await;
}

/// Finding 8, in parallel: guesses sent at once on eight connections
/// from one address get no more `<not-authorized/>` answers than
/// `login_refuse_after` (attempts in progress count); the others are
/// refused with `<temporary-auth-failure/>`.
#[tokio::test(flavor = "multi_thread")]
async fn parallel_guesses_from_one_address_get_no_more_tries() {
    let mut server = Server::start_with(Options {
        extra_toml: THROTTLE.into(),
        ..Options::default()
    });
    server.add_users(&["alice"]);
    let ca = server.cert_file("localhost");
    let mut conns = Vec::new();
    for _ in 0..8 {
        let (raw, _) = Raw::secure_from(loopback(4), server.c2s_port, "localhost", &ca).await;
        conns.push(raw);
    }
    let creds = base64(b"\0alice\0guess");
    let auth = format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{creds}</auth>");
    for raw in &mut conns {
        raw.send_str(&auth).await.expect("sending <auth/>");
    }
    let mut answers = Vec::new();
    for raw in &mut conns {
        match raw.next(END).await {
            Got::Element(e) if e.is("failure", NS_SASL) => {
                answers.push(e.children().next().map(|c| c.name().to_owned()));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let guessed = answers
        .iter()
        .filter(|a| a.as_deref() == Some("not-authorized"))
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.as_deref() == Some("temporary-auth-failure"))
        .count();
    assert!(guessed <= 5, "{guessed} passwords checked: {answers:?}");
    assert_eq!(guessed + refused, 8, "{answers:?}");
    server.assert_still_serving("alice").await;
}

/// Connects and opens a stream that never negotiates.
async fn idle_stream(server: &Server) -> Raw {
    let ca = server.cert_file("localhost");
    let mut r = Raw::tcp(server.c2s_port, "localhost", &ca).await;
    r.open().await;
    r
}

/// Finding 12: `max_unauthenticated_connections = 20`. Twenty streams
/// that never authenticate are accepted beside a bound session (which
/// does not count); the next ones get `<policy-violation/>` and are
/// closed at once (the direct TLS port closes them before the
/// handshake); the bound session keeps working; when the idle streams go
/// away, logins work again.
#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_connections_are_capped_server_wide() {
    let mut server = Server::start_with(Options {
        extra_toml: "[limits]\nmax_unauthenticated_connections = 20\nnegotiation_timeout = 300\n"
            .into(),
        ..Options::default()
    });
    server.add_users(&["alice", "bob"]);
    let ca = server.cert_file("localhost");
    let mut alice = Raw::login(
        server.c2s_port,
        &ca,
        "alice@localhost",
        "pw-alice",
        Some("kept"),
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(idle_stream(&server).await);
    }
    for i in 0..5 {
        let mut extra = Raw::tcp(server.c2s_port, "localhost", &ca).await;
        let _ = extra.send_str(&header("localhost")).await;
        let end = extra.ending(Duration::from_secs(10)).await;
        assert_eq!(
            end.error.as_ref().map(|e| e.condition.clone()),
            Some(Condition::PolicyViolation),
            "extra connection {i}: {end:?}"
        );
        assert!(end.eof, "extra connection {i} was not closed: {end:?}");
    }
    match Raw::try_direct_tls(server.c2s_tls_port, "localhost", &ca).await {
        Err(_) => {}
        Ok(mut r) => {
            let _ = r.send_str(&header("localhost")).await;
            let end = r.ending(Duration::from_secs(10)).await;
            assert!(end.eof, "a direct TLS connection over the cap: {end:?}");
        }
    }
    // The bound session is unaffected.
    alice
        .send_str("<iq type='get' id='during'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await
        .expect("ping");
    let e = alice.element().await;
    assert_eq!(e.attr("id"), Some("during"), "{e}");
    assert_eq!(e.attr("type"), Some("result"), "{e}");
    // The idle streams go: a login works again (once the server has seen
    // them close).
    for mut r in held.drain(..) {
        let _ = r.send_str("</stream:stream>").await;
    }
    let deadline = tokio::time::Instant::now() + END;
    loop {
        let r = server
            .client("bob@localhost", "pw-bob")
            .resource("after")
            .connect()
            .await;
        if r.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no login after the idle streams closed: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.assert_still_serving("alice").await;
}
